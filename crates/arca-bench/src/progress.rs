//! The live progress line on stderr: once a second, the phase, elapsed time,
//! operations so far and the rate over the last second. On a terminal the
//! line is rewritten in place; otherwise (a log, a script) one line is
//! printed every five seconds so logs stay short.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::stats::LiveCounters;

/// A running progress printer; [`finish`](Progress::finish) stops it.
pub struct Progress {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts printing `phase` progress from `live`, if `enabled`; `total`
    /// is the number of operations expected, when known.
    pub fn start(
        enabled: bool,
        phase: &'static str,
        live: Arc<LiveCounters>,
        total: Option<u64>,
    ) -> Progress {
        let (stop, mut stopped) = watch::channel(false);
        if !enabled {
            return Progress { stop, task: None };
        }
        let task = tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let every = if tty { Duration::from_secs(1) } else { Duration::from_secs(5) };
            let started = Instant::now();
            let mut last = (started, 0u64, 0u64);
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.changed() => break,
                }
                let now = Instant::now();
                let (ops, bytes, errors) = live.snapshot();
                let window = now.duration_since(last.0).as_secs_f64().max(1e-9);
                let line = format!(
                    "{phase}: {:>6.1}s {:>9} ops{} {:>9.1} ops/s {:>9.2} MB/s {:>6} errors",
                    now.duration_since(started).as_secs_f64(),
                    ops,
                    total.map(|t| format!("/{t}")).unwrap_or_default(),
                    (ops - last.1) as f64 / window,
                    (bytes - last.2) as f64 / window / 1e6,
                    errors,
                );
                last = (now, ops, bytes);
                let mut err = std::io::stderr().lock();
                let _ = if tty { write!(err, "\r\x1b[K{line}") } else { writeln!(err, "{line}") };
                let _ = err.flush();
            }
            if tty {
                let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            }
        });
        Progress { stop, task: Some(task) }
    }

    /// Stops the printer and clears its line.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
