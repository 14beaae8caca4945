//! The coordinators' reports page and its CSV exports (coordinators and admins only).
//!
//! The filters live in the URL, so a report can be shared as a link; every reading is
//! written to the access log. Numbers come from [`crate::reports`], the same code as
//! `concierge report`, so the page, the CSV and the command line agree.

use super::auth::{require_role, CurrentUser};
use super::{AppState, UserView, WebError};
use crate::clock::{human_duration, now_ms};
use crate::domain::{Risk, Role};
use crate::reports::{self, charts, Clock, ReportRequest, ResponseReport};
use crate::store::{Metric, ReportFilter, ReportGroup, HISTOGRAM_BOUNDS_MS};
use axum::extract::{Extension, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The report's filters, as the URL carries them.
#[derive(Debug, Default, Deserialize, Serialize, Clone)]
pub struct ReportQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub clock: String,
    #[serde(default)]
    pub risk: String,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub country: String,
    /// For exports: responses, breaches, volume or auto.
    #[serde(default)]
    pub table: String,
}

struct Parsed {
    request: ReportRequest,
    from_text: String,
    to_text: String,
}

fn parse(query: &ReportQuery, state: &AppState, now: i64) -> Result<Parsed, WebError> {
    let (from, to) = reports::date_range(Some(&query.from), Some(&query.to), now)
        .map_err(WebError::BadRequest)?;
    let group = if query.group.is_empty() {
        ReportGroup::Week
    } else {
        ReportGroup::parse(&query.group).ok_or(WebError::BadRequest("unknown grouping"))?
    };
    let clock = match Clock::parse(&query.clock) {
        Some(Clock::Business) if state.reports.has_business_hours() => Clock::Business,
        _ => Clock::Wall,
    };
    let risk = match query.risk.as_str() {
        "" => None,
        text => Some(Risk::parse(text).ok_or(WebError::BadRequest("unknown risk"))?),
    };
    let non_empty = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_string());
    Ok(Parsed {
        request: ReportRequest {
            filter: ReportFilter {
                from,
                to,
                risk,
                language: non_empty(&query.language),
                country: non_empty(&query.country).map(|c| c.to_uppercase()),
                navigator: None,
            },
            group,
            clock,
        },
        from_text: reports::date_of(from),
        to_text: reports::date_of(to - 1),
    })
}

/// What the access log says was read: the report and its filters, never a person.
fn access_target(kind: &str, parsed: &Parsed) -> String {
    let filter = &parsed.request.filter;
    format!(
        "{kind} from={} to={} group={} clock={} risk={} language={} country={}",
        parsed.from_text,
        parsed.to_text,
        parsed.request.group.as_str(),
        parsed.request.clock.as_str(),
        filter.risk.map_or("", Risk::as_str),
        filter.language.as_deref().unwrap_or(""),
        filter.country.as_deref().unwrap_or("")
    )
}

#[derive(Serialize)]
struct Cell {
    text: String,
    n: i64,
}

#[derive(Serialize)]
struct RowView {
    label: String,
    threads: i64,
    acknowledged: i64,
    replied: i64,
    resolved: i64,
    waiting: i64,
    breaches: i64,
    replies: i64,
    reopens: i64,
    ack_p50: Cell,
    reply_p50: Cell,
    reply_p90: Cell,
    reply_p99: Cell,
    resolution_p50: Cell,
    resolution_p90: Cell,
    is_total: bool,
}

fn row_view(row: &reports::ReportRow, is_total: bool) -> RowView {
    let cell = |metric: Metric, pick: fn(&crate::store::Percentiles) -> i64| {
        let stats = row.metric(metric);
        Cell {
            text: reports::percentile_text(stats, pick),
            n: stats.map_or(0, |s| s.n),
        }
    };
    let c = &row.counts;
    RowView {
        label: row.label.clone(),
        threads: c.threads,
        acknowledged: c.acknowledged,
        replied: c.replied,
        resolved: c.resolved,
        waiting: c.waiting,
        breaches: c.breaches,
        replies: c.replies,
        reopens: c.reopens,
        ack_p50: cell(Metric::Acknowledgement, |s| s.p50),
        reply_p50: cell(Metric::FirstReply, |s| s.p50),
        reply_p90: cell(Metric::FirstReply, |s| s.p90),
        reply_p99: cell(Metric::FirstReply, |s| s.p99),
        resolution_p50: cell(Metric::Resolution, |s| s.p50),
        resolution_p90: cell(Metric::Resolution, |s| s.p90),
        is_total,
    }
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct BreachView {
    thread_id: i64,
    token: String,
    risk: &'static str,
    language: String,
    country: String,
    first_message: String,
    waited: String,
    target: String,
    replied: bool,
}

#[derive(Serialize)]
struct LiveRiskView {
    risk: &'static str,
    waiting: i64,
    oldest: String,
}

#[derive(Serialize)]
struct ReportsPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    query: ReportQuery,
    query_string: String,
    from: String,
    to: String,
    groups: Vec<Choice>,
    clocks: Vec<Choice>,
    risks: Vec<Choice>,
    has_business_hours: bool,
    group_label: &'static str,
    clock: &'static str,
    rows: Vec<RowView>,
    total: RowView,
    sla_crisis: String,
    sla_concern: String,
    sla_none: String,
    breaches: Vec<BreachView>,
    n_breaches: i64,
    live_waiting: i64,
    live: Vec<LiveRiskView>,
    unclaimed_crisis: Vec<BreachView>,
    n_unclaimed_crisis: usize,
    chart_distribution: String,
    chart_trend: String,
    chart_daily: String,
    chart_languages: String,
    chart_countries: String,
    auto_messages: i64,
    auto_filtered: i64,
    auto_share: String,
}

const BREACHES_SHOWN: i64 = 50;

fn query_string(query: &ReportQuery, parsed: &Parsed) -> String {
    let mut pairs = vec![
        ("from", parsed.from_text.clone()),
        ("to", parsed.to_text.clone()),
        ("group", parsed.request.group.as_str().to_string()),
        ("clock", parsed.request.clock.as_str().to_string()),
    ];
    for (key, value) in [
        ("risk", &query.risk),
        ("language", &query.language),
        ("country", &query.country),
    ] {
        if !value.is_empty() {
            pairs.push((key, value.clone()));
        }
    }
    pairs
        .into_iter()
        .map(|(key, value)| format!("{key}={}", url_encode(&value)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(super) fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A chart axis value in milliseconds, as people read durations.
fn duration_label(ms: f64) -> String {
    human_duration(ms as i64)
}

pub async fn reports_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(query): Query<ReportQuery>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Coordinator)?;
    let now = now_ms();
    let parsed = parse(&query, &state, now)?;
    state
        .store
        .log_report_access(user.id, &access_target("page", &parsed), now)
        .await?;
    let store = state.store.as_ref();
    let config = state.reports.as_ref();
    let filter = &parsed.request.filter;
    let report = reports::response_report(store, config, &parsed.request, now).await?;
    let breaches = store
        .report_breaches(filter, &config.sla, now, BREACHES_SHOWN)
        .await?;
    let live = store.report_live(now).await?;

    // The distribution of first-reply times.
    let histogram = &report.first_reply_histogram;
    let bucket_labels = [
        "< 15 min",
        "15-60 min",
        "1-4 h",
        "4-8 h",
        "8-24 h",
        "1-3 d",
        "3-7 d",
        "> 7 d",
    ];
    let bars: Vec<(String, f64)> = bucket_labels
        .iter()
        .zip(histogram)
        .map(|(label, n)| (label.to_string(), *n as f64))
        .collect();
    debug_assert_eq!(bucket_labels.len(), HISTOGRAM_BOUNDS_MS.len() + 1);
    let chart_distribution =
        charts::bar_chart("Time to first human reply: threads per band", &bars, &|v| {
            format!("{v:.0}")
        });

    // Trends by week, whatever the table is grouped by.
    let weekly = if parsed.request.group == ReportGroup::Week {
        report.clone()
    } else {
        let request = ReportRequest {
            group: ReportGroup::Week,
            ..parsed.request.clone()
        };
        reports::response_report(store, config, &request, now).await?
    };
    let chart_trend = trend_chart(&weekly);

    // Volume: new conversations per day, and by language and country.
    let by_language = store.report_volume(filter, ReportGroup::Language).await?;
    let by_country = store.report_volume(filter, ReportGroup::Country).await?;
    let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &by_language {
        *per_day.entry(row.day).or_default() += row.threads;
    }
    let daily: Vec<(String, f64)> = per_day
        .iter()
        .map(|(day, n)| (reports::date_of(*day)[5..].to_string(), *n as f64))
        .collect();
    let chart_daily =
        charts::bar_chart("New conversations per day", &daily, &|v| format!("{v:.0}"));
    let chart_languages = charts::bar_chart(
        "New conversations by language",
        &top_totals(&by_language, 12),
        &|v| format!("{v:.0}"),
    );
    let chart_countries = charts::bar_chart(
        "New conversations by country",
        &top_totals(&by_country, 12),
        &|v| format!("{v:.0}"),
    );
    let auto = store.report_auto_share(filter.from, filter.to).await?;
    let auto_messages: i64 = auto.iter().map(|row| row.messages).sum();
    let auto_filtered: i64 = auto.iter().map(|row| row.auto).sum();

    let choice = |value: &'static str, label: &'static str, current: &str| Choice {
        value,
        label,
        selected: value == current,
    };
    let group = parsed.request.group.as_str();
    let page = ReportsPage {
        title: "Reports",
        refresh: false,
        user: Some(UserView::of(&user)),
        query_string: query_string(&query, &parsed),
        query: query.clone(),
        from: parsed.from_text.clone(),
        to: parsed.to_text.clone(),
        groups: vec![
            choice("week", "Week", group),
            choice("language", "Language", group),
            choice("country", "Country", group),
            choice("risk", "Risk", group),
            choice("navigator", "Navigator", group),
            choice("all", "Nothing", group),
        ],
        clocks: vec![
            choice("wall", "Wall clock", parsed.request.clock.as_str()),
            choice("business", "Business hours", parsed.request.clock.as_str()),
        ],
        risks: vec![
            choice("", "Any", &query.risk),
            choice("crisis", "Crisis", &query.risk),
            choice("concern", "Concern", &query.risk),
            choice("none", "None", &query.risk),
        ],
        has_business_hours: config.has_business_hours(),
        group_label: match parsed.request.group {
            ReportGroup::All => "All",
            ReportGroup::Week => "Week",
            ReportGroup::Language => "Language",
            ReportGroup::Country => "Country",
            ReportGroup::Risk => "Risk",
            ReportGroup::Navigator => "Navigator",
        },
        clock: parsed.request.clock.as_str(),
        rows: report.rows.iter().map(|row| row_view(row, false)).collect(),
        total: row_view(&report.total, true),
        sla_crisis: human_duration(config.sla.crisis_ms),
        sla_concern: human_duration(config.sla.concern_ms),
        sla_none: human_duration(config.sla.none_ms),
        n_breaches: report.total.counts.breaches,
        breaches: breaches.iter().map(breach_view).collect(),
        live_waiting: live.waiting,
        live: live
            .by_risk
            .iter()
            .map(|row| LiveRiskView {
                risk: row.risk.as_str(),
                waiting: row.waiting,
                oldest: human_duration(now - row.oldest_waiting_since),
            })
            .collect(),
        unclaimed_crisis: live
            .unclaimed_crisis
            .iter()
            .map(|thread| BreachView {
                thread_id: thread.thread_id,
                token: thread.token.clone(),
                risk: "crisis",
                language: String::new(),
                country: String::new(),
                first_message: String::new(),
                waited: human_duration(now - thread.waiting_since),
                target: human_duration(config.sla.crisis_ms),
                replied: false,
            })
            .collect(),
        n_unclaimed_crisis: live.unclaimed_crisis.len(),
        chart_distribution,
        chart_trend,
        chart_daily,
        chart_languages,
        chart_countries,
        auto_messages,
        auto_filtered,
        auto_share: if auto_messages > 0 {
            format!(
                "{:.1} %",
                100.0 * auto_filtered as f64 / auto_messages as f64
            )
        } else {
            "—".into()
        },
    };
    Ok(Html(state.templates.render("reports", &page)?))
}

fn breach_view(row: &crate::store::BreachRow) -> BreachView {
    BreachView {
        thread_id: row.thread_id,
        token: row.token.clone(),
        risk: row.risk.as_str(),
        language: row.language.clone().unwrap_or_else(|| "?".into()),
        country: row.country.clone().unwrap_or_else(|| "?".into()),
        first_message: reports::datetime_of(row.first_inbound_at),
        waited: human_duration(row.waited_ms),
        target: human_duration(row.target_ms),
        replied: row.first_human_reply_at.is_some(),
    }
}

/// The largest keys by total threads, the rest together as "other".
fn top_totals(rows: &[crate::store::VolumeRow], n: usize) -> Vec<(String, f64)> {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for row in rows {
        *totals.entry(row.key.as_str()).or_default() += row.threads;
    }
    let mut sorted: Vec<(&str, i64)> = totals.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let other: i64 = sorted.iter().skip(n).map(|(_, v)| v).sum();
    let mut bars: Vec<(String, f64)> = sorted
        .into_iter()
        .take(n)
        .map(|(key, v)| {
            let label = if key == "?" { "unknown" } else { key };
            (label.to_string(), v as f64)
        })
        .collect();
    if other > 0 {
        bars.push(("other".into(), other as f64));
    }
    bars
}

fn trend_chart(weekly: &ResponseReport) -> String {
    let labels: Vec<String> = weekly
        .rows
        .iter()
        .map(|row| row.label.trim_start_matches("week of ").to_string())
        .collect();
    let enough = |row: &reports::ReportRow, pick: fn(&crate::store::Percentiles) -> i64| {
        row.first_reply
            .filter(|s| s.n >= reports::MIN_THREADS_FOR_PERCENTILE)
            .map(|s| pick(&s) as f64)
    };
    let p50 = weekly
        .rows
        .iter()
        .map(|row| enough(row, |s| s.p50))
        .collect();
    let p90 = weekly
        .rows
        .iter()
        .map(|row| enough(row, |s| s.p90))
        .collect();
    charts::line_chart(
        "Time to first human reply by week (p50, p90)",
        &labels,
        &[("p50".into(), p50), ("p90".into(), p90)],
        &duration_label,
    )
}

/// `GET /reports/export.csv?table=...`: one table of the page as CSV, with the page's filters.
pub async fn export_csv(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, WebError> {
    require_role(&user, Role::Coordinator)?;
    let now = now_ms();
    let parsed = parse(&query, &state, now)?;
    let table = if query.table.is_empty() {
        "responses"
    } else {
        query.table.as_str()
    };
    let store = state.store.as_ref();
    let config = state.reports.as_ref();
    let filter = &parsed.request.filter;
    let body = match table {
        "responses" => reports::response_csv(
            &reports::response_report(store, config, &parsed.request, now).await?,
        ),
        "breaches" => reports::csv(
            reports::BREACH_COLUMNS,
            store
                .report_breaches(filter, &config.sla, now, 100_000)
                .await?
                .iter()
                .map(reports::breach_cells),
        ),
        "volume" => reports::volume_csv(
            &store.report_volume(filter, ReportGroup::Language).await?,
            ReportGroup::Language,
        ),
        "countries" => reports::volume_csv(
            &store.report_volume(filter, ReportGroup::Country).await?,
            ReportGroup::Country,
        ),
        "auto" => reports::csv(
            &["day", "inbound_messages", "auto_mail"],
            store
                .report_auto_share(filter.from, filter.to)
                .await?
                .iter()
                .map(|row| {
                    vec![
                        reports::date_of(row.day),
                        row.messages.to_string(),
                        row.auto.to_string(),
                    ]
                }),
        ),
        _ => return Err(WebError::BadRequest("unknown table")),
    };
    store
        .log_report_access(
            user.id,
            &access_target(&format!("csv {table}"), &parsed),
            now,
        )
        .await?;
    let file_name = format!(
        "concierge-{table}-{}-{}-{}.csv",
        parsed.from_text,
        parsed.to_text,
        parsed.request.group.as_str()
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response())
}
