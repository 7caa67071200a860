//! The live web dashboard (`--web`): one page, its script and style
//! embedded in the binary (nothing is fetched from the network; charts are
//! the page's own SVG), and its two endpoints:
//!
//! - `GET /api/live?since=S` → [`LiveSnapshot`] as JSON, with each
//!   scenario's per-second rows from run-clock second `S` on (all kept
//!   rows without `since`). The page polls it every second.
//! - `POST /api/stop` with the header `X-Voxload: stop` → stops the run
//!   like a first Ctrl-C. The header is what a page of another origin
//!   cannot send without the browser asking first (which this server
//!   never allows), so no other site can stop a run.
//!
//! docs/live.md documents the JSON. The server (binding, lifetime) is the
//! runner's; this module says what it answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::live::{LiveSnapshot, LiveSource};

const INDEX_HTML: &str = include_str!("web/index.html");
const DASHBOARD_JS: &str = include_str!("web/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("web/dashboard.css");

/// The page may load only its own script and style and talk only to this
/// server: a browser refuses anything else, so a change that reached for
/// the network would fail the dashboard test.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// The header `POST /api/stop` needs, and its value.
pub const STOP_HEADER: (&str, &str) = ("x-voxload", "stop");

/// What pressing Stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAnswer {
    /// The run stops now: no new requests, those in flight finish.
    Stopping,
    /// It was already stopping or over.
    Already,
}

/// What the dashboard serves from and acts on.
#[derive(Clone)]
pub struct Dashboard {
    /// The run's live numbers.
    pub source: Arc<dyn LiveSource>,
    /// Stop the run (like a first Ctrl-C).
    pub stop: Arc<dyn Fn() -> StopAnswer + Send + Sync>,
    /// Set once a client has read `/api/live`: someone is watching.
    pub watched: Arc<AtomicBool>,
}

#[derive(Deserialize)]
struct LiveQuery {
    since: Option<u64>,
}

/// The dashboard's routes.
pub fn router(d: Dashboard) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(style))
        .route("/api/live", get(live))
        .route("/api/stop", post(stop))
        .with_state(d)
}

fn page(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    page("text/javascript; charset=utf-8", DASHBOARD_JS)
}

async fn style() -> Response {
    page("text/css; charset=utf-8", DASHBOARD_CSS)
}

async fn live(State(d): State<Dashboard>, Query(q): Query<LiveQuery>) -> Response {
    d.watched.store(true, Ordering::Relaxed);
    let snap: LiveSnapshot = d.source.snapshot(Some(q.since.unwrap_or(0)));
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(snap),
    )
        .into_response()
}

async fn stop(State(d): State<Dashboard>, headers: HeaderMap) -> Response {
    let (name, value) = STOP_HEADER;
    if headers.get(name).and_then(|v| v.to_str().ok()) != Some(value) {
        let why = format!("POST /api/stop needs the header {name}: {value}");
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": why })),
        )
            .into_response();
    }
    let answer = (d.stop)();
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "stop": answer })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        for (name, text) in [("index.html", INDEX_HTML), ("dashboard.js", DASHBOARD_JS)] {
            // A namespace name, never fetched.
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            for far in ["http://", "https://", "//cdn", "ws://"] {
                assert!(!text.contains(far), "{name} names {far}");
            }
        }
        assert!(INDEX_HTML.contains("src=\"/dashboard.js\""));
        assert!(INDEX_HTML.contains("href=\"/dashboard.css\""));
        assert!(DASHBOARD_JS.contains("/api/live"));
        assert!(DASHBOARD_JS.contains(STOP_HEADER.0) && DASHBOARD_JS.contains("/api/stop"));
        assert!(!DASHBOARD_JS.contains("innerHTML"), "text goes in as text");
    }
}
