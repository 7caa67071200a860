//! `--prometheus ADDR`: serves the run's live state at `GET /metrics` for
//! the whole run, and afterwards until one scrape has read the final
//! numbers (at most `--prometheus-linger`; Ctrl-C ends the wait).
//!
//! The address is bound before the target is checked and before any
//! request, so a port in use is one clear error naming the flag. Scrapes
//! copy the live state under the sink's lock and render outside it
//! (`report::prometheus`); the sink is held weakly, so the run's end is
//! unchanged, and its final view stays readable after it is gone.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::sink::RunSink;
use super::RunError;
use crate::config::common::PrometheusPlan;
use crate::metrics::live::LiveView;
use crate::report::prometheus::{render, CONTENT_TYPE};
use crate::workload::Stop;

/// The endpoint's address, bound but not serving yet.
pub struct Bound {
    listener: TcpListener,
    plan: PrometheusPlan,
}

/// Bind `plan.addr`: an address in use or not ours is an error naming `--prometheus`.
pub async fn bind(plan: &PrometheusPlan) -> Result<Bound, RunError> {
    let listener = TcpListener::bind(plan.addr)
        .await
        .map_err(|source| RunError::Prometheus {
            addr: plan.addr,
            source,
        })?;
    Ok(Bound {
        listener,
        plan: *plan,
    })
}

/// What a scrape reads.
struct Feed {
    sink: Weak<RunSink>,
    final_view: Arc<OnceLock<LiveView>>,
    /// A scrape has served the final numbers.
    final_scraped: Notify,
}

/// The running endpoint.
pub struct Exporter {
    addr: SocketAddr,
    linger: Duration,
    feed: Arc<Feed>,
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Bound {
    /// Serve `sink`'s live state until [`Exporter::finish`].
    pub fn serve(self, sink: &Arc<RunSink>) -> Exporter {
        let feed = Arc::new(Feed {
            sink: Arc::downgrade(sink),
            final_view: sink.final_view(),
            final_scraped: Notify::new(),
        });
        let done = CancellationToken::new();
        let addr = self.listener.local_addr().unwrap_or(self.plan.addr);
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(feed.clone());
        let task = {
            let done = done.clone();
            tokio::spawn(async move {
                let served = axum::serve(self.listener, app)
                    .with_graceful_shutdown(done.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    eprintln!("warning: the --prometheus endpoint stopped: {e}");
                }
            })
        };
        Exporter {
            addr,
            linger: self.plan.linger,
            feed,
            done,
            task,
        }
    }
}

impl Exporter {
    /// The run has ended: wait until a scrape has read its final numbers,
    /// at most the linger time, less if the run is stopped; then stop serving.
    pub async fn finish(self, stop: &Stop) {
        if !stop.arrivals.is_cancelled() && !self.linger.is_zero() {
            eprintln!(
                "serving the final metrics at http://{}/metrics until scraped (at most {}; Ctrl-C to skip)",
                self.addr,
                humantime::format_duration(self.linger)
            );
            tokio::select! {
                () = self.feed.final_scraped.notified() => {}
                () = tokio::time::sleep(self.linger) => {}
                () = stop.arrivals.cancelled() => {}
                () = stop.exit.cancelled() => {}
            }
        }
        self.close().await;
    }

    /// Stop serving now.
    pub async fn close(self) {
        self.done.cancel();
        // Open scrapes get a moment to finish; never a reason to hang.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.task).await;
    }
}

async fn metrics(State(feed): State<Arc<Feed>>) -> impl IntoResponse {
    let (text, last) = match feed.final_view.get() {
        Some(view) => (render(view), true),
        None => match feed.sink.upgrade() {
            Some(sink) => {
                let view = sink.live_view();
                (render(&view), view.finished)
            }
            None => (String::new(), false),
        },
    };
    if last {
        feed.final_scraped.notify_one();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
