//! One exchange as it went over the wire, for `voxload sample`: every
//! message sent and received with its arrival time, a short excerpt (audio
//! elided, secrets redacted), and what the adapter's own rules made of it —
//! or why they ignored it. A wrong type path is then one look, not a
//! timeout in a load run.
//!
//! Adapters hold a [`Tracer`], off ([`Tracer::off`]) in load runs: every
//! hook is one `None` check, and excerpts are only built when it is on.
//! Printing is the CLI's (`cli::sample`); this module only records.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio_tungstenite::tungstenite::Message;

use super::target::is_secret_header;
use super::ws::base64_decoded_len;

/// Received messages kept; later ones are only counted.
pub const MAX_RECEIVED: usize = 500;

/// Characters of a message shown.
pub const EXCERPT_CHARS: usize = 200;

/// Why a message the adapter read counted for nothing. Returned by the
/// adapters' classifiers with their "other" outcome (it costs nothing: no
/// data), and spelled out with the rules' lists by their `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// No string at the type path.
    NoType,
    /// The type is in none of the lists the rules check.
    UnknownType,
    /// A transcript whose final flag is false or missing.
    NotFinal,
    /// A partial transcript with empty text.
    EmptyPartial,
    /// No string at any of the text paths.
    NoText,
    /// An error event whose code is in the benign list.
    BenignError,
    /// No audio at the audio path, and nothing that ends the answer.
    NoAudio,
    /// A binary message where the audio is read from JSON.
    Binary,
    /// A ping, pong or raw frame (answered by the socket).
    Control,
}

/// What the adapter made of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Audio of this many bytes.
    Audio(usize),
    /// A partial transcript.
    Partial(String),
    /// A final transcript (segment).
    Final(String),
    /// The message that ends the session or answer.
    Done,
    /// The agent's (final) transcript of the caller.
    Transcript(String),
    /// A piece of the agent's text reply.
    Reply(String),
    /// End of the agent's response.
    End,
    /// The agent stopped because the caller spoke.
    Interruption,
    /// The agent found the end of the caller's speech.
    Endpoint,
    /// The agent's response began.
    ResponseStart,
    /// A playback mark with this name.
    Mark(String),
    /// Kept as it came in the turn's record (`keep_types`).
    Kept,
    /// An error event with this code: fails the exchange.
    Error(String),
    /// The server closed with this code.
    Close(u16),
    /// Read, and counted for nothing: why, naming the rules checked.
    Ignored(String),
    /// The message broke the exchange (not JSON, bad base64, …).
    Failed(String),
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From voxload.
    Sent,
    /// From the server.
    Received,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it was handed to (or read from) the socket.
    pub at: Instant,
    /// What happened.
    pub what: What,
}

/// What a recorded event is.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A message: its direction, size in bytes, excerpt, and (received) verdict.
    Message {
        /// Sent or received.
        dir: Direction,
        /// Bytes on the wire (payload).
        size: usize,
        /// The message, shortened, audio elided, secrets redacted.
        excerpt: String,
        /// What the rules made of it (received messages).
        verdict: Option<Verdict>,
        /// Why it did not count where the session was (agent), if so.
        aside: Option<&'static str>,
    },
    /// A run of real-time audio frames: how many, each's size, the last's
    /// time, and one frame's excerpt.
    Frames {
        /// Frames sent.
        count: u64,
        /// Bytes of one frame's message.
        size: usize,
        /// When the last one left.
        last: Option<Instant>,
        /// What one frame looks like.
        excerpt: String,
    },
    /// Anything else worth a line (connected, noise from here, status).
    Note(String),
}

/// The events of one exchange.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The exchange's start (connect or request): times count from here.
    pub origin: Option<Instant>,
    /// Events in the order recorded (sort by `at` to show them).
    pub events: Vec<Event>,
    /// Received messages beyond [`MAX_RECEIVED`], left out.
    pub left_out: usize,
    received: usize,
    /// Values never shown (API keys, header values).
    secrets: Vec<String>,
}

impl Trace {
    /// Mark the exchange's start (the first mark wins).
    pub fn start(&mut self, at: Instant) {
        self.origin.get_or_insert(at);
    }

    /// A note at `at`.
    pub fn note(&mut self, at: Instant, text: impl Into<String>) {
        self.events.push(Event {
            at,
            what: What::Note(self.scrub(text.into())),
        });
    }

    /// A message sent at `at`.
    pub fn sent(&mut self, at: Instant, msg: &Message) {
        let (size, excerpt) = self.describe(msg);
        self.push_message(at, Direction::Sent, size, excerpt, None, None);
    }

    /// A message received at `at`, and what the rules made of it.
    pub fn received(&mut self, at: Instant, msg: &Message, verdict: Verdict) {
        self.received_aside(at, msg, verdict, None);
    }

    /// [`Trace::received`], with why the session did not count it there.
    pub fn received_aside(
        &mut self,
        at: Instant,
        msg: &Message,
        verdict: Verdict,
        aside: Option<&'static str>,
    ) {
        if self.full() {
            return;
        }
        let (size, excerpt) = self.describe(msg);
        self.push_message(at, Direction::Received, size, excerpt, Some(verdict), aside);
    }

    /// Bytes received outside a WebSocket message (an HTTP body or event).
    pub fn received_bytes(&mut self, at: Instant, bytes: &[u8], verdict: Verdict) {
        if self.full() {
            return;
        }
        let excerpt = match std::str::from_utf8(bytes) {
            Ok(text) => self.excerpt(text),
            Err(_) => format!("<binary {} bytes>", bytes.len()),
        };
        self.push_message(
            at,
            Direction::Received,
            bytes.len(),
            excerpt,
            Some(verdict),
            None,
        );
    }

    /// `count` audio frames sent from `first` to `last`, each like `sample`.
    pub fn frames(&mut self, first: Instant, last: Option<Instant>, count: u64, sample: &Message) {
        let (size, excerpt) = self.describe(sample);
        self.events.push(Event {
            at: first,
            what: What::Frames {
                count,
                size,
                last,
                excerpt,
            },
        });
    }

    /// Received messages recorded so far (kept or left out).
    pub fn received_count(&self) -> usize {
        self.received
    }

    fn full(&mut self) -> bool {
        self.received += 1;
        if self.received > MAX_RECEIVED {
            self.left_out += 1;
            return true;
        }
        false
    }

    fn push_message(
        &mut self,
        at: Instant,
        dir: Direction,
        size: usize,
        excerpt: String,
        verdict: Option<Verdict>,
        aside: Option<&'static str>,
    ) {
        let verdict = verdict.map(|v| self.scrub_verdict(v));
        self.events.push(Event {
            at,
            what: What::Message {
                dir,
                size,
                excerpt,
                verdict,
                aside,
            },
        });
    }

    fn describe(&self, msg: &Message) -> (usize, String) {
        match msg {
            Message::Text(t) => (t.len(), self.excerpt(t.as_str())),
            Message::Binary(b) => (b.len(), format!("<binary {} bytes>", b.len())),
            Message::Ping(p) => (p.len(), "<ping>".into()),
            Message::Pong(p) => (p.len(), "<pong>".into()),
            Message::Close(f) => (
                0,
                match f {
                    Some(f) => format!("<close {} {}>", u16::from(f.code), f.reason),
                    None => "<close>".into(),
                },
            ),
            Message::Frame(f) => (f.len(), "<frame>".into()),
        }
    }

    /// `text` shortened, with base64 payloads elided and secrets redacted.
    pub fn excerpt(&self, text: &str) -> String {
        shorten(&self.scrub(elide(text)), EXCERPT_CHARS)
    }

    fn scrub(&self, mut text: String) -> String {
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<redacted>");
            }
        }
        text
    }

    fn scrub_verdict(&self, v: Verdict) -> Verdict {
        let s = |t: String| self.scrub(t);
        match v {
            Verdict::Partial(t) => Verdict::Partial(s(t)),
            Verdict::Final(t) => Verdict::Final(s(t)),
            Verdict::Transcript(t) => Verdict::Transcript(s(t)),
            Verdict::Reply(t) => Verdict::Reply(s(t)),
            Verdict::Mark(t) => Verdict::Mark(s(t)),
            Verdict::Error(t) => Verdict::Error(s(t)),
            Verdict::Ignored(t) => Verdict::Ignored(s(t)),
            Verdict::Failed(t) => Verdict::Failed(s(t)),
            other => other,
        }
    }
}

/// Where an adapter records its exchange: off in load runs, shared (one
/// trace behind a lock) by `voxload sample`, which reads it afterwards.
#[derive(Debug, Clone, Default)]
pub struct Tracer(Option<Arc<Mutex<Trace>>>);

impl Tracer {
    /// Record nothing (load runs).
    pub fn off() -> Self {
        Self(None)
    }

    /// Record, never showing any of `secrets` (values of secret headers,
    /// API keys; short ones are ignored, they would redact ordinary words).
    pub fn on(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 6).collect();
        // Longest first, so a key inside `Bearer key` goes with it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self(Some(Arc::new(Mutex::new(Trace {
            secrets,
            ..Trace::default()
        }))))
    }

    /// Whether anything is recorded.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Run `f` on the trace when recording (and nothing else: build the
    /// event inside `f`, so an off tracer costs nothing).
    pub fn with(&self, f: impl FnOnce(&mut Trace)) {
        if let Some(t) = &self.0 {
            f(&mut t.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    /// What was recorded so far (empty when off).
    pub fn snapshot(&self) -> Trace {
        match &self.0 {
            Some(t) => t.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            None => Trace::default(),
        }
    }
}

/// At least this many base64 characters make a string a payload to elide.
/// (Ids, hashes and words are shorter, or hold `_`, `-` or spaces — a
/// Twilio `MZ…` id is 34 characters; silence is all `A`; 60 bytes of audio
/// are 80.)
const MIN_BASE64: usize = 80;

fn looks_base64(s: &str) -> bool {
    s.len() >= MIN_BASE64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// JSON-ish `text` with every long base64 string literal replaced by
/// `<base64 N bytes>` and the string values of secret-looking keys by
/// `<redacted>`, keeping the message's own key order (a scan of its string
/// literals; anything else passes through unchanged).
pub fn elide(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1024));
    let mut rest = text;
    let mut secret_value = false;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..open]);
        let bytes = rest.as_bytes();
        let (mut i, mut escaped) = (open + 1, false);
        while i < bytes.len() {
            match bytes[i] {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => break,
                _ => {}
            }
            i += 1;
        }
        let body = &rest[open + 1..i.min(rest.len())];
        let after = &rest[(i + 1).min(rest.len())..];
        if let Some(value) = after.trim_start().strip_prefix(':') {
            out.push('"');
            out.push_str(body);
            out.push('"');
            secret_value = is_secret_header(body) && value.trim_start().starts_with('"');
        } else if std::mem::take(&mut secret_value) {
            out.push_str("\"<redacted>\"");
        } else if looks_base64(body) {
            out.push_str(&format!("\"<base64 {} bytes>\"", base64_decoded_len(body)));
        } else {
            out.push('"');
            out.push_str(body);
            out.push('"');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `text` cut to `max` characters, marked with `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let mut chars = text.char_indices();
    match chars.nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A list of rule values as `name [a, b]`, for an [`Ignored`] explanation
/// (at most a few values each, so a line stays short).
pub fn list(name: &str, values: &[String]) -> String {
    const SHOWN: usize = 2;
    let mut shown: Vec<&str> = values.iter().take(SHOWN).map(String::as_str).collect();
    let more = values.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(", +{more}")
    } else {
        String::new()
    };
    if shown.is_empty() {
        shown.push("");
    }
    format!("{name} [{}{more}]", shown.join(", "))
}

/// The type's explanation: `type 'X' is in none of LISTS` (the non-empty
/// lists only, so the line names what could have matched).
pub fn unknown_type(kind: &str, lists: &[(&str, &[String])]) -> String {
    let named: Vec<String> = lists
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| list(n, v))
        .collect();
    format!("type '{kind}' is in none of {}", named.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_elided_and_keys_keep_their_order() {
        let b64 = "AAAA".repeat(40);
        let msg = format!(r#"{{"type":"response.output_audio.delta","delta":"{b64}","n":3}}"#);
        assert_eq!(
            elide(&msg),
            r#"{"type":"response.output_audio.delta","delta":"<base64 120 bytes>","n":3}"#
        );
        // Ordinary strings, escapes and non-JSON pass through.
        let plain = r#"{"text":"say \"hi\" now","id":"item_0123456789_0123456789_0123456789"}"#;
        assert_eq!(elide(plain), plain);
        assert_eq!(elide("not json"), "not json");
    }

    #[test]
    fn secrets_never_show() {
        let msg = r#"{"xi_api_key":"sk-123456789","text":"hello","max_tokens":5}"#;
        assert_eq!(
            elide(msg),
            r#"{"xi_api_key":"<redacted>","text":"hello","max_tokens":5}"#
        );
        let tracer = Tracer::on(["Bearer sk-live-777".to_string(), "sk-live-777".into()]);
        tracer.with(|t| {
            t.note(Instant::now(), "header Bearer sk-live-777");
            t.sent(Instant::now(), &Message::text(r#"{"k":"sk-live-777"}"#));
        });
        let shown = format!("{:?}", tracer.snapshot().events);
        assert!(!shown.contains("sk-live-777"), "{shown}");
    }

    #[test]
    fn received_messages_are_capped_and_counted() {
        let tracer = Tracer::on([]);
        let now = Instant::now();
        tracer.with(|t| {
            for _ in 0..MAX_RECEIVED + 7 {
                t.received(now, &Message::binary(vec![0u8; 4]), Verdict::Audio(4));
            }
        });
        let t = tracer.snapshot();
        assert_eq!(t.events.len(), MAX_RECEIVED);
        assert_eq!(t.left_out, 7);
        assert!(!Tracer::off().is_on());
    }

    #[test]
    fn explanations_name_the_lists_checked() {
        let audio = vec!["response.output_audio.delta".to_string()];
        let none: Vec<String> = vec![];
        assert_eq!(
            unknown_type(
                "response.audio.delta",
                &[("audio_types", &audio), ("mark_types", &none)]
            ),
            "type 'response.audio.delta' is in none of audio_types [response.output_audio.delta]"
        );
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
