//! The SQL behind `/metrics` and the stalled-inbox alert: aggregates computed at scrape time,
//! the last successful poll of each mailbox, and the lease on polling it (one instance at a
//! time).
//!
//! Everything here is a count, a code from a fixed set (risk, auto-mail kind, outbox status),
//! a time, or a mailbox key from the configuration: never an address, a name, a subject or
//! message text.

use super::sql::SqlStore;
use super::StoreResult;
use serde::Serialize;
use sqlx::Row;

/// When a mailbox was last polled successfully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PollStatus {
    /// `imap:HOST/FOLDER` or `maildir:PATH` (see `crate::source::poll_key`).
    pub mailbox: String,
    /// Unix milliseconds.
    pub last_success_at: i64,
}

/// Threads waiting for a navigator at one risk level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub risk: String,
    pub waiting: i64,
    /// Unix milliseconds: since when the longest-waiting person has waited.
    pub oldest_waiting_since: Option<i64>,
}

/// What `/metrics` reads from the database, in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Raw messages stored (every message ever read, once).
    pub raw_messages: i64,
    /// Raw messages parsed, triaged and put on a thread.
    pub raw_processed: i64,
    /// Inbound messages by the risk triage gave them.
    pub messages_by_risk: Vec<(String, i64)>,
    /// Inbound messages by auto-mail kind (`none` is a person's mail).
    pub messages_by_auto_kind: Vec<(String, i64)>,
    /// Open threads waiting for a navigator, by the thread's risk.
    pub queue: Vec<QueueDepth>,
    /// Outbox rows by status (`queued`, `sending`, `sent`, `failed`).
    pub outbox_by_status: Vec<(String, i64)>,
    /// Outbox rows whose mail came back as a bounce.
    pub outbox_bounced: i64,
    pub polls: Vec<PollStatus>,
}

fn pairs(rows: Vec<sqlx::any::AnyRow>) -> StoreResult<Vec<(String, i64)>> {
    rows.iter()
        .map(|row| Ok((row.try_get("k")?, row.try_get("n")?)))
        .collect()
}

impl SqlStore {
    pub(super) async fn metrics_snapshot_impl(&self) -> StoreResult<MetricsSnapshot> {
        let row = sqlx::query(
            "SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM raw_messages) AS raw_messages, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM raw_messages WHERE processed_at IS NOT NULL) AS raw_processed, \
               (SELECT CAST(COUNT(*) AS BIGINT) FROM outbox WHERE bounced_at IS NOT NULL) AS outbox_bounced",
        )
        .fetch_one(&self.pool)
        .await?;
        let by_risk = sqlx::query(
            "SELECT risk AS k, CAST(COUNT(*) AS BIGINT) AS n FROM messages WHERE direction = 'inbound' \
             GROUP BY risk ORDER BY risk",
        )
        .fetch_all(&self.pool)
        .await?;
        let by_auto_kind = sqlx::query(
            "SELECT auto_kind AS k, CAST(COUNT(*) AS BIGINT) AS n FROM messages WHERE direction = 'inbound' \
             GROUP BY auto_kind ORDER BY auto_kind",
        )
        .fetch_all(&self.pool)
        .await?;
        // The same threads as the queue's live view: open, waiting for us, not spam.
        let queue = sqlx::query(
            "SELECT risk, CAST(COUNT(*) AS BIGINT) AS n, CAST(MIN(waiting_since) AS BIGINT) AS oldest \
             FROM threads WHERE status IN ('new', 'claimed', 'waiting') AND waiting_since IS NOT NULL AND excluded = 0 \
             GROUP BY risk ORDER BY risk",
        )
        .fetch_all(&self.pool)
        .await?;
        let outbox = sqlx::query(
            "SELECT status AS k, CAST(COUNT(*) AS BIGINT) AS n FROM outbox GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(MetricsSnapshot {
            raw_messages: row.try_get("raw_messages")?,
            raw_processed: row.try_get("raw_processed")?,
            messages_by_risk: pairs(by_risk)?,
            messages_by_auto_kind: pairs(by_auto_kind)?,
            queue: queue
                .iter()
                .map(|row| {
                    Ok(QueueDepth {
                        risk: row.try_get("risk")?,
                        waiting: row.try_get("n")?,
                        oldest_waiting_since: row.try_get("oldest")?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            outbox_by_status: pairs(outbox)?,
            outbox_bounced: row.try_get("outbox_bounced")?,
            polls: self.poll_statuses_impl().await?,
        })
    }

    pub(super) async fn record_poll_success_impl(
        &self,
        mailbox: &str,
        now: i64,
    ) -> StoreResult<()> {
        // Several instances may poll the same mailbox: the time only moves forward.
        sqlx::query(
            "INSERT INTO mailbox_polls (mailbox, last_success_at) VALUES ($1, $2) \
             ON CONFLICT (mailbox) DO UPDATE SET last_success_at = CASE \
               WHEN excluded.last_success_at > mailbox_polls.last_success_at THEN excluded.last_success_at \
               ELSE mailbox_polls.last_success_at END",
        )
        .bind(mailbox)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn try_lease_mailbox_impl(
        &self,
        mailbox: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        // Inserted, or updated when the holder is ours or the lease expired; otherwise the
        // upsert changes no row.
        let result = sqlx::query(
            "INSERT INTO mailbox_leases (mailbox, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE mailbox_leases.holder = excluded.holder OR mailbox_leases.expires_at <= $4",
        )
        .bind(mailbox)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub(super) async fn release_mailbox_lease_impl(
        &self,
        mailbox: &str,
        holder: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM mailbox_leases WHERE mailbox = $1 AND holder = $2")
            .bind(mailbox)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn poll_statuses_impl(&self) -> StoreResult<Vec<PollStatus>> {
        let rows =
            sqlx::query("SELECT mailbox, last_success_at FROM mailbox_polls ORDER BY mailbox")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(PollStatus {
                    mailbox: row.try_get("mailbox")?,
                    last_success_at: row.try_get("last_success_at")?,
                })
            })
            .collect()
    }
}
