//! `concierge resources check`: which records lack a source, a verification date, a verifier
//! or hours, which are stale by the 24-month rule, and whether any record that can reach a
//! person in crisis is incomplete. Pure over the records read from the files.

use super::hours::Hours;
use super::model::{Resource, ResourceError, Status, VERIFICATION_VALID_DAYS};
use std::collections::BTreeSet;

/// How close to the 24-month limit a record is listed as due for re-verification.
pub const DUE_SOON_DAYS: i64 = 60;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Listed for the coordinators; the directory is still usable.
    Warning,
    /// An active crisis line or emergency record that must not be offered as it is, or a
    /// record that breaks the schema: the check fails.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub file: String,
    pub record: String,
    pub field: String,
    pub message: String,
}

/// Figures for `config/resources/README.md`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub n_records: usize,
    pub n_active: usize,
    /// Countries with at least one record (not counting international ones).
    pub n_countries: usize,
    /// Countries with an active crisis line that passes the check.
    pub n_countries_with_crisis_line: usize,
    /// Of those, countries whose crisis line was checked on its page (not a `seed:` record).
    pub n_countries_with_checked_crisis_line: usize,
    /// Active crisis lines that pass the check.
    pub n_crisis_lines: usize,
    /// Active crisis lines with at least one 24/7 phone, text or chat contact.
    pub n_crisis_lines_24_7: usize,
    /// Active crisis lines whose every live contact has a weekly schedule.
    pub n_crisis_lines_scheduled: usize,
    /// Active, complete crisis lines for one group only (a youth line): never offered as a
    /// country's crisis line, so not counted in the figures above.
    pub n_group_lines: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub counts: Counts,
}

impl Report {
    pub fn n_errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn passed(&self) -> bool {
        self.n_errors() == 0
    }

    /// One line per finding, errors first, then the figures.
    pub fn render(&self) -> String {
        let mut findings = self.findings.clone();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.file.cmp(&b.file))
                .then(a.record.cmp(&b.record))
        });
        let mut out = String::new();
        for finding in &findings {
            let label = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "{label}: {}: resource {:?}, field `{}`: {}\n",
                finding.file, finding.record, finding.field, finding.message
            ));
        }
        let counts = &self.counts;
        out.push_str(&format!(
            "{} records ({} active) for {} countries; {} countries with a complete active crisis line ({} of them checked on the operator's page, the rest seed records from memory); {} active crisis lines, {} with a 24/7 contact, {} with scheduled hours only; {} more for one group only (youth), not counted as a country's crisis line\n",
            counts.n_records,
            counts.n_active,
            counts.n_countries,
            counts.n_countries_with_crisis_line,
            counts.n_countries_with_checked_crisis_line,
            counts.n_crisis_lines,
            counts.n_crisis_lines_24_7,
            counts.n_crisis_lines_scheduled,
            counts.n_group_lines,
        ));
        let n_warnings = self.findings.len() - self.n_errors();
        out.push_str(&format!(
            "{} errors, {n_warnings} warnings: {}\n",
            self.n_errors(),
            if self.passed() { "passed" } else { "FAILED" }
        ));
        out
    }
}

/// Checks records read from `file` (see `files::read_path_for_check`), as of `today` (days
/// since the epoch). `schema_errors` are records that did not even validate.
pub fn check(
    records: &[(String, Resource)],
    schema_errors: &[ResourceError],
    today: i64,
) -> Report {
    let mut report = Report::default();
    for error in schema_errors {
        report.findings.push(Finding {
            severity: Severity::Error,
            file: error.file.clone(),
            record: error.record.clone(),
            field: error.field.clone(),
            message: error.message.clone(),
        });
    }
    let mut countries = BTreeSet::new();
    let mut countries_with_line = BTreeSet::new();
    let mut countries_with_checked_line = BTreeSet::new();
    for (file, record) in records {
        report.counts.n_records += 1;
        if record.status == Status::Active {
            report.counts.n_active += 1;
        }
        countries.extend(record.countries.iter().filter(|c| *c != "*").cloned());
        let findings = check_record(file, record, today);
        let complete = !findings.iter().any(|f| f.severity == Severity::Error);
        if record.status == Status::Active && record.is_crisis_line() && complete {
            if record.is_for_a_group() {
                report.counts.n_group_lines += 1;
                report.findings.extend(findings);
                continue;
            }
            report.counts.n_crisis_lines += 1;
            let live: Vec<_> = record
                .contacts
                .iter()
                .filter(|c| c.is_live_channel())
                .collect();
            if live.iter().any(|c| c.is_24_7()) {
                report.counts.n_crisis_lines_24_7 += 1;
            } else if !live.is_empty() {
                report.counts.n_crisis_lines_scheduled += 1;
            }
            countries_with_line.extend(record.countries.iter().cloned());
            if !is_seed(record) {
                countries_with_checked_line.extend(record.countries.iter().cloned());
            }
        }
        report.findings.extend(findings);
    }
    report.counts.n_countries = countries.len();
    report.counts.n_countries_with_crisis_line = countries_with_line.len();
    report.counts.n_countries_with_checked_crisis_line = countries_with_checked_line.len();
    report
}

/// A record from the seed, written from memory: its verification text starts with `seed:`.
pub fn is_seed(record: &Resource) -> bool {
    record.verification.trim_start().starts_with("seed:")
}

/// Days a record is past its re-verification date (`verified_at` + 24 months - `DUE_SOON_DAYS`);
/// negative when it is not due yet, `None` when it was never verified (due before anything else).
pub fn days_overdue(record: &Resource, today: i64) -> Option<i64> {
    record
        .verified_day()
        .map(|day| today - (day + VERIFICATION_VALID_DAYS - DUE_SOON_DAYS))
}

fn check_record(file: &str, record: &Resource, today: i64) -> Vec<Finding> {
    // Active crisis lines and emergency records reach people in crisis: gaps there fail.
    let critical =
        record.status == Status::Active && (record.is_crisis_line() || record.is_emergency());
    let severity = if critical {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut findings = Vec::new();
    let mut add = |severity: Severity, field: &str, message: String| {
        findings.push(Finding {
            severity,
            file: file.to_string(),
            record: record.id.clone(),
            field: field.to_string(),
            message,
        });
    };
    let why = match record.status {
        Status::Active => "",
        Status::Unverified => " (unverified: never offered)",
        Status::Inactive => " (inactive: never offered)",
    };
    if record.status == Status::Inactive {
        return findings;
    }
    if record.source_url.trim().is_empty() {
        add(severity, "source_url", format!("no operator's page{why}"));
    }
    match record.verified_day() {
        None => add(severity, "verified_at", format!("never verified{why}")),
        Some(day) if today - day > VERIFICATION_VALID_DAYS => add(
            severity,
            "verified_at",
            format!(
                "verified {} more than 24 months ago: stale, never offered{why}",
                record.verified_at
            ),
        ),
        Some(day) if today - day > VERIFICATION_VALID_DAYS - DUE_SOON_DAYS => add(
            Severity::Warning,
            "verified_at",
            format!(
                "verified {}: due for re-verification within {} days",
                record.verified_at,
                VERIFICATION_VALID_DAYS - (today - day)
            ),
        ),
        Some(day) if day > today => add(
            severity,
            "verified_at",
            format!("{} is in the future", record.verified_at),
        ),
        Some(_) => {}
    }
    if record.verified_by.trim().is_empty() {
        add(severity, "verified_by", format!("nobody is named{why}"));
    }
    if record.status == Status::Active && is_seed(record) {
        add(
            Severity::Warning,
            "verification",
            "a seed record written from memory: not yet checked on source_url".into(),
        );
    }
    for (index, contact) in record.contacts.iter().enumerate() {
        if !contact.is_live_channel() {
            continue;
        }
        let field = format!("contacts[{index}].hours");
        match Hours::parse(&contact.hours) {
            Ok(Hours::Unknown) => add(
                severity,
                &field,
                format!("{} {:?} has no hours{why}", contact.channel, contact.value),
            ),
            Ok(Hours::Weekly(_)) if contact.timezone.trim().is_empty() => add(
                severity,
                &format!("contacts[{index}].timezone"),
                "a schedule needs its time zone".into(),
            ),
            Ok(_) => {}
            Err(error) => add(Severity::Error, &field, error.to_string()),
        }
    }
    if critical && !record.contacts.iter().any(|c| c.is_live_channel()) {
        add(
            Severity::Error,
            "contacts",
            "a crisis line needs a phone, text or chat contact".into(),
        );
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::model::{parse_date, Contact};

    fn record(id: &str, topics: &[&str], status: Status, verified_at: &str) -> Resource {
        Resource {
            id: id.into(),
            name: id.into(),
            local_name: id.into(),
            organisation: "org".into(),
            countries: vec!["JP".into()],
            regions: vec![],
            languages: vec!["ja".into()],
            topics: topics.iter().map(|t| t.to_string()).collect(),
            audience: vec!["everyone".into()],
            priority: 90,
            pairing_group: "jp-crisis".into(),
            source_url: "https://example.org/help".into(),
            verified_at: verified_at.into(),
            verification: "read the page".into(),
            verified_by: "AB".into(),
            status,
            notes: String::new(),
            contacts: vec![Contact {
                channel: "phone".into(),
                value: "0120".into(),
                languages: vec!["ja".into()],
                hours: "Mon-Sun 16:00-21:00".into(),
                timezone: "Asia/Tokyo".into(),
                free: true,
                anonymous: false,
            }],
        }
    }

    fn fields(report: &Report, severity: Severity) -> Vec<(String, String)> {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| (f.record.clone(), f.field.clone()))
            .collect()
    }

    #[test]
    fn an_incomplete_active_crisis_line_fails_and_names_the_field() {
        let today = parse_date("2026-12-03").unwrap();
        let good = record("jp-good", &["crisis"], Status::Active, "2026-12-03");
        let mut no_verifier = record("jp-nobody", &["crisis"], Status::Active, "2026-12-03");
        no_verifier.verified_by.clear();
        let stale = record("jp-stale", &["suicide"], Status::Active, "2024-11-01");
        let mut no_hours = record("jp-no-hours", &["crisis"], Status::Active, "2026-12-03");
        no_hours.contacts[0].hours.clear();
        let mut unverified = record("jp-maybe", &["crisis"], Status::Unverified, "");
        unverified.source_url.clear();
        let due = record("jp-due", &["mental_health"], Status::Active, "2025-01-15");
        let records: Vec<(String, Resource)> =
            [good, no_verifier, stale, no_hours, unverified, due]
                .into_iter()
                .map(|r| ("jp.toml".to_string(), r))
                .collect();
        let report = check(&records, &[], today);
        assert!(!report.passed());
        assert_eq!(
            fields(&report, Severity::Error),
            [
                ("jp-nobody".to_string(), "verified_by".to_string()),
                ("jp-stale".to_string(), "verified_at".to_string()),
                ("jp-no-hours".to_string(), "contacts[0].hours".to_string()),
            ]
        );
        assert_eq!(
            fields(&report, Severity::Warning),
            [
                ("jp-maybe".to_string(), "source_url".to_string()),
                ("jp-maybe".to_string(), "verified_at".to_string()),
                ("jp-due".to_string(), "verified_at".to_string()),
            ]
        );
        assert_eq!(report.counts.n_crisis_lines, 1);
        assert_eq!(report.counts.n_crisis_lines_scheduled, 1);
        assert_eq!(report.counts.n_countries_with_crisis_line, 1);
        assert!(report.render().contains("FAILED"));
    }

    #[test]
    fn a_complete_directory_passes() {
        let today = parse_date("2026-12-03").unwrap();
        let mut line = record("jp-line", &["crisis"], Status::Active, "2026-12-03");
        line.contacts[0].hours = "24/7".into();
        line.contacts[0].timezone.clear();
        let emergency = record("jp-emergency", &["emergency"], Status::Active, "2026-12-03");
        let records = vec![
            ("jp.toml".to_string(), line),
            ("jp.toml".to_string(), emergency),
        ];
        let report = check(&records, &[], today);
        assert!(report.passed(), "{}", report.render());
        assert_eq!(report.counts.n_crisis_lines_24_7, 1);
        assert_eq!(report.counts.n_countries_with_checked_crisis_line, 1);
    }

    #[test]
    fn a_youth_line_is_checked_but_does_not_count_as_the_countrys_crisis_line() {
        let today = parse_date("2026-12-03").unwrap();
        let mut youth = record(
            "se-youth",
            &["crisis", "youth"],
            Status::Active,
            "2026-12-03",
        );
        youth.countries = vec!["SE".into()];
        youth.audience = vec!["youth".into()];
        let mut incomplete = youth.clone();
        incomplete.id = "se-youth-no-source".into();
        incomplete.source_url.clear();
        let records = vec![
            ("se.toml".to_string(), youth),
            ("se.toml".to_string(), incomplete),
        ];
        let report = check(&records, &[], today);
        // Still checked like every line that may be offered (a navigator can pick it).
        assert_eq!(
            fields(&report, Severity::Error),
            [("se-youth-no-source".to_string(), "source_url".to_string())]
        );
        assert_eq!(report.counts.n_group_lines, 1);
        assert_eq!(report.counts.n_crisis_lines, 0);
        assert_eq!(report.counts.n_countries_with_crisis_line, 0);
        assert!(report.render().contains("1 more for one group only"));
    }

    #[test]
    fn overdue_counts_from_the_re_verification_date() {
        let today = parse_date("2026-12-03").unwrap();
        let fresh = record("a", &["crisis"], Status::Active, "2026-12-03");
        let old = record("b", &["crisis"], Status::Active, "2024-12-03");
        let never = record("c", &["crisis"], Status::Unverified, "");
        assert_eq!(days_overdue(&fresh, today), Some(-(730 - 60)));
        assert_eq!(days_overdue(&old, today), Some(60));
        assert_eq!(days_overdue(&never, today), None);
    }
}
