//! The SQL behind retention (`retention.purge_after_days`, `concierge purge`): the content of
//! old closed conversations is removed, their rows stay.
//!
//! A thread is purgeable when it is closed, nothing came in or went out, nobody wrote a note
//! or a draft on it since the cutoff, no mail of it is still to be sent, and something of it
//! is left to purge. What goes: the raw bytes (an empty blob is left), each message's text,
//! subject and the details of its triage evidence (the words that were matched), the text and
//! subject of what we sent, the text of notes, drafts, and the thread's subject. What stays:
//! every row and id, the timestamps and counters the reports read, the risk, language and
//! country codes, the dedupe key and the source positions of every raw message (so the same
//! mail read again is known, not ingested again) and every Message-ID (so a reply still finds
//! its thread). `purged_at` marks what was purged and when.

use super::sql::SqlStore;
use super::{Backend, StoreResult, ThreadId};
use serde::Serialize;
use sqlx::Row;

/// What stands in for a purged subject.
pub const PURGED_SUBJECT: &str = "(purged)";

/// What a purge removed, or in a dry run would remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    pub threads: i64,
    pub messages: i64,
    pub raw_messages: i64,
    /// The size of the raw messages purged, as stored when they arrived.
    pub raw_bytes: i64,
    /// Mails we sent (acknowledgements, replies) whose text was purged.
    pub outbox: i64,
    pub notes: i64,
    pub drafts: i64,
}

impl PurgeCounts {
    pub fn add(&mut self, other: &PurgeCounts) {
        self.threads += other.threads;
        self.messages += other.messages;
        self.raw_messages += other.raw_messages;
        self.raw_bytes += other.raw_bytes;
        self.outbox += other.outbox;
        self.notes += other.notes;
        self.drafts += other.drafts;
    }
}

/// Threads (`t`) that may be purged at cutoff `$1`: see the module comment.
const PURGEABLE: &str =
    "t.status = 'closed' AND t.last_inbound_at < $1 AND (t.closed_at IS NULL OR t.closed_at < $1) \
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.thread_id = t.id \
      AND (o.status IN ('queued', 'sending') OR o.created_at >= $1 OR o.sent_at >= $1)) \
    AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.thread_id = t.id AND n.created_at >= $1) \
    AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.thread_id = t.id AND d.updated_at >= $1) \
    AND (t.purged_at IS NULL \
      OR EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.purged_at IS NULL) \
      OR EXISTS (SELECT 1 FROM outbox o WHERE o.thread_id = t.id AND o.purged_at IS NULL) \
      OR EXISTS (SELECT 1 FROM notes n WHERE n.thread_id = t.id AND n.purged_at IS NULL) \
      OR EXISTS (SELECT 1 FROM drafts d WHERE d.thread_id = t.id))";

/// What purging the threads of `list` at cutoff `$1` removes. Each condition is the one of
/// the statement in [`SqlStore::purge_batch_impl`] that purges it, so that a dry run counts
/// what the real run then does.
fn counts_sql(list: &str) -> String {
    let raws = format!(
        "FROM raw_messages r WHERE r.purged_at IS NULL AND r.id IN \
           (SELECT m.raw_message_id FROM messages m WHERE m.thread_id IN ({list}) AND m.received_at < $1)"
    );
    format!(
        "SELECT \
           (SELECT COUNT(*) FROM messages m WHERE m.thread_id IN ({list}) AND m.purged_at IS NULL AND m.received_at < $1) AS messages, \
           (SELECT COUNT(*) {raws}) AS raw_messages, \
           (SELECT CAST(COALESCE(SUM(r.size_bytes), 0) AS BIGINT) {raws}) AS raw_bytes, \
           (SELECT COUNT(*) FROM outbox o WHERE o.thread_id IN ({list}) AND o.purged_at IS NULL \
              AND o.status IN ('sent', 'failed') AND o.created_at < $1) AS outbox, \
           (SELECT COUNT(*) FROM notes n WHERE n.thread_id IN ({list}) AND n.purged_at IS NULL AND n.created_at < $1) AS notes, \
           (SELECT COUNT(*) FROM drafts d WHERE d.thread_id IN ({list}) AND d.updated_at < $1) AS drafts"
    )
}

fn counts_of(row: &sqlx::any::AnyRow, n_threads: usize) -> StoreResult<PurgeCounts> {
    Ok(PurgeCounts {
        threads: i64::try_from(n_threads).unwrap_or(i64::MAX),
        messages: row.try_get("messages")?,
        raw_messages: row.try_get("raw_messages")?,
        raw_bytes: row.try_get("raw_bytes")?,
        outbox: row.try_get("outbox")?,
        notes: row.try_get("notes")?,
        drafts: row.try_get("drafts")?,
    })
}

/// Thread ids as a list to write into a statement (integers only, so that is safe).
fn id_list(ids: &[ThreadId]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// A triage decision without the details of its evidence: the detail is what was seen in the
/// message (a matched phrase, "I live in ..."), the signal names and weights are codes and
/// numbers. Anything that is not the JSON we wrote becomes an empty object.
pub fn strip_evidence_details(triage_json: &str) -> String {
    let Ok(mut decision) = serde_json::from_str::<serde_json::Value>(triage_json) else {
        return "{}".into();
    };
    let Some(fields) = decision.as_object_mut() else {
        return "{}".into();
    };
    for field in fields.values_mut() {
        if let Some(evidence) = field.get_mut("evidence").and_then(|e| e.as_array_mut()) {
            for item in evidence {
                if let Some(item) = item.as_object_mut() {
                    item.remove("detail");
                }
            }
        }
    }
    decision.to_string()
}

impl SqlStore {
    pub(super) async fn purge_preview_impl(
        &self,
        cutoff: i64,
        batch_size: i64,
    ) -> StoreResult<PurgeCounts> {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT t.id FROM threads t WHERE {PURGEABLE} ORDER BY t.id"
        ))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        let mut total = PurgeCounts::default();
        for chunk in ids.chunks(usize::try_from(batch_size.max(1)).unwrap_or(500)) {
            let row = sqlx::query(&counts_sql(&id_list(chunk)))
                .bind(cutoff)
                .fetch_one(&self.pool)
                .await?;
            total.add(&counts_of(&row, chunk.len())?);
        }
        Ok(total)
    }

    pub(super) async fn purge_batch_impl(
        &self,
        cutoff: i64,
        limit: i64,
        now: i64,
    ) -> StoreResult<PurgeCounts> {
        // PostgreSQL: the threads are locked, so that a message recorded meanwhile (which
        // updates its thread) either comes first, and the thread is no longer purgeable, or
        // waits for this transaction. SQLite holds the write lock from the start.
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE OF t SKIP LOCKED",
        };
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT t.id FROM threads t WHERE {PURGEABLE} ORDER BY t.id LIMIT $2 {lock}"
        ))
        .bind(cutoff)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(PurgeCounts::default());
        }
        let list = id_list(&ids);
        // Counted first for the bytes, which an update cannot return on both backends.
        let row = sqlx::query(&counts_sql(&list))
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await?;
        let expected = counts_of(&row, ids.len())?;

        let raws = sqlx::query(&format!(
            "UPDATE raw_messages SET raw = $1, purged_at = $2 WHERE purged_at IS NULL AND id IN \
               (SELECT m.raw_message_id FROM messages m WHERE m.thread_id IN ({list}) AND m.received_at < $3)"
        ))
        .bind(Vec::<u8>::new())
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;

        let messages: Vec<(i64, String)> = sqlx::query_as(&format!(
            "SELECT id, triage_json FROM messages WHERE thread_id IN ({list}) AND purged_at IS NULL AND received_at < $1 ORDER BY id"
        ))
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let mut n_messages = 0;
        for (message_id, triage_json) in &messages {
            n_messages += sqlx::query(
                "UPDATE messages SET subject = $1, body_text = '', new_text = '', triage_json = $2, purged_at = $3 \
                 WHERE id = $4 AND purged_at IS NULL",
            )
            .bind(PURGED_SUBJECT)
            .bind(strip_evidence_details(triage_json))
            .bind(now)
            .bind(message_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }

        let outbox = sqlx::query(&format!(
            "UPDATE outbox SET subject = $1, body_text = '', purged_at = $2 WHERE thread_id IN ({list}) \
             AND purged_at IS NULL AND status IN ('sent', 'failed') AND created_at < $3"
        ))
        .bind(PURGED_SUBJECT)
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let notes = sqlx::query(&format!(
            "UPDATE notes SET body_text = '', purged_at = $1 WHERE thread_id IN ({list}) AND purged_at IS NULL AND created_at < $2"
        ))
        .bind(now)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let drafts = sqlx::query(&format!(
            "DELETE FROM drafts WHERE thread_id IN ({list}) AND updated_at < $1"
        ))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let threads = sqlx::query(&format!(
            "UPDATE threads SET subject = $1, purged_at = $2 WHERE id IN ({list})"
        ))
        .bind(PURGED_SUBJECT)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        let purged = PurgeCounts {
            threads: to_i64(threads.rows_affected()),
            messages: to_i64(n_messages),
            raw_messages: to_i64(raws.rows_affected()),
            raw_bytes: expected.raw_bytes,
            outbox: to_i64(outbox.rows_affected()),
            notes: to_i64(notes.rows_affected()),
            drafts: to_i64(drafts.rows_affected()),
        };
        if purged != expected {
            // The counts of a dry run would have been wrong: say so, with counts only.
            tracing::warn!(
                ?expected,
                ?purged,
                "a purge batch did not purge what it counted"
            );
        }
        Ok(purged)
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_details_go_and_the_decision_stays() {
        let json = r#"{"risk":{"value":"crisis","confidence":0.9,"evidence":[{"signal":"phrase","detail":"crisis/phrase \"end it all\" (en)","weight":0.9}]},"language":null}"#;
        let stripped: serde_json::Value =
            serde_json::from_str(&strip_evidence_details(json)).unwrap();
        assert_eq!(stripped["risk"]["value"], "crisis");
        assert_eq!(stripped["risk"]["confidence"], 0.9);
        assert_eq!(stripped["risk"]["evidence"][0]["signal"], "phrase");
        assert!(stripped["risk"]["evidence"][0].get("detail").is_none());
        assert!(!stripped.to_string().contains("end it all"));
        assert_eq!(strip_evidence_details("not json"), "{}");
        assert_eq!(strip_evidence_details("[1]"), "{}");
    }
}
