//! Audio inputs for ASR: files, folders and manifests, each file read and
//! measured before the run so that a bad file fails at start, naming itself,
//! rather than as a stream of request errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::InputError;
use crate::audio::convert::{self, FileFormat};
use crate::audio::voice::Voice;
use crate::audio::{AudioError, AudioFormat};

/// Characters per second of the built-in test voice (the mock's default
/// speaking rate, so its ASR and agent understand it).
pub const TEST_VOICE_CPS: f64 = 15.0;

/// Extensions picked up when walking a folder (compared case-insensitively).
/// Raw `.pcm` is left out: it has no header, so its rate would be a guess.
pub const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "wave", "flac", "mp3", "ogg", "oga", "opus"];

/// One audio file to send, with what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioItem {
    /// Where it was read from (as given, or joined to its manifest's folder).
    pub path: PathBuf,
    /// The file's bytes, unchanged; shared because every request sends them.
    pub bytes: Arc<Vec<u8>>,
    /// Format detected from the content (extensions are often wrong).
    /// [`AudioFormat`] has no Vorbis variant, so Ogg Vorbis files are
    /// labelled [`AudioFormat::Opus`], i.e. "Ogg" (`audio/ogg`); conversion
    /// detects the real codec from the bytes, so they still decode.
    pub format: AudioFormat,
    /// Playing time, decoded: the denominator of RTF.
    pub duration: Duration,
    /// The true transcript, for WER: from the manifest, else a `.txt` file
    /// beside the audio file (`a.wav` → `a.txt`).
    pub reference: Option<String>,
    /// Language code from the manifest, sent to services that take one.
    pub language: Option<String>,
}

impl AudioItem {
    /// The audio as 16-bit mono PCM at `rate` (what streaming ASR takes).
    /// Fails for Ogg Opus, which voxload cannot decode.
    pub fn pcm16_mono(&self, rate: u32) -> Result<Vec<u8>, AudioError> {
        convert::to_pcm16_mono(&self.bytes, None, rate)
    }
}

/// The audio files a run draws requests from, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioSet {
    items: Vec<AudioItem>,
}

impl AudioSet {
    /// Load every input, in order. Each input is:
    ///
    /// - a folder: its files with an audio extension ([`AUDIO_EXTENSIONS`]),
    ///   recursively, sorted by path (symlinked folders are not followed, so
    ///   a link loop cannot hang the load);
    /// - a manifest (`*.jsonl`, or `*.json` holding JSON lines as NeMo
    ///   writes them): one JSON object per line with `path` (or
    ///   `audio_filepath`), optional `text` (or `reference`) and optional
    ///   `language`; other fields are ignored, blank lines skipped, and
    ///   relative paths are relative to the manifest's folder;
    /// - any other file: an audio file, whatever its extension.
    ///
    /// Every file is read and its duration decoded now, so a bad file fails
    /// before the run. A reference text beside an audio file (`a.wav` +
    /// `a.txt`, trimmed, ignored if blank) is used when the manifest gives
    /// none. Raw PCM is not accepted: convert it to WAV.
    pub fn load(inputs: &[PathBuf]) -> Result<Self, InputError> {
        if inputs.is_empty() {
            return Err(InputError::NoInputs);
        }
        let mut items = Vec::new();
        for input in inputs {
            let meta = fs::metadata(input).map_err(|source| io(input, source))?;
            let before = items.len();
            if meta.is_dir() {
                let mut files = Vec::new();
                walk(input, &mut files)?;
                files.sort();
                for f in files {
                    items.push(load_file(&f, None, None)?);
                }
            } else if is_manifest(input) {
                load_manifest(input, &mut items)?;
            } else {
                items.push(load_file(input, None, None)?);
            }
            if items.len() == before {
                return Err(InputError::NoAudio {
                    path: input.clone(),
                });
            }
        }
        Ok(AudioSet { items })
    }

    /// Texts spoken by the built-in test voice, one 16-bit mono WAV item
    /// each with the text as its reference. The voice is tones that
    /// voxload's mock transcribes back exactly (a real ASR needs real
    /// speech: render texts with `voxload corpus`).
    pub fn spoken(texts: &[String], sample_rate: u32) -> Self {
        let voice = Voice::new(sample_rate, TEST_VOICE_CPS);
        let items = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let pcm: Vec<u8> = voice
                    .render(text)
                    .iter()
                    .flat_map(|s| s.to_le_bytes())
                    .collect();
                let samples = pcm.len() as u64 / 2;
                AudioItem {
                    path: PathBuf::from(format!("text-{}.wav", i + 1)),
                    bytes: Arc::new(convert::wav_file(&pcm, sample_rate)),
                    format: AudioFormat::Wav,
                    duration: Duration::from_nanos(
                        samples * 1_000_000_000 / u64::from(sample_rate.max(1)),
                    ),
                    reference: Some(text.clone()),
                    language: None,
                }
            })
            .collect();
        AudioSet { items }
    }

    /// The items, in load order.
    pub fn items(&self) -> &[AudioItem] {
        &self.items
    }

    /// Only the first item (`voxload sample` sends one file; converting
    /// the rest would be wasted).
    pub fn first_only(&self) -> AudioSet {
        AudioSet {
            items: self.items.iter().take(1).cloned().collect(),
        }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Always false for a loaded set; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Total audio: what one pass over the set sends.
    pub fn total_duration(&self) -> Duration {
        self.items.iter().map(|i| i.duration).sum()
    }
}

fn io(path: &Path, source: std::io::Error) -> InputError {
    InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_manifest(path: &Path) -> bool {
    has_ext(path, &["jsonl", "json"])
}

/// Audio files under `dir`, recursively, in no particular order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file()))
            && has_ext(&path, &AUDIO_EXTENSIONS)
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Read, check and measure one audio file.
fn load_file(
    path: &Path,
    reference: Option<String>,
    language: Option<String>,
) -> Result<AudioItem, InputError> {
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    if bytes.is_empty() {
        return Err(InputError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let not_audio = |source| InputError::NotAudio {
        path: path.to_path_buf(),
        source,
    };
    let (file_format, duration) = convert::probe(&bytes, None).map_err(not_audio)?;
    let format = match file_format {
        FileFormat::Audio(f) => f,
        FileFormat::OggVorbis => AudioFormat::Opus,
    };
    if duration.is_zero() {
        return Err(not_audio(AudioError::Undecodable {
            format: "audio",
            reason: "it holds no audio samples (0 s)".into(),
        }));
    }
    let reference = match reference {
        Some(r) => Some(r),
        None => sidecar_reference(path)?,
    };
    Ok(AudioItem {
        path: path.to_path_buf(),
        bytes: Arc::new(bytes),
        format,
        duration,
        reference,
        language,
    })
}

/// The trimmed text of `a.txt` beside `a.wav`, if it exists and is not blank.
fn sidecar_reference(audio: &Path) -> Result<Option<String>, InputError> {
    let txt = audio.with_extension("txt");
    if !txt.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&txt).map_err(|e| io(&txt, e))?;
    let text = text.trim().trim_start_matches('\u{feff}').trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

/// Append the entries of a JSON-lines manifest to `items`.
fn load_manifest(manifest: &Path, items: &mut Vec<AudioItem>) -> Result<(), InputError> {
    let content = fs::read_to_string(manifest).map_err(|e| io(manifest, e))?;
    let content = content.strip_prefix('\u{feff}').unwrap_or(&content);
    let base = manifest.parent().unwrap_or(Path::new(""));
    for (i, line) in content.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parse = |column: usize, message: String| InputError::Parse {
            path: manifest.to_path_buf(),
            line: line_no,
            column,
            message,
        };
        let value: Value =
            serde_json::from_str(line).map_err(|e| parse(e.column(), format!("not JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(parse(0, "expected a JSON object".into()));
        };
        // A string field under the first of `names` present; null = absent.
        let field = |names: &[&str]| -> Result<Option<String>, InputError> {
            let Some((name, v)) = names.iter().find_map(|n| obj.get(*n).map(|v| (n, v))) else {
                return Ok(None);
            };
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(parse(0, format!("`{name}` must be a string, not {other}"))),
            }
        };
        let rel = field(&["path", "audio_filepath"])?
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| parse(0, "missing `path` (or `audio_filepath`)".into()))?;
        let reference = field(&["text", "reference"])?;
        let language = field(&["language"])?.filter(|l| !l.trim().is_empty());
        let item = load_file(&base.join(rel), reference, language).map_err(|e| {
            InputError::ManifestEntry {
                manifest: manifest.to_path_buf(),
                line: line_no,
                source: Box::new(e),
            }
        })?;
        items.push(item);
    }
    Ok(())
}

#[cfg(test)]
#[path = "audio_tests.rs"]
mod tests;
