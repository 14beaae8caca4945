//! The SQL behind [`Store`], shared by SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Rules that keep one SQL text valid on both: `$n` placeholders; `INSERT ... ON CONFLICT ...
//! RETURNING`; integers, text, floats and bytes only (the `Any` driver cannot read PostgreSQL
//! booleans or timestamps); times bound from Rust as Unix milliseconds.

use super::*;
use crate::domain::{AutoKind, Risk, Role, ThreadStatus, ThreadToken};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::str::FromStr;
use std::time::Duration;
use tracing::instrument;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite writer waits for another before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 30_000;

pub struct SqlStore {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
}

impl SqlStore {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = sqlx::any::AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |connection, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers (the web app) work while the ingester writes;
                        // NORMAL is durable across application crashes in WAL mode.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query(&format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(SqlStore { pool, backend })
    }

    /// Starts a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// that a transaction which reads before it writes cannot fail when it upgrades its lock.
    pub(super) async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Inserts an outbox row and files its Message-ID under its thread.
    async fn insert_outbox(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        item: &NewOutboxItem,
    ) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (thread_id, kind, to_address, from_address, subject, body_text, message_id, in_reply_to, \
               references_header, auto_submitted, language, template, template_note, status, attempts, next_attempt_at, created_at, sent_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', 0, $14, $14, $15) RETURNING id",
        )
        .bind(item.thread_id)
        .bind(&item.kind)
        .bind(item.to_address.as_str())
        .bind(&item.from_address)
        .bind(&item.subject)
        .bind(&item.body_text)
        .bind(item.message_id.as_str())
        .bind(&item.in_reply_to)
        .bind(&item.references_header)
        .bind(i64::from(item.auto_submitted))
        .bind(&item.language)
        .bind(&item.template)
        .bind(&item.template_note)
        .bind(item.created_at)
        .bind(item.sent_by)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query("INSERT INTO thread_message_ids (message_id, thread_id) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING")
            .bind(item.message_id.as_str())
            .bind(item.thread_id)
            .execute(&mut **tx)
            .await?;
        Ok(id)
    }

    /// Threads with their contact and claim, for lists; `tail` is the WHERE / ORDER / LIMIT.
    async fn thread_list(&self, tail: &str, limit: i64) -> StoreResult<Vec<QueueEntry>> {
        self.thread_list_bound(tail, limit, &[]).await
    }

    /// [`Self::thread_list`] with more parameters, bound as `$3`, `$4`, ... in order.
    async fn thread_list_bound(
        &self,
        tail: &str,
        limit: i64,
        extra: &[Bound],
    ) -> StoreResult<Vec<QueueEntry>> {
        let sql = format!(
            "SELECT t.id, t.token, t.subject, t.status, t.risk, t.language, t.country, t.auto_kind, t.n_messages, \
               t.first_inbound_at, t.last_inbound_at, t.waiting_since, c.email, c.display_name, \
               CASE WHEN t.claim_expires_at > $1 THEN t.claimed_by ELSE NULL END AS claimed_by, \
               CASE WHEN t.claim_expires_at > $1 THEN u.display_name ELSE NULL END AS claimed_by_name \
             FROM threads t LEFT JOIN contacts c ON c.id = t.contact_id LEFT JOIN users u ON u.id = t.claimed_by {tail}"
        );
        let mut query = sqlx::query(&sql).bind(crate::clock::now_ms()).bind(limit);
        for value in extra {
            query = match value {
                Bound::Int(n) => query.bind(*n),
                Bound::Text(text) => query.bind(text.clone()),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(QueueEntry {
                    thread_id: row.try_get("id")?,
                    token: row.try_get("token")?,
                    subject: row.try_get("subject")?,
                    status: parse_status(&row.try_get::<String, _>("status")?)?,
                    risk: parse_risk(&row.try_get::<String, _>("risk")?)?,
                    language: row.try_get("language")?,
                    country: row.try_get("country")?,
                    auto_kind: parse_auto_kind(&row.try_get::<String, _>("auto_kind")?)?,
                    n_messages: row.try_get("n_messages")?,
                    first_inbound_at: row.try_get("first_inbound_at")?,
                    last_inbound_at: row.try_get("last_inbound_at")?,
                    waiting_since: row.try_get("waiting_since")?,
                    contact_email: row.try_get("email")?,
                    contact_name: row.try_get("display_name")?,
                    claimed_by: row.try_get("claimed_by")?,
                    claimed_by_name: row.try_get("claimed_by_name")?,
                })
            })
            .collect()
    }

    /// Records one message inside a write transaction; see [`Store::record_message`].
    async fn record_in(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        message: &NewMessage,
    ) -> StoreResult<Recorded> {
        // The first statement writes, and doubles as the replay guard.
        let marked = sqlx::query("UPDATE raw_messages SET processed_at = $1, problem = $2 WHERE id = $3 AND processed_at IS NULL")
            .bind(message.processed_at)
            .bind(&message.parse_problem)
            .bind(message.raw_message_id)
            .execute(&mut **tx)
            .await?;
        if marked.rows_affected() == 0 {
            let row = sqlx::query("SELECT id, thread_id FROM messages WHERE raw_message_id = $1")
                .bind(message.raw_message_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "raw message {} is marked processed or missing, and has no message",
                        message.raw_message_id
                    ))
                })?;
            return Ok(Recorded {
                message_id: row.try_get("id")?,
                thread_id: row.try_get("thread_id")?,
                new_thread: false,
                newly_recorded: false,
            });
        }

        let contact_id: Option<i64> = match &message.from_address {
            Some(address) => Some(
                sqlx::query_scalar(
                    "INSERT INTO contacts (email_key, email, display_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (email_key) DO UPDATE SET display_name = COALESCE(excluded.display_name, contacts.display_name), \
                     updated_at = excluded.updated_at RETURNING id",
                )
                .bind(address.key())
                .bind(address.as_str())
                .bind(&message.from_name)
                .bind(message.processed_at)
                .fetch_one(&mut **tx)
                .await?,
            ),
            None => None,
        };

        let mut thread_id: Option<i64> = None;
        for referenced in &message.threading.referenced_ids {
            thread_id = sqlx::query_scalar(
                "SELECT thread_id FROM thread_message_ids WHERE message_id = $1",
            )
            .bind(referenced.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            if thread_id.is_some() {
                break;
            }
        }
        if thread_id.is_none() {
            if let Some(token) = &message.threading.token {
                thread_id = sqlx::query_scalar("SELECT id FROM threads WHERE token = $1")
                    .bind(token.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
            }
        }

        // Auto-mail does not make the person wait for us: it neither starts nor restarts the clock.
        let is_human = message.auto_kind == AutoKind::None;
        let waiting_since = if is_human {
            Some(message.received_at)
        } else {
            None
        };
        let new_thread = thread_id.is_none();
        let thread_id = match thread_id {
            // Risk never goes down by itself: a message of lower rank leaves it, one of the same
            // rank replaces it (a concern is more specific than "risk unknown") unless it is unknown.
            Some(thread_id) => {
                sqlx::query(
                    "UPDATE threads SET \
                       status = CASE WHEN $1 = 1 AND status IN ('waiting', 'closed') THEN 'new' ELSE status END, \
                       closed_at = CASE WHEN $1 = 1 AND status = 'closed' THEN NULL ELSE closed_at END, \
                       n_reopens = n_reopens + CASE WHEN $1 = 1 AND status = 'closed' THEN 1 ELSE 0 END, \
                       waiting_since = COALESCE(waiting_since, $2), \
                       last_inbound_at = CASE WHEN last_inbound_at > $3 THEN last_inbound_at ELSE $3 END, \
                       risk = CASE WHEN risk_rank > $4 OR (risk_rank = $4 AND $5 = 'unknown') THEN risk ELSE $5 END, \
                       risk_rank = CASE WHEN risk_rank >= $4 THEN risk_rank ELSE $4 END, \
                       language = CASE WHEN $1 = 1 THEN COALESCE($6, language) ELSE language END, \
                       country = COALESCE(country, $7), \
                       n_messages = n_messages + 1, \
                       updated_at = $8 \
                     WHERE id = $9",
                )
                .bind(i64::from(is_human))
                .bind(waiting_since)
                .bind(message.received_at)
                .bind(message.risk.rank())
                .bind(message.risk.as_str())
                .bind(message.language.as_ref().map(LanguageCode::as_str))
                .bind(message.country.as_ref().map(CountryCode::as_str))
                .bind(message.processed_at)
                .bind(thread_id)
                .execute(&mut **tx)
                .await?;
                thread_id
            }
            None => {
                let subject = if message.subject.trim().is_empty() {
                    "(no subject)".to_string()
                } else {
                    message.subject.clone()
                };
                let mut created = None;
                // Tokens are random; on the rare collision, draw another.
                for _ in 0..20 {
                    let token = ThreadToken::random();
                    created = sqlx::query_scalar(
                        "INSERT INTO threads (token, contact_id, subject, status, risk, risk_rank, language, country, auto_kind, \
                           n_messages, first_inbound_at, last_inbound_at, waiting_since, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $8, 1, $9, $9, $10, $11, $11) \
                         ON CONFLICT (token) DO NOTHING RETURNING id",
                    )
                    .bind(token.as_str())
                    .bind(contact_id)
                    .bind(&subject)
                    .bind(message.risk.as_str())
                    .bind(message.risk.rank())
                    .bind(message.language.as_ref().map(LanguageCode::as_str))
                    .bind(message.country.as_ref().map(CountryCode::as_str))
                    .bind(message.auto_kind.as_str())
                    .bind(message.received_at)
                    .bind(waiting_since)
                    .bind(message.processed_at)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if created.is_some() {
                        break;
                    }
                }
                created.ok_or_else(|| {
                    StoreError::Corrupt("could not draw a free thread token".into())
                })?
            }
        };

        let message_row_id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (raw_message_id, thread_id, direction, message_id, in_reply_to, references_header, \
               from_address, from_name, subject, sent_at, received_at, body_text, new_text, has_html, n_attachments, \
               parse_problem, language, language_confidence, country, risk, auto_kind, triage_json) \
             VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
             RETURNING id",
        )
        .bind(message.raw_message_id)
        .bind(thread_id)
        .bind(message.message_id.as_ref().map(MessageId::as_str))
        .bind(&message.in_reply_to)
        .bind(&message.references_header)
        .bind(message.from_address.as_ref().map(EmailAddress::as_str))
        .bind(&message.from_name)
        .bind(&message.subject)
        .bind(message.sent_at)
        .bind(message.received_at)
        .bind(&message.body_text)
        .bind(&message.new_text)
        .bind(i64::from(message.has_html))
        .bind(message.n_attachments)
        .bind(&message.parse_problem)
        .bind(message.language.as_ref().map(LanguageCode::as_str))
        .bind(message.language_confidence)
        .bind(message.country.as_ref().map(CountryCode::as_str))
        .bind(message.risk.as_str())
        .bind(message.auto_kind.as_str())
        .bind(&message.triage_json)
        .fetch_one(&mut **tx)
        .await?;

        if let Some(message_id) = &message.message_id {
            sqlx::query(
                "INSERT INTO thread_message_ids (message_id, thread_id) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(message_id.as_str())
            .bind(thread_id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(Recorded {
            message_id: message_row_id,
            thread_id,
            new_thread,
            newly_recorded: true,
        })
    }
}

/// Creates the folder of a SQLite file and asks sqlx to create the file when it is missing.
fn prepare_sqlite_url(url: &str) -> StoreResult<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|error| StoreError::Database(sqlx::Error::Io(error)))?;
            }
        }
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

fn parse_risk(value: &str) -> StoreResult<Risk> {
    Risk::parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown risk {value:?}")))
}

fn parse_auto_kind(value: &str) -> StoreResult<AutoKind> {
    AutoKind::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown auto kind {value:?}")))
}

fn parse_status(value: &str) -> StoreResult<ThreadStatus> {
    ThreadStatus::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown thread status {value:?}")))
}

const USER_COLUMNS: &str = "id, email, display_name, role, password_hash, disabled_at";

fn user_row(row: &AnyRow) -> StoreResult<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: crate::domain::Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

const OUTBOX_COLUMNS: &str = "id, thread_id, kind, to_address, from_address, subject, body_text, message_id, in_reply_to, \
    references_header, auto_submitted, language, template, template_note, status, attempts, next_attempt_at, last_error, \
    created_at, sent_at, bounced_at, purged_at";

fn outbox_row(row: &AnyRow) -> StoreResult<OutboxItem> {
    Ok(OutboxItem {
        id: row.try_get("id")?,
        thread_id: row.try_get("thread_id")?,
        kind: row.try_get("kind")?,
        to_address: row.try_get("to_address")?,
        from_address: row.try_get("from_address")?,
        subject: row.try_get("subject")?,
        body_text: row.try_get("body_text")?,
        message_id: row.try_get("message_id")?,
        in_reply_to: row.try_get("in_reply_to")?,
        references_header: row.try_get("references_header")?,
        auto_submitted: row.try_get::<i64, _>("auto_submitted")? != 0,
        language: row.try_get("language")?,
        template: row.try_get("template")?,
        template_note: row.try_get("template_note")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
        bounced_at: row.try_get("bounced_at")?,
        purged_at: row.try_get("purged_at")?,
    })
}

fn count(row: &AnyRow, column: &str) -> StoreResult<i64> {
    Ok(row.try_get::<i64, _>(column)?)
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    #[instrument(skip_all)]
    async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATOR.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&self.pool).await?,
        }
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[instrument(skip_all, fields(n_messages = batch.len()))]
    async fn store_raw_batch(&self, batch: &[NewRaw]) -> StoreResult<Vec<RawOutcome>> {
        let mut tx = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        // Raw messages this batch already hands for processing: a repeat is only known.
        let mut handed: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for item in batch {
            let known_position: Option<i64> = sqlx::query_scalar(
                "SELECT raw_message_id FROM source_positions WHERE source_key = $1",
            )
            .bind(&item.source_key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(raw_id) = known_position {
                outcomes.push(known_outcome(&mut tx, raw_id, &mut handed).await?);
                continue;
            }
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO raw_messages (dedupe_key, raw, size_bytes, received_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            )
            .bind(&item.dedupe_key)
            .bind(&item.raw)
            .bind(item.raw.len() as i64)
            .bind(item.received_at)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match inserted {
                Some(raw_id) => {
                    handed.insert(raw_id);
                    RawOutcome::New(raw_id)
                }
                None => {
                    let raw_id: i64 =
                        sqlx::query_scalar("SELECT id FROM raw_messages WHERE dedupe_key = $1")
                            .bind(&item.dedupe_key)
                            .fetch_one(&mut *tx)
                            .await?;
                    known_outcome(&mut tx, raw_id, &mut handed).await?
                }
            };
            sqlx::query(
                "INSERT INTO source_positions (source_key, raw_message_id, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source_key) DO NOTHING",
            )
            .bind(&item.source_key)
            .bind(outcome.id())
            .bind(item.received_at)
            .execute(&mut *tx)
            .await?;
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn raw_message(&self, id: RawMessageId) -> StoreResult<Option<RawMessage>> {
        let row = sqlx::query(
            "SELECT id, raw, received_at, processed_at, purged_at FROM raw_messages WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RawMessage {
                id: row.try_get("id")?,
                raw: row.try_get("raw")?,
                received_at: row.try_get("received_at")?,
                processed_at: row.try_get("processed_at")?,
                purged_at: row.try_get("purged_at")?,
            })
        })
        .transpose()
    }

    async fn unprocessed_raw_ids(&self, limit: i64) -> StoreResult<Vec<RawMessageId>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM raw_messages WHERE processed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn contact_history(&self, address: &EmailAddress) -> StoreResult<ContactHistory> {
        let row = sqlx::query(
            "SELECT id, known_country, known_language FROM contacts WHERE email_key = $1",
        )
        .bind(address.key())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(ContactHistory::default());
        };
        let contact_id: i64 = row.try_get("id")?;
        let known_country: Option<String> = row.try_get("known_country")?;
        let known_language: Option<String> = row.try_get("known_language")?;
        let languages: Vec<Option<String>> = sqlx::query_scalar(
            // `direction || ''` keeps SQLite off the `messages_triage` index, which would scan
            // every inbound message; the sender's threads lead to their few messages.
            "SELECT m.language FROM messages m JOIN threads t ON t.id = m.thread_id \
             WHERE t.contact_id = $1 AND m.direction || '' = 'inbound' ORDER BY m.received_at DESC, m.id DESC LIMIT 5",
        )
        .bind(contact_id)
        .fetch_all(&self.pool)
        .await?;
        let n_previous_messages: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.contact_id = $1",
        )
        .bind(contact_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ContactHistory {
            known_country: known_country.and_then(|c| CountryCode::parse(&c).ok()),
            known_language: known_language.and_then(|l| LanguageCode::parse(&l).ok()),
            n_previous_messages,
            last_languages: languages
                .into_iter()
                .flatten()
                .filter_map(|l| LanguageCode::parse(&l).ok())
                .collect(),
        })
    }

    #[instrument(skip_all, fields(raw_message_id = message.raw_message_id))]
    async fn record_message(&self, message: &NewMessage) -> StoreResult<Recorded> {
        let mut tx = self.begin_write().await?;
        let recorded = Self::record_in(&mut tx, message).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    #[instrument(skip_all, fields(n_messages = messages.len()))]
    async fn record_messages(&self, messages: &[NewMessage]) -> StoreResult<Vec<Recorded>> {
        let mut tx = self.begin_write().await?;
        let mut recorded = Vec::with_capacity(messages.len());
        for message in messages {
            recorded.push(Self::record_in(&mut tx, message).await?);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn thread_of_message_id(&self, message_id: &MessageId) -> StoreResult<Option<ThreadId>> {
        Ok(
            sqlx::query_scalar("SELECT thread_id FROM thread_message_ids WHERE message_id = $1")
                .bind(message_id.as_str())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn checkpoint(&self, mailbox: &str) -> StoreResult<Option<Checkpoint>> {
        let row = sqlx::query(
            "SELECT mailbox, uid_validity, last_uid FROM mailbox_checkpoints WHERE mailbox = $1",
        )
        .bind(mailbox)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Checkpoint {
                mailbox: row.try_get("mailbox")?,
                uid_validity: row.try_get("uid_validity")?,
                last_uid: row.try_get("last_uid")?,
            })
        })
        .transpose()
    }

    async fn save_checkpoint(&self, checkpoint: &Checkpoint, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mailbox_checkpoints (mailbox, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
        )
        .bind(&checkpoint.mailbox)
        .bind(checkpoint.uid_validity)
        .bind(checkpoint.last_uid)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn queue_page(
        &self,
        query: &QueueQuery,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<QueueEntry>> {
        // `$1` is now (claims expire), `$2` the limit; the filters' values follow. The
        // condition and the order are those of the `threads_open_queue` index.
        let mut tail = String::from("WHERE t.status <> 'closed'");
        let mut extra = Vec::new();
        let param = |extra: &mut Vec<Bound>, value: Bound| {
            extra.push(value);
            format!("${}", extra.len() + 2)
        };
        if let Some(status) = query.status {
            let p = param(&mut extra, Bound::Text(status.as_str().into()));
            tail.push_str(&format!(" AND t.status = {p}"));
        }
        if let Some(risk) = query.risk {
            let p = param(&mut extra, Bound::Text(risk.as_str().into()));
            tail.push_str(&format!(" AND t.risk = {p}"));
        }
        if let Some(language) = &query.language {
            let p = param(&mut extra, Bound::Text(language.clone()));
            tail.push_str(&format!(" AND t.language = {p}"));
        }
        if let Some(country) = &query.country {
            let p = param(&mut extra, Bound::Text(country.clone()));
            tail.push_str(&format!(" AND t.country = {p}"));
        }
        match query.claim {
            Some(ClaimFilter::Mine(user)) => {
                let p = param(&mut extra, Bound::Int(user));
                tail.push_str(&format!(
                    " AND t.claimed_by = {p} AND t.claim_expires_at > $1"
                ));
            }
            Some(ClaimFilter::Unclaimed) => tail.push_str(
                " AND (t.claimed_by IS NULL OR t.claim_expires_at IS NULL OR t.claim_expires_at <= $1)",
            ),
            None => {}
        }
        let p = param(&mut extra, Bound::Int(offset.max(0)));
        tail.push_str(&format!(
            " ORDER BY t.risk_rank DESC, CASE WHEN t.waiting_since IS NULL THEN 1 ELSE 0 END, \
               t.waiting_since ASC, t.last_inbound_at ASC, t.id ASC LIMIT $2 OFFSET {p}"
        ));
        self.thread_list_bound(&tail, limit, &extra).await
    }

    async fn queue_counts(&self) -> StoreResult<QueueCounts> {
        let mut counts = QueueCounts::default();
        let rows = sqlx::query(
            "SELECT risk, status, CASE WHEN claim_expires_at > $1 THEN claimed_by ELSE NULL END AS holder, \
               COUNT(*) AS n FROM threads WHERE status <> 'closed' GROUP BY risk, status, holder",
        )
        .bind(crate::clock::now_ms())
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let n: i64 = row.try_get("n")?;
            let risk = parse_risk(&row.try_get::<String, _>("risk")?)?;
            let status = parse_status(&row.try_get::<String, _>("status")?)?;
            let holder: Option<i64> = row.try_get("holder")?;
            counts.open += n;
            add_count(&mut counts.by_risk, risk, n);
            add_count(&mut counts.by_status, status, n);
            add_count(&mut counts.by_holder, holder, n);
        }
        for (column, into) in [
            ("language", &mut counts.by_language),
            ("country", &mut counts.by_country),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT {column} AS code, COUNT(*) AS n FROM threads WHERE status <> 'closed' \
                 GROUP BY {column} ORDER BY {column}"
            ))
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                into.push((row.try_get("code")?, row.try_get("n")?));
            }
        }
        Ok(counts)
    }

    async fn closed_threads(&self, limit: i64) -> StoreResult<Vec<QueueEntry>> {
        self.thread_list(
            "WHERE t.status = 'closed' ORDER BY t.closed_at DESC, t.id DESC LIMIT $2",
            limit,
        )
        .await
    }

    async fn thread_messages(&self, thread_id: ThreadId) -> StoreResult<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT id, raw_message_id, thread_id, direction, message_id, from_address, from_name, subject, received_at, \
               body_text, new_text, parse_problem, language, risk, auto_kind, triage_json, n_attachments, purged_at \
             FROM messages WHERE thread_id = $1 ORDER BY received_at, id",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MessageRow {
                    id: row.try_get("id")?,
                    raw_message_id: row.try_get("raw_message_id")?,
                    thread_id: row.try_get("thread_id")?,
                    direction: row.try_get("direction")?,
                    message_id: row.try_get("message_id")?,
                    from_address: row.try_get("from_address")?,
                    from_name: row.try_get("from_name")?,
                    subject: row.try_get("subject")?,
                    received_at: row.try_get("received_at")?,
                    body_text: row.try_get("body_text")?,
                    new_text: row.try_get("new_text")?,
                    parse_problem: row.try_get("parse_problem")?,
                    language: row.try_get("language")?,
                    risk: parse_risk(&row.try_get::<String, _>("risk")?)?,
                    auto_kind: parse_auto_kind(&row.try_get::<String, _>("auto_kind")?)?,
                    triage_json: row.try_get("triage_json")?,
                    n_attachments: row.try_get("n_attachments")?,
                    purged_at: row.try_get("purged_at")?,
                })
            })
            .collect()
    }

    async fn counts(&self) -> StoreResult<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM raw_messages) AS raw_messages, \
               (SELECT COUNT(*) FROM source_positions) AS source_positions, \
               (SELECT COUNT(*) FROM messages) AS messages, \
               (SELECT COUNT(*) FROM threads) AS threads, \
               (SELECT COUNT(*) FROM contacts) AS contacts, \
               (SELECT COUNT(*) FROM raw_messages WHERE processed_at IS NULL) AS unprocessed",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            raw_messages: count(&row, "raw_messages")?,
            source_positions: count(&row, "source_positions")?,
            messages: count(&row, "messages")?,
            threads: count(&row, "threads")?,
            contacts: count(&row, "contacts")?,
            unprocessed: count(&row, "unprocessed")?,
        })
    }

    async fn upsert_resources(
        &self,
        resources: &[crate::resources::Resource],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for resource in resources {
            let data = serde_json::to_string(resource)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let status = serde_json::to_value(resource.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            sqlx::query(
                "INSERT INTO resources (id, data, status, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, status = excluded.status, updated_at = excluded.updated_at",
            )
            .bind(&resource.id)
            .bind(data)
            .bind(status)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn resources(&self) -> StoreResult<Vec<crate::resources::Resource>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM resources ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|data| {
                serde_json::from_str(data)
                    .map_err(|error| StoreError::Corrupt(format!("resource: {error}")))
            })
            .collect()
    }

    async fn thread_summary(&self, thread_id: ThreadId) -> StoreResult<Option<ThreadSummary>> {
        let Some(row) = sqlx::query(
            "SELECT t.id, t.token, t.subject, t.risk, t.language, t.country, t.auto_kind, t.created_at, t.status, \
               t.last_inbound_at, t.claimed_by, t.claim_expires_at, t.purged_at, c.email, c.display_name, u.display_name AS claimed_by_name \
             FROM threads t LEFT JOIN contacts c ON c.id = t.contact_id LEFT JOIN users u ON u.id = t.claimed_by WHERE t.id = $1",
        )
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let inbound_message_ids: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT message_id FROM messages WHERE thread_id = $1 AND direction = 'inbound' ORDER BY received_at, id",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(ThreadSummary {
            thread_id: row.try_get("id")?,
            token: row.try_get("token")?,
            subject: row.try_get("subject")?,
            contact_email: row.try_get("email")?,
            contact_name: row.try_get("display_name")?,
            risk: parse_risk(&row.try_get::<String, _>("risk")?)?,
            language: row.try_get("language")?,
            country: row.try_get("country")?,
            auto_kind: parse_auto_kind(&row.try_get::<String, _>("auto_kind")?)?,
            created_at: row.try_get("created_at")?,
            inbound_message_ids: inbound_message_ids.into_iter().flatten().collect(),
            status: parse_status(&row.try_get::<String, _>("status")?)?,
            last_inbound_at: row.try_get("last_inbound_at")?,
            claimed_by: row.try_get("claimed_by")?,
            claimed_by_name: row.try_get("claimed_by_name")?,
            claim_expires_at: row.try_get("claim_expires_at")?,
            purged_at: row.try_get("purged_at")?,
        }))
    }

    async fn threads_awaiting_acknowledgement(&self, since: i64) -> StoreResult<Vec<ThreadId>> {
        Ok(sqlx::query_scalar(
            "SELECT t.id FROM threads t WHERE t.created_at >= $1 AND t.auto_kind = 'none' AND t.contact_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.thread_id = t.id AND o.kind IN ('acknowledgement', 'crisis_acknowledgement')) \
             ORDER BY t.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn enqueue_outbox(&self, item: &NewOutboxItem) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let id = Self::insert_outbox(&mut tx, item).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE outbox SET status = 'sending', lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE (status = 'queued' AND next_attempt_at <= $2) \
               OR (status = 'sending' AND lease_until < $2) ORDER BY next_attempt_at, id LIMIT $3 {lock}) \
             RETURNING {OUTBOX_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut items = rows
            .iter()
            .map(outbox_row)
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn renew_outbox_lease(&self, ids: &[i64], until: i64) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // Integers only, so the list is safe to write into the statement.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        sqlx::query(&format!(
            "UPDATE outbox SET lease_until = $1 WHERE status = 'sending' AND id IN ({list})"
        ))
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_outbox_sent(&self, ids: &[i64], now: i64) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for &id in ids {
            let thread: Option<(i64, String)> = sqlx::query_as(
            "UPDATE outbox SET status = 'sent', sent_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2 \
             RETURNING thread_id, kind",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
            if let Some((thread_id, kind)) = thread {
                if kind == "reply" {
                    // The first reply's navigator is who the thread is reported under.
                    sqlx::query(
                    "UPDATE threads SET first_human_reply_at = COALESCE(first_human_reply_at, $1), \
                       first_reply_by = CASE WHEN first_human_reply_at IS NULL \
                         THEN (SELECT sent_by FROM outbox WHERE id = $3) ELSE first_reply_by END, \
                       n_replies = n_replies + 1, updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(thread_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                } else {
                    sqlx::query("UPDATE threads SET acknowledged_at = COALESCE(acknowledged_at, $1), updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(thread_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_outbox_retry(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET status = 'queued', next_attempt_at = $1, last_error = $2, lease_until = NULL WHERE id = $3 AND status = 'sending'")
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_outbox_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET status = 'failed', last_error = $1, lease_until = NULL WHERE id = $2 AND status = 'sending'")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_outbox_bounced(
        &self,
        message_id: &MessageId,
        now: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE outbox SET bounced_at = $1 WHERE message_id = $2 RETURNING id",
        )
        .bind(now)
        .bind(message_id.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn last_acknowledgement_to(
        &self,
        address: &EmailAddress,
        since: i64,
    ) -> StoreResult<Option<OutboxItem>> {
        let row = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE LOWER(to_address) = $1 AND kind IN ('acknowledgement', 'crisis_acknowledgement') \
             AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(address.key())
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(outbox_row).transpose()
    }

    async fn outbox_for_thread(&self, thread_id: ThreadId) -> StoreResult<Vec<OutboxItem>> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE thread_id = $1 ORDER BY id"
        ))
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn outbox_all(&self) -> StoreResult<Vec<OutboxItem>> {
        let rows = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn create_user(
        &self,
        email: &EmailAddress,
        display_name: &str,
        role: Role,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO users (email, display_name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(email.key())
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn user_by_email(&self, email: &EmailAddress) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email.key())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_row).collect()
    }

    async fn update_user(
        &self,
        user_id: i64,
        role: Role,
        disabled: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET role = $1, disabled_at = CASE WHEN $2 = 1 THEN COALESCE(disabled_at, $3) ELSE NULL END WHERE id = $4",
        )
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf_token)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        idle_since: i64,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT s.csrf_token, {} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.last_seen_at >= $2 AND u.disabled_at IS NULL",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(token_hash)
        .bind(idle_since)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(Some(Session {
            user: user_row(&row)?,
            csrf_token: row.try_get("csrf_token")?,
        }))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_login_attempt(
        &self,
        email_key: &str,
        succeeded: bool,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO login_attempts (email_key, succeeded, at) VALUES ($1, $2, $3)")
            .bind(email_key)
            .bind(i64::from(succeeded))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn failed_login_attempts(&self, email_key: &str, since: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts WHERE email_key = $1 AND succeeded = 0 AND at >= $2")
            .bind(email_key)
            .bind(since)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn log_access(
        &self,
        user_id: i64,
        thread_id: ThreadId,
        action: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_log (user_id, thread_id, action, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(thread_id)
        .bind(action)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn access_log(&self, thread_id: ThreadId) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, action, at FROM access_log WHERE thread_id = $1 ORDER BY at, id",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await?)
    }

    #[instrument(skip_all)]
    async fn access_log_entries(&self, query: &AccessLogQuery) -> StoreResult<Vec<AccessLogEntry>> {
        // Only the filters that are set become conditions, so that every query has an index
        // to walk newest first: access_log_user (user_id, at), access_log_thread
        // (thread_id, at) or access_log_at (at). The values are bound, never formatted in.
        enum Value<'a> {
            Int(i64),
            Text(&'a str),
        }
        let mut values: Vec<Value> = Vec::new();
        let mut placeholder = |value| -> String {
            values.push(value);
            format!("${}", values.len())
        };
        let mut conditions: Vec<String> = Vec::new();
        if let Some(user_id) = query.user_id {
            conditions.push(format!("a.user_id = {}", placeholder(Value::Int(user_id))));
        }
        if let Some(thread_id) = query.thread_id {
            conditions.push(format!(
                "a.thread_id = {}",
                placeholder(Value::Int(thread_id))
            ));
        }
        if let Some(action) = &query.action {
            conditions.push(format!(
                "a.action = {}",
                placeholder(Value::Text(action.as_str()))
            ));
        }
        if let Some(from) = query.from {
            conditions.push(format!("a.at >= {}", placeholder(Value::Int(from))));
        }
        if let Some(to) = query.to {
            conditions.push(format!("a.at < {}", placeholder(Value::Int(to))));
        }
        if let Some((before_at, before_id)) = query.before {
            // `a.at <= $n` is the index range; the rest orders entries of the same millisecond.
            let at = placeholder(Value::Int(before_at));
            let id = placeholder(Value::Int(before_id));
            conditions.push(format!("a.at <= {at} AND (a.at < {at} OR a.id < {id})"));
        }
        let limit = placeholder(Value::Int(query.limit));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT a.id, a.at, a.user_id, u.email AS user_email, u.display_name AS user_name, a.action, \
               a.thread_id, t.token AS thread_token, a.target \
             FROM access_log a JOIN users u ON u.id = a.user_id LEFT JOIN threads t ON t.id = a.thread_id \
             {filter} ORDER BY a.at DESC, a.id DESC LIMIT {limit}"
        );
        let mut statement = sqlx::query(&sql);
        for value in values {
            statement = match value {
                Value::Int(number) => statement.bind(number),
                Value::Text(text) => statement.bind(text),
            };
        }
        let rows = statement.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(AccessLogEntry {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    user_id: row.try_get("user_id")?,
                    user_email: row.try_get("user_email")?,
                    user_name: row.try_get("user_name")?,
                    action: row.try_get("action")?,
                    thread_id: row.try_get("thread_id")?,
                    thread_token: row.try_get("thread_token")?,
                    target: row.try_get("target")?,
                })
            })
            .collect()
    }

    async fn log_target_access(
        &self,
        user_id: i64,
        action: &str,
        target: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_log (user_id, thread_id, action, target, at) VALUES ($1, NULL, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(action)
        .bind(target)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_thread(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        now: i64,
        lease_ms: i64,
        force: bool,
    ) -> StoreResult<ClaimOutcome> {
        let claimed = sqlx::query(
            "UPDATE threads SET claimed_by = $1, claim_expires_at = $2, updated_at = $3, \
               status = CASE WHEN status = 'new' THEN 'claimed' ELSE status END \
             WHERE id = $4 AND ($5 = 1 OR claimed_by IS NULL OR claimed_by = $1 OR claim_expires_at < $3)",
        )
        .bind(user_id)
        .bind(now + lease_ms)
        .bind(now)
        .bind(thread_id)
        .bind(i64::from(force))
        .execute(&self.pool)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(ClaimOutcome::Claimed);
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT u.display_name FROM threads t JOIN users u ON u.id = t.claimed_by WHERE t.id = $1",
        )
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(ClaimOutcome::HeldBy(
            holder.unwrap_or_else(|| "someone".into()),
        ))
    }

    async fn release_thread(&self, thread_id: ThreadId, user_id: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE threads SET claimed_by = NULL, claim_expires_at = NULL, \
               status = CASE WHEN status = 'claimed' THEN 'new' ELSE status END WHERE id = $1 AND claimed_by = $2",
        )
        .bind(thread_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enqueue_reply(
        &self,
        item: &NewOutboxItem,
        seen_last_inbound_at: i64,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        // The first statement writes (SQLite takes the lock) and checks that nothing new came in.
        let updated = sqlx::query(
            "UPDATE threads SET status = 'waiting', waiting_since = NULL, updated_at = $1 WHERE id = $2 AND last_inbound_at = $3",
        )
        .bind(item.created_at)
        .bind(item.thread_id)
        .bind(seen_last_inbound_at)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let id = Self::insert_outbox(&mut tx, item).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn set_thread_status(
        &self,
        thread_id: ThreadId,
        status: ThreadStatus,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE threads SET status = $1, updated_at = $2, \
               n_reopens = n_reopens + CASE WHEN $1 = 'new' AND status = 'closed' THEN 1 ELSE 0 END, \
               closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE NULL END, \
               claimed_by = CASE WHEN $1 = 'closed' THEN NULL ELSE claimed_by END, \
               claim_expires_at = CASE WHEN $1 = 'closed' THEN NULL ELSE claim_expires_at END, \
               waiting_since = CASE WHEN $1 = 'closed' THEN NULL WHEN $1 = 'new' THEN COALESCE(waiting_since, $2) ELSE waiting_since END \
             WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(thread_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_draft(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        draft: &Draft,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO drafts (thread_id, user_id, subject, body_text, template, language, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (thread_id, user_id) DO UPDATE SET subject = excluded.subject, body_text = excluded.body_text, \
             template = excluded.template, language = excluded.language, updated_at = excluded.updated_at",
        )
        .bind(thread_id)
        .bind(user_id)
        .bind(&draft.subject)
        .bind(&draft.body_text)
        .bind(&draft.template)
        .bind(&draft.language)
        .bind(draft.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn draft(&self, thread_id: ThreadId, user_id: i64) -> StoreResult<Option<Draft>> {
        let row = sqlx::query("SELECT subject, body_text, template, language, updated_at FROM drafts WHERE thread_id = $1 AND user_id = $2")
            .bind(thread_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Draft {
                subject: row.try_get("subject")?,
                body_text: row.try_get("body_text")?,
                template: row.try_get("template")?,
                language: row.try_get("language")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    async fn add_note(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        body_text: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notes (thread_id, user_id, body_text, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(thread_id)
        .bind(user_id)
        .bind(body_text)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn notes(&self, thread_id: ThreadId) -> StoreResult<Vec<Note>> {
        let rows = sqlx::query(
            "SELECT u.display_name, n.body_text, n.created_at, n.purged_at FROM notes n JOIN users u ON u.id = n.user_id \
             WHERE n.thread_id = $1 ORDER BY n.created_at, n.id",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Note {
                    author: row.try_get("display_name")?,
                    body_text: row.try_get("body_text")?,
                    created_at: row.try_get("created_at")?,
                    purged_at: row.try_get("purged_at")?,
                })
            })
            .collect()
    }

    async fn correct_thread(
        &self,
        thread_id: ThreadId,
        user_id: i64,
        correction: &Correction,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let (field, value) = match correction {
            Correction::Language(language) => ("language", language.to_string()),
            Correction::Country(country) => ("country", country.to_string()),
            Correction::Risk(risk) => ("risk", risk.as_str().to_string()),
        };
        let old: Option<Option<String>> =
            sqlx::query_scalar(&format!("SELECT {field} FROM threads WHERE id = $1"))
                .bind(thread_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(old) = old else {
            return Err(StoreError::Corrupt(format!(
                "thread {thread_id} does not exist"
            )));
        };
        match correction {
            Correction::Risk(risk) => {
                sqlx::query(
                    "UPDATE threads SET risk = $1, risk_rank = $2, updated_at = $3 WHERE id = $4",
                )
                .bind(risk.as_str())
                .bind(risk.rank())
                .bind(now)
                .bind(thread_id)
                .execute(&mut *tx)
                .await?;
            }
            Correction::Language(_) | Correction::Country(_) => {
                sqlx::query(&format!(
                    "UPDATE threads SET {field} = $1, updated_at = $2 WHERE id = $3"
                ))
                .bind(&value)
                .bind(now)
                .bind(thread_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "UPDATE contacts SET known_{field} = $1, updated_at = $2 WHERE id = (SELECT contact_id FROM threads WHERE id = $3)"
                ))
                .bind(&value)
                .bind(now)
                .bind(thread_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("INSERT INTO corrections (thread_id, user_id, field, old_value, new_value, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(thread_id)
            .bind(user_id)
            .bind(field)
            .bind(old)
            .bind(&value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_thread_excluded(
        &self,
        thread_id: ThreadId,
        excluded: bool,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE threads SET excluded = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(excluded))
            .bind(now)
            .bind(thread_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_user_team(&self, user_id: i64, team: &str) -> StoreResult<()> {
        sqlx::query("UPDATE users SET team = $1 WHERE id = $2")
            .bind(team)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn report_groups(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
        sla: &SlaTargets,
        now: i64,
    ) -> StoreResult<Vec<GroupAggregate>> {
        self.report_groups_impl(filter, group, sla, now).await
    }

    #[instrument(skip_all)]
    async fn report_breaches(
        &self,
        filter: &ReportFilter,
        sla: &SlaTargets,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<BreachRow>> {
        self.report_breaches_impl(filter, sla, now, limit).await
    }

    #[instrument(skip_all)]
    async fn report_timelines(
        &self,
        filter: &ReportFilter,
        group: ReportGroup,
    ) -> StoreResult<Vec<TimelineRow>> {
        self.report_timelines_impl(filter, group).await
    }

    #[instrument(skip_all)]
    async fn report_live(&self, now: i64) -> StoreResult<LiveView> {
        self.report_live_impl(now).await
    }

    #[instrument(skip_all)]
    async fn report_volume(
        &self,
        filter: &ReportFilter,
        by: ReportGroup,
    ) -> StoreResult<Vec<VolumeRow>> {
        self.report_volume_impl(filter, by).await
    }

    #[instrument(skip_all)]
    async fn report_auto_share(&self, from: i64, to: i64) -> StoreResult<Vec<AutoShareRow>> {
        self.report_auto_share_impl(from, to).await
    }

    async fn log_report_access(&self, user_id: i64, target: &str, now: i64) -> StoreResult<()> {
        self.log_target_access(user_id, "read report", target, now)
            .await
    }

    async fn report_access_log(&self, limit: i64) -> StoreResult<Vec<(i64, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, COALESCE(target, ''), at FROM access_log WHERE thread_id IS NULL AND action = 'read report' ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    #[instrument(skip_all)]
    async fn insert_history(&self, threads: &[HistoryThread]) -> StoreResult<()> {
        self.insert_history_impl(threads).await
    }

    async fn risk_corrections(&self) -> StoreResult<Vec<RiskCorrection>> {
        let rows = sqlx::query(
            "SELECT x.correction_id, x.old_value, x.new_value, x.at, x.corrected_language, m.id AS message_id, \
               m.language AS detected_language, m.subject, m.new_text \
             FROM (SELECT c.id AS correction_id, c.old_value, c.new_value, c.at, \
                 COALESCE( \
                   (SELECT p.id FROM messages p WHERE p.thread_id = c.thread_id AND p.direction = 'inbound' AND p.auto_kind = 'none' \
                    AND p.received_at <= c.at ORDER BY p.received_at DESC, p.id DESC LIMIT 1), \
                   (SELECT p.id FROM messages p WHERE p.thread_id = c.thread_id AND p.direction = 'inbound' AND p.auto_kind = 'none' \
                    ORDER BY p.received_at DESC, p.id DESC LIMIT 1)) AS message_id, \
                 (SELECT l.new_value FROM corrections l WHERE l.thread_id = c.thread_id AND l.field = 'language' \
                  ORDER BY l.at DESC, l.id DESC LIMIT 1) AS corrected_language \
               FROM corrections c WHERE c.field = 'risk') x \
             JOIN messages m ON m.id = x.message_id WHERE m.purged_at IS NULL ORDER BY x.at, x.correction_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RiskCorrection {
                    correction_id: row.try_get("correction_id")?,
                    message_id: row.try_get("message_id")?,
                    old_risk: row.try_get("old_value")?,
                    corrected_risk: parse_risk(&row.try_get::<String, _>("new_value")?)?,
                    corrected_language: row.try_get("corrected_language")?,
                    detected_language: row.try_get("detected_language")?,
                    subject: row.try_get("subject")?,
                    new_text: row.try_get("new_text")?,
                    corrected_at: row.try_get("at")?,
                })
            })
            .collect()
    }

    async fn record_poll_success(&self, mailbox: &str, now: i64) -> StoreResult<()> {
        self.record_poll_success_impl(mailbox, now).await
    }

    async fn try_lease_mailbox(
        &self,
        mailbox: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        self.try_lease_mailbox_impl(mailbox, holder, now, ttl_ms)
            .await
    }

    async fn release_mailbox_lease(&self, mailbox: &str, holder: &str) -> StoreResult<()> {
        self.release_mailbox_lease_impl(mailbox, holder).await
    }

    async fn poll_statuses(&self) -> StoreResult<Vec<PollStatus>> {
        self.poll_statuses_impl().await
    }

    #[instrument(skip_all)]
    #[instrument(skip_all)]
    async fn purge_preview(&self, cutoff: i64, batch_size: i64) -> StoreResult<PurgeCounts> {
        self.purge_preview_impl(cutoff, batch_size).await
    }

    #[instrument(skip_all)]
    async fn purge_batch(&self, cutoff: i64, limit: i64, now: i64) -> StoreResult<PurgeCounts> {
        self.purge_batch_impl(cutoff, limit, now).await
    }

    async fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        self.metrics_snapshot_impl().await
    }
}

/// A raw message stored before: `Unprocessed` when it was never threaded and this batch has
/// not handed it on yet, else `Known`.
async fn known_outcome(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    raw_id: i64,
    handed: &mut std::collections::HashSet<i64>,
) -> StoreResult<RawOutcome> {
    if handed.contains(&raw_id) {
        return Ok(RawOutcome::Known(raw_id));
    }
    let processed_at: Option<i64> =
        sqlx::query_scalar("SELECT processed_at FROM raw_messages WHERE id = $1")
            .bind(raw_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(match processed_at {
        Some(_) => RawOutcome::Known(raw_id),
        None => {
            handed.insert(raw_id);
            RawOutcome::Unprocessed(raw_id)
        }
    })
}

/// A query parameter of a statement built at run time.
enum Bound {
    Int(i64),
    Text(String),
}

/// Adds `n` to the count of `key`, keeping the keys in first-seen order.
fn add_count<K: PartialEq>(counts: &mut Vec<(K, i64)>, key: K, n: i64) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, total)) => *total += n,
        None => counts.push((key, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::prepare_sqlite_url;

    #[test]
    fn sqlite_urls_create_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/db.sqlite");
        let url = prepare_sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("db.sqlite?mode=rwc"), "{url}");
        assert!(path.parent().unwrap().is_dir());
        let url = prepare_sqlite_url("sqlite://x.db?mode=ro").unwrap();
        assert_eq!(url, "sqlite://x.db?mode=ro");
    }
}
