//! Numbers for normalization v1: numerals ("1,200", "3.5", "2nd") read,
//! runs of English number words ("twenty one", "one hundred and five")
//! read, and either spelt out or written as digits.

use super::{Num, Tok};

const UNITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const TEENS: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

impl Num {
    /// A numeral: digits with optional thousands commas (groups of three),
    /// then either a decimal part (".5") or an ordinal suffix ("st", "nd",
    /// "rd", "th").
    pub(super) fn parse_literal(t: &str) -> Option<Num> {
        let (body, ordinal) = match t.len().checked_sub(2).and_then(|i| t.get(i..)) {
            Some("st" | "nd" | "rd" | "th") => (&t[..t.len() - 2], true),
            _ => (t, false),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) if !ordinal => (i, f),
            Some(_) => return None,
            None => (body, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !frac.is_empty() && !digits(frac) || body.ends_with('.') {
            return None;
        }
        let mut groups = int.split(',');
        let first = groups.next()?;
        let rest: Vec<&str> = groups.collect();
        let ok = digits(first)
            && (rest.is_empty()
                || (first.len() <= 3 && rest.iter().all(|g| g.len() == 3 && digits(g))));
        ok.then(|| Num {
            int: int.replace(',', ""),
            frac: frac.to_string(),
            ordinal,
        })
    }

    /// Digits form: "1200", "3.5", "21st".
    pub(super) fn digits(&self) -> String {
        let mut s = self.int.clone();
        if !self.frac.is_empty() {
            s.push('.');
            s.push_str(&self.frac);
        }
        if self.ordinal {
            let last2 = s
                .len()
                .checked_sub(2)
                .and_then(|i| s.get(i..))
                .unwrap_or(&s);
            let suffix = match (last2.parse::<u32>().unwrap_or(0) % 100, s.chars().last()) {
                (11..=13, _) => "th",
                (_, Some('1')) => "st",
                (_, Some('2')) => "nd",
                (_, Some('3')) => "rd",
                _ => "th",
            };
            s.push_str(suffix);
        }
        s
    }

    /// Words form: "one thousand two hundred", "three point five",
    /// "twenty first". Numbers of 10^15 and more, and integers written with
    /// leading zeros ("007"), are spelt digit by digit.
    pub(super) fn spell(&self, out: &mut Vec<String>) {
        let start = out.len();
        match self.int.parse::<u64>() {
            Ok(v)
                if v < 1_000_000_000_000_000
                    && !(self.int.len() > 1 && self.int.starts_with('0')) =>
            {
                spell_int(v, out)
            }
            _ => spell_digits(&self.int, out),
        }
        if !self.frac.is_empty() {
            out.push("point".into());
            spell_digits(&self.frac, out);
        }
        if self.ordinal && out.len() > start {
            if let Some(last) = out.last_mut() {
                *last = ordinal_of(last);
            }
        }
    }
}

fn spell_digits(d: &str, out: &mut Vec<String>) {
    for b in d.bytes() {
        out.push(UNITS[usize::from(b - b'0') % 10].into());
    }
}

fn spell_int(mut v: u64, out: &mut Vec<String>) {
    if v == 0 {
        out.push("zero".into());
        return;
    }
    for (scale, name) in SCALES {
        if v >= scale {
            spell_below_1000(v / scale, out);
            out.push(name.into());
            v %= scale;
        }
    }
    spell_below_1000(v, out);
}

fn spell_below_1000(v: u64, out: &mut Vec<String>) {
    let (h, rest) = ((v / 100) as usize, (v % 100) as usize);
    if h > 0 {
        out.push(UNITS[h % 10].into());
        out.push("hundred".into());
    }
    match rest {
        0 => {}
        1..=9 => out.push(UNITS[rest].into()),
        10..=19 => out.push(TEENS[rest - 10].into()),
        _ => {
            out.push(TENS[rest / 10].into());
            if rest % 10 > 0 {
                out.push(UNITS[rest % 10].into());
            }
        }
    }
}

/// "one" → "first", "twenty" → "twentieth", "seven" → "seventh".
fn ordinal_of(w: &str) -> String {
    match w {
        "one" => "first".into(),
        "two" => "second".into(),
        "three" => "third".into(),
        "five" => "fifth".into(),
        "eight" => "eighth".into(),
        "nine" => "ninth".into(),
        "twelve" => "twelfth".into(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    }
}

/// What a number word contributes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Word {
    Unit(u64),
    Teen(u64),
    Tens(u64),
    Hundred,
    Scale(u64),
}

/// A number word and whether it is the ordinal form.
fn classify(w: &str) -> Option<(Word, bool)> {
    let find = |w: &str| -> Option<Word> {
        if let Some(i) = UNITS.iter().position(|u| *u == w) {
            return Some(Word::Unit(i as u64));
        }
        if let Some(i) = TEENS.iter().position(|u| *u == w) {
            return Some(Word::Teen(10 + i as u64));
        }
        if let Some(i) = TENS.iter().position(|u| !u.is_empty() && *u == w) {
            return Some(Word::Tens(10 * i as u64));
        }
        if w == "hundred" {
            return Some(Word::Hundred);
        }
        SCALES
            .iter()
            .find(|(_, n)| *n == w)
            .map(|(v, _)| Word::Scale(*v))
    };
    if let Some(c) = find(w) {
        return Some((c, false));
    }
    let cardinal = match w {
        "first" => "one",
        "second" => "two",
        "third" => "three",
        "fifth" => "five",
        "eighth" => "eight",
        "ninth" => "nine",
        "twelfth" => "twelve",
        _ => {
            let stem = w.strip_suffix("th")?;
            return match stem.strip_suffix("ie") {
                Some(t) => find(&format!("{t}y")),
                None => find(stem),
            }
            .map(|c| (c, true));
        }
    };
    find(cardinal).map(|c| (c, true))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Last {
    None,
    Zero,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
}

/// One number being read from words.
struct Run {
    total: u64,
    current: u64,
    last: Last,
    /// The last scale used; the next must be smaller ("million thousand").
    cap: u64,
}

impl Run {
    /// Take `w` if it continues this number as spoken English does; a word
    /// that cannot ("one two", "nineteen eighty") starts the next number.
    fn accept(&mut self, w: Word) -> bool {
        use Last::*;
        match w {
            Word::Unit(0) if self.last == None => self.last = Zero,
            Word::Unit(0) => return false,
            Word::Unit(d) if matches!(self.last, None | Tens | Hundred | Scale) => {
                self.current += d;
                self.last = Unit;
            }
            Word::Teen(v) | Word::Tens(v) if matches!(self.last, None | Hundred | Scale) => {
                self.current += v;
                self.last = if v < 20 { Teen } else { Tens };
            }
            Word::Hundred
                if matches!(self.last, None | Unit | Teen | Tens) && self.current < 100 =>
            {
                self.current = self.current.max(1) * 100;
                self.last = Hundred;
            }
            Word::Scale(s)
                if matches!(self.last, None | Unit | Teen | Tens | Hundred) && s < self.cap =>
            {
                self.total += self.current.max(1) * s;
                self.current = 0;
                self.cap = s;
                self.last = Scale;
            }
            _ => return false,
        }
        true
    }
}

/// Replace each run of number words with one [`Tok::Num`]. "point" followed
/// by digit words adds a decimal part; "and" after "hundred" or a scale is
/// dropped when a number word follows ("one hundred and five" → 105).
pub(super) fn parse_number_words(toks: Vec<Tok>) -> Vec<Tok> {
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        // A run starts at a number word ("and" and "point" only continue one);
        // its first word is always accepted, so every run consumes a token.
        if word(i).and_then(classify).is_none() {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        let mut run = Run {
            total: 0,
            current: 0,
            last: Last::None,
            cap: u64::MAX,
        };
        let mut j = i;
        let mut ordinal = false;
        let mut frac = String::new();
        while let Some(w) = word(j) {
            if w == "and" && matches!(run.last, Last::Hundred | Last::Scale) {
                match word(j + 1).and_then(classify) {
                    Some((Word::Unit(d), _)) if d > 0 => {}
                    Some((Word::Teen(_) | Word::Tens(_), _)) => {}
                    _ => break,
                }
                j += 1;
                continue;
            }
            if w == "point" && run.last != Last::None {
                let mut k = j + 1;
                while let Some((Word::Unit(d), false)) = word(k).and_then(classify) {
                    frac.push(char::from(b'0' + d as u8));
                    k += 1;
                }
                if k > j + 1 {
                    j = k;
                }
                break;
            }
            let Some((c, ord)) = classify(w) else { break };
            if !run.accept(c) {
                break;
            }
            j += 1;
            if ord {
                ordinal = true;
                break;
            }
        }
        out.push(Tok::Num(Num {
            int: (run.total + run.current).to_string(),
            frac,
            ordinal,
        }));
        i = j;
    }
    out
}
