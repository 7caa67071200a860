//! The set of texts a TTS run draws its requests from.

use std::path::Path;

use super::{InputError, SampleFormat};

/// Name used in messages for the bundled set.
const BUNDLED_NAME: &str = "<bundled samples>";

/// Non-empty list of texts to synthesize, in file order.
///
/// Blank entries are dropped on load: an empty `input` only measures how
/// fast a server rejects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSamples {
    texts: Vec<String>,
}

impl TextSamples {
    /// Read and parse `path` as `format` (see [`SampleFormat::guess`] to pick
    /// one from the extension).
    pub fn load(path: &Path, format: SampleFormat) -> Result<TextSamples, InputError> {
        let content = std::fs::read_to_string(path).map_err(|source| InputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&content, format, path)
    }

    /// Parse `content` as `format`; `origin` names it in error messages.
    pub fn parse(
        content: &str,
        format: SampleFormat,
        origin: &Path,
    ) -> Result<TextSamples, InputError> {
        // Editors on Windows like to start UTF-8 files with a byte-order mark.
        let content = content.strip_prefix('\u{feff}').unwrap_or(content);
        let empty = || InputError::Empty {
            path: origin.to_path_buf(),
        };
        if content.trim().is_empty() {
            return Err(empty());
        }
        let texts: Vec<String> = format
            .extract(content, origin)?
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .collect();
        if texts.is_empty() {
            return Err(empty());
        }
        Ok(TextSamples { texts })
    }

    /// The bundled set: ~60 English texts of 20–400 characters (questions,
    /// numbers, names, dates, a few long paragraphs), so a first run needs no
    /// file and results from different users are comparable.
    pub fn bundled() -> TextSamples {
        const JSON: &str = include_str!("default_samples.json");
        Self::parse(JSON, SampleFormat::SimpleJson, Path::new(BUNDLED_NAME))
            .expect("the bundled samples file is valid (checked by a unit test)")
    }

    /// Samples from texts already in memory (e.g. `--text` on the command
    /// line); blank ones are dropped. `None` if nothing is left.
    pub fn from_texts(texts: impl IntoIterator<Item = String>) -> Option<TextSamples> {
        let texts: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();
        (!texts.is_empty()).then_some(TextSamples { texts })
    }

    /// The texts, in file order.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Always false for a loaded set; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// Words for [`random_prefix`]: short, common, easy to pronounce, so the
/// prefix adds little synthesis time and no pronunciation outliers.
const WORDS: [&str; 64] = [
    "amber", "apple", "autumn", "bamboo", "banner", "basket", "breeze", "bridge", "candle",
    "canyon", "carpet", "cherry", "circle", "cloud", "copper", "cotton", "daisy", "desert",
    "dolphin", "eagle", "ember", "falcon", "feather", "forest", "garden", "ginger", "glacier",
    "harbor", "hazel", "island", "jacket", "jungle", "kettle", "lantern", "lemon", "marble",
    "meadow", "mirror", "morning", "nectar", "ocean", "orange", "orchid", "pebble", "pepper",
    "planet", "pocket", "quartz", "rabbit", "river", "saddle", "silver", "spring", "summer",
    "thunder", "timber", "tulip", "velvet", "violet", "walnut", "willow", "window", "winter",
    "zephyr",
];

/// Words in each prefix: 64³ ≈ 262 000 distinct prefixes.
const PREFIX_WORDS: usize = 3;

/// Prepend random words to defeat server-side caches (seed 001's
/// `--random`): three words from a small built-in list plus a trailing
/// space, e.g. `"amber willow quartz "`. Deterministic for a seeded `rng`, so
/// a run can be repeated exactly.
pub fn random_prefix(rng: &mut impl rand::Rng) -> String {
    let mut out = String::with_capacity(PREFIX_WORDS * 9);
    for _ in 0..PREFIX_WORDS {
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        out.push(' ');
    }
    out
}

#[cfg(test)]
#[path = "samples_tests.rs"]
mod tests;
