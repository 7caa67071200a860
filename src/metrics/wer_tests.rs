//! WER worked examples: the arithmetic is in the comments.

use std::time::{Duration, Instant};

use super::*;

const WORDS: Normalization = Normalization {
    numbers: Numbers::Words,
};
const DIGITS: Normalization = Normalization {
    numbers: Numbers::Digits,
};
const KEEP: Normalization = Normalization {
    numbers: Numbers::Keep,
};

fn errs(s: u32, d: u32, i: u32, n: u32) -> WordErrors {
    WordErrors {
        substitutions: s,
        deletions: d,
        insertions: i,
        ref_words: n,
    }
}

fn norm(text: &str, n: &Normalization) -> String {
    normalize(text, n).join(" ")
}

#[test]
fn identical_is_zero() {
    // 4 reference words, 0 errors: 0 / 4 = 0.
    let e = word_errors("the cat sat down", "the cat sat down", &WORDS);
    assert_eq!(e, errs(0, 0, 0, 4));
    assert_eq!(e.wer(), Some(0.0));
}

#[test]
fn one_substitution_in_four_words() {
    // "sat" → "sit": S = 1; 1 / 4 = 0.25.
    let e = word_errors("the cat sat down", "the cat sit down", &WORDS);
    assert_eq!(e, errs(1, 0, 0, 4));
    assert_eq!(e.wer(), Some(0.25));
}

#[test]
fn insertion_and_deletion() {
    // "cat" missing (D = 1) and "very" added (I = 1): 2 / 4 = 0.5.
    let e = word_errors("the cat sat down", "the sat down very", &WORDS);
    assert_eq!(e, errs(0, 1, 1, 4));
    assert_eq!(e.wer(), Some(0.5));
    // Insertions can push WER over 1: 1 word, 3 inserted → 3 / 1 = 3.
    let e = word_errors("yes", "yes yes yes yes", &WORDS);
    assert_eq!(e, errs(0, 0, 3, 1));
    assert_eq!(e.wer(), Some(3.0));
    // Hypothesis longer than reference exercises the swapped table.
    let e = word_errors("a b c", "x a b c d e", &WORDS);
    assert_eq!(e, errs(0, 0, 3, 3));
}

#[test]
fn empty_hypothesis_and_empty_reference() {
    // Every reference word deleted: 3 / 3 = 1.
    let e = word_errors("one two three", "", &KEEP);
    assert_eq!(e, errs(0, 3, 0, 3));
    assert_eq!(e.wer(), Some(1.0));
    // No reference words: no denominator, no WER (the insertions still count).
    let e = word_errors("", "hello there", &WORDS);
    assert_eq!(e, errs(0, 0, 2, 0));
    assert_eq!(e.wer(), None);
    // Punctuation only normalizes to nothing.
    assert_eq!(word_errors("...", "", &WORDS).wer(), None);
}

#[test]
fn ties_prefer_substitutions() {
    // "a b" → "b c": 2 substitutions or D(a) + I(c), both cost 2; the rule
    // picks the substitutions.
    assert_eq!(word_errors("a b", "b c", &WORDS), errs(2, 0, 0, 2));
    // Same when the hypothesis is the longer text (the table is swapped).
    assert_eq!(word_errors("a b", "b c d", &WORDS), errs(2, 0, 1, 2));
}

#[test]
fn pooled_wer_sums_counts() {
    // Request 1: 1 error in 1 word (WER 1.0); request 2: 0 in 9 (WER 0).
    // Pooled: 1 / 10 = 0.1, not the mean of 1.0 and 0 (0.5).
    let mut total = word_errors("hi", "bye", &WORDS);
    total += word_errors(
        "one two three four five six seven eight nine",
        "one two three four five six seven eight nine",
        &WORDS,
    );
    assert_eq!(total, errs(1, 0, 0, 10));
    assert_eq!(total.wer(), Some(0.1));
}

#[test]
fn case_punctuation_and_whitespace() {
    assert_eq!(norm("Hello, World!", &WORDS), "hello world");
    assert_eq!(
        word_errors("Hello, World!", "hello world", &WORDS).errors(),
        0
    );
    assert_eq!(
        norm("  Don’t\tstop — \"now\"... ", &WORDS),
        "don't stop now"
    );
    assert_eq!(norm("'Quoted' rock'n'roll", &WORDS), "quoted rock'n'roll");
    assert_eq!(norm("e-mail and/or U.S.A.", &WORDS), "e mail and or usa");
    assert_eq!(norm("salt & pepper", &WORDS), "salt and pepper");
    assert_eq!(norm("ÉCOLE Straße İ", &KEEP), "école straße i\u{307}");
    assert_eq!(norm("¿Qué? «sí»", &KEEP), "qué sí");
    assert_eq!(norm("hello,world;again", &KEEP), "hello world again");
}

#[test]
fn numbers_as_words() {
    // "It's 5%" == "it's five percent": 0 errors.
    assert_eq!(
        word_errors("It's 5%", "it's five percent", &WORDS).errors(),
        0
    );
    assert_eq!(norm("12", &WORDS), "twelve");
    assert_eq!(norm("3.5", &WORDS), "three point five");
    assert_eq!(norm("$1,200.", &WORDS), "one thousand two hundred");
    assert_eq!(
        norm("the 2nd and 21st", &WORDS),
        "the second and twenty first"
    );
    assert_eq!(norm("100th", &WORDS), "one hundredth");
    assert_eq!(norm("0", &WORDS), "zero");
    assert_eq!(norm("007", &WORDS), "zero zero seven");
    assert_eq!(norm("2,000,005", &WORDS), "two million five");
    assert_eq!(norm("at 3:30", &WORDS), "at three thirty");
    // Number words are re-spelt canonically, so all of these agree.
    assert_eq!(norm("twenty-one", &WORDS), "twenty one");
    assert_eq!(norm("one hundred and five", &WORDS), "one hundred five");
    assert_eq!(
        word_errors("105", "one hundred and five", &WORDS).errors(),
        0
    );
    // Digit strings stay separate numbers: 3 words, as spoken.
    assert_eq!(norm("one two three", &WORDS), "one two three");
}

#[test]
fn numbers_as_digits() {
    // "twenty one" vs "21": both become "21", 0 errors.
    assert_eq!(word_errors("twenty one", "21", &DIGITS).errors(), 0);
    assert_eq!(norm("twenty one", &DIGITS), "21");
    assert_eq!(norm("one thousand two hundred", &DIGITS), "1200");
    assert_eq!(norm("1,200", &DIGITS), "1200");
    assert_eq!(norm("three point one four", &DIGITS), "3.14");
    assert_eq!(norm("zero point five", &DIGITS), "0.5");
    assert_eq!(
        norm("the second and twenty first", &DIGITS),
        "the 2nd and 21st"
    );
    assert_eq!(
        norm("eleventh twelfth thirteenth", &DIGITS),
        "11th 12th 13th"
    );
    assert_eq!(
        norm("two million three hundred thousand", &DIGITS),
        "2300000"
    );
    assert_eq!(norm("one two three", &DIGITS), "1 2 3");
    assert_eq!(norm("nineteen eighty four", &DIGITS), "19 84");
    assert_eq!(norm("a point of order", &DIGITS), "a point of order");
    assert_eq!(norm("five points", &DIGITS), "5 points");
    assert_eq!(norm("bread and butter", &DIGITS), "bread and butter");
    assert_eq!(norm("a hundred and one", &DIGITS), "a 101");
    assert_eq!(norm("forty-second", &DIGITS), "42nd");
}

#[test]
fn numbers_kept() {
    assert_eq!(norm("Twenty 1,200 3.5 2nd", &KEEP), "twenty 1200 3.5 2nd");
    assert_eq!(word_errors("twenty one", "21", &KEEP), errs(1, 1, 0, 2));
}

#[test]
fn normalization_serializes_with_defaults() {
    assert_eq!(Normalization::default(), WORDS);
    let n: Normalization = serde_json::from_str(r#"{"numbers":"digits"}"#).expect("json");
    assert_eq!(n, DIGITS);
    let n: Normalization = serde_json::from_str("{}").expect("json");
    assert_eq!(n, WORDS);
    assert!(serde_json::from_str::<Normalization>(r#"{"case":"keep"}"#).is_err());
    assert_eq!(NORMALIZATION_VERSION, "v1");
}

#[test]
fn ten_thousand_words_align_fast() {
    // 10,000 × ~10,000 cells; every 50th word substituted, every 97th
    // deleted and an extra word after every 200th.
    let vocab = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    let reference: Vec<&str> = (0..10_000).map(|i| vocab[i * 7 % 11 % 7]).collect();
    let mut hyp = Vec::new();
    let (mut s, mut d, mut ins) = (0, 0, 0);
    for (i, w) in reference.iter().enumerate() {
        if i % 97 == 0 {
            d += 1;
            continue;
        }
        hyp.push(if i % 50 == 0 {
            s += 1;
            "zulu"
        } else {
            w
        });
        if i % 200 == 1 {
            ins += 1;
            hyp.push("xray");
        }
    }
    let started = Instant::now();
    let e = word_errors(&reference.join(" "), &hyp.join(" "), &KEEP);
    let took = started.elapsed();
    assert_eq!(e.ref_words, 10_000);
    // The minimal alignment can be no worse than the edits made.
    assert!(e.errors() <= s + d + ins, "{e:?} vs {s}+{d}+{ins}");
    assert!(e.errors() >= (s + d + ins) * 9 / 10, "{e:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}
