//! Lab-time durations as scenarios write them: `2h30m`, `15m`, `90s`, `1d`, `250ms` (humantime's
//! grammar, spaces optional), and the compact form reports print them in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of lab time read from a scenario (`at: 2h30m`, `for: 20m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LabDuration(pub Duration);

impl LabDuration {
    /// Parses `2h30m`, `15m`, `1d 2h`, `0s`; bare numbers are refused (a unit is required).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("expected a duration like `2h30m`, `15m` or `90s`, found nothing".into());
        }
        humantime::parse_duration(trimmed)
            .map(LabDuration)
            .map_err(|_| {
                format!("expected a duration like `2h30m`, `15m` or `90s`, found `{trimmed}`")
            })
    }
}

impl fmt::Display for LabDuration {
    /// The compact form: `2h30m`, `1m30s`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&compact(self.0))
    }
}

impl From<LabDuration> for Duration {
    fn from(d: LabDuration) -> Self {
        d.0
    }
}

impl Serialize for LabDuration {
    /// The compact form, which reads back the same.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LabDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LabDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like `2h30m`, `15m` or `90s`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LabDuration, E> {
                LabDuration::parse(v).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LabDuration, E> {
                if v == 0 {
                    Ok(LabDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format!(
                        "`{v}` has no unit: write a duration like `{v}s`, `{v}m` or `{v}h`"
                    )))
                }
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LabDuration, E> {
                Err(E::custom(format!(
                    "`{v}` is not a duration: write one like `2h30m`, `15m` or `90s`"
                )))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<LabDuration, E> {
                self.visit_i64(v as i64)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `d` in the largest units that keep it exact: `1d2h`, `2h30m`, `1m30s`, `250ms`, `0s`.
pub fn compact(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let mut out = String::new();
    let mut secs = d.as_secs();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    let millis = d.subsec_millis();
    if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    if out.is_empty() {
        out = format!("{}µs", d.subsec_micros());
    }
    out
}

/// A lab-time offset from the start of a scenario as a fixed-width clock: `+02:30:00`,
/// `+1d 00:00:00` past a day.
pub fn clock_offset(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    );
    if days > 0 {
        format!("+{days}d {hms}")
    } else {
        format!("+{hms}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(
            LabDuration::parse("2h30m").unwrap().0,
            Duration::from_secs(9000)
        );
        assert_eq!(
            LabDuration::parse("1h 5m").unwrap().0,
            Duration::from_secs(3900)
        );
        assert_eq!(LabDuration::parse("0s").unwrap().0, Duration::ZERO);
        assert_eq!(
            LabDuration::parse("1d").unwrap().0,
            Duration::from_secs(86_400)
        );
        assert!(LabDuration::parse("soon").unwrap_err().contains("`soon`"));
        assert!(LabDuration::parse("").is_err());
    }

    #[test]
    fn bare_numbers_need_a_unit() {
        let err = serde_yaml::from_str::<LabDuration>("15").unwrap_err();
        assert!(err.to_string().contains("`15s`"), "{err}");
        assert_eq!(
            serde_yaml::from_str::<LabDuration>("0").unwrap().0,
            Duration::ZERO
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(compact(Duration::from_secs(9000)), "2h30m");
        assert_eq!(compact(Duration::from_secs(90)), "1m30s");
        assert_eq!(compact(Duration::from_millis(250)), "250ms");
        assert_eq!(compact(Duration::from_secs(86_400 + 7200)), "1d2h");
        assert_eq!(compact(Duration::ZERO), "0s");
        assert_eq!(clock_offset(Duration::from_secs(9000)), "+02:30:00");
        assert_eq!(clock_offset(Duration::from_secs(90_000)), "+1d 01:00:00");
    }
}
