//! The real binaries as child processes on ports chosen before they start (so two services
//! can be told each other's address), killed when dropped, their log shown on failure.

use super::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHECKOUT_BIN: &str = env!("CARGO_BIN_EXE_checkout-service");
pub const ORDER_BIN: &str = env!("CARGO_BIN_EXE_order-service");

/// A free port: bound, read and released.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub struct Process {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Process {
    /// Starts `bin` on `port` and waits until `ready` answers 200.
    pub async fn start(
        bin: &str,
        dir: &Path,
        name: &str,
        port: u16,
        env: &[(&str, String)],
        ready: &str,
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(bin)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let process = Self { child, base, log };
        let client = reqwest::Client::new();
        let url = format!("{}{ready}", process.base);
        eventually(20, &format!("{name} to answer {ready}"), || async {
            let answer = client.get(&url).send().await.ok()?;
            (answer.status() == 200).then_some(())
        })
        .await;
        process
    }

    /// SIGTERM, then the exit status (within ten seconds).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        assert!(sent.unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- {} ---\n{log}", self.log.display());
        }
    }
}
