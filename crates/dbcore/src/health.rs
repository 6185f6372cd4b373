//! [`HealthMonitor`]: the background health check every driver runs.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;

use crate::Result;

/// The result of one background ping.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HealthCheck {
    /// Whether the ping succeeded.
    pub ok: bool,
    /// Round-trip time (or time until failure).
    #[serde(rename = "latency_ms", serialize_with = "ser_ms")]
    pub latency: Duration,
    /// The error, when the ping failed.
    pub error: Option<String>,
    /// Failures in a row, including this one (0 after a success).
    pub consecutive_failures: u32,
    /// When the ping finished.
    #[serde(skip)]
    pub at: SystemTime,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Runs a ping every `interval` on the current tokio runtime and remembers the last
/// result (outside a tokio runtime it logs a warning and never pings).
/// Stops when [`stop`](HealthMonitor::stop) is called, when it is dropped, or when the
/// ping closure reports that the database is gone (returns `None`).
#[derive(Debug)]
pub struct HealthMonitor {
    last: Arc<Mutex<Option<HealthCheck>>>,
    stop: watch::Sender<bool>,
}

impl HealthMonitor {
    /// Starts the monitor. `ping` returns `None` when the database has been dropped,
    /// which ends the task. A zero `interval` returns a monitor that never pings.
    pub fn spawn<F, Fut>(interval: Duration, mut ping: F) -> Self
    where
        F: FnMut() -> Option<Fut> + Send + 'static,
        Fut: Future<Output = Result<Duration>> + Send + 'static,
    {
        let last = Arc::new(Mutex::new(None));
        let (stop, mut stopped) = watch::channel(false);
        if interval.is_zero() {
            return HealthMonitor { last, stop };
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: the background health check is disabled");
            return HealthMonitor { last, stop };
        };
        let slot = Arc::clone(&last);
        runtime.spawn(async move {
            let mut failures = 0u32;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => return,
                }
                let Some(fut) = ping() else { return };
                let started = std::time::Instant::now();
                let result = fut.await;
                let check = match result {
                    Ok(latency) => {
                        failures = 0;
                        HealthCheck {
                            ok: true,
                            latency,
                            error: None,
                            consecutive_failures: 0,
                            at: SystemTime::now(),
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, consecutive_failures = failures, "database health check failed");
                        HealthCheck {
                            ok: false,
                            latency: started.elapsed(),
                            error: Some(e.to_string()),
                            consecutive_failures: failures,
                            at: SystemTime::now(),
                        }
                    }
                };
                if let Ok(mut guard) = slot.lock() {
                    *guard = Some(check);
                }
            }
        });
        HealthMonitor { last, stop }
    }

    /// Starts a monitor that pings through `target` for as long as it lives: the task
    /// holds only a weak reference, so it never keeps a dropped database open, and it
    /// ends once `target` is gone.
    pub fn watch<T, F, Fut>(interval: Duration, target: &Arc<T>, ping: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Duration>> + Send + 'static,
    {
        let weak = Arc::downgrade(target);
        Self::spawn(interval, move || weak.upgrade().map(&ping))
    }

    /// The last check's result, if any has finished.
    pub fn last(&self) -> Option<HealthCheck> {
        self.last.lock().ok().and_then(|g| g.clone())
    }

    /// Stops the background task.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn pings_until_stopped() {
        let count = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&count);
        let monitor = HealthMonitor::spawn(Duration::from_millis(10), move || {
            c.fetch_add(1, Ordering::SeqCst);
            Some(async { Ok(Duration::from_micros(5)) })
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(monitor.last().is_some_and(|c| c.ok));
        monitor.stop();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let after_stop = count.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(count.load(Ordering::SeqCst), after_stop);
        assert!(after_stop >= 2);
    }
}
