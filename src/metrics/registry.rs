//! The metric registry: one row per metric with everything every report,
//! SLO and comparison needs to know about it — name, unit, title, which way
//! is better, which protocols can produce it and whether the terminal
//! summary shows it. Rows are in display order: the order of every table,
//! CSV and chart; [`TIMELINE`] lists the metrics kept per second.
//!
//! Adding a metric is a record field, a definition in `defs*`, and one row
//! here; no report changes.

use crate::metrics::metric::{Metric, Unit};
use crate::metrics::stats::StageSummary;
use crate::protocol::Kind;

/// Which way a number improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Latencies, rtf, stalls, errors.
    Lower,
    /// rtfx, throughput, success.
    Higher,
    /// Neither: audio duration depends on the inputs, not the server.
    Neither,
}

/// A set of protocols (a bit per [`Kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    /// Every protocol.
    pub const ALL: Kinds = Kinds(0b11_1111);
    /// TTS, HTTP or WebSocket.
    pub const TTS: Kinds = Kinds(Kinds::of(Kind::HttpTts).0 | Kinds::of(Kind::WsTts).0);
    /// TTS over WebSocket (its text-stream clocks).
    pub const WS_TTS: Kinds = Kinds::of(Kind::WsTts);
    /// ASR, HTTP or WebSocket.
    pub const ASR: Kinds = Kinds(Kinds::of(Kind::HttpAsr).0 | Kinds::of(Kind::WsAsr).0);
    /// Streaming ASR over WebSocket.
    pub const WS_ASR: Kinds = Kinds::of(Kind::WsAsr);
    /// Voice agents over WebRTC (their link's figures).
    pub const RTC_AGENT: Kinds = Kinds::of(Kind::RtcAgent);
    /// Voice agents, over WebSocket or WebRTC.
    pub const AGENT: Kinds = Kinds(Kinds::of(Kind::WsAgent).0 | Kinds::of(Kind::RtcAgent).0);
    /// Protocols with one HTTP request per arrival.
    pub const HTTP: Kinds = Kinds(Kinds::of(Kind::HttpTts).0 | Kinds::of(Kind::HttpAsr).0);
    /// Protocols whose requests have an end-to-end time (all but agents).
    pub const REQUEST: Kinds = Kinds(Kinds::HTTP.0 | Kinds::WS_ASR.0 | Kinds::WS_TTS.0);
    /// Protocols that stream real-time audio frames.
    pub const STREAMING: Kinds = Kinds(Kinds::WS_ASR.0 | Kinds::AGENT.0);

    /// The set holding just `k`.
    pub const fn of(k: Kind) -> Kinds {
        Kinds(1 << k as u8)
    }

    /// Whether `k` is in the set.
    pub fn has(&self, k: Kind) -> bool {
        self.0 & Kinds::of(k).0 != 0
    }
}

/// Everything known about one per-request metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The metric (`Chunk(0)` stands for every `chunkN`).
    pub metric: Metric,
    /// Stable name (keys of `result.json`, CSV, `--slo`); `chunk` is followed by N.
    pub name: &'static str,
    /// Unit of its histogram values.
    pub unit: Unit,
    /// How a chart or a reader names it (without unit).
    pub title: &'static str,
    /// Which way it improves.
    pub better: Better,
    /// Protocols whose records can carry it.
    pub kinds: Kinds,
    /// Shown in the terminal summary (the rest are in JSON, CSV and HTML).
    pub headline: bool,
}

const fn def(
    metric: Metric,
    name: &'static str,
    unit: Unit,
    title: &'static str,
    kinds: Kinds,
) -> MetricDef {
    MetricDef {
        metric,
        name,
        unit,
        title,
        better: Better::Lower,
        kinds,
        headline: true,
    }
}

impl MetricDef {
    const fn hidden(mut self) -> Self {
        self.headline = false;
        self
    }

    const fn better(mut self, better: Better) -> Self {
        self.better = better;
        self
    }
}

use Unit::{Count, Micros, Ratio};

/// Every per-request metric, in display order: TTS, then voice agents,
/// then audio and playback, barge-in, streaming ASR, and last the
/// generator's own health.
pub const METRICS: [MetricDef; 46] = [
    def(Metric::Ttfb, "ttfb", Micros, "TTFB", Kinds::HTTP),
    def(Metric::Ttfa, "ttfa", Micros, "TTFA", Kinds::TTS),
    def(Metric::Chunk(0), "chunk", Micros, "chunk", Kinds::TTS),
    def(
        Metric::InterChunkMean,
        "inter_chunk_mean",
        Micros,
        "inter chunk mean",
        Kinds::TTS,
    )
    .hidden(),
    def(
        Metric::InterChunkMax,
        "inter_chunk_max",
        Micros,
        "inter chunk max",
        Kinds::TTS,
    ),
    def(Metric::E2e, "e2e", Micros, "e2e", Kinds::REQUEST),
    def(
        Metric::E2eUncorrected,
        "e2e_uncorrected",
        Micros,
        "e2e uncorrected",
        Kinds::REQUEST,
    )
    .hidden(),
    def(
        Metric::TextFirstAudio,
        "ttfa_text",
        Micros,
        "first audio after the first text sent",
        Kinds::WS_TTS,
    ),
    def(
        Metric::FlushFirstAudio,
        "ttfa_flush",
        Micros,
        "first audio after the flush (last text sent)",
        Kinds::WS_TTS,
    ),
    def(
        Metric::FlushFinal,
        "flush_final",
        Micros,
        "final audio after the flush (last text sent)",
        Kinds::WS_TTS,
    ),
    def(
        Metric::AgentFirstMessage,
        "agent_first_message",
        Micros,
        "agent first message after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentFirstAudio,
        "agent_first_audio",
        Micros,
        "agent first audio after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentTranscript,
        "agent_transcript",
        Micros,
        "agent transcript after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentEndpoint,
        "agent_endpoint",
        Micros,
        "agent endpoint event after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentResponseStart,
        "agent_response_start",
        Micros,
        "agent response start after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentResponseEnd,
        "agent_response_end",
        Micros,
        "agent response end after end of speech",
        Kinds::AGENT,
    ),
    def(
        Metric::AgentFirstPacket,
        "agent_first_packet",
        Micros,
        "first agent packet after end of speech",
        Kinds::RTC_AGENT,
    ),
    def(Metric::Turn, "turn", Micros, "turn", Kinds::AGENT),
    def(
        Metric::AudioGapMax,
        "audio_gap_max",
        Micros,
        "audio gap max",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::AudioGapP99,
        "audio_gap_p99",
        Micros,
        "audio gap p99",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::RtcJitter,
        "rtc_jitter",
        Micros,
        "RTP jitter",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::RtcLoss,
        "rtc_loss",
        Ratio,
        "packet loss",
        Kinds::RTC_AGENT,
    ),
    def(Metric::AudioDuration, "audio", Micros, "audio", Kinds::ALL).better(Better::Neither),
    def(
        Metric::Rtf,
        "rtf",
        Ratio,
        "RTF (e2e ÷ audio)",
        Kinds::REQUEST,
    ),
    def(Metric::Rtfx, "rtfx", Ratio, "rtfx", Kinds::REQUEST).better(Better::Higher),
    def(
        Metric::StallCount,
        "stall_count",
        Count,
        "stall count",
        Kinds::TTS,
    )
    .hidden(),
    def(
        Metric::StallTime,
        "stall_time",
        Micros,
        "stall time",
        Kinds::TTS,
    ),
    def(
        Metric::PrebufferNeeded,
        "prebuffer_needed",
        Micros,
        "prebuffer needed",
        Kinds::TTS,
    ),
    def(
        Metric::LeadingSilence,
        "leading_silence",
        Micros,
        "leading silence",
        Kinds::TTS,
    ),
    def(
        Metric::PerceivedTtfa,
        "perceived_ttfa",
        Micros,
        "perceived ttfa",
        Kinds::TTS,
    ),
    def(
        Metric::BargeInSilence,
        "barge_in_silence",
        Micros,
        "barge-in: time to silence",
        Kinds::AGENT,
    ),
    def(
        Metric::BargeInLeak,
        "barge_in_leak",
        Micros,
        "barge in leak",
        Kinds::AGENT,
    ),
    def(
        Metric::BargeInEvent,
        "barge_in_event",
        Micros,
        "barge in event",
        Kinds::AGENT,
    ),
    def(
        Metric::Connect,
        "connect",
        Micros,
        "connect",
        Kinds::STREAMING,
    ),
    def(
        Metric::FirstPartial,
        "first_partial",
        Micros,
        "first partial",
        Kinds::WS_ASR,
    ),
    def(
        Metric::Final,
        "final",
        Micros,
        "final after audio end",
        Kinds::WS_ASR,
    ),
    def(
        Metric::Ttfs,
        "ttfs",
        Micros,
        "TTFS (first final segment after audio end)",
        Kinds::WS_ASR,
    ),
    def(
        Metric::PartialInterval,
        "partial_interval",
        Micros,
        "partial interval",
        Kinds::WS_ASR,
    ),
    def(Metric::Wer, "wer", Ratio, "wer", Kinds::ASR),
    def(
        Metric::JudgeWer,
        "judge_wer",
        Ratio,
        "judge WER (per judged request)",
        Kinds::TTS,
    ),
    def(
        Metric::RtcAnswer,
        "rtc_answer",
        Micros,
        "offer → answer",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::RtcIce,
        "rtc_ice",
        Micros,
        "offer → ICE connected",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::RtcDtls,
        "rtc_dtls",
        Micros,
        "offer → DTLS connected",
        Kinds::RTC_AGENT,
    ),
    def(
        Metric::FrameLagMax,
        "frame_lag_max",
        Micros,
        "frame lag max",
        Kinds::STREAMING,
    ),
    def(
        Metric::FrameLagP99,
        "frame_lag_p99",
        Micros,
        "frame lag p99",
        Kinds::STREAMING,
    ),
    def(
        Metric::ScheduleLag,
        "schedule_lag",
        Micros,
        "schedule lag",
        Kinds::ALL,
    ),
];

/// The registry row of `m` (every `Chunk(k)` shares the row of `Chunk(0)`).
pub fn def_of(m: &Metric) -> &'static MetricDef {
    let key = match m {
        Metric::Chunk(_) => Metric::Chunk(0),
        m => *m,
    };
    // Every variant has a row (tested), so the fallback is never taken.
    METRICS
        .iter()
        .find(|d| d.metric == key)
        .unwrap_or(&METRICS[0])
}

/// The metrics the timeline keeps per second: each family's lead latency
/// (TTS first audio and e2e, voice-agent first audio and turn, streaming
/// ASR final).
pub const TIMELINE: [Metric; 5] = [
    Metric::Ttfa,
    Metric::E2e,
    Metric::AgentFirstAudio,
    Metric::Turn,
    Metric::Final,
];

/// Where `m` sorts in display order: its row, then (for chunks) its N.
pub fn position(m: &Metric) -> (usize, u32) {
    let key = match m {
        Metric::Chunk(_) => Metric::Chunk(0),
        m => *m,
    };
    let row = METRICS
        .iter()
        .position(|d| d.metric == key)
        .unwrap_or(METRICS.len());
    (row, if let Metric::Chunk(k) = m { *k } else { 0 })
}

/// The metrics named in `names` (unknown names left out), in display order.
pub fn ordered<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Metric> {
    let mut out: Vec<Metric> = names.into_iter().filter_map(Metric::parse).collect();
    out.sort_by_key(position);
    out.dedup();
    out
}

/// Every metric in display order, with one `chunkN` per entry of `chunk_ks`.
pub fn in_order(chunk_ks: &[u32]) -> Vec<Metric> {
    let mut out = Vec::with_capacity(METRICS.len() + chunk_ks.len());
    for d in &METRICS {
        match d.metric {
            Metric::Chunk(_) => out.extend(chunk_ks.iter().map(|&k| Metric::Chunk(k))),
            m => out.push(m),
        }
    }
    out
}

/// The latency live progress shows for a protocol, and how it calls it:
/// the first thing a listener (or caller) waits for.
pub fn live_metric(kind: Kind) -> (Metric, &'static str) {
    match kind {
        Kind::HttpTts | Kind::WsTts => (Metric::Ttfa, "ttfa"),
        Kind::WsAgent | Kind::RtcAgent => (Metric::AgentFirstAudio, "first audio"),
        Kind::HttpAsr | Kind::WsAsr => (Metric::E2e, "e2e"),
    }
}

/// Definitions stated once in every result of a protocol, so a reader
/// knows what was measured.
pub fn notes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::WsTts => &[
            "durations in ms; ttfa, chunks, e2e, rtf and stalls as for HTTP TTS, from the scheduled start in open loop and from the first text sent in closed loop (the connect is not in them)",
            "a chunk is one WebSocket message with audio",
            "ttfa_text = first text message sent → first audio; ttfa_flush = last text (or flush message) sent → first audio after it; flush_final = last text (or flush) sent → the final message",
            "text streamed with --text-stream: whitespace-split words sent at absolute deadlines from the request's start",
            RATE_NOTE,
        ],
        Kind::HttpTts => &[
            "durations in ms; latencies are measured from the scheduled start in open loop (no coordinated omission) and from the actual send in closed loop",
            "a chunk is one SSE event or NDJSON line, or one transport read for raw audio bodies",
            "latency histograms hold successful requests; schedule_lag holds all sent requests",
            "stalls: playback starts at first audio plus the pre-buffer and runs in real time; a stall is waiting for audio that has not arrived",
            RATE_NOTE,
        ],
        Kind::HttpAsr | Kind::WsAsr => &[
            "durations in ms; latencies from the scheduled start in open loop, from the actual start in closed loop",
            "audio = input audio sent; rtf = e2e / audio; rtfx = audio / e2e",
            "streaming: first_partial is measured from the first audio frame sent, final from the end of the audio",
            "ttfs = last audio frame sent to the first final segment after it (is_final, end_of_turn, completed); final = to the whole transcript (the session's done message, with done types)",
            "wer per request against the normalized reference; the stage's wer_pooled = all word errors / all reference words",
        ],
        Kind::RtcAgent => &[
            "durations in ms; one record per turn; a workload request is one call",
            "as for WebSocket agents, from the end of the caller's speech (the send of its last Opus packet); agent audio counts only from packets whose decoded level reaches the audible level (agents send Opus silence between replies), and a response ends after response_idle of quiet",
            "caller audio: Opus at 48 kHz in 20 ms packets on absolute deadlines, noise packets between utterances; frame_lag = each packet's send lateness",
            "connect = start of the call → ICE and DTLS connected (the call can carry audio); rtc_answer, rtc_ice and rtc_dtls from the offer sent; all on the first turn",
            "agent_first_packet = end of speech → first agent packet of any level; audio_gap_max/p99 = waits between a response's audible packets beyond the previous packet's 20 ms; rtc_jitter = RFC 3550 interarrival jitter of the agent's stream at the turn's end; rtc_loss = agent packets lost / expected on the call so far (RTP sequence numbers)",
        ],
        Kind::WsAgent => &[
            "durations in ms; one record per turn; a workload request is one conversation",
            "agent_first_message, agent_first_audio, agent_transcript, agent_endpoint, agent_response_start and agent_response_end are measured from the end of the caller's speech (its last frame sent)",
            "turn = caller's first frame to the end of the agent's response; audio = agent audio seconds in the response",
            "barge-in: from the first frame of the caller's interrupting utterance, against the caller's player (real time from the answer's first audio; an interruption message drops what it has queued); barge_in_silence = until the player went silent (no quiet window added); barge_in_leak = answer audio it played from the onset on, queued or arriving; barge_in_untested = planned barge-ins with nothing left to interrupt (answer over and played), left out of the barge-in figures",
            "connect and schedule_lag are on the first turn of each conversation",
            RATE_NOTE,
        ],
    }
}

/// How audio seconds of raw PCM get their rate (docs/metrics.md "Sample rates").
const RATE_NOTE: &str = "audio seconds of raw PCM use the sample rate the server declares (a header, the URL, a message) over the configured one; each record says which (sample_rate, rate_source)";

/// What the registry says of each metric.
impl Metric {
    /// All metrics in display order (the registry's), with one `chunk_k`
    /// per entry of `chunk_ks`.
    pub fn all(chunk_ks: &[u32]) -> Vec<Metric> {
        in_order(chunk_ks)
    }

    /// Stable name: `ttfa`, `chunk4`, `e2e`, … (the registry's).
    pub fn name(&self) -> String {
        match self {
            Metric::Chunk(k) => format!("chunk{k}"),
            m => def_of(m).name.to_string(),
        }
    }

    /// Inverse of [`Metric::name`]; `None` for an unknown name.
    pub fn parse(s: &str) -> Option<Metric> {
        if let Some(k) = s.strip_prefix("chunk") {
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
                return k.parse().ok().filter(|&k| k > 0).map(Metric::Chunk);
            }
            return None;
        }
        METRICS.iter().find(|d| d.name == s).map(|d| d.metric)
    }

    /// How this metric's histogram values are scaled.
    pub fn unit(&self) -> Unit {
        def_of(self).unit
    }

    /// Its registry row: title, better direction, protocols, …
    pub fn def(&self) -> &'static MetricDef {
        def_of(self)
    }
}

/// A per-stage number that is not a distribution of per-request values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageMetric {
    /// `failed ÷ requests`.
    Errors,
    /// `ok ÷ requests`.
    Success,
    /// `dropped ÷ (requests + dropped)`: arrivals dropped at the in-flight cap.
    Dropped,
    /// Share of successful TTS requests whose playback stalled.
    Stalled,
    /// Completed requests (turns) per wall second.
    Rps,
    /// Seconds of audio per wall second.
    AudioPerWall,
    /// ASR: all word errors ÷ all reference words of the stage.
    WerPooled,
    /// Voice agents: share of calls whose WebSocket handshake succeeded.
    Connected,
    /// Voice agents: share of planned barge-ins that found nothing left to
    /// interrupt (the answer was over and played), so tested nothing.
    BargeInUntested,
    /// The generator's CPU time ÷ (wall time × its usable cores).
    GeneratorCpu,
    /// With `--goodput`: share of requests that succeeded and met every criterion.
    Goodput,
    /// With `--goodput`: good requests per wall second.
    GoodputRps,
    /// With `--judge-asr`: all word errors ÷ all reference words of the
    /// stage's judged TTS requests.
    JudgeWerPooled,
}

/// Everything known about one stage-level figure.
#[derive(Debug, Clone, Copy)]
pub struct StageMetricDef {
    /// The figure.
    pub metric: StageMetric,
    /// Stable name (`--slo`, `compare`).
    pub name: &'static str,
    /// `Percent` for shares, else the rate's unit.
    pub unit: Unit,
    /// Which way it improves.
    pub better: Better,
    /// Protocols whose stages have it.
    pub kinds: Kinds,
}

const fn stage_def(
    metric: StageMetric,
    name: &'static str,
    unit: Unit,
    better: Better,
    kinds: Kinds,
) -> StageMetricDef {
    StageMetricDef {
        metric,
        name,
        unit,
        better,
        kinds,
    }
}

/// Every stage-level figure.
pub const STAGE_METRICS: [StageMetricDef; 13] = [
    stage_def(
        StageMetric::Errors,
        "errors",
        Unit::Percent,
        Better::Lower,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::Success,
        "success",
        Unit::Percent,
        Better::Higher,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::Dropped,
        "dropped",
        Unit::Percent,
        Better::Lower,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::Stalled,
        "stalled",
        Unit::Percent,
        Better::Lower,
        Kinds::TTS,
    ),
    stage_def(
        StageMetric::Rps,
        "rps",
        Unit::PerSecond,
        Better::Higher,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::AudioPerWall,
        "audio_per_wall",
        Unit::AudioPerWall,
        Better::Higher,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::WerPooled,
        "wer_pooled",
        Unit::Percent,
        Better::Lower,
        Kinds::ASR,
    ),
    stage_def(
        StageMetric::Connected,
        "connected",
        Unit::Percent,
        Better::Higher,
        Kinds::AGENT,
    ),
    stage_def(
        StageMetric::BargeInUntested,
        "barge_in_untested",
        Unit::Percent,
        Better::Lower,
        Kinds::AGENT,
    ),
    stage_def(
        StageMetric::GeneratorCpu,
        "generator_cpu",
        Unit::Percent,
        Better::Lower,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::Goodput,
        "goodput",
        Unit::Percent,
        Better::Higher,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::GoodputRps,
        "goodput_rps",
        Unit::PerSecond,
        Better::Higher,
        Kinds::ALL,
    ),
    stage_def(
        StageMetric::JudgeWerPooled,
        "judge_wer_pooled",
        Unit::Percent,
        Better::Lower,
        Kinds::TTS,
    ),
];

impl StageMetric {
    /// Its registry row.
    pub fn def(&self) -> &'static StageMetricDef {
        STAGE_METRICS
            .iter()
            .find(|d| d.metric == *self)
            .unwrap_or(&STAGE_METRICS[0])
    }

    /// Stable name as written in an SLO.
    pub fn name(&self) -> &'static str {
        self.def().name
    }

    /// Inverse of [`StageMetric::name`]; also accepts `success_rate`.
    pub fn parse(s: &str) -> Option<StageMetric> {
        let s = if s == "success_rate" { "success" } else { s };
        STAGE_METRICS.iter().find(|d| d.name == s).map(|d| d.metric)
    }

    /// Whether the value is a share (shown and compared in %).
    pub fn is_share(&self) -> bool {
        self.def().unit == Unit::Percent
    }

    /// The observed value (in % for shares), or why there is none.
    pub fn observe(&self, s: &StageSummary) -> Result<f64, String> {
        let share = |num: u64, den: u64, what: &str| {
            if den == 0 {
                Err(format!("no {what} in this stage"))
            } else {
                Ok(num as f64 / den as f64 * 100.0)
            }
        };
        let pct = |v: Option<f64>, why: &str| v.map(|x| x * 100.0).ok_or_else(|| why.to_string());
        match self {
            StageMetric::Errors => share(s.failed, s.requests, "completed requests"),
            StageMetric::Success => share(s.ok, s.requests, "completed requests"),
            StageMetric::Dropped => share(s.dropped, s.requests + s.dropped, "arrivals"),
            StageMetric::Stalled => pct(
                s.stalled_share,
                "no stall information (needs successful streaming PCM/WAV requests)",
            ),
            StageMetric::Rps => Ok(s.achieved_rps),
            StageMetric::AudioPerWall => Ok(s.audio_s_per_wall_s),
            StageMetric::WerPooled => pct(
                s.wer_pooled,
                "no word error rate (needs successful requests with reference texts)",
            ),
            StageMetric::Connected => pct(s.connect_success, "no calls in this stage"),
            StageMetric::BargeInUntested => share(
                s.barge_in_untested,
                s.barge_ins,
                "planned barge-ins (--barge-in)",
            ),
            StageMetric::GeneratorCpu => pct(
                s.generator_cpu.map(|c| c.share),
                "no CPU reading of the generator (a result from before it was kept)",
            ),
            StageMetric::Goodput => pct(s.goodput, "no goodput (give --goodput criteria)"),
            StageMetric::GoodputRps => s
                .goodput_rps
                .ok_or_else(|| "no goodput (give --goodput criteria)".to_string()),
            StageMetric::JudgeWerPooled => pct(
                s.judge_wer_pooled,
                "no judged requests (needs --judge-asr and successful TTS requests with audio)",
            ),
        }
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
