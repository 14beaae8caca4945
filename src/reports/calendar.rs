//! Business hours: how much of a span of wall-clock time fell inside a team's working hours,
//! in the team's time zone (so DST changes move the hours with the clock on the wall), minus
//! holidays. Pure: no clock, no IO; the time-zone rules are compiled in (jiff's bundled tzdb).

use crate::config::BusinessHoursSettings;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::BTreeSet;

/// A team's weekly hours.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: TimeZone,
    days: [bool; 7],
    open: Time,
    close: Time,
    holidays: BTreeSet<Date>,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(weekday: Weekday) -> usize {
    usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0)
}

fn parse_time(text: &str) -> Option<Time> {
    let (hour, minute) = text.split_once(':')?;
    if hour.len() != 2 || minute.len() != 2 {
        return None;
    }
    let hour: i8 = hour.parse().ok()?;
    let minute: i8 = minute.parse().ok()?;
    Time::new(hour, minute, 0, 0).ok()
}

impl Calendar {
    /// The calendar of a `[reports.business_hours]` table; `Ok(None)` when none is configured
    /// (`timezone = ""`). An error names the field and says what is wrong.
    pub fn from_settings(
        settings: &BusinessHoursSettings,
    ) -> Result<Option<Calendar>, (&'static str, String)> {
        if settings.timezone.trim().is_empty() {
            return Ok(None);
        }
        let zone = TimeZone::get(settings.timezone.trim()).map_err(|_| {
            (
                "timezone",
                format!("`{}` is not an IANA time zone", settings.timezone),
            )
        })?;
        let mut days = [false; 7];
        for day in &settings.days {
            let index = DAY_NAMES
                .iter()
                .position(|name| *name == day.trim().to_lowercase())
                .ok_or(("days", format!("`{day}` is not one of mon ... sun")))?;
            days[index] = true;
        }
        if !days.contains(&true) {
            return Err(("days", "needs at least one day".into()));
        }
        let open =
            parse_time(&settings.open).ok_or(("open", "must be HH:MM, e.g. 09:00".to_string()))?;
        let close = parse_time(&settings.close)
            .ok_or(("close", "must be HH:MM, e.g. 17:00".to_string()))?;
        let mut holidays = BTreeSet::new();
        for holiday in &settings.holidays {
            let date: Date = holiday
                .trim()
                .parse()
                .map_err(|_| ("holidays", format!("`{holiday}` is not a YYYY-MM-DD date")))?;
            holidays.insert(date);
        }
        Ok(Some(Calendar {
            zone,
            days,
            open,
            close,
            holidays,
        }))
    }

    /// The business milliseconds between two instants (0 when `end <= start`).
    pub fn business_ms(&self, start_ms: i64, end_ms: i64) -> i64 {
        if end_ms <= start_ms {
            return 0;
        }
        let (Ok(start), Ok(_)) = (
            Timestamp::from_millisecond(start_ms),
            Timestamp::from_millisecond(end_ms),
        ) else {
            return 0;
        };
        // A shift that opens on the day before the start may still run (night shifts).
        let Ok(mut day) = start.to_zoned(self.zone.clone()).date().yesterday() else {
            return 0;
        };
        let mut total = 0;
        loop {
            let Some((open_ms, close_ms)) = self.shift(day) else {
                match day.tomorrow() {
                    Ok(next) => {
                        day = next;
                        continue;
                    }
                    Err(_) => break,
                }
            };
            if open_ms >= end_ms {
                // Shifts open in order, so nothing later can overlap either; but a day off
                // has no shift, so look at the opening time of the day itself.
                break;
            }
            total += (close_ms.min(end_ms) - open_ms.max(start_ms)).max(0);
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        total
    }

    /// The shift that opens on `day`, as Unix milliseconds; `None` on a day off or a holiday.
    /// A shift that would start after `end` is still returned, so that callers can stop.
    fn shift(&self, day: Date) -> Option<(i64, i64)> {
        if !self.days[day_index(day.weekday())] || self.holidays.contains(&day) {
            return None;
        }
        let open = day
            .to_datetime(self.open)
            .to_zoned(self.zone.clone())
            .ok()?;
        let close_day = if self.close <= self.open {
            day.tomorrow().ok()?
        } else {
            day
        };
        let close = close_day
            .to_datetime(self.close)
            .to_zoned(self.zone.clone())
            .ok()?;
        Some((
            open.timestamp().as_millisecond(),
            close.timestamp().as_millisecond(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(zone: &str, days: &[&str], open: &str, close: &str, holidays: &[&str]) -> Calendar {
        Calendar::from_settings(&BusinessHoursSettings {
            timezone: zone.into(),
            days: days.iter().map(|d| d.to_string()).collect(),
            open: open.into(),
            close: close.into(),
            holidays: holidays.iter().map(|d| d.to_string()).collect(),
        })
        .unwrap()
        .unwrap()
    }

    /// Unix milliseconds of a wall-clock time in a zone.
    fn at(zone: &str, text: &str) -> i64 {
        let datetime: jiff::civil::DateTime = text.parse().unwrap();
        datetime
            .to_zoned(TimeZone::get(zone).unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    const H: i64 = 3_600_000;
    const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];

    #[test]
    fn business_time_by_hand() {
        let berlin = calendar("Europe/Berlin", WEEKDAYS, "09:00", "17:00", &["2026-12-25"]);
        let z = "Europe/Berlin";
        let cases = [
            // Inside one working day.
            ("2026-12-01T10:00", "2026-12-01T11:30", 3 * H / 2),
            // Written at night, answered next morning: only the morning counts.
            ("2026-12-01T22:00", "2026-12-02T10:00", H),
            // Friday evening to Monday 10:00: the weekend does not count.
            ("2026-12-04T16:00", "2026-12-07T10:00", 2 * H),
            // Thursday 24 Dec 16:00 to Monday 28 Dec 10:00 over the Christmas holiday.
            ("2026-12-24T16:00", "2026-12-28T10:00", 2 * H),
            // Entirely on a Saturday.
            ("2026-12-05T09:00", "2026-12-05T17:00", 0),
            // A whole working week, Monday 00:00 to the next Monday 00:00.
            ("2026-11-30T00:00", "2026-12-07T00:00", 40 * H),
            // The end before the start.
            ("2026-12-01T12:00", "2026-12-01T11:00", 0),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                berlin.business_ms(at(z, start), at(z, end)),
                expected,
                "{start} -> {end}"
            );
        }
    }

    #[test]
    fn hours_follow_the_wall_clock_across_dst() {
        // Europe/Berlin leaves summer time on Sunday 25 October 2026 at 03:00 -> 02:00.
        // A span from Saturday 09:00 to Monday 11:00 local is 50 hours on the wall clock but 51
        // real hours; with every day open 09:00-17:00 the business time is 8 + 8 + 2 hours.
        let every_day = calendar(
            "Europe/Berlin",
            &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "09:00",
            "17:00",
            &[],
        );
        let z = "Europe/Berlin";
        let start = at(z, "2026-10-24T09:00");
        let end = at(z, "2026-10-26T11:00");
        assert_eq!(end - start, 51 * H);
        assert_eq!(every_day.business_ms(start, end), 18 * H);
        // In UTC terms the Monday opening moved an hour later: 08:00 UTC instead of 07:00.
        assert_eq!(
            every_day.business_ms(at("UTC", "2026-10-26T07:00"), at("UTC", "2026-10-26T08:00")),
            0
        );
    }

    #[test]
    fn night_shifts_run_past_midnight() {
        let nights = calendar("UTC", WEEKDAYS, "22:00", "06:00", &[]);
        // Monday 23:00 to Tuesday 05:00: all inside Monday's night shift.
        assert_eq!(
            nights.business_ms(at("UTC", "2026-11-30T23:00"), at("UTC", "2026-12-01T05:00")),
            6 * H
        );
        // Saturday 02:00 to 04:00 is inside Friday's shift, which runs until Saturday 06:00.
        assert_eq!(
            nights.business_ms(at("UTC", "2026-12-05T02:00"), at("UTC", "2026-12-05T04:00")),
            2 * H
        );
        // Saturday 23:00 to Sunday 05:00: no shift opens on Saturday.
        assert_eq!(
            nights.business_ms(at("UTC", "2026-12-05T23:00"), at("UTC", "2026-12-06T05:00")),
            0
        );
    }

    #[test]
    fn mistakes_name_the_field() {
        let mut settings = BusinessHoursSettings {
            timezone: "Mars/Olympus".into(),
            days: vec!["mon".into()],
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        };
        assert_eq!(
            Calendar::from_settings(&settings).unwrap_err().0,
            "timezone"
        );
        settings.timezone = "Europe/Berlin".into();
        settings.days = vec!["monday".into()];
        assert_eq!(Calendar::from_settings(&settings).unwrap_err().0, "days");
        settings.days = vec!["mon".into()];
        settings.open = "9".into();
        assert_eq!(Calendar::from_settings(&settings).unwrap_err().0, "open");
        settings.open = "09:00".into();
        settings.holidays = vec!["25.12.2026".into()];
        assert_eq!(
            Calendar::from_settings(&settings).unwrap_err().0,
            "holidays"
        );
        settings.timezone = String::new();
        assert!(Calendar::from_settings(&settings).unwrap().is_none());
    }
}
