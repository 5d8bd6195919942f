//! Confirmation delivery runs on a runtime of its own: one thread at a lower CPU priority
//! (`OUTBOX_NICE`, Linux). When new orders and deliveries compete for the cores, the
//! scheduler serves the orders first and delivery takes what is left; when the cores are
//! idle, delivery takes them all, so it is as fast as before whenever the machine is not
//! saturated. The worker's database calls still run on the service's main runtime
//! (`OutboxWorker::on_db`), so no database connection is opened from, or polled by, the
//! low-priority thread (an order must never wait on it).

use std::future::Future;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

pub struct DeliveryRuntime {
    runtime: Option<Runtime>,
}

impl DeliveryRuntime {
    /// A one-thread runtime whose threads (its worker and its blocking pool, where DNS
    /// lookups run) are `nice` steps below the process; 0 keeps the same priority.
    pub fn start(nice: i32) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("outbox-delivery")
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime
            .as_ref()
            .expect("the delivery runtime runs until dropped")
            .spawn(task)
    }
}

impl Drop for DeliveryRuntime {
    /// Without waiting: dropping a runtime from inside another one's task would panic, and
    /// the worker has finished (or been given up on) by the time the service drops it.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority by `nice` steps. On Linux a thread's nice value
/// is its own (the rest of the process keeps its priority) and its new threads inherit it.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: nice(2) only changes the calling thread's scheduling priority; errno is
    // this thread's, cleared first because -1 is also a valid new nice value.
    let new = unsafe {
        *libc::__errno_location() = 0;
        libc::nice(nice)
    };
    if new == -1 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error().is_some_and(|code| code != 0) {
            tracing::warn!(%error, "could not lower the delivery thread's priority");
        }
    }
}

/// Elsewhere nice(2) may act on the whole process: delivery keeps the same priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) {
    if nice > 0 {
        tracing::debug!("OUTBOX_NICE is applied on Linux only");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::DeliveryRuntime;

    fn own_nice() -> i32 {
        // SAFETY: getpriority(2) reads the calling thread's nice value (Linux: per thread).
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[tokio::test]
    async fn delivery_threads_run_below_the_rest_of_the_process() {
        let here = own_nice();
        let delivery = DeliveryRuntime::start(5).unwrap();
        let there = delivery.spawn(async { own_nice() }).await.unwrap();
        assert_eq!(there, (here + 5).min(19));
        assert_eq!(own_nice(), here, "the calling thread keeps its priority");
        let same = DeliveryRuntime::start(0).unwrap();
        assert_eq!(same.spawn(async { own_nice() }).await.unwrap(), here);
    }
}
