//! Opening hours of a contact channel: `24/7`, or a weekly schedule in a time zone.
//!
//! The format is the one of `config/resources/README.md`: groups separated by `; `, each
//! group a list of days (`Mon`, `Mon-Fri`, `Sat,Sun`, `Fri-Mon`) and one or more time
//! ranges separated by `, ` (`09:00-17:00, 18:00-22:00`). `24:00` may end a range; an end
//! earlier than the start runs past midnight into the next day. Parsing is pure; whether a
//! line is open at an instant needs the IANA time zone of the schedule.

use std::fmt;

/// Monday is 0, Sunday 6.
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

/// What `hours` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    /// `""`: not known.
    Unknown,
    /// `24/7`, as the operator states it.
    Always,
    /// A weekly schedule, in local time of the contact's time zone.
    Weekly(Vec<Opening>),
}

/// One opening: on `day`, from `start` to `end` minutes after local midnight. When `end` is
/// not after `start` the opening runs past midnight and ends on the next day at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    pub day: u8,
    pub start: u16,
    pub end: u16,
}

/// Why a schedule could not be read, or its time zone is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("{0:?} is not a day (write Mon, Tue, Wed, Thu, Fri, Sat or Sun)")]
    Day(String),
    #[error("{0:?} is not a time range like 09:00-17:00")]
    Range(String),
    #[error("{0:?} is not a time (write HH:MM, 00:00 to 24:00; 24:00 only as an end)")]
    Time(String),
    #[error("the range {0:?} is empty (start and end are the same)")]
    Empty(String),
    #[error(
        "the group {0:?} needs days and at least one time range, e.g. \"Mon-Fri 09:00-17:00\""
    )]
    Group(String),
    #[error("a schedule needs an IANA time zone in `timezone`, e.g. \"Asia/Tokyo\"")]
    MissingTimeZone,
    #[error("{0:?} is not an IANA time zone")]
    UnknownTimeZone(String),
}

impl Hours {
    /// Reads the `hours` field of a contact.
    pub fn parse(text: &str) -> Result<Hours, HoursError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Hours::Unknown);
        }
        if text == "24/7" {
            return Ok(Hours::Always);
        }
        let mut openings = Vec::new();
        for group in text.split(';').map(str::trim) {
            let Some((days, times)) = group.split_once(' ') else {
                return Err(HoursError::Group(group.to_string()));
            };
            let days = parse_days(days)?;
            let times = times.trim();
            if times.is_empty() {
                return Err(HoursError::Group(group.to_string()));
            }
            for range in times.split(',').map(str::trim) {
                let (start, end) = parse_range(range)?;
                for &day in &days {
                    openings.push(Opening { day, start, end });
                }
            }
        }
        Ok(Hours::Weekly(openings))
    }

    pub fn is_always(&self) -> bool {
        matches!(self, Hours::Always)
    }

    /// Whether the line is open at a local weekday (Monday 0) and minute after midnight.
    /// `None` when the hours are not known.
    pub fn is_open_local(&self, day: u8, minute: u16) -> Option<bool> {
        match self {
            Hours::Unknown => None,
            Hours::Always => Some(true),
            Hours::Weekly(openings) => Some(openings.iter().any(|opening| {
                let previous_day = (day + 6) % 7;
                if opening.end > opening.start {
                    opening.day == day && (opening.start..opening.end).contains(&minute)
                } else {
                    (opening.day == day && minute >= opening.start)
                        || (opening.day == previous_day && minute < opening.end)
                }
            })),
        }
    }

    /// Whether the line is open at an instant (Unix milliseconds), in the schedule's time zone.
    /// `None` when the hours are not known.
    pub fn is_open_at(&self, timezone: &TimeZone, unix_ms: i64) -> Option<bool> {
        match self {
            Hours::Unknown => None,
            Hours::Always => Some(true),
            Hours::Weekly(_) => {
                let (day, minute) = timezone.local_day_and_minute(unix_ms)?;
                self.is_open_local(day, minute)
            }
        }
    }
}

/// An IANA time zone, checked against the time-zone database built into the binary.
#[derive(Clone)]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimeZone").field(&self.name).finish()
    }
}

impl TimeZone {
    pub fn parse(name: &str) -> Result<TimeZone, HoursError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(HoursError::MissingTimeZone);
        }
        // Only Area/Location names: abbreviations such as "EST" or "CET" are ambiguous.
        if !name.contains('/') && name != "UTC" {
            return Err(HoursError::UnknownTimeZone(name.to_string()));
        }
        let zone = jiff::tz::TimeZone::get(name)
            .map_err(|_| HoursError::UnknownTimeZone(name.to_string()))?;
        Ok(TimeZone {
            name: name.to_string(),
            zone,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local weekday (Monday 0) and minute after midnight of an instant.
    pub fn local_day_and_minute(&self, unix_ms: i64) -> Option<(u8, u16)> {
        let zoned = jiff::Timestamp::from_millisecond(unix_ms)
            .ok()?
            .to_zoned(self.zone.clone());
        let day = u8::try_from(zoned.weekday().to_monday_zero_offset()).ok()?;
        let minute = u16::try_from(zoned.hour()).ok()? * 60 + u16::try_from(zoned.minute()).ok()?;
        Some((day, minute))
    }
}

/// Checks `hours` and `timezone` of one contact together: a schedule needs a zone.
pub fn validate(hours: &str, timezone: &str) -> Result<Hours, HoursError> {
    let parsed = Hours::parse(hours)?;
    match parsed {
        Hours::Weekly(_) => {
            TimeZone::parse(timezone)?;
        }
        Hours::Always | Hours::Unknown => {
            if !timezone.trim().is_empty() {
                TimeZone::parse(timezone)?;
            }
        }
    }
    Ok(parsed)
}

fn parse_days(text: &str) -> Result<Vec<u8>, HoursError> {
    let mut days = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let first = parse_day(first)?;
                let last = parse_day(last)?;
                let mut day = first;
                loop {
                    days.push(day);
                    if day == last {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => days.push(parse_day(part)?),
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

fn parse_day(text: &str) -> Result<u8, HoursError> {
    DAY_NAMES
        .iter()
        .position(|name| *name == text)
        .map(|index| index as u8)
        .ok_or_else(|| HoursError::Day(text.to_string()))
}

fn parse_range(text: &str) -> Result<(u16, u16), HoursError> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| HoursError::Range(text.to_string()))?;
    let start = parse_time(start)?;
    let end = parse_time(end)?;
    if start == MINUTES_PER_DAY {
        return Err(HoursError::Time("24:00".into()));
    }
    if start == end {
        return Err(HoursError::Empty(text.to_string()));
    }
    Ok((start, end))
}

fn parse_time(text: &str) -> Result<u16, HoursError> {
    let bad = || HoursError::Time(text.to_string());
    let (hour, minute) = text.split_once(':').ok_or_else(bad)?;
    if hour.len() != 2 || minute.len() != 2 {
        return Err(bad());
    }
    let hour: u16 = hour.parse().map_err(|_| bad())?;
    let minute: u16 = minute.parse().map_err(|_| bad())?;
    if minute > 59 || hour > 24 || (hour == 24 && minute != 0) {
        return Err(bad());
    }
    Ok(hour * 60 + minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(text: &str) -> u16 {
        parse_time(text).unwrap()
    }

    #[test]
    fn reads_schedules() {
        let cases: &[(&str, Hours)] = &[
            ("", Hours::Unknown),
            ("24/7", Hours::Always),
            (
                "Mon-Fri 09:00-17:00",
                Hours::Weekly(
                    (0..5)
                        .map(|day| Opening {
                            day,
                            start: 540,
                            end: 1020,
                        })
                        .collect(),
                ),
            ),
            (
                "Sat,Sun 10:00-14:00, 18:00-24:00",
                Hours::Weekly(vec![
                    Opening {
                        day: 5,
                        start: 600,
                        end: 840,
                    },
                    Opening {
                        day: 6,
                        start: 600,
                        end: 840,
                    },
                    Opening {
                        day: 5,
                        start: 1080,
                        end: 1440,
                    },
                    Opening {
                        day: 6,
                        start: 1080,
                        end: 1440,
                    },
                ]),
            ),
            (
                "Sun-Mon 22:00-06:00",
                Hours::Weekly(vec![
                    Opening {
                        day: 0,
                        start: 1320,
                        end: 360,
                    },
                    Opening {
                        day: 6,
                        start: 1320,
                        end: 360,
                    },
                ]),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&Hours::parse(text).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_schedule() {
        let cases: &[(&str, HoursError)] = &[
            ("24h", HoursError::Group("24h".into())),
            ("always", HoursError::Group("always".into())),
            ("Monday 09:00-17:00", HoursError::Day("Monday".into())),
            ("mon 09:00-17:00", HoursError::Day("mon".into())),
            ("Mon-Fri 9:00-17:00", HoursError::Time("9:00".into())),
            ("Mon-Fri 09:00-25:00", HoursError::Time("25:00".into())),
            ("Mon-Fri 09:00-24:30", HoursError::Time("24:30".into())),
            ("Mon-Fri 24:00-06:00", HoursError::Time("24:00".into())),
            (
                "Mon-Fri 09:00-09:00",
                HoursError::Empty("09:00-09:00".into()),
            ),
            ("Mon-Fri 09:00", HoursError::Range("09:00".into())),
            ("Mon-Fri", HoursError::Group("Mon-Fri".into())),
            ("Mon-Fri 09:00-17:00; Sat", HoursError::Group("Sat".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(&Hours::parse(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn knows_when_a_line_is_open_in_local_time() {
        // (hours, local day, local time, open?)
        let cases: &[(&str, u8, &str, Option<bool>)] = &[
            ("", 0, "12:00", None),
            ("24/7", 3, "03:00", Some(true)),
            ("Mon-Fri 09:00-17:00", 0, "09:00", Some(true)),
            ("Mon-Fri 09:00-17:00", 0, "16:59", Some(true)),
            ("Mon-Fri 09:00-17:00", 0, "17:00", Some(false)),
            ("Mon-Fri 09:00-17:00", 0, "08:59", Some(false)),
            ("Mon-Fri 09:00-17:00", 5, "12:00", Some(false)),
            ("Mon-Sun 16:00-21:00", 6, "20:30", Some(true)),
            ("Mon-Sun 16:00-21:00", 6, "21:30", Some(false)),
            // Past midnight: Friday 22:00 to Saturday 06:00.
            ("Fri 22:00-06:00", 4, "23:00", Some(true)),
            ("Fri 22:00-06:00", 5, "05:59", Some(true)),
            ("Fri 22:00-06:00", 5, "06:00", Some(false)),
            ("Fri 22:00-06:00", 4, "05:00", Some(false)),
            // Sunday night runs into Monday morning.
            ("Sun 20:00-02:00", 0, "01:00", Some(true)),
            ("Mon-Fri 09:00-12:00, 13:00-17:00", 2, "12:30", Some(false)),
            ("Mon-Fri 09:00-12:00, 13:00-17:00", 2, "13:30", Some(true)),
            ("Mon 18:00-24:00", 0, "23:59", Some(true)),
            ("Mon 18:00-24:00", 1, "00:00", Some(false)),
        ];
        for (text, day, time, expected) in cases {
            let hours = Hours::parse(text).unwrap();
            assert_eq!(
                hours.is_open_local(*day, minutes(time)),
                *expected,
                "{text:?} on day {day} at {time}"
            );
        }
    }

    #[test]
    fn knows_when_a_line_is_open_at_an_instant() {
        // 2026-12-03 is a Thursday. (hours, zone, UTC instant, open?)
        let cases: &[(&str, &str, &str, bool)] = &[
            // 11:30 UTC is 20:30 in Tokyo (UTC+9, no summer time).
            (
                "Mon-Sun 16:00-21:00",
                "Asia/Tokyo",
                "2026-12-03T11:30:00Z",
                true,
            ),
            (
                "Mon-Sun 16:00-21:00",
                "Asia/Tokyo",
                "2026-12-03T12:30:00Z",
                false,
            ),
            // 17:30 UTC on Thursday is 18:30 in Berlin in winter (UTC+1).
            (
                "Mon-Fri 09:00-18:00",
                "Europe/Berlin",
                "2026-12-03T16:30:00Z",
                true,
            ),
            (
                "Mon-Fri 09:00-18:00",
                "Europe/Berlin",
                "2026-12-03T17:30:00Z",
                false,
            ),
            // In July Berlin is UTC+2: 16:30 UTC is 18:30.
            (
                "Mon-Fri 09:00-18:00",
                "Europe/Berlin",
                "2026-07-02T16:30:00Z",
                false,
            ),
            // Friday 03:00 UTC is Thursday 22:00 in New York (UTC-5 in December).
            (
                "Thu 20:00-02:00",
                "America/New_York",
                "2026-12-04T03:00:00Z",
                true,
            ),
            (
                "Thu 20:00-02:00",
                "America/New_York",
                "2026-12-04T08:00:00Z",
                false,
            ),
        ];
        for (text, zone, instant, expected) in cases {
            let hours = Hours::parse(text).unwrap();
            let zone = TimeZone::parse(zone).unwrap();
            let unix_ms = instant.parse::<jiff::Timestamp>().unwrap().as_millisecond();
            assert_eq!(
                hours.is_open_at(&zone, unix_ms),
                Some(*expected),
                "{text:?} in {} at {instant}",
                zone.name()
            );
        }
    }

    #[test]
    fn a_schedule_needs_a_real_time_zone() {
        assert_eq!(
            validate("Mon-Fri 09:00-17:00", ""),
            Err(HoursError::MissingTimeZone)
        );
        assert_eq!(
            validate("Mon-Fri 09:00-17:00", "CET"),
            Err(HoursError::UnknownTimeZone("CET".into()))
        );
        assert_eq!(
            validate("Mon-Fri 09:00-17:00", "Europe/Atlantis"),
            Err(HoursError::UnknownTimeZone("Europe/Atlantis".into()))
        );
        assert!(validate("Mon-Fri 09:00-17:00", "Europe/London").is_ok());
        assert_eq!(validate("24/7", ""), Ok(Hours::Always));
        assert_eq!(
            validate("24/7", "Mars/Olympus"),
            Err(HoursError::UnknownTimeZone("Mars/Olympus".into()))
        );
        assert_eq!(validate("", ""), Ok(Hours::Unknown));
    }
}
