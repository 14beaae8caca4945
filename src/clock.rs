//! Wall-clock time as integer Unix milliseconds, the only time format the store knows.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// "3 min", "2 h 5 min", "4 d 3 h".
pub fn human_duration(ms: i64) -> String {
    let minutes = (ms.max(0) / 60_000) as u64;
    let (days, hours, minutes) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(0), "0 min");
        assert_eq!(human_duration(125 * 60_000), "2 h 5 min");
        assert_eq!(human_duration((4 * 1440 + 3 * 60) * 60_000), "4 d 3 h");
        assert_eq!(human_duration(-5), "0 min");
    }
}
