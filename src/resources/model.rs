//! A resource record, as in `config/resources/README.md`, and its validation.

use crate::domain::CountryCode;
use serde::{Deserialize, Serialize};

/// How long a verification stays good. Older records are flagged and never offered as crisis lines.
pub const VERIFICATION_VALID_DAYS: i64 = 730;

const TOPICS: &[&str] = &[
    "crisis",
    "suicide",
    "emergency",
    "mental_health",
    "anxiety",
    "depression",
    "substance_use",
    "grief",
    "financial_help",
    "therapy_grants",
    "music_industry",
    "lgbtq",
    "youth",
    "domestic_violence",
    "directory",
];
const AUDIENCES: &[&str] = &[
    "everyone",
    "artists",
    "crew",
    "venue_staff",
    "families",
    "youth",
    "lgbtq",
    "women",
    "men",
];
/// Audiences that make a record one group's, not everyone's (see `Resource::is_for_a_group`).
const GROUP_AUDIENCES: &[&str] = &["youth", "lgbtq", "women", "men"];
const CHANNELS: &[&str] = &["phone", "text", "chat", "email", "web"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Unverified,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub local_name: String,
    pub organisation: String,
    pub countries: Vec<String>,
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    pub audience: Vec<String>,
    pub priority: i64,
    pub pairing_group: String,
    pub source_url: String,
    pub verified_at: String,
    pub verification: String,
    /// Who last confirmed the record against `source_url` (a coordinator's name or initials).
    #[serde(default)]
    pub verified_by: String,
    pub status: Status,
    pub notes: String,
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub channel: String,
    pub value: String,
    pub languages: Vec<String>,
    pub hours: String,
    pub timezone: String,
    pub free: bool,
    pub anonymous: bool,
}

impl Contact {
    /// Whether a person can call, text or chat on it (these need hours).
    pub fn is_live_channel(&self) -> bool {
        matches!(self.channel.as_str(), "phone" | "text" | "chat")
    }

    pub fn is_24_7(&self) -> bool {
        self.hours.trim() == "24/7"
    }

    /// The hours as a writer should read them: `24/7`, or the schedule with its time zone.
    pub fn hours_label(&self) -> String {
        let hours = self.hours.trim();
        if hours.is_empty() || hours == "24/7" || self.timezone.trim().is_empty() {
            hours.to_string()
        } else {
            format!("{hours} ({})", self.timezone.trim())
        }
    }
}

/// A record that breaks the schema, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: resource {record:?}, field `{field}`: {message}")]
pub struct ResourceError {
    pub file: String,
    pub record: String,
    pub field: String,
    pub message: String,
}

impl Resource {
    pub fn is_crisis_line(&self) -> bool {
        self.topics.iter().any(|t| t == "crisis" || t == "suicide")
    }

    /// For one group of people only (young people, LGBTQ+ people, women, men), not for
    /// everyone: such a line is never offered as a country's crisis line, because nothing
    /// tells us the writer belongs to the group; navigators can still pick it. The music
    /// audiences (artists, crew, venue staff, families) are the people who write to us.
    pub fn is_for_a_group(&self) -> bool {
        !self.audience.is_empty()
            && !self.audience.iter().any(|a| a == "everyone")
            && self
                .audience
                .iter()
                .any(|a| GROUP_AUDIENCES.contains(&a.as_str()))
    }

    pub fn is_emergency(&self) -> bool {
        self.topics.iter().any(|t| t == "emergency")
    }

    pub fn is_international(&self) -> bool {
        self.countries.iter().any(|c| c == "*")
    }

    pub fn serves_country(&self, country: CountryCode) -> bool {
        self.countries.iter().any(|c| c == country.as_str())
    }

    /// Days since the Unix epoch of `verified_at`, when it is a date.
    pub fn verified_day(&self) -> Option<i64> {
        parse_date(&self.verified_at)
    }

    /// Active, and verified within the last 24 months.
    pub fn is_fresh(&self, today: i64) -> bool {
        self.status == Status::Active
            && self
                .verified_day()
                .is_some_and(|day| today - day <= VERIFICATION_VALID_DAYS)
    }

    /// Whether a coordinator must look at it: active but not verified within 24 months.
    pub fn is_stale(&self, today: i64) -> bool {
        self.status == Status::Active && !self.is_fresh(today)
    }

    /// Checks the record against the schema; `file` names where it came from.
    pub fn validate(&self, file: &str) -> Result<(), ResourceError> {
        let fail = |field: &str, message: String| ResourceError {
            file: file.to_string(),
            record: self.id.clone(),
            field: field.to_string(),
            message,
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail("id", "must be lowercase letters, digits and -".into()));
        }
        if self.name.trim().is_empty() {
            return Err(fail("name", "must not be empty".into()));
        }
        if self.countries.is_empty() {
            return Err(fail(
                "countries",
                "must name at least one country, or \"*\"".into(),
            ));
        }
        for country in &self.countries {
            if country != "*"
                && (CountryCode::parse(country).is_err() || country.to_uppercase() != *country)
            {
                return Err(fail(
                    "countries",
                    format!("{country:?} is not an upper-case ISO 3166-1 alpha-2 code"),
                ));
            }
        }
        for region in &self.regions {
            let prefix = region.split('-').next().unwrap_or_default();
            if !self.countries.iter().any(|c| c == prefix) {
                return Err(fail(
                    "regions",
                    format!("{region:?} is not in one of the record's countries"),
                ));
            }
        }
        for topic in &self.topics {
            if !TOPICS.contains(&topic.as_str()) {
                return Err(fail("topics", format!("unknown topic {topic:?}")));
            }
        }
        for audience in &self.audience {
            if !AUDIENCES.contains(&audience.as_str()) {
                return Err(fail("audience", format!("unknown audience {audience:?}")));
            }
        }
        match self.status {
            Status::Active => {
                if self.verified_day().is_none() {
                    return Err(fail(
                        "verified_at",
                        "an active record needs a YYYY-MM-DD date".into(),
                    ));
                }
                if self.source_url.trim().is_empty() {
                    return Err(fail(
                        "source_url",
                        "an active record needs the operator's page".into(),
                    ));
                }
                if self.verified_by.trim().is_empty() {
                    return Err(fail(
                        "verified_by",
                        "an active record needs who verified it".into(),
                    ));
                }
                if self.contacts.is_empty() {
                    return Err(fail(
                        "contacts",
                        "an active record needs at least one contact".into(),
                    ));
                }
            }
            Status::Unverified | Status::Inactive => {
                if !self.verified_at.is_empty() && self.verified_day().is_none() {
                    return Err(fail("verified_at", "must be YYYY-MM-DD or empty".into()));
                }
            }
        }
        for (index, contact) in self.contacts.iter().enumerate() {
            let field = |name: &str| format!("contacts[{index}].{name}");
            if !CHANNELS.contains(&contact.channel.as_str()) {
                return Err(fail(
                    &field("channel"),
                    format!("unknown channel {:?}", contact.channel),
                ));
            }
            if contact.value.trim().is_empty() {
                return Err(fail(&field("value"), "must not be empty".into()));
            }
            if contact.value.contains(['\r', '\n']) {
                return Err(fail(&field("value"), "must be one line".into()));
            }
            if let Err(error) = super::hours::validate(&contact.hours, &contact.timezone) {
                let name = if matches!(
                    error,
                    super::hours::HoursError::MissingTimeZone
                        | super::hours::HoursError::UnknownTimeZone(_)
                ) {
                    "timezone"
                } else {
                    "hours"
                };
                return Err(fail(&field(name), error.to_string()));
            }
            if contact.channel == "web" && !contact.hours.is_empty() {
                return Err(fail(
                    &field("hours"),
                    "a web contact has no hours: leave it \"\"".into(),
                ));
            }
            if self.status == Status::Active
                && contact.hours.is_empty()
                && matches!(contact.channel.as_str(), "phone" | "text" | "chat")
            {
                return Err(fail(
                    &field("hours"),
                    "an active phone, text or chat contact needs its hours".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1900..=9999).contains(&year) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Today, as days since the epoch, from Unix milliseconds.
pub fn day_of(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(
            parse_date("2026-11-25").unwrap() - parse_date("2024-11-25").unwrap(),
            730
        );
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date(""), None);
    }
}
