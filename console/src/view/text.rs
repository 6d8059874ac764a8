//! How lab facts are written on screen: durations, countdown bars, speeds, key ids, error
//! classes and key actions. The panes and the reducer's status-bar notices both use these, so
//! a thing is called the same everywhere.

use std::time::Duration;

use ekm_engine::KmsError;
use ekm_vocab::KeyAction;
use time::OffsetDateTime;

/// `23h59m`, `59m12s`, `12s`; zero for negative spans.
pub fn short_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h >= 100 {
        format!("{}d{:02}h", h / 24, h % 24)
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A text bar `width` cells wide, full when `left == total`.
pub fn bar(left: time::Duration, total: Duration, width: usize) -> String {
    let total = total.as_secs_f64();
    let fraction = if total > 0.0 {
        (left.as_seconds_f64() / total).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((fraction * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// The last segment of a key id (`ekm-key`, `alias/ekm-demo`), for labels.
pub fn tail(key: &str) -> &str {
    let cut = if key.starts_with("arn:") {
        key.rfind(':')
    } else {
        key.rfind('/')
    };
    cut.map_or(key, |i| &key[i + 1..])
}

/// A short name for a KMS error class.
pub fn kms_error_label(error: &KmsError) -> &'static str {
    error.kind().phrase()
}

/// `1×`, `60×`, `0.5×`.
pub fn speed_label(speed: f64) -> String {
    if speed.fract() == 0.0 {
        format!("{speed:.0}×")
    } else {
        format!("{speed}×")
    }
}

/// The verb for a lab action.
pub fn action_label(action: KeyAction) -> &'static str {
    action.as_str()
}

/// `hh:mm:ss` of a lab time.
pub fn lab_time(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// The status bar's lab time.
pub const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(time::Duration::seconds(-5)), "0s");
        assert_eq!(short_duration(time::Duration::seconds(42)), "42s");
        assert_eq!(short_duration(time::Duration::seconds(3599)), "59m59s");
        assert_eq!(short_duration(time::Duration::hours(24)), "24h00m");
        assert_eq!(short_duration(time::Duration::hours(200)), "8d08h");
    }

    #[test]
    fn bars_fill_with_the_time_left() {
        let hour = Duration::from_secs(3600);
        assert_eq!(bar(time::Duration::minutes(30), hour, 4), "██░░");
        assert_eq!(bar(time::Duration::minutes(-1), hour, 3), "░░░");
        assert_eq!(bar(time::Duration::hours(2), hour, 2), "██");
    }
}
