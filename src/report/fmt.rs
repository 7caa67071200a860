//! Numbers as every report shows them, by unit: one place decides that a
//! duration of 12 345 ms reads `12.35s` and a ratio has three decimals.

use crate::metrics::Unit;

/// A value with its unit, compact (`245ms`, `1.25s`, `0.412`, `99.50%`),
/// as the terminal and text tables show it.
pub fn value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Micros if v >= 10_000.0 => format!("{:.2}s", v / 1000.0),
        Unit::Micros if v >= 100.0 => format!("{v:.0}ms"),
        Unit::Micros if v >= 10.0 => format!("{v:.1}ms"),
        Unit::Micros => format!("{v:.2}ms"),
        Unit::Ratio => format!("{v:.3}"),
        Unit::Percent => format!("{v:.2}%"),
        Unit::PerSecond => format!("{v:.2}/s"),
        Unit::AudioPerWall => format!("{v:.2}"),
        Unit::Count => format!("{v:.0}"),
    }
}

/// A value without its unit, with precision that suits its size, for
/// tables whose header names the unit (HTML).
pub fn bare(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Micros if v >= 100.0 => format!("{v:.0}"),
        Unit::Micros if v >= 10.0 => format!("{v:.1}"),
        Unit::Micros => format!("{v:.2}"),
        Unit::Ratio => format!("{v:.3}"),
        Unit::Count => format!("{v:.0}"),
        Unit::Percent | Unit::PerSecond | Unit::AudioPerWall => format!("{v:.2}"),
    }
}

/// A change with its sign (`+12ms`, `-0.25pp` for shares), as `compare`
/// shows it.
pub fn signed(v: f64, unit: Unit) -> String {
    let v = v + 0.0; // −0 → +0
    let sign = if v >= 0.0 { "+" } else { "" };
    match unit {
        Unit::Micros if v.abs() >= 10_000.0 => format!("{sign}{:.2}s", v / 1000.0),
        Unit::Micros if v.abs() >= 100.0 => format!("{sign}{v:.0}ms"),
        Unit::Micros if v.abs() >= 10.0 => format!("{sign}{v:.1}ms"),
        Unit::Micros => format!("{sign}{v:.2}ms"),
        Unit::Ratio => format!("{sign}{v:.3}"),
        Unit::Percent => format!("{sign}{v:.2}pp"),
        Unit::Count | Unit::PerSecond | Unit::AudioPerWall => format!("{sign}{v:.2}"),
    }
}

/// A number of no known unit (a scraped series), compact: whole numbers
/// below a million as they are (`4`, `1027`), larger ones with an SI
/// prefix (`150.3M`), fractions to three significant places (`0.452`).
pub fn compact(v: f64) -> String {
    let a = v.abs();
    for (scale, prefix) in [(1e12, "T"), (1e9, "G"), (1e6, "M")] {
        if a >= scale {
            return format!("{:.1}{prefix}", v / scale);
        }
    }
    match a {
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// A share in 0..=1 as a percentage with one decimal (`97.5%`), or `-`.
pub fn share(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.1}%", x * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_reads_as_before() {
        assert_eq!(value(12_345.0, Unit::Micros), "12.35s");
        assert_eq!(value(245.4, Unit::Micros), "245ms");
        assert_eq!(value(12.34, Unit::Micros), "12.3ms");
        assert_eq!(value(1.234, Unit::Micros), "1.23ms");
        assert_eq!(value(0.41234, Unit::Ratio), "0.412");
        assert_eq!(value(99.5, Unit::Percent), "99.50%");
        assert_eq!(value(3.0, Unit::PerSecond), "3.00/s");
        assert_eq!(bare(245.4, Unit::Micros), "245");
        assert_eq!(signed(-0.0, Unit::Micros), "+0.00ms");
        assert_eq!(signed(-12.0, Unit::Micros), "-12.0ms");
        assert_eq!(signed(0.5, Unit::Percent), "+0.50pp");
        assert_eq!(share(Some(0.975)), "97.5%");
        let c: Vec<String> = [4.0, 1027.0, 1.503e8, 2.5e9, 0.4521, 12.34, 250.6, -3.0]
            .map(compact)
            .to_vec();
        assert_eq!(
            c,
            ["4", "1027", "150.3M", "2.5G", "0.452", "12.3", "251", "-3"]
        );
    }
}
