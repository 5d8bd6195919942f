//! Delivery gives way to order creation when the machine is short of CPU.
//!
//! Confirmations are deferred work; orders are not. Every delivered event costs CPU (its
//! claim, its outcome and attempt rows, its HTTP exchange) on the cores that also create
//! orders, so on a saturated machine delivering at full speed takes about a quarter of the
//! order rate (BENCHMARKS.md, "Confirmation delivery"). The pacer reads the kernel's CPU
//! pressure (PSI: the share of wall time in which some task was ready to run but had no
//! CPU) and, while it is above a limit, lets the worker claim only `paced_rate` events per
//! second: confirmations keep flowing at that floor, the backlog waits, and it is caught up
//! at full speed as soon as the machine has room again. Where PSI is not available (not
//! Linux, or a kernel without it) delivery is never paced.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// How pacing is configured (`OUTBOX_CPU_PRESSURE_LIMIT`, `OUTBOX_PACED_RATE`).
#[derive(Clone, Debug)]
pub struct PacingConfig {
    /// Share of wall time (0–1) with some task waiting for a CPU above which delivery is paced.
    pub pressure_limit: f64,
    /// Events per second claimed while paced (at least one per second).
    pub paced_rate: f64,
    /// Where the pressure is read: a PSI file (`/proc/pressure/cpu`, or a cgroup's
    /// `cpu.pressure`).
    pub pressure_file: PathBuf,
}

impl PacingConfig {
    /// The pressure file of this process's machine or container: a cgroup v2
    /// `cpu.pressure` when the process sees one at the root of its cgroup mount (the
    /// container's own), else the host's `/proc/pressure/cpu`.
    pub fn system_pressure_file() -> PathBuf {
        let cgroup = Path::new("/sys/fs/cgroup/cpu.pressure");
        if cgroup.exists() {
            cgroup.into()
        } else {
            "/proc/pressure/cpu".into()
        }
    }
}

/// Pressure is measured over windows at least this long.
const WINDOW: Duration = Duration::from_millis(500);
/// While delivering at full speed, how often the worker pauses for one window to measure
/// the pressure of everything else (its own work counts in the pressure too).
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How soon it pauses again when a window it delivered in was above the limit (which its
/// own work alone may cause).
const PROBE_AGAIN_AFTER: Duration = Duration::from_millis(1500);
/// A paced worker logs that it is paced at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The `total=` of the `some` line of a PSI file: microseconds in which at least one task
/// was waiting for the resource, since boot.
pub fn parse_some_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// Decides, window by window, whether the worker delivers at full speed or at the paced
/// rate. The pressure that counts is that of everything but delivery: a window in which
/// the worker delivered at full speed also measures its own load (catching up a backlog on
/// an idle machine must not slow itself down), so such windows are not judged; windows in
/// which it was idle or paced are, and while it delivers at full speed it pauses for one
/// window every `PROBE_EVERY` to take that measure.
pub(super) struct Pacer {
    config: PacingConfig,
    /// Start of the current measuring window and the stall total read then.
    window: (Instant, u64),
    /// Whether the current window saw a full-speed claim or delivery.
    window_delivered: bool,
    /// A claimed batch is being delivered.
    in_flight: bool,
    paced: bool,
    /// When a window without full-speed delivery last closed.
    judged_at: Instant,
    /// A window with full-speed delivery was above the limit since then.
    over_while_delivering: bool,
    /// Events the paced rate has earned and not yet claimed.
    tokens: f64,
    refilled: Instant,
    last_log: Option<Instant>,
}

impl Pacer {
    /// `None` (delivery never paced) when the pressure file cannot be read; says so once.
    pub(super) fn new(config: PacingConfig) -> Option<Self> {
        let Some(total) = read_total(&config.pressure_file) else {
            tracing::info!(
                file = %config.pressure_file.display(),
                "no CPU pressure information (PSI) here: confirmation delivery is never paced"
            );
            return None;
        };
        let now = Instant::now();
        Some(Self {
            config,
            window: (now, total),
            window_delivered: false,
            in_flight: false,
            paced: false,
            judged_at: now,
            over_while_delivering: false,
            tokens: 0.0,
            refilled: now,
            last_log: None,
        })
    }

    /// The most events the next claim may take: `batch` while the CPU has room; while it
    /// is short, what the paced rate has earned (waiting until that is half a second's
    /// worth, and giving `batch` again as soon as the pressure falls below the limit).
    pub(super) async fn allowance(&mut self, batch: u32) -> u32 {
        loop {
            self.measure();
            if !self.paced {
                let since = self.judged_at.elapsed();
                let probe = since >= PROBE_EVERY
                    || (self.over_while_delivering && since >= PROBE_AGAIN_AFTER);
                if !probe {
                    return batch;
                }
                // A pause of one clean window, to measure everything but delivery.
                self.restart_window();
                tokio::time::sleep(WINDOW).await;
                continue;
            }
            self.refill();
            // Claims of a window's worth, not one event each: a claim and its outcomes
            // cost two write transactions whatever their size.
            let want = (self.rate() * WINDOW.as_secs_f64()).clamp(1.0, f64::from(batch.max(1)));
            if self.tokens >= want {
                return (self.tokens as u32).clamp(1, batch.max(1));
            }
            let next = Duration::from_secs_f64((want - self.tokens) / self.rate());
            tokio::time::sleep(next.min(WINDOW)).await;
        }
    }

    /// `claimed` events were claimed under the last allowance and are being delivered.
    pub(super) fn claimed(&mut self, claimed: usize) {
        if claimed == 0 {
            return;
        }
        if self.paced {
            self.tokens = (self.tokens - claimed as f64).max(0.0);
        } else {
            self.window_delivered = true;
        }
        self.in_flight = true;
    }

    /// The last claimed batch has been delivered and its outcomes recorded.
    pub(super) fn delivered(&mut self) {
        self.in_flight = false;
    }

    fn rate(&self) -> f64 {
        self.config.paced_rate.max(1.0)
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * self.rate();
        // At most a second's worth saved up, so leaving a pause cannot become a burst.
        self.tokens = (self.tokens + earned).min(self.rate());
        self.refilled = now;
    }

    fn restart_window(&mut self) {
        if let Some(total) = read_total(&self.config.pressure_file) {
            self.window = (Instant::now(), total);
            self.window_delivered = self.in_flight && !self.paced;
        }
    }

    /// Closes the measuring window when it is long enough and, unless the worker delivered
    /// at full speed in it, decides from it.
    fn measure(&mut self) {
        let now = Instant::now();
        let (since, before) = self.window;
        let elapsed = now.duration_since(since);
        if elapsed < WINDOW {
            return;
        }
        let Some(total) = read_total(&self.config.pressure_file) else {
            return;
        };
        let judged = !self.window_delivered;
        self.window = (now, total);
        self.window_delivered = self.in_flight && !self.paced;
        let stalled = Duration::from_micros(total.saturating_sub(before));
        let share = stalled.as_secs_f64() / elapsed.as_secs_f64();
        metrics::gauge!("cpu_pressure_ratio").set(share);
        let over = share > self.config.pressure_limit;
        if !judged {
            self.over_while_delivering |= over;
            return;
        }
        self.judged_at = now;
        self.over_while_delivering = false;
        let paced = over;
        if paced && !self.paced {
            self.tokens = 0.0;
            self.refilled = now;
            if self.last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                self.last_log = Some(now);
                tracing::info!(
                    cpu_pressure = format_args!("{:.0} %", share * 100.0),
                    paced_rate = self.config.paced_rate,
                    "the machine is short of CPU: confirmations are delivered at the paced rate until it has room (logged at most once a minute)"
                );
            }
        }
        if paced != self.paced {
            metrics::gauge!("outbox_delivery_paced").set(if paced { 1.0 } else { 0.0 });
        }
        self.paced = paced;
    }
}

fn read_total(file: &Path) -> Option<u64> {
    parse_some_total(&std::fs::read_to_string(file).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_some_total_of_a_psi_file() {
        let text = "some avg10=9.89 avg60=4.96 avg300=1.97 total=7998358\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_some_total(text), Some(7_998_358));
        assert_eq!(parse_some_total("full avg10=0.00 total=5\n"), None);
        assert_eq!(parse_some_total("some avg10=1.00 total=x\n"), None);
        assert_eq!(parse_some_total(""), None);
    }

    fn write_total(file: &Path, total: u64) {
        std::fs::write(
            file,
            format!("some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\n"),
        )
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn paces_to_the_rate_while_the_pressure_of_everything_else_is_above_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cpu.pressure");
        let mut total = 1_000;
        write_total(&file, total);
        let mut pacer = Pacer::new(PacingConfig {
            pressure_limit: 0.5,
            paced_rate: 20.0,
            pressure_file: file.clone(),
        })
        .unwrap();
        // `time` passes, `percent` of it stalled.
        let mut pass = |time: Duration, percent: u64| {
            total += time.as_micros() as u64 * percent / 100;
            write_total(&file, total);
            time
        };
        // No window closed yet: full batches.
        assert_eq!(pacer.allowance(64).await, 64);
        pacer.claimed(64);

        // 80 % stalled while delivering at full speed: that may be delivery's own load, so
        // not judged; full batches go on.
        tokio::time::advance(pass(WINDOW, 80)).await;
        assert_eq!(pacer.allowance(64).await, 64);
        pacer.delivered();
        pacer.claimed(64);
        tokio::time::advance(pass(PROBE_AGAIN_AFTER - WINDOW, 80)).await;
        pacer.delivered();
        // Windows above the limit while delivering, PROBE_AGAIN_AFTER since the last judged
        // one: the worker pauses for a window, and it is 80 % stalled without delivery:
        // paced. The first claim then waits for half a second's worth of the rate (10).
        let started = tokio::time::Instant::now();
        let first = {
            let mut pause = std::pin::pin!(pacer.allowance(64));
            assert!(futures::poll!(pause.as_mut()).is_pending());
            tokio::time::advance(pass(WINDOW, 80)).await;
            assert!(futures::poll!(pause.as_mut()).is_pending());
            tokio::time::advance(pass(WINDOW, 80)).await;
            pause.await
        };
        assert_eq!(first, 10);
        assert_eq!(started.elapsed(), WINDOW * 2);
        pacer.claimed(10);
        pacer.delivered();
        // Still under pressure: the next ten after another half second.
        tokio::time::advance(pass(WINDOW, 80)).await;
        assert_eq!(pacer.allowance(64).await, 10);
        pacer.claimed(10);
        pacer.delivered();

        // The pressure falls to 10 %: full batches at once.
        tokio::time::advance(pass(WINDOW, 10)).await;
        assert_eq!(pacer.allowance(64).await, 64);
    }

    #[test]
    fn no_pacing_without_a_pressure_file() {
        let config = PacingConfig {
            pressure_limit: 0.5,
            paced_rate: 20.0,
            pressure_file: "/nonexistent/cpu.pressure".into(),
        };
        assert!(Pacer::new(config).is_none());
    }
}
