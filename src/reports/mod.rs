//! Coordinators' reports: response times (acknowledgement, first human reply, resolution)
//! as percentiles with their counts, answer-target breaches, what waits now, and volume.
//!
//! The store aggregates in SQL ([`crate::store::Store::report_groups`] and friends);
//! this module adds the business-hours clock, labels, and the table, CSV and JSON forms
//! that the command line and the web app both print, so both show the same numbers.
//! Reports carry ids, codes, counts and times only: no content, subjects or addresses.

pub mod calendar;
pub mod charts;
pub mod history;

use crate::clock::human_duration;
use crate::config::Settings;
use crate::domain::Risk;
use crate::store::{
    GroupAggregate, GroupCounts, Metric, Percentiles, ReportFilter, ReportGroup, SlaTargets, Store,
    StoreResult, TimelineRow,
};
use calendar::Calendar;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Below this many threads a percentile means nothing, and reports say so instead.
pub const MIN_THREADS_FOR_PERCENTILE: i64 = 5;

/// What reports need from the configuration.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub sla: SlaTargets,
    /// The default team's business hours, when configured.
    pub calendar: Option<Calendar>,
    pub team_calendars: BTreeMap<String, Calendar>,
}

impl ReportConfig {
    /// The validated settings' report configuration (`Settings::load` has checked the calendars).
    pub fn from_settings(settings: &Settings) -> ReportConfig {
        let sla = &settings.reports.sla;
        ReportConfig {
            sla: SlaTargets {
                crisis_ms: i64::from(sla.crisis_minutes) * 60_000,
                concern_ms: i64::from(sla.concern_minutes) * 60_000,
                none_ms: i64::from(sla.none_minutes) * 60_000,
            },
            calendar: Calendar::from_settings(&settings.reports.business_hours)
                .ok()
                .flatten(),
            team_calendars: settings
                .reports
                .teams
                .iter()
                .filter_map(|(name, hours)| {
                    Some((name.clone(), Calendar::from_settings(hours).ok()??))
                })
                .collect(),
        }
    }

    pub fn has_business_hours(&self) -> bool {
        self.calendar.is_some() || !self.team_calendars.is_empty()
    }

    /// The calendar for a thread answered by someone of `team`.
    fn calendar_of(&self, team: &str) -> Option<&Calendar> {
        self.team_calendars.get(team).or(self.calendar.as_ref())
    }
}

/// Wall-clock time, or the time inside business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    Wall,
    Business,
}

impl Clock {
    pub fn parse(input: &str) -> Option<Clock> {
        match input {
            "wall" => Some(Clock::Wall),
            "business" => Some(Clock::Business),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Wall => "wall",
            Clock::Business => "business",
        }
    }
}

/// One response-time report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub filter: ReportFilter,
    pub group: ReportGroup,
    pub clock: Clock,
}

/// One row: a group's counts and its three response times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub counts: GroupCounts,
    pub acknowledgement: Option<Percentiles>,
    pub first_reply: Option<Percentiles>,
    pub resolution: Option<Percentiles>,
}

impl ReportRow {
    pub fn metric(&self, metric: Metric) -> Option<&Percentiles> {
        match metric {
            Metric::Acknowledgement => self.acknowledgement.as_ref(),
            Metric::FirstReply => self.first_reply.as_ref(),
            Metric::Resolution => self.resolution.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseReport {
    pub from: i64,
    pub to: i64,
    pub group: ReportGroup,
    pub clock: Clock,
    pub sla: SlaTargets,
    pub rows: Vec<ReportRow>,
    /// All threads of the report together.
    pub total: ReportRow,
    /// Threads per band of [`crate::store::HISTOGRAM_BOUNDS_MS`] by wall-clock time to the
    /// first human reply, all groups together.
    pub first_reply_histogram: Vec<i64>,
}

/// Nearest-rank percentiles of some durations (the same definition as the SQL).
pub fn percentiles(mut values: Vec<i64>) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = |p: usize| values[(p * n).div_ceil(100).max(1) - 1];
    Some(Percentiles {
        n: i64::try_from(n).unwrap_or(i64::MAX),
        p50: rank(50),
        p90: rank(90),
        p99: rank(99),
        max: values[n - 1],
    })
}

/// Builds the response-time report: counts and breaches always in wall-clock time (the
/// targets are promises to people, who wait on the wall clock), percentiles on the clock asked.
/// One pass over the range gives the groups; the total is their sum, not a second pass.
pub async fn response_report(
    store: &dyn Store,
    config: &ReportConfig,
    request: &ReportRequest,
    now: i64,
) -> StoreResult<ResponseReport> {
    let labels = Labels::load(store, request.group).await?;
    let groups = store
        .report_groups(&request.filter, request.group, &config.sla, now)
        .await?;
    let business = match request.clock {
        Clock::Wall => None,
        Clock::Business => Some(business_durations(
            config,
            &store
                .report_timelines(&request.filter, request.group)
                .await?,
        )),
    };
    let mut total_counts = GroupCounts {
        key: "all".into(),
        ..GroupCounts::default()
    };
    let mut total_durations: [Vec<i64>; 3] = Default::default();
    let mut rows = Vec::with_capacity(groups.len());
    for group in groups {
        let GroupAggregate { counts, durations } = group;
        add_counts(&mut total_counts, &counts);
        let key = counts.key.clone();
        let mut stats: [Option<Percentiles>; 3] = [None; 3];
        for metric in Metric::ALL {
            let index = metric.index();
            let values = match &business {
                Some(business) => business
                    .get(&(key.clone(), metric))
                    .cloned()
                    .unwrap_or_default(),
                None => durations[index].clone(),
            };
            total_durations[index].extend_from_slice(&values);
            stats[index] = percentiles(values);
        }
        rows.push((
            ReportRow {
                label: labels.label(request.group, &key),
                key,
                counts,
                acknowledgement: stats[0],
                first_reply: stats[1],
                resolution: stats[2],
            },
            durations,
        ));
    }
    // The histogram is on the wall clock whatever the clock asked.
    let first_reply_histogram = {
        let mut all = Vec::new();
        for (_, durations) in &rows {
            all.extend_from_slice(&durations[Metric::FirstReply.index()]);
        }
        crate::store::histogram(&all)
    };
    let [ack, reply, resolution] = total_durations.map(percentiles);
    let total = ReportRow {
        key: "all".into(),
        label: "All".into(),
        counts: total_counts,
        acknowledgement: ack,
        first_reply: reply,
        resolution,
    };
    let mut rows: Vec<ReportRow> = rows.into_iter().map(|(row, _)| row).collect();
    if request.group == ReportGroup::Risk {
        rows.sort_by_key(|row| Risk::parse(&row.key).map_or(0, |risk| -risk.rank()));
    }
    Ok(ResponseReport {
        from: request.filter.from,
        to: request.filter.to,
        group: request.group,
        clock: request.clock,
        sla: config.sla,
        rows,
        total,
        first_reply_histogram,
    })
}

fn add_counts(total: &mut GroupCounts, counts: &GroupCounts) {
    total.threads += counts.threads;
    total.acknowledged += counts.acknowledged;
    total.replied += counts.replied;
    total.resolved += counts.resolved;
    total.waiting += counts.waiting;
    total.breaches += counts.breaches;
    total.replies += counts.replies;
    total.reopens += counts.reopens;
}

/// Durations in business time per group and metric, each thread on the calendar of the
/// team that answered it (the default team's before anyone did).
fn business_durations(
    config: &ReportConfig,
    timelines: &[TimelineRow],
) -> HashMap<(String, Metric), Vec<i64>> {
    let mut values: HashMap<(String, Metric), Vec<i64>> = HashMap::new();
    for row in timelines {
        let Some(calendar) = config.calendar_of(&row.team) else {
            continue;
        };
        for (metric, end) in [
            (Metric::Acknowledgement, row.acknowledged_at),
            (Metric::FirstReply, row.first_human_reply_at),
            (Metric::Resolution, row.closed_at),
        ] {
            if let Some(end) = end {
                values
                    .entry((row.key.clone(), metric))
                    .or_default()
                    .push(calendar.business_ms(row.first_inbound_at, end));
            }
        }
    }
    values
}

/// Human labels of group keys: week starts as dates, navigators by name.
struct Labels {
    navigators: HashMap<String, String>,
}

impl Labels {
    async fn load(store: &dyn Store, group: ReportGroup) -> StoreResult<Labels> {
        let mut navigators = HashMap::new();
        if group == ReportGroup::Navigator {
            for user in store.users().await? {
                navigators.insert(user.id.to_string(), user.display_name);
            }
        }
        Ok(Labels { navigators })
    }

    fn label(&self, group: ReportGroup, key: &str) -> String {
        match group {
            ReportGroup::All => "All".into(),
            ReportGroup::Week => key
                .parse::<i64>()
                .map(|start| format!("week of {}", date_of(start)))
                .unwrap_or_else(|_| key.into()),
            ReportGroup::Navigator if key.is_empty() => "(no reply yet)".into(),
            ReportGroup::Navigator => self
                .navigators
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("user {key}")),
            ReportGroup::Language | ReportGroup::Country if key == "?" => "unknown".into(),
            _ => key.into(),
        }
    }
}

/// `YYYY-MM-DD` of a Unix millisecond instant, in UTC.
pub fn date_of(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

/// The Unix milliseconds of a `YYYY-MM-DD` date's start in UTC.
pub fn parse_date(text: &str) -> Option<i64> {
    let date: jiff::civil::Date = text.trim().parse().ok()?;
    Some(
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

/// The days a report covers, as the UI and the command line take them: `from` and `to` are
/// inclusive UTC dates, by default the last 28 days up to today.
pub fn date_range(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<(i64, i64), &'static str> {
    const DAY: i64 = 86_400_000;
    let today = now.div_euclid(DAY) * DAY;
    let to = match to.filter(|t| !t.trim().is_empty()) {
        Some(text) => parse_date(text).ok_or("`to` must be a date like 2026-12-31")? + DAY,
        None => today + DAY,
    };
    let from = match from.filter(|t| !t.trim().is_empty()) {
        Some(text) => parse_date(text).ok_or("`from` must be a date like 2026-12-01")?,
        None => to - 28 * DAY,
    };
    if from >= to {
        return Err("`from` must be on or before `to`");
    }
    Ok((from, to))
}

/// A percentile as people read it, or why there is none.
pub fn percentile_text(stats: Option<&Percentiles>, pick: fn(&Percentiles) -> i64) -> String {
    match stats {
        None => "—".into(),
        Some(stats) if stats.n < MIN_THREADS_FOR_PERCENTILE => {
            format!("fewer than {MIN_THREADS_FOR_PERCENTILE} threads")
        }
        Some(stats) => human_duration(pick(stats)),
    }
}

/// The columns of the response-time table, shared by CSV and the command line's table.
pub const RESPONSE_COLUMNS: &[&str] = &[
    "group",
    "threads",
    "acknowledged",
    "replied",
    "resolved",
    "waiting",
    "breaches",
    "replies",
    "reopens",
    "ack_n",
    "ack_p50_min",
    "ack_p90_min",
    "ack_p99_min",
    "reply_n",
    "reply_p50_min",
    "reply_p90_min",
    "reply_p99_min",
    "resolution_n",
    "resolution_p50_min",
    "resolution_p90_min",
    "resolution_p99_min",
];

/// A row's cells in [`RESPONSE_COLUMNS`] order; percentiles in whole minutes (as the page
/// shows them), empty when fewer than [`MIN_THREADS_FOR_PERCENTILE`] threads have the metric.
pub fn response_cells(row: &ReportRow) -> Vec<String> {
    let c = &row.counts;
    let mut cells = vec![
        row.label.clone(),
        c.threads.to_string(),
        c.acknowledged.to_string(),
        c.replied.to_string(),
        c.resolved.to_string(),
        c.waiting.to_string(),
        c.breaches.to_string(),
        c.replies.to_string(),
        c.reopens.to_string(),
    ];
    for metric in Metric::ALL {
        let stats = row.metric(metric);
        cells.push(stats.map_or(0, |s| s.n).to_string());
        let picks: [fn(&Percentiles) -> i64; 3] = [|s| s.p50, |s| s.p90, |s| s.p99];
        for pick in picks {
            cells.push(match stats {
                Some(s) if s.n >= MIN_THREADS_FOR_PERCENTILE => (pick(s) / 60_000).to_string(),
                _ => String::new(),
            });
        }
    }
    cells
}

/// One CSV field: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so that a
/// spreadsheet does not run a hostile name as a formula.
pub fn csv_field(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err() {
            format!("'{value}")
        } else {
            value.to_string()
        };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A CSV document: a header line and rows, CRLF line ends (RFC 4180).
pub fn csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|cell| csv_field(cell))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// The response-time report as CSV, the total last.
pub fn response_csv(report: &ResponseReport) -> String {
    csv(
        RESPONSE_COLUMNS,
        report
            .rows
            .iter()
            .chain(std::iter::once(&report.total))
            .map(response_cells),
    )
}

/// The response-time report as an aligned text table, for the command line.
pub fn response_table(report: &ResponseReport) -> String {
    let columns = [
        "group",
        "threads",
        "breaches",
        "waiting",
        "ack p50",
        "reply n",
        "reply p50",
        "reply p90",
        "reply p99",
        "resolved",
        "resol. p50",
    ];
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .chain(std::iter::once(&report.total))
        .map(|row| {
            vec![
                row.label.clone(),
                row.counts.threads.to_string(),
                row.counts.breaches.to_string(),
                row.counts.waiting.to_string(),
                percentile_text(row.acknowledgement.as_ref(), |s| s.p50),
                row.first_reply.map_or(0, |s| s.n).to_string(),
                percentile_text(row.first_reply.as_ref(), |s| s.p50),
                percentile_text(row.first_reply.as_ref(), |s| s.p90),
                percentile_text(row.first_reply.as_ref(), |s| s.p99),
                row.counts.resolved.to_string(),
                percentile_text(row.resolution.as_ref(), |s| s.p50),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = format!(
        "Response times {} to {} ({} clock), by {}; percentiles from the threads that have each time\n",
        date_of(report.from),
        date_of(report.to - 1),
        report.clock.as_str(),
        report.group.as_str()
    );
    out.push_str(&line(columns.iter().map(|c| c.to_string()).collect()));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// New conversations per day and language (or country) as CSV.
pub fn volume_csv(rows: &[crate::store::VolumeRow], by: ReportGroup) -> String {
    csv(
        &["day", by.as_str(), "threads"],
        rows.iter()
            .map(|row| vec![date_of(row.day), row.key.clone(), row.threads.to_string()]),
    )
}

/// The columns of the breach list.
pub const BREACH_COLUMNS: &[&str] = &[
    "thread",
    "token",
    "risk",
    "language",
    "country",
    "first_message",
    "waited_min",
    "target_min",
    "replied",
];

pub fn breach_cells(row: &crate::store::BreachRow) -> Vec<String> {
    vec![
        row.thread_id.to_string(),
        row.token.clone(),
        row.risk.as_str().into(),
        row.language.clone().unwrap_or_else(|| "?".into()),
        row.country.clone().unwrap_or_else(|| "?".into()),
        datetime_of(row.first_inbound_at),
        (row.waited_ms / 60_000).to_string(),
        (row.target_ms / 60_000).to_string(),
        if row.first_human_reply_at.is_some() {
            "yes"
        } else {
            "no"
        }
        .into(),
    ]
}

/// `YYYY-MM-DD HH:MM` UTC.
pub fn datetime_of(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// What waits now, as text for the command line.
pub fn live_text(live: &crate::store::LiveView, now: i64) -> String {
    let mut out = format!("waiting now: {}\n", live.waiting);
    for row in &live.by_risk {
        out.push_str(&format!(
            "  {:<8} {:>5} waiting, the oldest for {}\n",
            row.risk.as_str(),
            row.waiting,
            human_duration(now - row.oldest_waiting_since)
        ));
    }
    out.push_str(&format!(
        "unclaimed crisis threads: {}\n",
        live.unclaimed_crisis.len()
    ));
    for thread in &live.unclaimed_crisis {
        out.push_str(&format!(
            "  #{} [{}] waiting {}\n",
            thread.thread_id,
            thread.token,
            human_duration(now - thread.waiting_since)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = percentiles((1..=10).collect()).unwrap();
        assert_eq!((p.n, p.p50, p.p90, p.p99, p.max), (10, 5, 9, 10, 10));
        let p = percentiles(vec![7]).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (7, 7, 7));
        // 200 values 1..=200: p50 is the 100th, p90 the 180th, p99 the 198th.
        let p = percentiles((1..=200).rev().collect()).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (100, 180, 198));
        assert!(percentiles(Vec::new()).is_none());
    }

    #[test]
    fn small_groups_say_so() {
        let few = Percentiles {
            n: 4,
            p50: 60_000,
            p90: 60_000,
            p99: 60_000,
            max: 60_000,
        };
        assert_eq!(
            percentile_text(Some(&few), |s| s.p50),
            "fewer than 5 threads"
        );
        let enough = Percentiles { n: 5, ..few };
        assert_eq!(percentile_text(Some(&enough), |s| s.p50), "1 min");
        assert_eq!(percentile_text(None, |s| s.p50), "—");
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-5"), "-5");
    }

    #[test]
    fn date_ranges_default_to_the_last_28_days() {
        let now = parse_date("2026-12-03").unwrap() + 5 * 3_600_000;
        let (from, to) = date_range(None, None, now).unwrap();
        assert_eq!(date_of(from), "2026-11-06");
        assert_eq!(date_of(to), "2026-12-04");
        let (from, to) = date_range(Some("2026-11-01"), Some("2026-11-30"), now).unwrap();
        assert_eq!(
            (date_of(from), date_of(to - 1)),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        assert!(date_range(Some("2026-12-02"), Some("2026-12-01"), now).is_err());
        assert!(date_range(Some("yesterday"), None, now).is_err());
    }
}
