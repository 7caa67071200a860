//! Ctrl-C and SIGTERM. The first Ctrl-C stops new arrivals and drains
//! in-flight requests for a grace period, then abandons them; SIGTERM (what
//! `timeout`, CI runners and container stops send) stops arrivals and
//! abandons in-flight requests at once. Either way every result file is
//! written as usual. A second signal of either kind stops waiting: the
//! results measured so far are written at once and the process exits.
//! The dashboard's Stop button (`--web`) is a first Ctrl-C: after it, one
//! signal exits.
//!
//! Results survive all of it: `requests.jsonl` only ever holds whole lines,
//! the lines still pending are written first, and `result.json` and the
//! summary follow (within [`EXIT_WAIT`], or the process exits anyway).

use std::time::Duration;

use crate::workload::Stop;

/// Exit code of an interrupted run (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// How long after a second signal the process waits for the results to be
/// written before it exits regardless.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Interrupt,
    Terminate,
    /// Not a signal: arrivals were stopped from elsewhere (the dashboard).
    Stopped,
}

/// Ctrl-C and SIGTERM as one stream of signals.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// The next signal; `None` if none can be received.
    async fn next(&mut self) -> Option<Signal> {
        #[cfg(unix)]
        if let Some(term) = self.term.as_mut() {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.ok().map(|()| Signal::Interrupt),
                s = term.recv() => s.map(|()| Signal::Terminate),
            };
        }
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}

/// Install the signal handler for a run. Returns at once; the handler lives
/// on the runtime until the process ends.
pub fn install(stop: Stop, grace: Duration) {
    // Registered now, before the run starts, so an early signal is not missed.
    let mut signals = Signals::new();
    tokio::spawn(async move {
        // The dashboard's Stop button (`--web`) is the first step too:
        // the next signal is then the second.
        let first = tokio::select! {
            s = signals.next() => s,
            () = stop.arrivals.cancelled() => Some(Signal::Stopped),
        };
        match first {
            None => return,
            Some(Signal::Stopped) => {}
            Some(Signal::Interrupt) => {
                eprintln!(
                    "\nCtrl-C: no new requests; waiting up to {} for those in flight (Ctrl-C again to quit now)",
                    humantime::format_duration(grace)
                );
                stop.drain(grace);
            }
            Some(Signal::Terminate) => {
                eprintln!("\nSIGTERM: stopping now; writing the results measured so far");
                stop.arrivals.cancel();
                stop.abort.cancel();
            }
        }
        if signals.next().await.is_some() {
            crate::runner::jsonl::flush_all();
            eprintln!("Exiting now; writing the results of every request finished so far");
            stop.arrivals.cancel();
            stop.exit.cancel();
            // The run writes its files and returns; should it hang, the
            // process still ends, with requests.jsonl complete.
            tokio::time::sleep(EXIT_WAIT).await;
            crate::runner::jsonl::flush_all();
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}
