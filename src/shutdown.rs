//! Ctrl-C: the first press stops new arrivals and drains in-flight requests
//! for a grace period, then abandons them; the second exits at once.
//!
//! Results survive either way: `requests.jsonl` only ever holds whole lines,
//! and after the first press every result file is written as usual.

use std::time::Duration;

use crate::workload::Stop;

/// Exit code after a second Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Install the Ctrl-C handler for a run. Returns at once; the handler lives
/// on the runtime until the process ends.
pub fn install(stop: Stop, grace: Duration) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\nCtrl-C: no new requests; waiting up to {} for those in flight (Ctrl-C again to quit now)",
            humantime::format_duration(grace)
        );
        stop.arrivals.cancel();
        let abort = stop.abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abort.cancel();
        });
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "Ctrl-C again: exiting now; requests.jsonl holds every request finished so far"
            );
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}
