//! Is the target ready? A health URL polled until it answers 2xx: how long
//! a server takes to come back after a restart, a scale-up or a cold
//! start. Polls go out on an absolute grid (`start + k × every`), so a
//! slow answer does not stretch the ones after it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Uri};
use tokio_util::sync::CancellationToken;

use super::HttpClient;

/// How often the health URL is asked.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// How one wait for readiness ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// The first 2xx answer came this long after the wait began.
    Ready {
        /// From the wait's start to the 2xx answer.
        after: Duration,
        /// Polls sent, the answering one included.
        polls: u64,
    },
    /// No 2xx answer before the wait ended.
    NotReady {
        /// How long it was asked.
        waited: Duration,
        /// Polls sent.
        polls: u64,
        /// What the last poll got (a status or a connection error).
        last: String,
    },
}

/// Poll `url` from `start` every [`POLL_EVERY`] until it answers 2xx, `within`
/// has passed, or `stop` is cancelled; `on_poll` hears each failed poll
/// (how many so far, what it got), so a wait cut short can say where it was.
pub async fn wait_ready(
    client: &HttpClient,
    url: &Uri,
    start: Instant,
    within: Duration,
    stop: &CancellationToken,
    mut on_poll: impl FnMut(u64, &str),
) -> Readiness {
    let deadline = start + within;
    let mut polls = 0u64;
    let mut last = String::from("not asked");
    loop {
        let at = start + POLL_EVERY * u32::try_from(polls).unwrap_or(u32::MAX);
        if at >= deadline {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {}
            () = stop.cancelled() => break,
        }
        polls += 1;
        let answer = tokio::select! {
            a = tokio::time::timeout_at(deadline.into(), poll(client, url)) => a,
            () = stop.cancelled() => break,
        };
        match answer {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                return Readiness::Ready {
                    after: start.elapsed(),
                    polls,
                };
            }
            Ok(Ok(status)) => last = format!("HTTP {status}"),
            Ok(Err(e)) => last = e,
            Err(_) => last = "no answer".into(),
        }
        on_poll(polls, &last);
    }
    Readiness::NotReady {
        waited: start.elapsed(),
        polls,
        last,
    }
}

/// One GET: the status, or why there was none.
async fn poll(client: &HttpClient, url: &Uri) -> Result<u16, String> {
    let req = Request::get(url.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = client.request(req).await.map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}
