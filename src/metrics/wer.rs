//! Word error rate: a versioned text normalization and a word alignment.
//!
//! WER is only comparable between runs that normalize text the same way
//! ("Hello, World!" against "hello world" is 0 % or 100 % depending on it),
//! so the rules are fixed, documented in `docs/wer.md`, and carry a version
//! ([`NORMALIZATION_VERSION`]) that results record. Any change to what
//! [`normalize`] returns for some input needs a new version.
//!
//! Pooled WER for a stage is Σ errors ÷ Σ reference words over its requests
//! (add [`WordErrors`] with `+=`), not the mean of per-request WERs, which
//! would let a two-word reply count as much as a two-minute one.

use std::collections::HashMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use numbers::parse_number_words;

mod numbers;

/// Version of the rules in [`normalize`]; bumped whenever its output changes.
pub const NORMALIZATION_VERSION: &str = "v1";

/// How numbers are made comparable ("12" and "twelve" are one word spoken).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Numbers {
    /// Spell numbers as words: "12" → "twelve", "3.5" → "three point five",
    /// "1,200" → "one thousand two hundred", "2nd" → "second". Runs of
    /// number words are re-spelled the same way ("twenty-one" → "twenty one").
    /// The default: references are usually written by people, in words.
    #[default]
    Words,
    /// Write numbers as digits: "twenty one" → "21", "second" → "2nd",
    /// "three point five" → "3.5", "1,200" → "1200".
    Digits,
    /// Leave number words alone; only strip thousands separators from
    /// numerals ("1,200" → "1200").
    Keep,
}

/// The normalization options applied to both reference and hypothesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Normalization {
    /// How numbers are written.
    pub numbers: Numbers,
}

/// The words of `text` after normalization v1 (see `docs/wer.md`):
/// Unicode lowercase; curly apostrophes made straight; `%` → "percent",
/// `&` → "and"; hyphens, dashes, slashes, colons and underscores split
/// words; other punctuation removed, except apostrophes inside words
/// ("don't"); numbers per [`Normalization::numbers`]; whitespace collapsed.
pub fn normalize(text: &str, n: &Normalization) -> Vec<String> {
    let mut spaced = String::with_capacity(text.len() + 8);
    for c in text.to_lowercase().chars() {
        match c {
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => spaced.push('\''),
            '%' => spaced.push_str(" percent "),
            '&' => spaced.push_str(" and "),
            '-' | '/' | '\\' | ':' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}' => spaced.push(' '),
            c => spaced.push(c),
        }
    }
    let mut toks = Vec::new();
    for raw in spaced.split_whitespace() {
        tokenize(raw, &mut toks);
    }
    let toks = match n.numbers {
        Numbers::Keep => toks,
        Numbers::Words | Numbers::Digits => parse_number_words(toks),
    };
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Tok::Word(w) => out.push(w),
            Tok::Num(num) => match n.numbers {
                Numbers::Words => num.spell(&mut out),
                Numbers::Digits | Numbers::Keep => out.push(num.digits()),
            },
        }
    }
    out
}

/// Words of each text aligned at most; the rest is ignored. At O(n·m) a
/// longer pair would take hours, so this only bounds the table's counters.
pub const MAX_WORDS: usize = 1_000_000;

/// Substitutions, deletions and insertions of one alignment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordErrors {
    /// Reference words replaced by a different word.
    pub substitutions: u32,
    /// Reference words missing from the hypothesis.
    pub deletions: u32,
    /// Hypothesis words with no reference word.
    pub insertions: u32,
    /// Words in the normalized reference: the denominator.
    pub ref_words: u32,
}

impl WordErrors {
    /// S + D + I.
    pub fn errors(&self) -> u32 {
        self.substitutions + self.deletions + self.insertions
    }

    /// (S + D + I) ÷ reference words. Can exceed 1 when the hypothesis has
    /// many insertions. `None` for an empty reference: any ratio would be a
    /// made-up number.
    pub fn wer(&self) -> Option<f64> {
        (self.ref_words > 0).then(|| f64::from(self.errors()) / f64::from(self.ref_words))
    }
}

/// Pooling: the sum of two alignments' counts (see the module docs).
impl AddAssign for WordErrors {
    fn add_assign(&mut self, o: Self) {
        self.substitutions += o.substitutions;
        self.deletions += o.deletions;
        self.insertions += o.insertions;
        self.ref_words += o.ref_words;
    }
}

/// Normalize both texts and align their words with the Levenshtein
/// distance (each substitution, deletion or insertion costs 1).
///
/// O(n·m) time and O(min(n, m)) memory: one row of the table, over the
/// shorter text (each text is cut at [`MAX_WORDS`]). Among alignments of minimal cost, each cell takes its
/// predecessor in the order match/substitution, deletion, insertion, so
/// "a b" → "b c" counts 2 substitutions rather than 1 deletion and 1
/// insertion. The total (hence WER) does not depend on this choice; the
/// split into S, D and I does, and is the same every time.
pub fn word_errors(reference: &str, hypothesis: &str, n: &Normalization) -> WordErrors {
    let mut r_words = normalize(reference, n);
    let mut h_words = normalize(hypothesis, n);
    r_words.truncate(MAX_WORDS);
    h_words.truncate(MAX_WORDS);
    // Compare ids, not strings, in the O(n·m) loop.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut r = Vec::with_capacity(r_words.len());
    let mut h = Vec::with_capacity(h_words.len());
    for (words, out) in [(&r_words, &mut r), (&h_words, &mut h)] {
        for w in words {
            let next = ids.len() as u32;
            out.push(*ids.entry(w.as_str()).or_insert(next));
        }
    }
    let ref_words = u32::try_from(r.len()).unwrap_or(u32::MAX);
    let (s, d, i) = if r.len() >= h.len() {
        align(&r, &h, true)
    } else {
        align(&h, &r, false)
    };
    WordErrors {
        substitutions: s,
        deletions: d,
        insertions: i,
        ref_words,
    }
}

// A table cell packs (cost, S, D) into one u64 so the inner loop is adds and
// compares (I = cost − S − D): cost in bits 42.., S in 21..42, D in 0..21.
// MAX_WORDS keeps every field in range.
const COST: u64 = 1 << 42;
const SUB: u64 = 1 << 21;
const DEL: u64 = 1;
const FIELD: u64 = (1 << 21) - 1;

/// The DP with `outer` as rows and the shorter `inner` as the kept row.
/// `outer_is_ref` says which is the reference, so that a step consuming only
/// an outer word is a deletion (outer = reference) or an insertion.
fn align(outer: &[u32], inner: &[u32], outer_is_ref: bool) -> (u32, u32, u32) {
    let (outer_step, inner_step) = if outer_is_ref {
        (COST + DEL, COST)
    } else {
        (COST, COST + DEL)
    };
    let mut row: Vec<u64> = (0..=inner.len() as u64).map(|j| j * inner_step).collect();
    for &o in outer {
        // `diag` = old row[j], `left` = new row[j]; the cell holds old row[j + 1].
        let mut diag = row[0];
        let mut left = row[0] + outer_step;
        row[0] = left;
        for (cell, &w) in row[1..].iter_mut().zip(inner) {
            let up = *cell;
            let sub = if o == w { diag } else { diag + COST + SUB };
            let (del, ins) = if outer_is_ref {
                (up + outer_step, left + inner_step)
            } else {
                (left + inner_step, up + outer_step)
            };
            // Ties (equal cost): match/substitution, then deletion, then insertion.
            let mut best = sub;
            if del >> 42 < best >> 42 {
                best = del;
            }
            if ins >> 42 < best >> 42 {
                best = ins;
            }
            *cell = best;
            left = best;
            diag = up;
        }
    }
    let last = row[inner.len()];
    let (cost, s, d) = (last >> 42, (last >> 21) & FIELD, last & FIELD);
    (s as u32, d as u32, (cost - s - d) as u32)
}

/// A word, or a number already read from digits or number words.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(Num),
}

/// A number: canonical integer digits (no separators), fraction digits, and
/// whether it is an ordinal ("2nd").
#[derive(Debug, Clone, PartialEq)]
struct Num {
    int: String,
    frac: String,
    ordinal: bool,
}

/// Split one whitespace-free piece into words and numerals.
fn tokenize(raw: &str, out: &mut Vec<Tok>) {
    let t = strip_edges(raw);
    if let Some(n) = Num::parse_literal(t) {
        out.push(Tok::Num(n));
        return;
    }
    // Inside a word, separators other than '.' and '\'' split it
    // ("hello,world"); dots join ("u.s." → "us").
    for piece in t.split(|c: char| is_punct(c) && c != '.') {
        let p = strip_edges(piece);
        if let Some(n) = Num::parse_literal(p) {
            out.push(Tok::Num(n));
        } else {
            let w: String = p.chars().filter(|c| *c != '.').collect();
            if !w.is_empty() {
                out.push(Tok::Word(w));
            }
        }
    }
}

fn strip_edges(s: &str) -> &str {
    s.trim_matches(|c: char| c == '\'' || is_punct(c))
}

/// Punctuation and symbols to drop: ASCII punctuation (apostrophe aside),
/// Latin-1 punctuation, the General Punctuation, currency, CJK and
/// full-width punctuation blocks, and Arabic/Devanagari sentence marks.
/// Letters, digits and combining marks of every script are kept.
fn is_punct(c: char) -> bool {
    if c == '\'' {
        false
    } else if c.is_ascii() {
        c.is_ascii_punctuation()
    } else if c.is_alphanumeric() {
        false
    } else {
        matches!(
            c as u32,
            0xA1..=0xBF
                | 0xD7
                | 0xF7
                | 0x2000..=0x206F
                | 0x20A0..=0x20CF
                | 0x3000..=0x303F
                | 0xFF00..=0xFF65
                | 0x060C
                | 0x061B
                | 0x061F
                | 0x06D4
                | 0x0964
                | 0x0965
        )
    }
}

#[cfg(test)]
#[path = "wer_tests.rs"]
mod tests;
