//! Units shared by every layer: durations as human text in files and on the
//! command line (`"250ms"`, `"1m 30s"`, via humantime). Imports nothing
//! from the crate, so any module may use it without forming a circle.

use std::time::Duration;

/// Parse a humantime duration from a flag (`--timeout 30s`), with the
/// expected syntax in the error.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 250ms, 30s, 2m)"))
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
