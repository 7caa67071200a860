//! The samples file formats and their parsers.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::InputError;

/// How a samples file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SampleFormat {
    /// `{"samples": ["..", ..]}` (seed 001's default).
    SimpleJson,
    /// `[{"id": 1, "prompt": ".."}, ..]`; `id` is ignored.
    IdPromptJson,
    /// JSONL, each line `{"segments": [{"label": bool, "text": ".."}, ..]}`:
    /// the texts of segments with `label: true` (the assistant responses a
    /// fine-tune was trained on), joined with no separator, one sample per line.
    AxolotlInputOutput,
    /// Plain text, one sample per non-blank line (trimmed).
    Lines,
    /// JSONL, each line a JSON string or an object with a string field
    /// `text` (or else `input`, or else `prompt`).
    Jsonl,
}

impl SampleFormat {
    /// Every format's name, in the order shown in help and errors.
    pub const NAMES: [&'static str; 5] = [
        "simple-json",
        "id-prompt-json",
        "axolotl-input-output",
        "lines",
        "jsonl",
    ];

    /// Parse a user-facing name (see [`Self::NAMES`]).
    pub fn parse(name: &str) -> Result<Self, InputError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "simple-json" => Ok(Self::SimpleJson),
            "id-prompt-json" => Ok(Self::IdPromptJson),
            "axolotl-input-output" => Ok(Self::AxolotlInputOutput),
            "lines" | "txt" | "text" => Ok(Self::Lines),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            _ => Err(InputError::UnknownFormat {
                name: name.to_string(),
            }),
        }
    }

    /// The format a file's extension suggests, so `--texts FILE` works
    /// without `--sample-format` in the common cases: `.jsonl`/`.ndjson` →
    /// [`Self::Jsonl`], `.json` → [`Self::SimpleJson`], anything else
    /// (`.txt`, no extension) → [`Self::Lines`], the format that accepts any text.
    pub fn guess(path: &Path) -> Self {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Self::Jsonl,
            Some("json") => Self::SimpleJson,
            _ => Self::Lines,
        }
    }

    /// The name [`Self::parse`] accepts.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SimpleJson => Self::NAMES[0],
            Self::IdPromptJson => Self::NAMES[1],
            Self::AxolotlInputOutput => Self::NAMES[2],
            Self::Lines => Self::NAMES[3],
            Self::Jsonl => Self::NAMES[4],
        }
    }

    /// All texts in `content` in file order, blank ones included (the caller
    /// filters). `path` is only used in error messages.
    pub(crate) fn extract(self, content: &str, path: &Path) -> Result<Vec<String>, InputError> {
        match self {
            Self::SimpleJson => {
                #[derive(Deserialize)]
                struct Simple {
                    samples: Vec<String>,
                }
                let doc: Simple =
                    serde_json::from_str(content).map_err(|e| json_error(path, &e, None))?;
                Ok(doc.samples)
            }
            Self::IdPromptJson => {
                #[derive(Deserialize)]
                struct IdPrompt {
                    prompt: String,
                }
                let doc: Vec<IdPrompt> =
                    serde_json::from_str(content).map_err(|e| json_error(path, &e, None))?;
                Ok(doc.into_iter().map(|p| p.prompt).collect())
            }
            Self::AxolotlInputOutput => json_lines(content, path, |line| {
                #[derive(Deserialize)]
                struct Segment {
                    label: bool,
                    text: String,
                }
                #[derive(Deserialize)]
                struct Conversation {
                    segments: Vec<Segment>,
                }
                let c: Conversation = serde_json::from_str(line).map_err(LineError::Json)?;
                Ok(c.segments
                    .into_iter()
                    .filter(|s| s.label)
                    .map(|s| s.text)
                    .collect())
            }),
            Self::Lines => Ok(content.lines().map(|l| l.trim().to_string()).collect()),
            Self::Jsonl => json_lines(content, path, |line| {
                match serde_json::from_str(line).map_err(LineError::Json)? {
                    serde_json::Value::String(s) => Ok(s),
                    serde_json::Value::Object(map) => {
                        let (key, value) = ["text", "input", "prompt"]
                            .iter()
                            .find_map(|k| map.get(*k).map(|v| (*k, v)))
                            .ok_or(LineError::Other(
                                "object has no \"text\", \"input\" or \"prompt\" field".into(),
                            ))?;
                        value.as_str().map(str::to_string).ok_or_else(|| {
                            LineError::Other(format!("field \"{key}\" is not a string"))
                        })
                    }
                    _ => Err(LineError::Other(
                        "expected a JSON string or an object with a \"text\" field".into(),
                    )),
                }
            }),
        }
    }
}

impl std::str::FromStr for SampleFormat {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for SampleFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one JSONL line failed.
enum LineError {
    Json(serde_json::Error),
    Other(String),
}

/// Parse each non-blank line with `parse`; errors carry the file line.
fn json_lines(
    content: &str,
    path: &Path,
    parse: impl Fn(&str) -> Result<String, LineError>,
) -> Result<Vec<String>, InputError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse(line) {
            Ok(text) => out.push(text),
            Err(LineError::Json(e)) => return Err(json_error(path, &e, Some(i + 1))),
            Err(LineError::Other(message)) => {
                return Err(InputError::Parse {
                    path: path.to_path_buf(),
                    line: i + 1,
                    column: 0,
                    message,
                })
            }
        }
    }
    Ok(out)
}

/// A serde_json error as [`InputError::Parse`]. `file_line` overrides the
/// line for JSONL, where serde_json only sees one line at a time.
fn json_error(path: &Path, e: &serde_json::Error, file_line: Option<usize>) -> InputError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; the position has its own fields.
    let message = match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    };
    InputError::Parse {
        path: path.to_path_buf(),
        line: file_line.unwrap_or(e.line()),
        column: e.column(),
        message,
    }
}
