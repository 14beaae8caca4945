//! The SQL behind the coordinators' reports: aggregates over the per-thread timestamps.
//!
//! Counts are aggregated in SQL. Exact percentiles need every duration of a group: one scan
//! of the range returns them per group as one concatenated string per metric
//! ([`SqlStore::report_groups_impl`]), and the nearest ranks are picked in Rust
//! (`crate::reports::percentiles`). A sort or window function over every duration in SQL
//! cost seconds on SQLite at 300,000 threads; this costs one pass. Only the business-hours
//! clock needs each thread's timeline in Rust ([`SqlStore::report_timelines_impl`]), because
//! calendars with time zones and holidays do not belong in SQL; it reads a handful of
//! integers per thread.
//!
//! No report returns message content, subjects or addresses.

use super::sql::SqlStore;
use super::{StoreResult, ThreadId};
use crate::domain::Risk;
use serde::Serialize;
use sqlx::Row;

/// Which threads a report covers: human conversations whose first message arrived in
/// `[from, to)`, optionally narrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub from: i64,
    pub to: i64,
    pub risk: Option<Risk>,
    pub language: Option<String>,
    pub country: Option<String>,
    /// The navigator who sent the first human reply.
    pub navigator: Option<i64>,
}

/// What rows a report is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportGroup {
    All,
    Week,
    Language,
    Country,
    Risk,
    Navigator,
}

impl ReportGroup {
    pub const ALL: [ReportGroup; 6] = [
        ReportGroup::All,
        ReportGroup::Week,
        ReportGroup::Language,
        ReportGroup::Country,
        ReportGroup::Risk,
        ReportGroup::Navigator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportGroup::All => "all",
            ReportGroup::Week => "week",
            ReportGroup::Language => "language",
            ReportGroup::Country => "country",
            ReportGroup::Risk => "risk",
            ReportGroup::Navigator => "navigator",
        }
    }

    pub fn parse(input: &str) -> Option<ReportGroup> {
        ReportGroup::ALL
            .into_iter()
            .find(|group| group.as_str() == input)
    }

    /// The SQL expression of a thread's group key, as text.
    fn key_sql(self) -> &'static str {
        match self {
            ReportGroup::All => "'all'",
            // Weeks start on Monday 00:00 UTC; 1970-01-01 was a Thursday, 3 days after a Monday.
            ReportGroup::Week => {
                "CAST(((t.first_inbound_at + 259200000) / 604800000) * 604800000 - 259200000 AS TEXT)"
            }
            ReportGroup::Language => "COALESCE(t.language, '?')",
            ReportGroup::Country => "COALESCE(t.country, '?')",
            ReportGroup::Risk => "t.risk",
            ReportGroup::Navigator => "COALESCE(CAST(t.first_reply_by AS TEXT), '')",
        }
    }
}

/// The three durations a thread's timeline gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// First message to the automatic acknowledgement sent.
    Acknowledgement,
    /// First message to the first human reply sent.
    FirstReply,
    /// First message to the (last) close.
    Resolution,
}

impl Metric {
    pub const ALL: [Metric; 3] = [
        Metric::Acknowledgement,
        Metric::FirstReply,
        Metric::Resolution,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Acknowledgement => "acknowledgement",
            Metric::FirstReply => "first_reply",
            Metric::Resolution => "resolution",
        }
    }

    /// The metric's place in [`Metric::ALL`].
    pub fn index(self) -> usize {
        match self {
            Metric::Acknowledgement => 0,
            Metric::FirstReply => 1,
            Metric::Resolution => 2,
        }
    }
}

/// Nearest-rank percentiles of one metric over one group, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub n: i64,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub max: i64,
}

/// One group's counts and its durations in milliseconds, per metric in the order of
/// [`Metric::ALL`], unsorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAggregate {
    pub counts: GroupCounts,
    pub durations: [Vec<i64>; 3],
}

impl GroupAggregate {
    pub fn durations(&self, metric: Metric) -> &[i64] {
        &self.durations[metric.index()]
    }
}

/// The comma-separated durations a group's concatenation returns.
fn parse_durations(text: &str) -> StoreResult<Vec<i64>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|value| {
            value
                .parse::<i64>()
                .map_err(|_| super::StoreError::Corrupt("a duration is not an integer".into()))
        })
        .collect()
}

/// Answer targets per risk level, in milliseconds from the first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaTargets {
    pub crisis_ms: i64,
    pub concern_ms: i64,
    pub none_ms: i64,
}

impl SlaTargets {
    pub fn for_risk(&self, risk: Risk) -> i64 {
        match risk {
            Risk::Crisis => self.crisis_ms,
            // A risk nobody could read is answered as soon as a concern.
            Risk::Concern | Risk::Unknown => self.concern_ms,
            Risk::None => self.none_ms,
        }
    }
}

/// One group's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupCounts {
    pub key: String,
    pub threads: i64,
    pub acknowledged: i64,
    pub replied: i64,
    pub resolved: i64,
    /// Open threads still waiting for a first human reply.
    pub waiting: i64,
    /// Threads whose first human reply came later than the target of their risk level, or
    /// has not come and the target has passed.
    pub breaches: i64,
    /// Human replies sent, all threads of the group together.
    pub replies: i64,
    pub reopens: i64,
}

/// A thread that missed its answer target: ids and timestamps only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreachRow {
    pub thread_id: ThreadId,
    pub token: String,
    pub risk: Risk,
    pub language: Option<String>,
    pub country: Option<String>,
    pub first_inbound_at: i64,
    pub first_human_reply_at: Option<i64>,
    /// From the first message to the reply, the close, or now.
    pub waited_ms: i64,
    pub target_ms: i64,
}

/// One thread's timeline, for the business-hours clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub key: String,
    pub first_inbound_at: i64,
    pub acknowledged_at: Option<i64>,
    pub first_human_reply_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The team of the navigator who replied first ("" for the default team).
    pub team: String,
}

/// What is waiting right now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LiveView {
    /// Open threads in which the person waits for us.
    pub waiting: i64,
    /// Per risk level: how many wait and since when the oldest has waited.
    pub by_risk: Vec<LiveRisk>,
    /// Crisis threads nobody holds a claim on, oldest first.
    pub unclaimed_crisis: Vec<LiveThread>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveRisk {
    pub risk: Risk,
    pub waiting: i64,
    pub oldest_waiting_since: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveThread {
    pub thread_id: ThreadId,
    pub token: String,
    pub waiting_since: i64,
}

/// New human conversations per UTC day and key (a language or a country).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRow {
    /// The day's start, Unix milliseconds (UTC).
    pub day: i64,
    pub key: String,
    pub threads: i64,
}

/// Inbound messages per UTC day, and how many of them were auto-mail that triage kept out
/// of the queue (auto-replies, bounces, lists, bulk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoShareRow {
    pub day: i64,
    pub messages: i64,
    pub auto: i64,
}

/// Upper bounds (exclusive, ms) of the response-time histogram's buckets; the last is open.
pub const HISTOGRAM_BOUNDS_MS: [i64; 7] = [
    15 * 60_000,
    3_600_000,
    4 * 3_600_000,
    8 * 3_600_000,
    24 * 3_600_000,
    72 * 3_600_000,
    168 * 3_600_000,
];

/// How many durations fall in each bucket of [`HISTOGRAM_BOUNDS_MS`] (one more than bounds).
pub fn histogram(durations: &[i64]) -> Vec<i64> {
    let mut counts = vec![0; HISTOGRAM_BOUNDS_MS.len() + 1];
    for &value in durations {
        let bucket = HISTOGRAM_BOUNDS_MS.partition_point(|&bound| bound <= value);
        counts[bucket] += 1;
    }
    counts
}

/// A bound parameter of a dynamically built report query.
enum Param {
    Int(i64),
    Text(String),
}

/// `WHERE` conditions and their parameters, numbered from `$1`.
struct Conditions {
    sql: Vec<String>,
    params: Vec<Param>,
}

impl Conditions {
    fn of(filter: &ReportFilter) -> Conditions {
        let mut conditions = Conditions {
            sql: vec!["t.auto_kind = 'none'".into(), "t.excluded = 0".into()],
            params: Vec::new(),
        };
        let from = conditions.push(Param::Int(filter.from));
        let to = conditions.push(Param::Int(filter.to));
        conditions.sql.push(format!(
            "t.first_inbound_at >= {from} AND t.first_inbound_at < {to}"
        ));
        if let Some(risk) = filter.risk {
            let p = conditions.push(Param::Text(risk.as_str().into()));
            conditions.sql.push(format!("t.risk = {p}"));
        }
        if let Some(language) = &filter.language {
            let p = conditions.push(Param::Text(language.clone()));
            conditions
                .sql
                .push(format!("COALESCE(t.language, '?') = {p}"));
        }
        if let Some(country) = &filter.country {
            let p = conditions.push(Param::Text(country.clone()));
            conditions
                .sql
                .push(format!("COALESCE(t.country, '?') = {p}"));
        }
        if let Some(navigator) = filter.navigator {
            let p = conditions.push(Param::Int(navigator));
            conditions.sql.push(format!("t.first_reply_by = {p}"));
        }
        conditions
    }

    /// Adds a parameter and returns its placeholder.
    fn push(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    fn where_sql(&self) -> String {
        self.sql.join(" AND ")
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.as_str()),
            };
        }
        query
    }
}

/// The SQL of a thread's answer target and of its breach: the first human reply (or the
/// close, or now) later than the target. Binds `now` and the three targets.
struct SlaSql {
    now: String,
    target: String,
    breach: String,
}

impl Conditions {
    fn push_sla(&mut self, sla: &SlaTargets, now: i64) -> SlaSql {
        let now = self.push(Param::Int(now));
        let crisis = self.push(Param::Int(sla.crisis_ms));
        let concern = self.push(Param::Int(sla.concern_ms));
        let none = self.push(Param::Int(sla.none_ms));
        let target = format!(
            "(CASE WHEN t.risk = 'crisis' THEN {crisis} WHEN t.risk IN ('concern', 'unknown') THEN {concern} ELSE {none} END)"
        );
        let breach = format!(
            "(COALESCE(t.first_human_reply_at, t.closed_at, {now}) - t.first_inbound_at) > {target}"
        );
        SlaSql {
            now,
            target,
            breach,
        }
    }
}

impl SqlStore {
    /// One pass over the threads of the range: each group's counts, and the durations its
    /// percentiles are taken from. Exact nearest-rank percentiles need every value; the
    /// database concatenates them per group (`group_concat` / `string_agg`, one string per
    /// group and metric), so the cost is one scan of the range and no sort in SQL, and the
    /// process holds 8 bytes per duration while the report is built (2.4 MB per 100,000
    /// threads), never the threads themselves.
    pub(super) async fn report_groups_impl(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
        sla: &SlaTargets,
        now: i64,
    ) -> StoreResult<Vec<GroupAggregate>> {
        let mut conditions = Conditions::of(filter);
        let SlaSql { breach, .. } = conditions.push_sla(sla, now);
        let key = group.key_sql();
        let concat = |value: &str| match self.backend {
            super::Backend::Sqlite => format!("group_concat({value}, ',')"),
            super::Backend::Postgres => {
                format!("string_agg(CAST({value} AS TEXT), ',')")
            }
        };
        let ack = concat("t.acknowledged_at - t.first_inbound_at");
        let reply = concat("t.first_human_reply_at - t.first_inbound_at");
        let resolution =
            concat("CASE WHEN t.status = 'closed' THEN t.closed_at - t.first_inbound_at END");
        let sql = format!(
            "SELECT {key} AS g, CAST(COUNT(*) AS BIGINT) AS threads, \
               CAST(SUM(CASE WHEN t.acknowledged_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS acknowledged, \
               CAST(SUM(CASE WHEN t.first_human_reply_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS replied, \
               CAST(SUM(CASE WHEN t.status = 'closed' THEN 1 ELSE 0 END) AS BIGINT) AS resolved, \
               CAST(SUM(CASE WHEN t.status <> 'closed' AND t.first_human_reply_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS waiting, \
               CAST(SUM(CASE WHEN {breach} THEN 1 ELSE 0 END) AS BIGINT) AS breaches, \
               CAST(SUM(t.n_replies) AS BIGINT) AS replies, \
               CAST(SUM(t.n_reopens) AS BIGINT) AS reopens, \
               {ack} AS d_ack, {reply} AS d_reply, {resolution} AS d_resolution \
             FROM threads t WHERE {conditions} GROUP BY g ORDER BY g",
            conditions = conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let durations = |column: &str| -> StoreResult<Vec<i64>> {
                    let text: Option<String> = row.try_get(column)?;
                    parse_durations(text.as_deref().unwrap_or(""))
                };
                Ok(GroupAggregate {
                    counts: GroupCounts {
                        key: row.try_get("g")?,
                        threads: row.try_get("threads")?,
                        acknowledged: row.try_get("acknowledged")?,
                        replied: row.try_get("replied")?,
                        resolved: row.try_get("resolved")?,
                        waiting: row.try_get("waiting")?,
                        breaches: row.try_get("breaches")?,
                        replies: row.try_get("replies")?,
                        reopens: row.try_get("reopens")?,
                    },
                    durations: [
                        durations("d_ack")?,
                        durations("d_reply")?,
                        durations("d_resolution")?,
                    ],
                })
            })
            .collect()
    }

    pub(super) async fn report_breaches_impl(
        &self,
        filter: &ReportFilter,
        sla: &SlaTargets,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<BreachRow>> {
        let mut conditions = Conditions::of(filter);
        let SlaSql {
            now: now_p,
            target,
            breach,
        } = conditions.push_sla(sla, now);
        let limit_p = conditions.push(Param::Int(limit));
        let sql = format!(
            "SELECT t.id, t.token, t.risk, t.language, t.country, t.first_inbound_at, t.first_human_reply_at, \
               COALESCE(t.first_human_reply_at, t.closed_at, {now_p}) - t.first_inbound_at AS waited, \
               {target} AS target \
             FROM threads t WHERE {conditions} AND {breach} \
             ORDER BY t.risk_rank DESC, t.first_inbound_at, t.id LIMIT {limit_p}",
            conditions = conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let risk: String = row.try_get("risk")?;
                Ok(BreachRow {
                    thread_id: row.try_get("id")?,
                    token: row.try_get("token")?,
                    risk: Risk::parse(&risk).unwrap_or(Risk::Crisis),
                    language: row.try_get("language")?,
                    country: row.try_get("country")?,
                    first_inbound_at: row.try_get("first_inbound_at")?,
                    first_human_reply_at: row.try_get("first_human_reply_at")?,
                    waited_ms: row.try_get("waited")?,
                    target_ms: row.try_get("target")?,
                })
            })
            .collect()
    }

    pub(super) async fn report_timelines_impl(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
    ) -> StoreResult<Vec<TimelineRow>> {
        let conditions = Conditions::of(filter);
        let key = group.key_sql();
        let sql = format!(
            "SELECT {key} AS g, t.first_inbound_at, t.acknowledged_at, t.first_human_reply_at, \
               CASE WHEN t.status = 'closed' THEN t.closed_at END AS closed, COALESCE(u.team, '') AS team \
             FROM threads t LEFT JOIN users u ON u.id = t.first_reply_by WHERE {conditions}",
            conditions = conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(TimelineRow {
                    key: row.try_get("g")?,
                    first_inbound_at: row.try_get("first_inbound_at")?,
                    acknowledged_at: row.try_get("acknowledged_at")?,
                    first_human_reply_at: row.try_get("first_human_reply_at")?,
                    closed_at: row.try_get("closed")?,
                    team: row.try_get("team")?,
                })
            })
            .collect()
    }

    pub(super) async fn report_live_impl(&self, now: i64) -> StoreResult<LiveView> {
        // The open statuses are spelled out so that the queue index (status first) is used
        // instead of reading every thread ever closed.
        let rows = sqlx::query(
            "SELECT t.risk, CAST(COUNT(*) AS BIGINT) AS n, CAST(MIN(t.waiting_since) AS BIGINT) AS oldest \
             FROM threads t WHERE t.status IN ('new', 'claimed', 'waiting') AND t.waiting_since IS NOT NULL AND t.excluded = 0 \
             GROUP BY t.risk",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut live = LiveView::default();
        for row in rows {
            let risk: String = row.try_get("risk")?;
            let waiting: i64 = row.try_get("n")?;
            live.waiting += waiting;
            live.by_risk.push(LiveRisk {
                risk: Risk::parse(&risk).unwrap_or(Risk::Crisis),
                waiting,
                oldest_waiting_since: row.try_get("oldest")?,
            });
        }
        live.by_risk.sort_by_key(|row| -row.risk.rank());
        let rows = sqlx::query(
            "SELECT t.id, t.token, t.waiting_since FROM threads t \
             WHERE t.status IN ('new', 'claimed', 'waiting') AND t.risk = 'crisis' AND t.waiting_since IS NOT NULL AND t.excluded = 0 \
               AND (t.claimed_by IS NULL OR t.claim_expires_at IS NULL OR t.claim_expires_at <= $1) \
             ORDER BY t.waiting_since, t.id LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            live.unclaimed_crisis.push(LiveThread {
                thread_id: row.try_get("id")?,
                token: row.try_get("token")?,
                waiting_since: row.try_get("waiting_since")?,
            });
        }
        Ok(live)
    }

    pub(super) async fn report_volume_impl(
        &self,
        filter: &ReportFilter,
        by: ReportGroup,
    ) -> StoreResult<Vec<VolumeRow>> {
        let conditions = Conditions::of(filter);
        let key = by.key_sql();
        let sql = format!(
            "SELECT (t.first_inbound_at / 86400000) * 86400000 AS d, {key} AS g, CAST(COUNT(*) AS BIGINT) AS n \
             FROM threads t WHERE {conditions} GROUP BY d, g ORDER BY d, g",
            conditions = conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(VolumeRow {
                    day: row.try_get("d")?,
                    key: row.try_get("g")?,
                    threads: row.try_get("n")?,
                })
            })
            .collect()
    }

    pub(super) async fn report_auto_share_impl(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<AutoShareRow>> {
        // `direction || ''`: the range, not the direction, must pick the index on SQLite
        // (`messages_triage` would read every inbound message of all time).
        let rows = sqlx::query(
            "SELECT (received_at / 86400000) * 86400000 AS d, CAST(COUNT(*) AS BIGINT) AS n, \
               CAST(SUM(CASE WHEN auto_kind <> 'none' THEN 1 ELSE 0 END) AS BIGINT) AS auto \
             FROM messages WHERE direction || '' = 'inbound' AND received_at >= $1 AND received_at < $2 \
             GROUP BY d ORDER BY d",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AutoShareRow {
                    day: row.try_get("d")?,
                    messages: row.try_get("n")?,
                    auto: row.try_get("auto")?,
                })
            })
            .collect()
    }
}

/// A finished (or still open) conversation written straight into the store, for the demo
/// history and the report benchmarks. Addresses are synthetic; nothing is sent.
#[derive(Debug, Clone)]
pub struct HistoryThread {
    pub contact_email: String,
    pub subject: String,
    pub language: Option<String>,
    pub country: Option<String>,
    pub risk: Risk,
    /// The thread's kind: `None` for a person's conversation.
    pub auto_kind: crate::domain::AutoKind,
    /// Inbound messages, oldest first; there is at least one.
    pub inbound: Vec<HistoryMessage>,
    pub acknowledged_at: Option<i64>,
    /// Human replies as (sent at, navigator's user id), oldest first.
    pub replies: Vec<(i64, i64)>,
    pub closed_at: Option<i64>,
    pub n_reopens: i64,
}

#[derive(Debug, Clone)]
pub struct HistoryMessage {
    pub received_at: i64,
    pub auto_kind: crate::domain::AutoKind,
    pub text: String,
}

/// A value of a multi-row insert.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

/// Rows of one table, inserted with as few statements as the parameter limits allow.
struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<Value>,
}

impl Rows {
    fn new(table: &'static str, columns: &'static [&'static str]) -> Rows {
        Rows {
            table,
            columns,
            values: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.values.extend(row);
    }

    async fn insert(self, tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> StoreResult<()> {
        let width = self.columns.len();
        // Statements of one shape are prepared once and cached; a hundred rows per statement
        // stays far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
        let rows_per_statement = 100;
        let mut values = self.values.into_iter().peekable();
        while values.peek().is_some() {
            let chunk: Vec<Value> = values.by_ref().take(rows_per_statement * width).collect();
            let n_rows = chunk.len() / width;
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                self.table,
                self.columns.join(", ")
            );
            for row in 0..n_rows {
                if row > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for column in 0..width {
                    if column > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("${}", row * width + column + 1));
                }
                sql.push(')');
            }
            let mut query = sqlx::query(&sql);
            for value in chunk {
                query = match value {
                    Value::Int(value) => query.bind(value),
                    Value::Text(value) => query.bind(value),
                    Value::Bytes(value) => query.bind(value),
                };
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

fn int(value: i64) -> Value {
    Value::Int(Some(value))
}

fn text(value: &str) -> Value {
    Value::Text(Some(value.to_string()))
}

impl SqlStore {
    pub(super) async fn insert_history_impl(&self, threads: &[HistoryThread]) -> StoreResult<()> {
        if threads.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // Ids are assigned here, after the largest in use, so that one statement can insert
        // many rows and the rows of other tables can refer to them.
        let next_id = |table: &'static str| {
            format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}")
        };
        let mut thread_id: i64 = sqlx::query_scalar(&next_id("threads"))
            .fetch_one(&mut *tx)
            .await?;
        let mut contact_id: i64 = sqlx::query_scalar(&next_id("contacts"))
            .fetch_one(&mut *tx)
            .await?;
        let mut raw_id: i64 = sqlx::query_scalar(&next_id("raw_messages"))
            .fetch_one(&mut *tx)
            .await?;
        let mut message_id: i64 = sqlx::query_scalar(&next_id("messages"))
            .fetch_one(&mut *tx)
            .await?;
        let mut outbox_id: i64 = sqlx::query_scalar(&next_id("outbox"))
            .fetch_one(&mut *tx)
            .await?;

        let mut contacts = Rows::new(
            "contacts",
            &[
                "id",
                "email_key",
                "email",
                "display_name",
                "known_country",
                "known_language",
                "created_at",
                "updated_at",
            ],
        );
        let mut thread_rows = Rows::new(
            "threads",
            &[
                "id",
                "token",
                "contact_id",
                "subject",
                "status",
                "risk",
                "risk_rank",
                "language",
                "country",
                "auto_kind",
                "n_messages",
                "first_inbound_at",
                "last_inbound_at",
                "waiting_since",
                "acknowledged_at",
                "first_human_reply_at",
                "closed_at",
                "created_at",
                "updated_at",
                "first_reply_by",
                "n_replies",
                "n_reopens",
                "excluded",
            ],
        );
        let mut raws = Rows::new(
            "raw_messages",
            &[
                "id",
                "dedupe_key",
                "raw",
                "size_bytes",
                "received_at",
                "processed_at",
            ],
        );
        let mut messages = Rows::new(
            "messages",
            &[
                "id",
                "raw_message_id",
                "thread_id",
                "direction",
                "message_id",
                "from_address",
                "subject",
                "received_at",
                "body_text",
                "new_text",
                "has_html",
                "n_attachments",
                "language",
                "country",
                "risk",
                "auto_kind",
                "triage_json",
            ],
        );
        let mut outbox = Rows::new(
            "outbox",
            &[
                "id",
                "thread_id",
                "kind",
                "to_address",
                "from_address",
                "subject",
                "body_text",
                "message_id",
                "auto_submitted",
                "language",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
                "sent_at",
                "sent_by",
            ],
        );
        let mut contact_ids: std::collections::HashMap<&str, i64> =
            std::collections::HashMap::new();
        for thread in threads {
            let Some(first) = thread.inbound.first() else {
                continue;
            };
            thread_id += 1;
            let contact = match contact_ids.get(thread.contact_email.as_str()) {
                Some(id) => *id,
                None => {
                    let existing: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM contacts WHERE email_key = $1")
                            .bind(thread.contact_email.to_lowercase())
                            .fetch_optional(&mut *tx)
                            .await?;
                    let id = match existing {
                        Some(id) => id,
                        None => {
                            contact_id += 1;
                            contacts.push(vec![
                                int(contact_id),
                                text(&thread.contact_email.to_lowercase()),
                                text(&thread.contact_email),
                                Value::Text(None),
                                Value::Text(None),
                                Value::Text(None),
                                int(first.received_at),
                                int(first.received_at),
                            ]);
                            contact_id
                        }
                    };
                    contact_ids.insert(&thread.contact_email, id);
                    id
                }
            };
            let last_inbound = thread
                .inbound
                .iter()
                .map(|m| m.received_at)
                .max()
                .unwrap_or(first.received_at);
            let last_reply = thread.replies.last().map(|(at, _)| *at);
            let is_human = |m: &&HistoryMessage| m.auto_kind == crate::domain::AutoKind::None;
            let waiting_since = if thread.closed_at.is_some() {
                None
            } else {
                thread
                    .inbound
                    .iter()
                    .filter(is_human)
                    .map(|m| m.received_at)
                    .find(|at| last_reply.is_none_or(|reply| *at > reply))
            };
            let status = match (thread.closed_at, waiting_since) {
                (Some(_), _) => "closed",
                (None, Some(_)) => "new",
                (None, None) => "waiting",
            };
            let token = crate::domain::ThreadToken::from_index(thread_id.unsigned_abs());
            let updated_at = [Some(last_inbound), last_reply, thread.closed_at]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(last_inbound);
            thread_rows.push(vec![
                int(thread_id),
                text(token.as_str()),
                int(contact),
                text(&thread.subject),
                text(status),
                text(thread.risk.as_str()),
                int(thread.risk.rank()),
                Value::Text(thread.language.clone()),
                Value::Text(thread.country.clone()),
                text(thread.auto_kind.as_str()),
                int(i64::try_from(thread.inbound.len()).unwrap_or(i64::MAX)),
                int(first.received_at),
                int(last_inbound),
                Value::Int(waiting_since),
                Value::Int(thread.acknowledged_at),
                Value::Int(thread.replies.first().map(|(at, _)| *at)),
                Value::Int(thread.closed_at),
                int(first.received_at),
                int(updated_at),
                Value::Int(thread.replies.first().map(|(_, user)| *user)),
                int(i64::try_from(thread.replies.len()).unwrap_or(i64::MAX)),
                int(thread.n_reopens),
                int(0),
            ]);
            for message in &thread.inbound {
                raw_id += 1;
                message_id += 1;
                let raw = format!(
                    "From: <{}>\r\nSubject: {}\r\nMessage-ID: <history-{raw_id}@history.invalid>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                    thread.contact_email, thread.subject, message.text
                );
                let size = i64::try_from(raw.len()).unwrap_or(i64::MAX);
                raws.push(vec![
                    int(raw_id),
                    text(&format!("history:{raw_id}")),
                    Value::Bytes(raw.into_bytes()),
                    int(size),
                    int(message.received_at),
                    int(message.received_at),
                ]);
                messages.push(vec![
                    int(message_id),
                    int(raw_id),
                    int(thread_id),
                    text("inbound"),
                    text(&format!("history-{raw_id}@history.invalid")),
                    text(&thread.contact_email),
                    text(&thread.subject),
                    int(message.received_at),
                    text(&message.text),
                    text(&message.text),
                    int(0),
                    int(0),
                    Value::Text(thread.language.clone()),
                    Value::Text(thread.country.clone()),
                    text(if message.auto_kind == crate::domain::AutoKind::None {
                        thread.risk.as_str()
                    } else {
                        "none"
                    }),
                    text(message.auto_kind.as_str()),
                    text("{\"history\":true}"),
                ]);
            }
            let ack = thread.acknowledged_at.map(|at| (at, None));
            let replies = thread.replies.iter().map(|(at, user)| (*at, Some(*user)));
            for (at, user) in ack.into_iter().chain(replies) {
                outbox_id += 1;
                let kind = match (user, thread.risk) {
                    (Some(_), _) => "reply",
                    (None, Risk::Crisis) => "crisis_acknowledgement",
                    (None, _) => "acknowledgement",
                };
                outbox.push(vec![
                    int(outbox_id),
                    int(thread_id),
                    text(kind),
                    text(&thread.contact_email),
                    text("history@history.invalid"),
                    text(&format!("Re: {} [#{}]", thread.subject, token.as_str())),
                    text("(history: not kept)"),
                    text(&format!("history-out-{outbox_id}@history.invalid")),
                    int(i64::from(user.is_none())),
                    Value::Text(thread.language.clone()),
                    text("sent"),
                    int(1),
                    int(at),
                    int(at),
                    int(at),
                    Value::Int(user),
                ]);
            }
        }
        contacts.insert(&mut tx).await?;
        thread_rows.insert(&mut tx).await?;
        raws.insert(&mut tx).await?;
        messages.insert(&mut tx).await?;
        outbox.insert(&mut tx).await?;
        if self.backend == super::Backend::Postgres {
            // Explicit ids do not advance PostgreSQL's sequences.
            for table in ["contacts", "threads", "raw_messages", "messages", "outbox"] {
                sqlx::query(&format!(
                    "SELECT CAST(setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table})) AS BIGINT)"
                ))
                .fetch_one(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bands_are_closed_below_and_open_above() {
        let minute = 60_000;
        let counts = histogram(&[0, 15 * minute - 1, 15 * minute, 3_600_000, 200 * 3_600_000]);
        assert_eq!(counts, [2, 1, 1, 0, 0, 0, 0, 1]);
        assert_eq!(histogram(&[]), [0; 8]);
    }

    #[test]
    fn concatenated_durations_parse_or_fail_clearly() {
        assert_eq!(parse_durations("").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_durations("5,-3,120000").unwrap(), [5, -3, 120_000]);
        assert!(parse_durations("5,x").is_err());
    }
}
