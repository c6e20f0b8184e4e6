//! Ctrl-C during a run: the first interrupt ends the timed phase (operations
//! in flight finish, the report is made, objects are cleaned up); a second
//! one exits at once, leaving whatever was written in place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Starts watching for Ctrl-C on the current tokio runtime; the flag is set
/// at the first interrupt. Pass it to [`run`](crate::run).
pub fn watch_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling on this platform: runs end by count or time only.
            return;
        }
        set.store(true, Ordering::Relaxed);
        eprintln!(
            "\narca bench: interrupted; finishing the operations in flight, then cleaning up \
             (interrupt again to quit at once)"
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("arca bench: quitting without cleanup");
            std::process::exit(130);
        }
    });
    flag
}
