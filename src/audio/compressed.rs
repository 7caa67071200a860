//! Whole-stream decoding of MP3 and FLAC with symphonia.
//!
//! Compressed frames cannot be measured byte by byte (a frame's duration is
//! only known once its header is parsed, and MP3 encoder delay/padding is
//! only known from the LAME tag), so [`super::StreamAudio`] buffers these
//! streams and decodes them once at the end. Decoding every frame, rather than
//! trusting a declared length, is what makes the duration and the silence
//! check reflect what a listener would actually hear.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::silence::{frames_to_duration, SilenceDetector};
use super::AudioError;

/// What decoding a whole compressed stream found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub(crate) duration: Duration,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    pub(crate) first_voiced: Option<Duration>,
    pub(crate) samples_inspected: bool,
}

/// Consecutive bad packets after which a stream is declared garbage, so a
/// corrupt stream cannot keep the decoder spinning.
const MAX_CONSECUTIVE_ERRORS: u32 = 64;

/// Decode `bytes` (`format` names the expected codec for error messages and
/// the probe hint; the container is detected from the content).
///
/// symphonia runs on bytes a remote server chose; a panic inside it must
/// fail this one request as undecodable audio, not bring down a worker, so
/// the decoder runs under `catch_unwind`.
pub(crate) fn decode(
    bytes: Vec<u8>,
    format: &'static str,
    threshold_dbfs: f64,
) -> Result<Decoded, AudioError> {
    match catch_unwind(AssertUnwindSafe(|| {
        decode_inner(bytes, format, threshold_dbfs)
    })) {
        Ok(result) => result,
        Err(_) => Err(undecodable(
            format,
            "decoder panicked on malformed input".into(),
        )),
    }
}

/// What the packet loop does when the decoder reports an I/O error mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnIoError {
    /// Treat it as the end of the stream (response bodies that were cut).
    EndOfStream,
    /// Fail with it (user files must decode whole).
    Fail,
}

/// Probe `bytes` (`ext` is the probe hint, `format` names the codec in
/// errors), pick the first audio track, and hand every decoded buffer to
/// `on_buffer`. Up to [`MAX_CONSECUTIVE_ERRORS`] corrupt packets in a row
/// are skipped. Returns the last decode error seen (empty if none), for
/// callers that end up with no frames. The one packet loop for streams
/// ([`decode`]) and whole files (`convert`).
pub(super) fn for_each_buffer(
    bytes: Vec<u8>,
    ext: &str,
    format: &'static str,
    on_io_error: OnIoError,
    mut on_buffer: impl FnMut(AudioBufferRef<'_>) -> Result<(), AudioError>,
) -> Result<String, AudioError> {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let opts = FormatOptions {
        // Apply LAME-tag delay/padding trimming: the duration is the audio
        // the encoder was given, not its frame-rounded length.
        enable_gapless: true,
        ..Default::default()
    };
    let mut reader = symphonia::default::get_probe()
        .format(&hint, mss, &opts, &MetadataOptions::default())
        .map_err(|e| undecodable(format, e.to_string()))?
        .format;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| undecodable(format, "no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| undecodable(format, e.to_string()))?;
    let mut errors = 0u32;
    let mut last_error = String::new();
    loop {
        let packet = match reader.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                last_error = e.to_string();
                errors += 1;
                if errors >= MAX_CONSECUTIVE_ERRORS || !matches!(e, SymError::DecodeError(_)) {
                    break;
                }
                continue;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(e)) => {
                last_error = e.to_string();
                errors += 1;
                if errors >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
                continue;
            }
            Err(SymError::IoError(e)) if on_io_error == OnIoError::EndOfStream => {
                last_error = e.to_string();
                break;
            }
            Err(e) => return Err(undecodable(format, e.to_string())),
        };
        errors = 0;
        on_buffer(buf)?;
    }
    Ok(last_error)
}

fn decode_inner(
    bytes: Vec<u8>,
    format: &'static str,
    threshold_dbfs: f64,
) -> Result<Decoded, AudioError> {
    if bytes.is_empty() {
        return Err(undecodable(format, "no bytes".into()));
    }
    let mut sample_rate = 0u32;
    let mut channels = 0u16;
    let mut frames: u64 = 0;
    let mut detector: Option<SilenceDetector> = None;
    let mut samples: Option<SampleBuffer<f32>> = None;
    let last_error = for_each_buffer(bytes, format, format, OnIoError::EndOfStream, |buf| {
        let spec = *buf.spec();
        sample_rate = spec.rate;
        channels = spec.channels.count() as u16;
        let n = buf.frames();
        if n == 0 {
            return Ok(());
        }
        let det = detector.get_or_insert_with(|| SilenceDetector::new(threshold_dbfs, channels));
        if !det.found() {
            // Convert only while still looking for the first voiced sample.
            let sb = match samples.as_mut() {
                Some(sb) if sb.capacity() >= n * usize::from(channels) => sb,
                _ => samples.insert(SampleBuffer::new(buf.capacity() as u64, spec)),
            };
            sb.copy_interleaved_ref(buf);
            det.push_f32(sb.samples());
        }
        frames += n as u64;
        Ok(())
    })?;
    if frames == 0 {
        let reason = if last_error.is_empty() {
            "no audio frames".to_string()
        } else {
            last_error
        };
        return Err(undecodable(format, reason));
    }
    if sample_rate == 0 {
        return Err(undecodable(format, "unknown sample rate".into()));
    }
    // The detector counts the frames it converted; its frame index is
    // therefore an index into the decoded stream.
    let first_voiced = detector.as_ref().and_then(|d| d.first_voiced(sample_rate));
    Ok(Decoded {
        duration: frames_to_duration(frames, sample_rate),
        sample_rate,
        channels,
        first_voiced,
        samples_inspected: detector.is_some(),
    })
}

fn undecodable(format: &'static str, reason: String) -> AudioError {
    AudioError::Undecodable { format, reason }
}
