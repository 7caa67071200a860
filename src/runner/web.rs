//! The dashboard's server (`--web`): bound before the run sends anything
//! (a taken port is an error naming `--web`, not a run without its
//! dashboard), serving the run's [`LiveRun`] while it runs and its final
//! state for [`LINGER`] after, when someone was watching.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::live::LiveRun;
use super::RunError;
use crate::report::web::{router, Dashboard, StopAnswer};
use crate::workload::Stop;

/// How long the dashboard keeps answering after the run ends, so an open
/// page shows the final state (it polls every second); cut short by a
/// Ctrl-C. Not at all when no page ever polled.
pub const LINGER: Duration = Duration::from_secs(5);

/// The dashboard's port, bound.
pub struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    grace: Duration,
}

/// Bind `--web`'s address; the Stop button will give requests in flight
/// `grace` to finish, as a first Ctrl-C does.
pub async fn bind(addr: SocketAddr, grace: Duration) -> Result<Bound, RunError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Web { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: --web {addr} can be reached from other machines, and its Stop button \
             stops the run; 127.0.0.1 keeps it on this one"
        );
    }
    Ok(Bound {
        listener,
        addr,
        grace,
    })
}

/// The dashboard being served.
pub struct Server {
    addr: SocketAddr,
    watched: Arc<AtomicBool>,
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Bound {
    /// Serve `live`; the Stop button stops the run like a first Ctrl-C.
    pub fn serve(self, live: Arc<LiveRun>, stop: Stop) -> Server {
        let grace = self.grace;
        let watched = Arc::new(AtomicBool::new(false));
        let dashboard = Dashboard {
            source: live,
            stop: Arc::new(move || {
                if stop.drain(grace) {
                    eprintln!(
                        "\nStop pressed on the dashboard: no new requests; waiting up to {} for \
                         those in flight (Ctrl-C to quit now)",
                        humantime::format_duration(grace)
                    );
                    StopAnswer::Stopping
                } else {
                    StopAnswer::Already
                }
            }),
            watched: watched.clone(),
        };
        let done = CancellationToken::new();
        let ended = done.clone();
        let listener = self.listener;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router(dashboard))
                .with_graceful_shutdown(async move { ended.cancelled().await });
            if let Err(e) = served.await {
                eprintln!("warning: the dashboard stopped: {e}");
            }
        });
        eprintln!("dashboard: http://{}/", self.addr);
        Server {
            addr: self.addr,
            watched,
            done,
            task,
        }
    }
}

impl Server {
    /// The run is over: keep answering for [`LINGER`] if a page was
    /// watching (less if `stop` says to quit: a Ctrl-C now), then close.
    pub async fn linger(self, stop: &Stop) {
        if self.watched.load(Ordering::Relaxed) {
            eprintln!(
                "dashboard: the final state stays at http://{}/ for {} (Ctrl-C to quit now)",
                self.addr,
                humantime::format_duration(LINGER)
            );
            // A Ctrl-C after a completed run stops arrivals; after an
            // interrupted one, the second exits.
            let quit = if stop.arrivals.is_cancelled() {
                stop.exit.clone()
            } else {
                stop.arrivals.clone()
            };
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = quit.cancelled() => {}
                () = stop.exit.cancelled() => {}
            }
        }
        self.done.cancel();
        // Open connections (a page's keep-alive) do not hold the run up.
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}
