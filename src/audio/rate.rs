//! Sample rates a server declares, read instead of assumed.
//!
//! Raw PCM carries no header, so its duration is `bytes ÷ bytes-per-frame
//! ÷ rate` and the rate has to come from somewhere. A server that says
//! 22,050 Hz measured at a configured 24,000 Hz is 8 % off in audio seconds
//! and RTF. So a rate the server *declares* wins over the configured one:
//!
//! - HTTP response headers: `x-sample-rate`, `sample-rate`,
//!   `x-audio-sample-rate` (an integer, optionally followed by `Hz`), and
//!   a `Content-Type` of `audio/L16`, `audio/pcm`, `audio/raw` or
//!   `audio/x-raw` with a `rate=` parameter (and `channels=`);
//! - a WebSocket URL's query: `output_format=pcm_N` (ElevenLabs) or
//!   `sample_rate=N` (Deepgram);
//! - a JSON field of a server message at a dotted path the user names
//!   (OpenAI Realtime's `session.audio.output.format.rate`).
//!
//! **Byte order.** RFC 2586 defines `audio/L16` as big-endian (network
//! order), but servers in the field label little-endian PCM with it:
//! Gemini's TTS answers carry `audio/L16;codec=pcm;rate=24000` over
//! little-endian samples. So `audio/L16` declares only the rate and
//! channels; the byte order stays the configured one (`--format pcm` is
//! little-endian). Byte order never changes a duration, only which sample
//! counts as the first voiced one.
//!
//! Anything that does not parse as a plausible rate (1 Hz to 768 kHz) or
//! channel count (1 to 32) is ignored, never an error: a declaration is a
//! hint that improves a measurement, not something to fail a request on.
//!
//! [`mismatch_warning`] words the one warning a run prints when a server
//! declares a rate other than the configured one; `voxload sample` uses it
//! too.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Highest sample rate taken as plausible (8× 96 kHz).
pub const MAX_RATE: u32 = 768_000;
/// Most channels taken as plausible.
pub const MAX_CHANNELS: u16 = 32;

/// Where the sample rate a request was measured at came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// An HTTP response header declared it (`x-sample-rate`, `Content-Type: audio/L16; rate=…`).
    Header,
    /// The WebSocket URL's query declared it (`output_format=pcm_N`, `sample_rate=N`).
    Url,
    /// A server message declared it (a JSON path, e.g. `session.audio.output.format.rate`).
    Message,
    /// The audio's own WAV header.
    Wav,
    /// Decoding the compressed stream (MP3, Opus, FLAC).
    Decoded,
    /// Nothing declared one: the configured rate (`--format pcm:RATE`, `--agent-sample-rate`).
    Assumed,
}

impl RateSource {
    /// Stable name, as in `requests.jsonl`.
    pub fn name(&self) -> &'static str {
        match self {
            RateSource::Header => "header",
            RateSource::Url => "url",
            RateSource::Message => "message",
            RateSource::Wav => "wav",
            RateSource::Decoded => "decoded",
            RateSource::Assumed => "assumed",
        }
    }
}

/// A rate (and perhaps channel count) a server declared, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRate {
    /// Samples per second.
    pub rate: u32,
    /// Interleaved channels, when declared too.
    pub channels: Option<u16>,
    /// What kind of declaration it was.
    pub source: RateSource,
    /// Which one, for people: the header name, the URL key, the JSON path.
    pub by: Cow<'static, str>,
}

impl DeclaredRate {
    /// `format` as the declaration makes it: raw PCM at the declared rate
    /// (and channels, if declared); other formats unchanged.
    pub fn applied_to(&self, format: super::AudioFormat) -> super::AudioFormat {
        match format {
            super::AudioFormat::Pcm { channels, .. } => super::AudioFormat::Pcm {
                sample_rate: self.rate,
                channels: self.channels.unwrap_or(channels),
            },
            other => other,
        }
    }
}

/// Header names that carry a bare rate, lower case.
const RATE_HEADERS: [&str; 3] = ["x-sample-rate", "sample-rate", "x-audio-sample-rate"];

/// Media types of raw PCM whose `rate=` parameter is a declaration.
const RAW_TYPES: [&str; 4] = ["audio/l16", "audio/pcm", "audio/raw", "audio/x-raw"];

fn plausible_rate(n: u64) -> Option<u32> {
    u32::try_from(n).ok().filter(|r| (1..=MAX_RATE).contains(r))
}

fn plausible_channels(n: u64) -> Option<u16> {
    u16::try_from(n)
        .ok()
        .filter(|c| (1..=MAX_CHANNELS).contains(c))
}

/// A decimal integer, trimmed, with an optional `Hz` suffix; `None` for anything else.
fn number(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = match s.len().checked_sub(2) {
        Some(cut) if s.is_char_boundary(cut) && s[cut..].eq_ignore_ascii_case("hz") => {
            s[..cut].trim_end()
        }
        _ => s,
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The rate and channels of a raw-PCM media type (`audio/L16; rate=22050;
/// channels=1`): type and parameter names are case-insensitive, spaces
/// and parameter order do not matter, values may be quoted. `None` for
/// other types or without a plausible `rate`.
pub fn from_content_type(value: &str) -> Option<(u32, Option<u16>)> {
    let mut parts = value.split(';');
    let media = parts.next()?.trim();
    if !RAW_TYPES.iter().any(|t| media.eq_ignore_ascii_case(t)) {
        return None;
    }
    let (mut rate, mut channels) = (None, None);
    for param in parts {
        let Some((name, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "rate" => rate = number(v).and_then(plausible_rate),
            "channels" => channels = number(v).and_then(plausible_channels),
            _ => {}
        }
    }
    rate.map(|r| (r, channels))
}

/// The rate response headers declare, if any: a bare-rate header
/// (`x-sample-rate` and kin) wins over a `Content-Type` rate; channels come
/// from the `Content-Type`. Names are matched case-insensitively; values
/// that are not UTF-8 or not plausible are ignored.
pub fn from_headers<'h>(
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
) -> Option<DeclaredRate> {
    let mut bare: Option<(u32, &'static str)> = None;
    let mut typed: Option<(u32, Option<u16>)> = None;
    for (name, value) in headers {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        if name.eq_ignore_ascii_case(b"content-type") {
            typed = typed.or_else(|| from_content_type(value));
        } else if let Some(h) = RATE_HEADERS
            .iter()
            .find(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        {
            if bare.is_none() {
                bare = number(value).and_then(plausible_rate).map(|r| (r, *h));
            }
        }
    }
    let channels = typed.and_then(|(_, c)| c);
    let (rate, by) = match (bare, typed) {
        (Some((rate, h)), _) => (rate, h),
        (None, Some((rate, _))) => (rate, "content-type"),
        (None, None) => return None,
    };
    Some(DeclaredRate {
        rate,
        channels,
        source: RateSource::Header,
        by: Cow::Borrowed(by),
    })
}

/// The rate a WebSocket URL's query declares: `output_format=pcm_N`
/// (ElevenLabs; other `output_format`s such as `mp3_44100_128` declare
/// nothing about PCM) or `sample_rate=N` (Deepgram). Keys are matched
/// exactly, as the vendors spell them.
pub fn from_url_query(url: &str) -> Option<DeclaredRate> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let rate = match key.as_ref() {
            "output_format" => value
                .strip_prefix("pcm_")
                .and_then(number)
                .and_then(plausible_rate),
            "sample_rate" => number(&value).and_then(plausible_rate),
            _ => None,
        };
        if let Some(rate) = rate {
            let by = if key == "output_format" {
                "output_format"
            } else {
                "sample_rate"
            };
            return Some(DeclaredRate {
                rate,
                channels: None,
                source: RateSource::Url,
                by: Cow::Borrowed(by),
            });
        }
    }
    None
}

/// A rate in a JSON message's field: a number, or a string holding one
/// (`24000`, `"24000"`); `None` for anything else or implausible values.
pub fn from_json(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(plausible_rate),
        serde_json::Value::String(s) => number(s).and_then(plausible_rate),
        _ => None,
    }
}

/// The warning for a run (or a sample) whose server declared a rate other
/// than the configured one; `None` when they agree.
pub fn mismatch_warning(configured: u32, declared: &DeclaredRate) -> Option<String> {
    if declared.rate == configured {
        return None;
    }
    let by = match declared.source {
        RateSource::Header => format!("its {} header", declared.by),
        RateSource::Url => format!("{} in the URL", declared.by),
        RateSource::Message => format!("{} in a server message", declared.by),
        other => other.name().to_string(),
    };
    Some(format!(
        "the server declared {} Hz ({by}) but {configured} Hz was configured: audio seconds \
         and RTF were measured at the declared {} Hz (fix the configured rate to silence this)",
        declared.rate, declared.rate
    ))
}

/// The warning for audio configured as `format` that was measured at
/// `declared` (see [`mismatch_warning`]); `None` without a declaration,
/// when they agree, or for formats that carry their own rate.
pub fn format_mismatch(
    format: super::AudioFormat,
    declared: Option<&DeclaredRate>,
) -> Option<String> {
    match (format, declared) {
        (super::AudioFormat::Pcm { sample_rate, .. }, Some(d)) => mismatch_warning(sample_rate, d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[(&str, &str)]) -> Option<DeclaredRate> {
        from_headers(h.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn content_types_declare_rate_and_channels_whatever_case_spaces_and_order() {
        for (ct, want) in [
            ("audio/L16; rate=22050; channels=1", Some((22_050, Some(1)))),
            ("audio/l16;rate=22050", Some((22_050, None))),
            (
                "AUDIO/L16 ;  CHANNELS = 2 ; Rate = 16000 ",
                Some((16_000, Some(2))),
            ),
            ("audio/L16;codec=pcm;rate=24000", Some((24_000, None))),
            ("audio/pcm;rate=24000", Some((24_000, None))),
            ("audio/raw; rate=\"8000\"", Some((8_000, None))),
            (
                "audio/x-raw; rate=48000; channels=1",
                Some((48_000, Some(1))),
            ),
            ("audio/L16; rate=22050 Hz", Some((22_050, None))),
            // Not raw PCM, no rate, or garbage: nothing declared.
            ("audio/wav; rate=22050", None),
            ("audio/mpeg", None),
            ("audio/L16", None),
            ("audio/L16; rate=", None),
            ("audio/L16; rate=fast", None),
            ("audio/L16; rate=-1", None),
            ("audio/L16; rate=0", None),
            ("audio/L16; rate=99999999999999999999999", None),
            ("audio/L16; rate=22050.5", None),
            ("audio/L16; ratex", None),
            ("", None),
            (";;;=;", None),
        ] {
            assert_eq!(from_content_type(ct), want, "{ct}");
        }
        // Implausible channels are dropped, the rate kept.
        assert_eq!(
            from_content_type("audio/L16; rate=16000; channels=999"),
            Some((16_000, None))
        );
    }

    #[test]
    fn rate_headers_win_over_the_content_type_and_garbage_is_ignored() {
        let d = headers(&[("X-Sample-Rate", " 22050 ")]).expect("declared");
        assert_eq!(
            (d.rate, d.source, d.by.as_ref()),
            (22_050, RateSource::Header, "x-sample-rate")
        );
        assert_eq!(
            headers(&[("sample-rate", "16000Hz")]).map(|d| d.rate),
            Some(16_000)
        );
        assert_eq!(
            headers(&[("x-audio-sample-rate", "8000")]).map(|d| d.rate),
            Some(8_000)
        );
        let both = headers(&[
            ("content-type", "audio/L16; rate=16000; channels=2"),
            ("x-sample-rate", "22050"),
        ])
        .expect("declared");
        assert_eq!(
            (both.rate, both.channels, both.by.as_ref()),
            (22_050, Some(2), "x-sample-rate")
        );
        let typed = headers(&[("Content-Type", "audio/L16; rate=22050")]).expect("declared");
        assert_eq!((typed.rate, typed.by.as_ref()), (22_050, "content-type"));
        for garbage in [
            "",
            "fast",
            "-5",
            "0",
            "1e5",
            "99999999999",
            "22050 kHz",
            "２２０５０",
        ] {
            assert_eq!(headers(&[("x-sample-rate", garbage)]), None, "{garbage:?}");
        }
        assert_eq!(
            from_headers([(&b"x-sample-rate"[..], &[0xff, 0xfe][..])]),
            None,
            "not UTF-8"
        );
        assert_eq!(
            headers(&[("x-other", "22050"), ("content-type", "audio/wav")]),
            None
        );
    }

    #[test]
    fn url_queries_declare_the_vendors_rate_keys() {
        let el = from_url_query(
            "wss://api.elevenlabs.io/v1/text-to-speech/v/stream-input?model_id=m&output_format=pcm_22050",
        )
        .expect("declared");
        assert_eq!(
            (el.rate, el.source, el.by.as_ref()),
            (22_050, RateSource::Url, "output_format")
        );
        let dg =
            from_url_query("wss://h/v1/speak?model=aura&encoding=linear16&sample_rate=24000#x")
                .expect("declared");
        assert_eq!((dg.rate, dg.by.as_ref()), (24_000, "sample_rate"));
        for none in [
            "wss://h/x",
            "wss://h/x?output_format=mp3_44100_128",
            "wss://h/x?output_format=pcm_",
            "wss://h/x?sample_rate=fast",
            "wss://h/x?rate=16000",
            "wss://h/x?sample_rate=0",
            "wss://h/x?&&==",
        ] {
            assert_eq!(from_url_query(none), None, "{none}");
        }
    }

    #[test]
    fn json_rates_are_numbers_or_numeric_strings() {
        use serde_json::json;
        assert_eq!(from_json(&json!(24000)), Some(24_000));
        assert_eq!(from_json(&json!("16000")), Some(16_000));
        for bad in [
            json!(-1),
            json!(0),
            json!(2.5e10),
            json!(null),
            json!("x"),
            json!({"rate": 1}),
        ] {
            assert_eq!(from_json(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_mismatch_names_both_rates_and_the_declaration() {
        let d = DeclaredRate {
            rate: 22_050,
            channels: None,
            source: RateSource::Header,
            by: Cow::Borrowed("x-sample-rate"),
        };
        let w = mismatch_warning(24_000, &d).expect("differs");
        assert!(
            w.contains("22050 Hz") && w.contains("24000 Hz") && w.contains("x-sample-rate"),
            "{w}"
        );
        assert_eq!(mismatch_warning(22_050, &d), None);
    }
}
