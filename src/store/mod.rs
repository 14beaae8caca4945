//! Storage: the only place with SQL.
//!
//! [`Store`] is the boundary the rest of the program sees. [`connect`] picks the backend once
//! from the database URL: SQLite (the embedded default, WAL) or PostgreSQL (several instances).
//! Both run the same `$1` SQL through sqlx's `Any` driver; where the dialects differ, the
//! difference is in [`sql`] behind a [`Backend`] match, and the numbered migrations under
//! `migrations/sqlite` and `migrations/postgres` are kept in step.

mod metrics;
mod reports;
mod retention;
mod sql;

use crate::domain::Role;
use crate::domain::{
    AutoKind, CountryCode, EmailAddress, LanguageCode, MessageId, Risk, ThreadStatus, ThreadToken,
};
use async_trait::async_trait;
use serde::Serialize;
use std::sync::Arc;

pub use metrics::{MetricsSnapshot, PollStatus, QueueDepth};
pub use reports::{
    histogram, AutoShareRow, BreachRow, GroupAggregate, GroupCounts, HistoryMessage, HistoryThread,
    LiveRisk, LiveThread, LiveView, Metric, Percentiles, ReportFilter, ReportGroup, SlaTargets,
    TimelineRow, VolumeRow, HISTOGRAM_BOUNDS_MS,
};
pub use retention::{strip_evidence_details, PurgeCounts, PURGED_SUBJECT};
pub use sql::SqlStore;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What callers of the store can match on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL is not sqlite: or postgres:")]
    UnsupportedUrl,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub type RawMessageId = i64;
pub type MessageRowId = i64;
pub type ThreadId = i64;
pub type ContactId = i64;

/// Raw bytes as they came from a mail source, with where they came from.
#[derive(Debug, Clone)]
pub struct NewRaw {
    /// Where the message was seen, e.g. `imap:INBOX:1700000000:42` or `maildir:1700.M1P2.host`.
    pub source_key: String,
    /// Identifies the message itself across sources; see [`crate::ingest::dedupe_key`].
    pub dedupe_key: String,
    pub raw: Vec<u8>,
    pub received_at: i64,
}

/// What storing one raw message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawOutcome {
    /// First time we see these bytes: they need processing.
    New(RawMessageId),
    /// Seen before, from this source position or another, and already threaded (or handed
    /// for threading earlier in the same batch).
    Known(RawMessageId),
    /// Stored before but never threaded: the process that stored it died or failed before
    /// recording it (another instance, or this one before a reconnect). It needs processing.
    Unprocessed(RawMessageId),
}

impl RawOutcome {
    pub fn id(self) -> RawMessageId {
        match self {
            RawOutcome::New(id) | RawOutcome::Known(id) | RawOutcome::Unprocessed(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RawMessage {
    pub id: RawMessageId,
    pub raw: Vec<u8>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    /// When retention purged the bytes (`raw` is then empty); the row, its dedupe key and its
    /// source positions stay.
    pub purged_at: Option<i64>,
}

/// Where a mailbox was read up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub mailbox: String,
    pub uid_validity: i64,
    pub last_uid: i64,
}

/// The keys a message may be threaded by, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub struct ThreadingKeys {
    /// In-Reply-To first, then References from the newest to the oldest.
    pub referenced_ids: Vec<MessageId>,
    pub token: Option<ThreadToken>,
}

/// A parsed and triaged inbound message, ready to be put on a thread.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub raw_message_id: RawMessageId,
    pub message_id: Option<MessageId>,
    pub in_reply_to: Option<String>,
    pub references_header: Option<String>,
    pub from_address: Option<EmailAddress>,
    pub from_name: Option<String>,
    pub subject: String,
    pub sent_at: Option<i64>,
    pub received_at: i64,
    pub body_text: String,
    pub new_text: String,
    pub has_html: bool,
    pub n_attachments: i64,
    pub parse_problem: Option<String>,
    pub language: Option<LanguageCode>,
    pub language_confidence: Option<f64>,
    pub country: Option<CountryCode>,
    pub risk: Risk,
    pub auto_kind: AutoKind,
    pub triage_json: String,
    pub threading: ThreadingKeys,
    pub processed_at: i64,
}

/// Where a message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub message_id: MessageRowId,
    pub thread_id: ThreadId,
    pub new_thread: bool,
    /// False when the message had been recorded before (a replay after a crash).
    pub newly_recorded: bool,
}

/// One line of the navigators' queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub thread_id: ThreadId,
    pub token: String,
    pub subject: String,
    pub status: ThreadStatus,
    pub risk: Risk,
    pub language: Option<String>,
    pub country: Option<String>,
    pub auto_kind: AutoKind,
    pub n_messages: i64,
    pub first_inbound_at: i64,
    pub last_inbound_at: i64,
    pub waiting_since: Option<i64>,
    pub contact_email: Option<String>,
    pub contact_name: Option<String>,
    /// Who holds an unexpired claim.
    pub claimed_by: Option<i64>,
    pub claimed_by_name: Option<String>,
}

/// Which open threads a queue page lists (every field empty: all of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueQuery {
    /// One of the open statuses (`new`, `claimed`, `waiting`).
    pub status: Option<ThreadStatus>,
    pub risk: Option<Risk>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub claim: Option<ClaimFilter>,
}

/// Threads by who holds an unexpired claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimFilter {
    /// Claimed by this user.
    Mine(i64),
    /// Claimed by nobody (or the claim has expired).
    Unclaimed,
}

/// How many open threads there are, for the queue's filter links: counted by the database
/// over every open thread, not over the page shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCounts {
    pub open: i64,
    pub by_risk: Vec<(Risk, i64)>,
    pub by_status: Vec<(ThreadStatus, i64)>,
    /// Open threads by the user holding an unexpired claim (`None`: unclaimed).
    pub by_holder: Vec<(Option<i64>, i64)>,
    /// `None`: no language or country detected.
    pub by_language: Vec<(Option<String>, i64)>,
    pub by_country: Vec<(Option<String>, i64)>,
}

impl QueueCounts {
    pub fn risk(&self, risk: Risk) -> i64 {
        count_of(&self.by_risk, &risk)
    }

    pub fn status(&self, status: ThreadStatus) -> i64 {
        count_of(&self.by_status, &status)
    }

    pub fn held_by(&self, holder: Option<i64>) -> i64 {
        count_of(&self.by_holder, &holder)
    }
}

/// The count of `key` in a list of counts (0 when it is not there).
fn count_of<K: PartialEq>(counts: &[(K, i64)], key: &K) -> i64 {
    counts
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, n)| n)
        .sum()
}

/// A stored message as shown on a thread.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRow {
    pub id: MessageRowId,
    pub raw_message_id: RawMessageId,
    pub thread_id: ThreadId,
    pub direction: String,
    pub message_id: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub subject: String,
    pub received_at: i64,
    pub body_text: String,
    pub new_text: String,
    pub parse_problem: Option<String>,
    pub language: Option<String>,
    pub risk: Risk,
    pub auto_kind: AutoKind,
    pub triage_json: String,
    pub n_attachments: i64,
    /// When retention purged the text, the subject and the raw message.
    pub purged_at: Option<i64>,
}

/// What a sender told us before, passed to triage as history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactHistory {
    pub known_country: Option<CountryCode>,
    pub known_language: Option<LanguageCode>,
    pub n_previous_messages: i64,
    pub last_languages: Vec<LanguageCode>,
}

/// A mail to send, before it is in the outbox.
#[derive(Debug, Clone)]
pub struct NewOutboxItem {
    pub thread_id: ThreadId,
    /// `acknowledgement`, `crisis_acknowledgement` or `reply`.
    pub kind: String,
    pub to_address: EmailAddress,
    pub from_address: String,
    pub subject: String,
    pub body_text: String,
    pub message_id: MessageId,
    pub in_reply_to: Option<String>,
    pub references_header: Option<String>,
    pub auto_submitted: bool,
    pub language: Option<String>,
    pub template: Option<String>,
    pub template_note: Option<String>,
    pub created_at: i64,
    /// The navigator who wrote it (`None` for acknowledgements).
    pub sent_by: Option<i64>,
}

/// A row of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub thread_id: ThreadId,
    pub kind: String,
    pub to_address: String,
    pub from_address: String,
    pub subject: String,
    pub body_text: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references_header: Option<String>,
    pub auto_submitted: bool,
    pub language: Option<String>,
    pub template: Option<String>,
    pub template_note: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub bounced_at: Option<i64>,
    /// When retention purged the subject and the text.
    pub purged_at: Option<i64>,
}

/// What a thread's acknowledgement needs to know about the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSummary {
    pub thread_id: ThreadId,
    pub token: String,
    pub subject: String,
    pub contact_email: Option<String>,
    pub contact_name: Option<String>,
    pub risk: Risk,
    pub language: Option<String>,
    pub country: Option<String>,
    pub auto_kind: AutoKind,
    pub created_at: i64,
    /// The Message-IDs of the thread's inbound messages, oldest first.
    pub inbound_message_ids: Vec<String>,
    pub status: ThreadStatus,
    pub last_inbound_at: i64,
    /// Who holds the claim, when it has not expired.
    pub claimed_by: Option<i64>,
    pub claimed_by_name: Option<String>,
    pub claim_expires_at: Option<i64>,
    /// When retention last purged the thread's content.
    pub purged_at: Option<i64>,
}

/// What claiming a thread did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// Someone else holds an unexpired claim.
    HeldBy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub subject: String,
    pub body_text: String,
    pub template: Option<String>,
    pub language: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub author: String,
    pub body_text: String,
    pub created_at: i64,
    /// When retention purged the text.
    pub purged_at: Option<i64>,
}

/// A user of the web app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
}

/// A logged-in session and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

/// Which access-log entries to read, newest first; every field that is set narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogQuery {
    pub user_id: Option<i64>,
    pub thread_id: Option<ThreadId>,
    pub action: Option<String>,
    /// Entries at or after this Unix millisecond.
    pub from: Option<i64>,
    /// Entries before this Unix millisecond.
    pub to: Option<i64>,
    /// Keyset paging: only entries older than this `(at, id)`, the last entry of the page before.
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// One line of the access log with who it was: the admins' view of the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogEntry {
    pub id: i64,
    pub at: i64,
    pub user_id: i64,
    pub user_email: String,
    pub user_name: String,
    pub action: String,
    /// The thread opened or changed; `None` for readings that are not of a thread (reports).
    pub thread_id: Option<ThreadId>,
    pub thread_token: Option<String>,
    /// What was read when it was not a thread: a report or the access log, with its filters.
    pub target: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub raw_messages: i64,
    pub source_positions: i64,
    pub messages: i64,
    pub threads: i64,
    pub contacts: i64,
    pub unprocessed: i64,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Brings the schema up to date.
    async fn migrate(&self) -> StoreResult<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores raw messages in one transaction, idempotently by source position and by dedupe key.
    async fn store_raw_batch(&self, batch: &[NewRaw]) -> StoreResult<Vec<RawOutcome>>;

    async fn raw_message(&self, id: RawMessageId) -> StoreResult<Option<RawMessage>>;

    /// Raw messages stored but not yet on a thread (a crash between the two steps), oldest first.
    async fn unprocessed_raw_ids(&self, limit: i64) -> StoreResult<Vec<RawMessageId>>;

    /// The sender's history, for triage.
    async fn contact_history(&self, address: &EmailAddress) -> StoreResult<ContactHistory>;

    /// Puts a message on its thread (found by its keys, or new) in one transaction, and marks
    /// its raw message processed. Recording the same raw message twice changes nothing.
    async fn record_message(&self, message: &NewMessage) -> StoreResult<Recorded>;

    /// Records several messages, in order, in one transaction (ingest batches).
    async fn record_messages(&self, messages: &[NewMessage]) -> StoreResult<Vec<Recorded>>;

    /// The thread a Message-ID (inbound or ours) belongs to.
    async fn thread_of_message_id(&self, message_id: &MessageId) -> StoreResult<Option<ThreadId>>;

    async fn checkpoint(&self, mailbox: &str) -> StoreResult<Option<Checkpoint>>;
    async fn save_checkpoint(&self, checkpoint: &Checkpoint, now: i64) -> StoreResult<()>;

    /// Open threads: crisis first, then by how long the person has waited.
    async fn queue(&self, limit: i64) -> StoreResult<Vec<QueueEntry>> {
        self.queue_page(&QueueQuery::default(), limit, 0).await
    }

    /// The open threads a filter keeps, in queue order, `limit` of them after skipping
    /// `offset`. Walks the queue's index, so the cost grows with the page and the offset,
    /// not with the number of open threads.
    async fn queue_page(
        &self,
        query: &QueueQuery,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<QueueEntry>>;

    /// The open threads by risk, status, claim holder, language and country.
    async fn queue_counts(&self) -> StoreResult<QueueCounts>;

    /// Closed threads, the most recently closed first.
    async fn closed_threads(&self, limit: i64) -> StoreResult<Vec<QueueEntry>>;

    async fn thread_messages(&self, thread_id: ThreadId) -> StoreResult<Vec<MessageRow>>;

    async fn counts(&self) -> StoreResult<Counts>;

    /// Adds or replaces resource records by id, in one transaction.
    async fn upsert_resources(
        &self,
        resources: &[crate::resources::Resource],
        now: i64,
    ) -> StoreResult<()>;

    /// Every resource record, by id.
    async fn resources(&self) -> StoreResult<Vec<crate::resources::Resource>>;

    async fn thread_summary(&self, thread_id: ThreadId) -> StoreResult<Option<ThreadSummary>>;

    /// New threads of people (not auto-mail) that have no acknowledgement in the outbox, created
    /// since `since`: acknowledgements a crash kept from being queued.
    async fn threads_awaiting_acknowledgement(&self, since: i64) -> StoreResult<Vec<ThreadId>>;

    /// Queues a mail, and files its Message-ID under its thread, in one transaction.
    async fn enqueue_outbox(&self, item: &NewOutboxItem) -> StoreResult<i64>;

    /// Takes up to `limit` due rows (queued and due, or sending with an expired lease: a crash
    /// mid-send), marks them sending with a lease, and counts the attempt. On PostgreSQL rows
    /// are taken with `FOR UPDATE SKIP LOCKED`, so several workers never take the same row.
    async fn claim_outbox(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// The server accepted these mails: never send them again. One transaction for all.
    async fn mark_outbox_sent(&self, ids: &[i64], now: i64) -> StoreResult<()>;

    /// Extends the sending lease of rows this worker claimed and is still sending, so that no
    /// other worker takes them while a slow server answers; a worker that died stops renewing
    /// and its rows are taken again once the lease ran out.
    async fn renew_outbox_lease(&self, ids: &[i64], until: i64) -> StoreResult<()>;

    /// A transient failure: try again at `next_attempt_at`.
    async fn mark_outbox_retry(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()>;

    /// A permanent failure: shown on the thread, not retried.
    async fn mark_outbox_failed(&self, id: i64, error: &str) -> StoreResult<()>;

    /// Records a bounce of one of our mails by its Message-ID; returns the outbox row.
    async fn mark_outbox_bounced(
        &self,
        message_id: &MessageId,
        now: i64,
    ) -> StoreResult<Option<i64>>;

    /// The latest acknowledgement (either kind) queued to an address since a time.
    async fn last_acknowledgement_to(
        &self,
        address: &EmailAddress,
        since: i64,
    ) -> StoreResult<Option<OutboxItem>>;

    async fn outbox_for_thread(&self, thread_id: ThreadId) -> StoreResult<Vec<OutboxItem>>;

    async fn outbox_all(&self) -> StoreResult<Vec<OutboxItem>>;

    async fn create_user(
        &self,
        email: &EmailAddress,
        display_name: &str,
        role: Role,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<i64>;

    async fn user_by_email(&self, email: &EmailAddress) -> StoreResult<Option<User>>;

    async fn count_users(&self) -> StoreResult<i64>;

    async fn users(&self) -> StoreResult<Vec<User>>;

    /// Changes a user's role, and disables (ends every session) or enables the account.
    async fn update_user(
        &self,
        user_id: i64,
        role: Role,
        disabled: bool,
        now: i64,
    ) -> StoreResult<()>;

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
    ) -> StoreResult<()>;

    /// The session of a cookie, when it was used since `idle_since`; marks it used now.
    async fn session(
        &self,
        token_hash: &str,
        idle_since: i64,
        now: i64,
    ) -> StoreResult<Option<Session>>;

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;

    async fn record_login_attempt(
        &self,
        email_key: &str,
        succeeded: bool,
        now: i64,
    ) -> StoreResult<()>;

    async fn failed_login_attempts(&self, email_key: &str, since: i64) -> StoreResult<i64>;

    /// Who opened or changed which thread, and when.
    async fn log_access(
        &self,
        user_id: i64,
        thread_id: ThreadId,
        action: &str,
        now: i64,
    ) -> StoreResult<()>;

    async fn access_log(&self, thread_id: ThreadId) -> StoreResult<Vec<(i64, String, i64)>>;

    /// The whole access log for admins, newest first, with each user's name and each thread's
    /// token: at most `query.limit` entries.
    async fn access_log_entries(&self, query: &AccessLogQuery) -> StoreResult<Vec<AccessLogEntry>>;

    /// Writes a reading that is not of one thread (the access log itself, with its filters).
    async fn log_target_access(
        &self,
        user_id: i64,
        action: &str,
        target: &str,
        now: i64,
    ) -> StoreResult<()>;

    /// Claims a thread for a user with a lease, unless someone else holds an unexpired claim
    /// (`force` lets a coordinator reassign).
    async fn claim_thread(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        now: i64,
        lease_ms: i64,
        force: bool,
    ) -> StoreResult<ClaimOutcome>;

    async fn release_thread(&self, thread_id: ThreadId, user_id: i64) -> StoreResult<()>;

    /// Queues a navigator's reply, unless a message came in after `seen_last_inbound_at` (the
    /// navigator must review it first: returns `None`). The thread then waits for the person.
    async fn enqueue_reply(
        &self,
        item: &NewOutboxItem,
        seen_last_inbound_at: i64,
    ) -> StoreResult<Option<i64>>;

    async fn set_thread_status(
        &self,
        thread_id: ThreadId,
        status: ThreadStatus,
        now: i64,
    ) -> StoreResult<()>;

    async fn save_draft(&self, thread_id: ThreadId, user_id: i64, draft: &Draft)
        -> StoreResult<()>;

    async fn draft(&self, thread_id: ThreadId, user_id: i64) -> StoreResult<Option<Draft>>;

    async fn add_note(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        body_text: &str,
        now: i64,
    ) -> StoreResult<()>;

    async fn notes(&self, thread_id: ThreadId) -> StoreResult<Vec<Note>>;

    /// A navigator corrects the thread's language, country or risk. The correction is recorded,
    /// and a language or country becomes the sender's known one (strong evidence next time).
    async fn correct_thread(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        correction: &Correction,
        now: i64,
    ) -> StoreResult<()>;

    /// Marks a thread spam / not a conversation (or undoes it): it leaves the queue and the reports.
    async fn set_thread_excluded(
        &self,
        thread_id: ThreadId,
        excluded: bool,
        now: i64,
    ) -> StoreResult<()>;

    /// The team whose business hours apply to a navigator's replies ("" is the default team).
    async fn set_user_team(&self, user_id: i64, team: &str) -> StoreResult<()>;

    /// Reports: per group, thread counts, answer-target breaches and the durations of the
    /// three response times (for percentiles), in one pass over the range.
    async fn report_groups(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
        sla: &SlaTargets,
        now: i64,
    ) -> StoreResult<Vec<GroupAggregate>>;

    /// Reports: the threads that missed their answer target, crisis first, oldest first.
    async fn report_breaches(
        &self,
        filter: &ReportFilter,
        sla: &SlaTargets,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<BreachRow>>;

    /// Reports: each thread's timestamps, for the business-hours clock.
    async fn report_timelines(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
    ) -> StoreResult<Vec<TimelineRow>>;

    /// Reports: what waits at `now` (claims that expired by then do not count).
    async fn report_live(&self, now: i64) -> StoreResult<LiveView>;

    /// Reports: new human conversations per UTC day, by language or by country.
    async fn report_volume(
        &self,
        filter: &ReportFilter,
        by: ReportGroup,
    ) -> StoreResult<Vec<VolumeRow>>;

    /// Reports: inbound messages per UTC day and how many were auto-mail.
    async fn report_auto_share(&self, from: i64, to: i64) -> StoreResult<Vec<AutoShareRow>>;

    /// Writes the reading of a report (`target` is the report and its filters) to the access log.
    async fn log_report_access(&self, user_id: i64, target: &str, now: i64) -> StoreResult<()>;

    /// The newest readings of reports: (user id, what was read, when).
    async fn report_access_log(&self, limit: i64) -> StoreResult<Vec<(i64, String, i64)>>;

    /// Inserts finished conversations directly (demo history and report benchmarks).
    async fn insert_history(&self, threads: &[HistoryThread]) -> StoreResult<()>;

    /// Every risk correction, oldest first, with the person's message it is about: the latest
    /// inbound message from a person received before the correction (or, failing that, the
    /// latest at all), and the thread's latest language correction. Corrections of threads with
    /// no message from a person are left out. For `concierge triage --export-corrections`.
    async fn risk_corrections(&self) -> StoreResult<Vec<RiskCorrection>>;

    /// A mail source finished a poll round without error (an IMAP sync, a Maildir scan). The
    /// stored time only moves forward, whichever instance writes it.
    async fn record_poll_success(&self, mailbox: &str, now: i64) -> StoreResult<()>;

    /// Takes or renews the lease on polling a mailbox until `now + ttl_ms`: true when
    /// `holder` has it now (it held it, or nobody did, or the last holder's lease expired),
    /// false when another instance holds an unexpired lease. One statement, so two instances
    /// never both get it.
    async fn try_lease_mailbox(
        &self,
        mailbox: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool>;

    /// Gives the lease up (a clean stop), so that another instance takes over at once.
    async fn release_mailbox_lease(&self, mailbox: &str, holder: &str) -> StoreResult<()>;

    /// The last successful poll of every mailbox any instance has read, by mailbox key.
    async fn poll_statuses(&self) -> StoreResult<Vec<PollStatus>>;

    /// The aggregates `/metrics` shows: counts, codes and times only.
    async fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot>;

    /// Retention, a dry run: what [`Store::purge_batch`] would purge at `cutoff`, summed over
    /// every batch of `batch_size` threads. Changes nothing.
    async fn purge_preview(&self, cutoff: i64, batch_size: i64) -> StoreResult<PurgeCounts>;

    /// Retention: purges the content of up to `limit` closed threads with nothing in, out,
    /// noted or drafted since `cutoff` and no mail still to send, in one transaction (the
    /// module comment of `store/retention.rs` lists what goes and what stays). Returns what
    /// it purged; no threads when nothing is left to purge.
    async fn purge_batch(&self, cutoff: i64, limit: i64, now: i64) -> StoreResult<PurgeCounts>;
}

/// A navigator's correction of a triage decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correction {
    Language(LanguageCode),
    Country(CountryCode),
    Risk(Risk),
}

/// A navigator's risk correction and the message it is about, as the labelled set needs it.
/// No addresses or names: the caller still has to clean the text.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskCorrection {
    pub correction_id: i64,
    pub message_id: MessageRowId,
    pub old_risk: Option<String>,
    pub corrected_risk: Risk,
    pub corrected_language: Option<String>,
    pub detected_language: Option<String>,
    pub subject: String,
    pub new_text: String,
    pub corrected_at: i64,
}

/// Opens the database named by the URL and returns its store. Does not migrate.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::connect(url, max_connections).await?))
}
