//! Flags over a file: one generic merge instead of a field list per
//! options struct. Both sides are turned into TOML tables, where an unset
//! option is simply absent, and every key the upper side sets replaces the
//! lower side's (lists and tables whole, as a flag replaces a file's value).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{invalid, ConfigError};

/// `base` with every option `over` sets replacing its value.
pub fn overlay<T: Serialize + DeserializeOwned>(base: &T, over: &T) -> Result<T, ConfigError> {
    let mut merged = table(base)?;
    merged.extend(table(over)?);
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| invalid("options", e.message().to_string()))
}

fn table<T: Serialize>(options: &T) -> Result<toml::Table, ConfigError> {
    match toml::Value::try_from(options) {
        Ok(toml::Value::Table(t)) => Ok(t),
        Ok(_) => Ok(toml::Table::new()),
        Err(e) => Err(invalid("options", e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::WorkloadOptions;

    #[test]
    fn set_options_replace_and_unset_ones_keep_the_lower_value() {
        let file = WorkloadOptions {
            rate: Some("1,2".parse().expect("levels")),
            requests: Some(50),
            duration: Some(Duration::from_millis(1_500)),
            ..Default::default()
        };
        let flags = WorkloadOptions {
            rate: Some("5".parse().expect("levels")),
            warmup: Some(2),
            ..Default::default()
        };
        let m = overlay(&file, &flags).expect("merges");
        assert_eq!(m.rate.map(|l| l.0), Some(vec![5.0]));
        assert_eq!(m.requests, Some(50));
        assert_eq!(m.warmup, Some(2));
        assert_eq!(m.duration, Some(Duration::from_millis(1_500)));
        assert_eq!(
            overlay(&file, &WorkloadOptions::default()).expect("same"),
            file
        );
    }
}
