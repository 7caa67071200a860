//! Units shared by every layer: durations as human text in files and on the
//! command line (`"250ms"`, `"1m 30s"`, via humantime), and byte sizes
//! (`"16MiB"`, `"64KiB"`, or plain bytes). Imports nothing from the crate,
//! so any module may use it without forming a circle.

use std::time::Duration;

/// Parse a humantime duration from a flag (`--timeout 30s`), with the
/// expected syntax in the error.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 250ms, 30s, 2m)"))
}

/// Binary size suffixes, largest first, as [`parse_bytes`] reads them.
const SIZE_UNITS: [(&str, u64); 4] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Parse a byte size from a flag (`--ws-max-message 16MiB`): a whole
/// number of bytes, optionally followed by `B`, `KiB`, `MiB` or `GiB`
/// (binary units; a space before the unit is allowed).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = (&t[..split], t[split..].trim_start());
    let bad = || format!("invalid size '{s}' (e.g. 16MiB, 64KiB or 1048576)");
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "" => 1,
        u => SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(u))
            .map(|(_, scale)| *scale)
            .ok_or_else(bad)?,
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// A byte size in the largest binary unit that divides it (`16MiB`,
/// `1000B`): what [`parse_bytes`] reads back.
pub fn format_bytes(n: u64) -> String {
    let (name, scale) = SIZE_UNITS
        .iter()
        .find(|(_, scale)| n > 0 && n % scale == 0)
        .copied()
        .unwrap_or(("B", 1));
    format!("{}{name}", n / scale)
}

/// `#[serde(default, with = "crate::units::serde_bytes_option")]`: an
/// optional byte size, written as text (`"16MiB"`) and read from text or
/// a plain number of bytes.
pub mod serde_bytes_option {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    /// Serialize `Some(n)` as text, `None` as null.
    pub fn serialize<S: Serializer>(n: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match n {
            Some(n) => s.serialize_str(&super::format_bytes(*n)),
            None => s.serialize_none(),
        }
    }

    /// Deserialize a number of bytes or a size as text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<Size>::deserialize(d)? {
            None => Ok(None),
            Some(Size::Bytes(n)) => Ok(Some(n)),
            Some(Size::Text(t)) => super::parse_bytes(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Whole microseconds of a duration (saturating), the unit of every `_us`
/// field in records and results.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `#[serde(with = "crate::units::serde_duration")]`: a duration as humantime text.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize a duration as humantime text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Deserialize humantime text (`"30s"`, `"250ms"`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(&String::deserialize(d)?)
    }

    /// Humantime text as a duration, or an error showing the expected syntax.
    fn parse<E: serde::de::Error>(text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text).map_err(|e| {
            E::custom(format!(
                "invalid duration '{text}': {e} (e.g. \"250ms\", \"30s\")"
            ))
        })
    }

    /// A list of durations, each as humantime text.
    pub mod list {
        use super::*;

        /// Serialize each duration as humantime text.
        pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|d| humantime::format_duration(*d).to_string()))
        }
    }

    /// The same for `Option<Duration>`.
    pub mod option {
        use super::*;

        /// Serialize `Some(d)` as humantime text, `None` as null.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// Deserialize optional humantime text.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let text: Option<String> = Option::deserialize(d)?;
            text.as_deref().map(super::parse).transpose()
        }
    }
}

/// `#[serde(with = "crate::units::duration_us")]`: a duration as whole
/// microseconds, so results carry the unit in the field name (`_us`)
/// instead of serde's `{secs, nanos}`.
pub mod duration_us {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as whole microseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(super::micros(*d))
    }

    /// Deserialize whole microseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units_and_format_back() {
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes(" 64 kib "), Ok(64 << 10));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("7B"), Ok(7));
        assert_eq!(parse_bytes("0"), Ok(0));
        for bad in ["", "MiB", "1.5MiB", "-1", "16MB", "99999999999GiB"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        for n in [0, 1, 1000, 1024, 16 << 20, (16 << 20) + 1, 3 << 30] {
            assert_eq!(parse_bytes(&format_bytes(n)), Ok(n), "{n}");
        }
        assert_eq!(format_bytes(16 << 20), "16MiB");
        assert_eq!(format_bytes(1000), "1000B");
    }
}
