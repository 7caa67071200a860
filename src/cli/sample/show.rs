//! How `voxload sample` prints an exchange: one line per message (time from
//! the exchange's start, direction, size, excerpt, and what the adapter's
//! rules made of it), then the audio facts and the record(s).

use std::time::Instant;

use crate::metrics::RequestRecord;
use crate::protocol::trace::{Direction, Trace, Verdict, What};

/// Milliseconds from `origin` to `at` (0 for earlier instants).
pub fn ms(origin: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(origin).as_secs_f64() * 1000.0
}

/// A verdict in words: `audio 960 B`, `final "hello"`, `ignored: …`.
pub fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Audio(n) => format!("audio {n} B"),
        Verdict::Partial(t) => format!("partial {t:?}"),
        Verdict::Final(t) => format!("final {t:?}"),
        Verdict::Done => "done".into(),
        Verdict::Transcript(t) => format!("transcript {t:?}"),
        Verdict::Reply(t) => format!("reply text {t:?}"),
        Verdict::End => "end of response".into(),
        Verdict::Interruption => "interruption".into(),
        Verdict::Endpoint => "endpoint (the agent found the end of speech)".into(),
        Verdict::ResponseStart => "response start".into(),
        Verdict::Mark(n) => format!("mark {n:?}"),
        Verdict::Kept => "kept in the turn's record".into(),
        Verdict::Error(code) => format!("error event code={code}"),
        Verdict::Close(code) => format!("close {code}"),
        Verdict::Ignored(why) => format!("ignored: {why}"),
        Verdict::Failed(why) => format!("failed: {why}"),
    }
}

/// The trace's lines, in time order.
pub fn lines(trace: &Trace) -> Vec<String> {
    let mut events: Vec<_> = trace.events.iter().collect();
    // Stable: events recorded at one instant keep their order.
    events.sort_by_key(|e| e.at);
    let Some(origin) = trace.origin.or(events.first().map(|e| e.at)) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(events.len() + 1);
    // The lists an unknown type was checked against, once shown in full.
    let mut lists_shown = std::collections::HashSet::new();
    for e in events {
        let t = ms(origin, e.at);
        out.push(match &e.what {
            What::Message {
                dir,
                size,
                excerpt,
                verdict: v,
                aside,
            } => {
                let arrow = match dir {
                    Direction::Sent => '>',
                    Direction::Received => '<',
                };
                let mut line = format!("{arrow} {t:>9.1} ms {size:>7} B  {excerpt}");
                if let Some(v) = v {
                    line.push_str("  → ");
                    line.push_str(&once(verdict(v), &mut lists_shown));
                }
                if let Some(aside) = aside {
                    line.push_str(&format!(" ({aside})"));
                }
                line
            }
            What::Frames {
                count,
                size,
                last,
                excerpt,
            } => {
                let last = last.map_or(String::new(), |l| {
                    format!("; the last left at {:.1} ms", ms(origin, l))
                });
                format!(
                    "> {t:>9.1} ms {size:>7} B  {excerpt}  (audio frame 1 of {count}{last}; \
                     the rest not shown)"
                )
            }
            What::Note(text) => format!("  {t:>9.1} ms  {text}"),
        });
    }
    if trace.left_out > 0 {
        out.push(format!(
            "  … {} more received messages not shown",
            trace.left_out
        ));
    }
    out
}

/// `text` with the lists after "is in none of" cut to the first (the
/// audio types, the likeliest to be wrong) when they were already shown:
/// the first unknown type names them all, the next ones their type.
fn once(text: String, shown: &mut std::collections::HashSet<String>) -> String {
    const NONE_OF: &str = " is in none of ";
    let Some(at) = text.find(NONE_OF) else {
        return text;
    };
    let lists = &text[at + NONE_OF.len()..];
    if shown.insert(lists.to_string()) {
        return text;
    }
    let first = lists.find("], ").map_or(lists, |end| &lists[..=end]);
    format!("{}{NONE_OF}{first} or the other lists above", &text[..at])
}

/// Counts of what was received, for the summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages received.
    pub received: usize,
    /// Of them audio, and its bytes.
    pub audio: usize,
    /// Audio bytes.
    pub audio_bytes: usize,
    /// Ignored messages.
    pub ignored: usize,
}

/// What the trace received, counted (messages beyond the shown ones included
/// in `received` only).
pub fn tally(trace: &Trace) -> Tally {
    let mut t = Tally {
        received: trace.received_count(),
        ..Tally::default()
    };
    for e in &trace.events {
        if let What::Message {
            dir: Direction::Received,
            verdict: Some(v),
            ..
        } = &e.what
        {
            match v {
                Verdict::Audio(n) => {
                    t.audio += 1;
                    t.audio_bytes += n;
                }
                Verdict::Ignored(_) => t.ignored += 1,
                _ => {}
            }
        }
    }
    t
}

/// Print the trace and its tally.
pub fn print_exchange(trace: &Trace) {
    for line in lines(trace) {
        println!("{line}");
    }
    let t = tally(trace);
    println!(
        "received {} messages: {} audio ({} bytes), {} ignored",
        t.received, t.audio, t.audio_bytes, t.ignored
    );
}

/// Print each record as the run writes it to `requests.jsonl` (pretty),
/// then the failure, if any; return whether every record succeeded.
pub fn print_records(records: &[RequestRecord]) -> bool {
    for r in records {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    }
    let mut ok = !records.is_empty();
    for r in records {
        if let Some(kind) = &r.error {
            ok = false;
            let detail = r.error_detail.as_deref().unwrap_or("");
            let line = format!("failed: {}: {detail}", kind.label());
            println!("{line}");
            eprintln!("{line}");
        }
    }
    if records.is_empty() {
        println!("failed: no record");
        eprintln!("failed: no record");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::trace::Tracer;
    use tokio_tungstenite::tungstenite::Message;

    #[test]
    fn lines_are_in_time_order_with_their_verdicts() {
        let tracer = Tracer::on([]);
        let t0 = Instant::now();
        let later = t0 + std::time::Duration::from_millis(12);
        tracer.with(|t| {
            t.start(t0);
            t.received(
                later,
                &Message::text(r#"{"type":"x"}"#),
                Verdict::Ignored("why".into()),
            );
            t.sent(t0, &Message::text(r#"{"type":"start"}"#));
        });
        let got = lines(&tracer.snapshot());
        assert_eq!(
            got,
            [
                r#">       0.0 ms      16 B  {"type":"start"}"#,
                r#"<      12.0 ms      12 B  {"type":"x"}  → ignored: why"#,
            ]
        );
        let t = tally(&tracer.snapshot());
        assert_eq!((t.received, t.ignored, t.audio), (1, 1, 0));
    }

    #[test]
    fn the_lists_checked_are_named_in_full_once() {
        let mut shown = std::collections::HashSet::new();
        let why = |k: &str| format!("type '{k}' is in none of audio_types [a], end_types [e]");
        assert_eq!(once(why("p"), &mut shown), why("p"));
        assert_eq!(
            once(why("q"), &mut shown),
            "type 'q' is in none of audio_types [a] or the other lists above"
        );
        assert_eq!(
            once("no string at type path 'kind'".into(), &mut shown),
            "no string at type path 'kind'"
        );
    }
}
