//! Sweep levels: `5`, `1,3,5,7` or `1:7:2` (start:end:step, inclusive).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A list of load levels; each becomes one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Levels(pub Vec<f64>);

/// Why a level list did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid levels '{input}': {reason} (expected e.g. 5, 1,3,5,7 or 1:7:2)")]
pub struct LevelsError {
    input: String,
    reason: String,
}

/// Most stages one range may expand to; a typo like `1:1000:0.001` should not run for days.
pub const MAX_LEVELS: usize = 1_000;

impl FromStr for Levels {
    type Err = LevelsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| LevelsError {
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let num = |t: &str| -> Result<f64, LevelsError> {
            let v: f64 = t
                .trim()
                .parse()
                .map_err(|_| err(&format!("'{}' is not a number", t.trim())))?;
            if !v.is_finite() || v <= 0.0 {
                return Err(err("levels must be positive"));
            }
            Ok(v)
        };
        let s = s.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            let [a, b, step] = parts.as_slice() else {
                return Err(err("a range is start:end:step"));
            };
            let (a, b, step) = (num(a)?, num(b)?, num(step)?);
            if b < a {
                return Err(err("range end is below its start"));
            }
            let n = ((b - a) / step + 1e-9).floor() as usize + 1;
            if n > MAX_LEVELS {
                return Err(err(&format!(
                    "range has {n} levels, more than {MAX_LEVELS}"
                )));
            }
            // From the index, so 0.1 steps do not accumulate float error.
            return Ok(Levels((0..n).map(|i| a + step * i as f64).collect()));
        }
        let levels = s.split(',').map(num).collect::<Result<Vec<_>, _>>()?;
        Ok(Levels(levels))
    }
}

impl fmt::Display for Levels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|v| v.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

impl<'de> Deserialize<'de> for Levels {
    /// In TOML: a number (`rate = 5`), an array (`rate = [1, 3, 5]`) or a string (`rate = "1:7:2"`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(f64),
            Many(Vec<f64>),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::One(v) => v.to_string(),
            Raw::Many(v) => v
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(","),
            Raw::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_ranges_and_single_values() {
        assert_eq!("5".parse::<Levels>(), Ok(Levels(vec![5.0])));
        assert_eq!(
            "1,3,5,7".parse::<Levels>(),
            Ok(Levels(vec![1.0, 3.0, 5.0, 7.0]))
        );
        assert_eq!(
            "1:7:2".parse::<Levels>(),
            Ok(Levels(vec![1.0, 3.0, 5.0, 7.0]))
        );
        assert_eq!("1:2:0.5".parse::<Levels>(), Ok(Levels(vec![1.0, 1.5, 2.0])));
        let tenths = "0.1:1:0.1".parse::<Levels>().map(|l| l.0.len());
        assert_eq!(tenths, Ok(10));
    }

    #[test]
    fn rejects_bad_levels_with_the_expected_syntax() {
        for bad in ["", "a", "1,,2", "0", "-1", "7:1:2", "1:2", "1:100000:0.001"] {
            let e = bad.parse::<Levels>().expect_err(bad);
            assert!(e.to_string().contains("expected e.g."), "{e}");
        }
    }

    #[test]
    fn deserializes_number_array_or_string() {
        #[derive(Deserialize)]
        struct T {
            a: Levels,
            b: Levels,
            c: Levels,
        }
        let t: T = toml::from_str("a = 5\nb = [1, 2]\nc = \"1:3:1\"").expect("valid toml");
        assert_eq!(
            (t.a.0, t.b.0, t.c.0),
            (vec![5.0], vec![1.0, 2.0], vec![1.0, 2.0, 3.0])
        );
    }
}
