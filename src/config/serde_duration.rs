//! Durations in files as human text (`"250ms"`, `"1m 30s"`), via humantime.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize a duration as humantime text.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// Deserialize humantime text (`"30s"`, `"250ms"`).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
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
        text.map(|t| {
            humantime::parse_duration(&t).map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration '{t}': {e} (e.g. \"250ms\", \"30s\")"
                ))
            })
        })
        .transpose()
    }
}
