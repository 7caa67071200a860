//! `POST /v1/audio/speech`: OpenAI-compatible TTS with known timing.
//!
//! The handler admits the request, plans its audio and timing, then a task
//! hands frames to the body channel at absolute deadlines
//! (`admitted + synthesis work`, stretched by stall windows), so the mock's
//! timers never accumulate drift and its truth is exact.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::body::{ChannelBody, Item, CHANNEL_FRAMES};
use super::faults::{draw_fault, draw_overhead};
use super::model::{RateDeclaration, OVERSIZED_HEAD_BYTES};
use super::plan::{parse, Framing, Plan, WAV_HEADER_LEN};
use super::queue::{admit, InFlight, Pool};
use super::truth::{FaultKind, RequestTruth};
use super::{micros, Shared};

/// Largest request body read; TTS requests are small JSON.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// An OpenAI-shaped JSON error.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        400..=428 => "invalid_request_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    let body = serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Record a request that ends without audio and answer it.
fn reject(shared: &Shared, mut rec: RequestTruth, status: StatusCode, message: &str) -> Response {
    rec.status = status.as_u16();
    let id = rec.id;
    shared.lock().truth.finish(rec);
    let mut resp = error_response(status, message);
    resp.headers_mut()
        .insert("x-mock-request-id", HeaderValue::from(id));
    resp
}

/// The speech handler. It takes the raw request so that `t0`, the origin of
/// every `*_us` in the truth, is stamped before the JSON body is read.
pub(crate) async fn speech(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let t0 = Instant::now();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.lock().truth.requests += 1;
    let mut rec = RequestTruth {
        id,
        status: 0,
        chars: 0,
        audio_samples: 0,
        intended_samples: 0,
        sample_rate: shared.model.sample_rate,
        chunks: 0,
        queue_wait_us: 0,
        cold_start_us: 0,
        first_audio_us: None,
        last_audio_us: None,
        stall_us: 0,
        fault: None,
        client_aborted: false,
    };
    let parsed = match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES).await {
        Ok(bytes) => parse(&bytes),
        Err(e) => Err(format!("cannot read request body: {e}")),
    };
    let speech = match parsed {
        Ok(s) => s,
        Err(msg) => return reject(&shared, rec, StatusCode::BAD_REQUEST, &msg),
    };
    rec.chars = speech.chars;
    let (fault, overhead) = {
        let mut st = shared.lock();
        let fault = draw_fault(&mut st.rng, &shared.model.faults);
        (
            fault,
            draw_overhead(&mut st.rng, shared.model.overhead, shared.model.jitter),
        )
    };
    rec.fault = fault;
    if fault == Some(FaultKind::Error429) {
        let mut resp = reject(
            &shared,
            rec,
            StatusCode::TOO_MANY_REQUESTS,
            "mock fault: rate limited",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    let in_flight = InFlight::enter(&shared, Pool::Tts);
    let Some(permit) = admit(&shared, Pool::Tts).await else {
        drop(in_flight);
        rec.fault = None;
        return reject(&shared, rec, StatusCode::SERVICE_UNAVAILABLE, "queue full");
    };
    let admitted = Instant::now();
    rec.queue_wait_us = micros(admitted - t0);
    let cold = shared.cold_delay(admitted);
    rec.cold_start_us = micros(cold);
    let plan = Plan::new(&shared.model, speech, fault, cold + overhead);
    if let Some(f @ (FaultKind::Error5xx | FaultKind::OversizedHead)) = fault {
        // The answer comes when the first audio would have: a failed inference.
        let _ = wait_work(&shared, admitted, plan.lead, None).await;
        shared.touch(Instant::now());
        drop((permit, in_flight));
        if f == FaultKind::OversizedHead {
            return oversized_head(&shared, rec);
        }
        return reject(
            &shared,
            rec,
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock fault: internal error",
        );
    }
    rec.status = 200;
    rec.intended_samples = plan.intended;
    rec.audio_samples = plan.sent;
    rec.chunks = plan.audio_frames();

    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    // A known length would be sent as content-length: the fault needs chunks.
    let exact_len = plan
        .exact_len()
        .filter(|_| fault != Some(FaultKind::BadChunk));
    let mut resp = Response::new(Body::new(ChannelBody::new(rx, exact_len)));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(plan.content_type()),
    );
    if plan.is_raw_pcm() {
        let rate = plan.sample_rate;
        match shared.model.declare_rate {
            RateDeclaration::None => {}
            RateDeclaration::Header => {
                headers.insert("x-sample-rate", HeaderValue::from(rate));
            }
            RateDeclaration::ContentType => {
                let ct = format!("audio/L16; rate={rate}; channels=1");
                if let Ok(v) = HeaderValue::from_str(&ct) {
                    headers.insert(header::CONTENT_TYPE, v);
                }
            }
        }
    }
    if plan.framing == Framing::Sse {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    headers.insert("x-mock-request-id", HeaderValue::from(id));
    headers.insert("x-mock-audio-samples", HeaderValue::from(plan.sent));
    headers.insert("x-mock-chunks", HeaderValue::from(plan.audio_frames()));
    if let Some(f) = fault {
        headers.insert("x-mock-fault", HeaderValue::from_static(f.as_str()));
    }
    let producer = Producer {
        shared,
        plan,
        rec,
        t0,
        base: admitted,
        tx,
    };
    tokio::spawn(producer.run(permit, in_flight));
    resp
}

/// The `oversized_head` fault: a 200 with a padding header of
/// [`OVERSIZED_HEAD_BYTES`], recorded as answered.
fn oversized_head(shared: &Shared, rec: RequestTruth) -> Response {
    let mut resp = reject(shared, rec, StatusCode::OK, "mock fault: oversized head");
    let headers = resp.headers_mut();
    headers.insert(
        "x-mock-fault",
        HeaderValue::from_static(FaultKind::OversizedHead.as_str()),
    );
    if let Ok(padding) = HeaderValue::from_bytes(&vec![b'a'; OVERSIZED_HEAD_BYTES]) {
        headers.insert("x-mock-padding", padding);
    }
    resp
}

/// Why a producer stopped early.
pub(crate) enum Stop {
    ClientGone,
    Shutdown,
}

/// Sleep until `work` of synthesis begun at `base` is done, re-checking the
/// stall windows (one may be added while we sleep). Returns the pause the
/// windows added. Watches `tx` so a client that left frees its slot at once.
pub(crate) async fn wait_work(
    shared: &Shared,
    base: Instant,
    work: Duration,
    tx: Option<&mpsc::Sender<Item>>,
) -> Result<Duration, Stop> {
    loop {
        let at = shared.lock().stalls.deadline(base, work);
        if Instant::now() >= at {
            return Ok(at - (base + work));
        }
        let closed = async {
            match tx {
                Some(tx) => tx.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = closed => return Err(Stop::ClientGone),
            () = shared.shutdown.cancelled() => return Err(Stop::Shutdown),
        }
    }
}

/// Hands one request's frames to its body channel on schedule.
struct Producer {
    shared: Arc<Shared>,
    plan: Plan,
    rec: RequestTruth,
    t0: Instant,
    base: Instant,
    tx: mpsc::Sender<Item>,
}

impl Producer {
    async fn run(mut self, permit: OwnedSemaphorePermit, in_flight: InFlight) {
        let result = self.send_all().await;
        self.shared.touch(Instant::now());
        drop((permit, in_flight));
        match result {
            Ok(()) => {}
            Err(Stop::ClientGone) => self.rec.client_aborted = true,
            Err(Stop::Shutdown) => {
                let _ = self
                    .tx
                    .try_send(Err(io::Error::other("mock server shutting down")));
                return;
            }
        }
        // Record before the body ends, so the truth is complete by the time
        // the client has read the whole response.
        let Producer {
            shared, rec, tx, ..
        } = self;
        let reset = rec.fault == Some(FaultKind::Reset);
        shared.lock().truth.finish(rec);
        if reset {
            // An error frame makes hyper drop the connection without the final chunk.
            let _ = tx
                .send(Err(io::Error::other("mock fault: connection reset")))
                .await;
        }
    }

    async fn send_all(&mut self) -> Result<(), Stop> {
        let n = self.plan.ranges.len();
        let pause = if self.plan.buffered {
            let pause = self.wait(self.plan.work(n.saturating_sub(1))).await?;
            let mut all = BytesMut::new();
            for i in 0..n {
                all.extend_from_slice(&self.encode(i));
            }
            if n == 0 && self.plan.wav_header() {
                all.extend_from_slice(&self.header());
            }
            all.extend_from_slice(&self.tail());
            self.send(all.freeze(), n > 0).await?;
            pause
        } else {
            let mut pause = Duration::ZERO;
            for i in 0..n {
                pause = self.wait(self.plan.work(i)).await?;
                let frame = self.encode(i);
                self.send(frame, true).await?;
            }
            if n == 0 {
                pause = self.wait(self.plan.lead).await?;
                if self.plan.wav_header() {
                    let header = Bytes::copy_from_slice(&self.header());
                    self.send(header, false).await?;
                }
            }
            let tail = self.tail();
            if !tail.is_empty() {
                self.send(tail, false).await?;
            }
            pause
        };
        let fault_stall = self
            .plan
            .stall
            .filter(|(from, _)| *from < n)
            .map_or(Duration::ZERO, |(_, d)| d);
        self.rec.stall_us = micros(fault_stall + pause);
        Ok(())
    }

    async fn wait(&self, work: Duration) -> Result<Duration, Stop> {
        wait_work(&self.shared, self.base, work, Some(&self.tx)).await
    }

    /// Hand a frame over; stamp it if it carries audio.
    async fn send(&mut self, frame: Bytes, audio: bool) -> Result<(), Stop> {
        tokio::select! {
            sent = self.tx.send(Ok(frame)) => sent.map_err(|_| Stop::ClientGone)?,
            () = self.shared.shutdown.cancelled() => return Err(Stop::Shutdown),
        }
        if audio {
            let at = micros(self.t0.elapsed());
            self.rec.first_audio_us.get_or_insert(at);
            self.rec.last_audio_us = Some(at);
        }
        Ok(())
    }

    /// The WAV header. Its length is the *intended* audio, even when a
    /// `truncate`/`reset` fault sends less: that mimics a buggy server.
    fn header(&self) -> [u8; WAV_HEADER_LEN] {
        let data_len = u32::try_from(self.plan.intended * 2).unwrap_or(u32::MAX);
        crate::audio::wav::header(self.plan.sample_rate, 1, 16, Some(data_len))
    }

    /// Chunk `i`, framed for the wire.
    fn encode(&self, i: usize) -> Bytes {
        let Some(&(a, b)) = self.plan.ranges.get(i) else {
            return Bytes::new();
        };
        let mut pcm = BytesMut::with_capacity((b - a) * 2);
        let p = &self.plan;
        self.shared
            .voice
            .render_span(&p.symbols, p.tempo, p.silence, a..b, &mut pcm);
        let pcm = pcm.freeze();
        let b64 = || base64::engine::general_purpose::STANDARD.encode(&pcm);
        match self.plan.framing {
            Framing::Audio if i == 0 && self.plan.wav_header() => {
                let mut out = BytesMut::with_capacity(WAV_HEADER_LEN + pcm.len());
                out.extend_from_slice(&self.header());
                out.extend_from_slice(&pcm);
                out.freeze()
            }
            Framing::Audio => pcm,
            Framing::Sse => {
                let event = serde_json::json!({"type": "speech.audio.delta", "audio": b64()});
                Bytes::from(format!("data: {event}\n\n"))
            }
            Framing::Ndjson => Bytes::from(format!("{}\n", serde_json::json!({"audio": b64()}))),
        }
    }

    /// The end-of-stream event (none for raw audio, or when the stream is reset).
    fn tail(&self) -> Bytes {
        if self.plan.fault == Some(FaultKind::Reset) {
            return Bytes::new();
        }
        match self.plan.framing {
            Framing::Audio => Bytes::new(),
            Framing::Sse => {
                // Token counts are stand-ins: characters in, chunks out.
                let (input, output) = (self.rec.chars, self.plan.ranges.len());
                let usage = serde_json::json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output});
                let event = serde_json::json!({"type": "speech.audio.done", "usage": usage});
                Bytes::from(format!("data: {event}\n\n"))
            }
            Framing::Ndjson => Bytes::from_static(b"{\"done\":true}\n"),
        }
    }
}
