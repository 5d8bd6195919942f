//! `loadgen`: the HTTP load generator of `bench/run.sh`.
//!
//! Closed loop (`--concurrency C`): C connections, each sending its next request when the
//! previous answer is in. Open loop (`--rate R`): requests are scheduled R per second and
//! latency counts from the scheduled time, so a stalled server is not hidden
//! (no coordinated omission); `--concurrency` then caps the requests in flight.
//!
//! `{uuid}` in the path or body becomes a fresh v4 UUID per request; `{id}` becomes the
//! next line of `--ids`. Prints one JSON line with throughput and latency percentiles.

use clap::Parser;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:3006")]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    #[arg(long, default_value = "/health")]
    path: String,
    /// JSON body template; sent with `content-type: application/json`.
    #[arg(long)]
    body: Option<String>,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Open-loop requests per second (closed loop when absent).
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// File with one value per line for `{id}`.
    #[arg(long)]
    ids: Option<String>,
    /// Append the `id` of every 2xx JSON answer to this file.
    #[arg(long)]
    save_ids: Option<String>,
    #[arg(long, default_value = "")]
    label: String,
    /// Runtime worker threads (1 = a single-threaded generator, like `wrk -t1`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

struct Sample {
    latency: Duration,
    status: u16,
}

struct Shared {
    args: Args,
    client: reqwest::Client,
    ids: Vec<String>,
    next_id: AtomicUsize,
    measure_from: Instant,
    stop_at: Instant,
}

#[derive(Default)]
struct Tally {
    samples: Vec<Sample>,
    saved_ids: Vec<String>,
}

impl Shared {
    fn fill(&self, template: &str) -> String {
        let mut out = template.to_owned();
        if out.contains("{uuid}") {
            out = out.replace("{uuid}", &uuid::Uuid::new_v4().to_string());
        }
        if out.contains("{id}") && !self.ids.is_empty() {
            let i = self.next_id.fetch_add(1, Ordering::Relaxed) % self.ids.len();
            out = out.replace("{id}", &self.ids[i]);
        }
        out
    }

    /// One request; latency counts from `scheduled`. Status 0 is a transport error.
    async fn send(&self, scheduled: Instant, tally: &mut Tally) {
        let url = format!("{}{}", self.args.url, self.fill(&self.args.path));
        let method = reqwest::Method::from_bytes(self.args.method.as_bytes()).expect("method");
        let mut request = self.client.request(method, url);
        if let Some(body) = &self.args.body {
            request = request
                .header("content-type", "application/json")
                .body(self.fill(body));
        }
        let (status, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.bytes().await.ok())
            }
            Err(_) => (0, None),
        };
        if scheduled < self.measure_from || Instant::now() > self.stop_at {
            return;
        }
        tally.samples.push(Sample {
            latency: scheduled.elapsed(),
            status,
        });
        if self.args.save_ids.is_some()
            && (200..300).contains(&status)
            && let Some(id) = body
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned))
        {
            tally.saved_ids.push(id);
        }
    }
}

async fn closed_loop(shared: Arc<Shared>) -> Tally {
    let workers = (0..shared.args.concurrency).map(|_| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < shared.stop_at {
                shared.send(Instant::now(), &mut tally).await;
            }
            tally
        })
    });
    merge(futures::future::join_all(workers).await)
}

async fn open_loop(shared: Arc<Shared>, rate: f64) -> Tally {
    let period = Duration::from_secs_f64(1.0 / rate);
    let permits = Arc::new(tokio::sync::Semaphore::new(shared.args.concurrency));
    let start = Instant::now();
    let mut handles = Vec::new();
    let mut n: u32 = 0;
    loop {
        let scheduled = start + period * n;
        if scheduled >= shared.stop_at {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let permit = permits.clone().acquire_owned().await.expect("semaphore");
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            shared.send(scheduled, &mut tally).await;
            drop(permit);
            tally
        }));
        n += 1;
    }
    merge(futures::future::join_all(handles).await)
}

fn merge(parts: Vec<Result<Tally, tokio::task::JoinError>>) -> Tally {
    let mut all = Tally::default();
    for part in parts.into_iter().flatten() {
        all.samples.extend(part.samples);
        all.saved_ids.extend(part.saved_ids);
    }
    all
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    order_service::telemetry::install_crypto_provider();
    let ids = match &args.ids {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect(),
        None => Vec::new(),
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let now = Instant::now();
    let measure_from = now + Duration::from_secs_f64(args.warmup);
    let shared = Arc::new(Shared {
        client,
        ids,
        next_id: AtomicUsize::new(0),
        measure_from,
        stop_at: measure_from + Duration::from_secs_f64(args.duration),
        args: args.clone(),
    });
    let tally = match args.rate {
        Some(rate) => open_loop(shared, rate).await,
        None => closed_loop(shared).await,
    };
    if let Some(path) = &args.save_ids {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        for id in &tally.saved_ids {
            writeln!(file, "{id}")?;
        }
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for s in &tally.samples {
        *statuses.entry(s.status.to_string()).or_default() += 1;
    }
    let ok = tally
        .samples
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .count();
    let mut latencies: Vec<Duration> = tally.samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let line = json!({
        "label": args.label,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "duration_s": args.duration,
        "requests": latencies.len(),
        "ok": ok,
        "statuses": statuses,
        "rps": round(ok as f64 / args.duration),
        "p50_ms": round(percentile(&latencies, 50.0)),
        "p95_ms": round(percentile(&latencies, 95.0)),
        "p99_ms": round(percentile(&latencies, 99.0)),
        "max_ms": round(percentile(&latencies, 100.0)),
    });
    println!("{line}");
    Ok(())
}
