//! `GET /metrics`: the mock's own state in Prometheus text format, read
//! under the same lock as [`super::Truth`], so a scrape's values are the
//! truth at the instant it was answered.
//!
//! Per pool (`pool="tts"`, `pool="asr"`): `voxmock_requests_in_flight`
//! (gauge: requests open, queued or running — the truth's
//! `in_flight_now`), `voxmock_queue_waiting` (gauge: requests waiting for a
//! slot), `voxmock_slots_busy` (gauge: slots held) and
//! `voxmock_requests_total` (counter: requests received since the truth
//! was last reset — the truth's `requests`; for ASR, HTTP requests plus
//! WebSocket sessions). Plus
//! `process_resident_memory_bytes` of the mock's process (Linux).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::queue::Pool;
use super::Shared;

/// The exposition's content type (text format 0.0.4).
const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let busy = |pool: Pool, slots: usize| {
        slots.saturating_sub(shared.pool_slots(pool).available_permits()) as u64
    };
    let tts_busy = busy(Pool::Tts, shared.model.slots);
    let asr_busy = busy(Pool::Asr, shared.model.asr.slots);
    let mut st = shared.lock();
    st.truth.metrics_served += 1;
    let rows: [(&str, &str, &str, [u64; 2]); 4] = [
        (
            "voxmock_requests_in_flight",
            "gauge",
            "Requests open (queued or running).",
            [st.truth.in_flight, st.asr_truth.in_flight],
        ),
        (
            "voxmock_queue_waiting",
            "gauge",
            "Requests waiting for a slot.",
            [st.waiting as u64, st.asr_waiting as u64],
        ),
        (
            "voxmock_slots_busy",
            "gauge",
            "Slots held by a request.",
            [tts_busy, asr_busy],
        ),
        (
            "voxmock_requests_total",
            "counter",
            "Requests received since the truth was last reset.",
            [
                st.truth.requests,
                st.asr_truth.t.requests + st.asr_truth.t.ws_sessions,
            ],
        ),
    ];
    drop(st);
    let mut text = String::new();
    for (name, kind, help, [tts, asr]) in rows {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n\
             {name}{{pool=\"tts\"}} {tts}\n{name}{{pool=\"asr\"}} {asr}\n"
        );
    }
    if let Some(rss) = resident_bytes() {
        let _ = write!(
            text,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n"
        );
    }
    ([(CONTENT_TYPE, CONTENT)], text)
}

/// The process's resident memory, from `/proc/self/status` (Linux only).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
