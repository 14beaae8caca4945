//! Ingest: raw bytes from a mail source become messages on threads.
//!
//! Order matters and is the invariant: the raw bytes are committed first (idempotently, by
//! source position and by dedupe key), then parsed, triaged and threaded in a second
//! transaction. A crash between the two leaves a raw message without a thread, which
//! [`Ingester::process_pending`] picks up at the next start. The source marks a message on
//! its server (`\Seen`, a move, a rename into `cur/`) only after the first commit.

use crate::clock::now_ms;
use crate::domain::{AutoKind, Risk, ThreadToken};
use crate::mail::{parse_message, raw::dedupe_key, ParsedMessage};
use crate::store::{NewMessage, NewRaw, RawMessageId, RawOutcome, Store, ThreadingKeys};
use crate::triage::{self, SenderHistory, TriageConfig};
use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Sender-history queries in flight at once. One: on SQLite eight at once made the stage up
/// to five times slower as the database grew (3,000-message bench), on PostgreSQL they saved
/// a quarter; the batch's repeated senders are read once either way.
const HISTORY_QUERIES: usize = 1;

/// Raw bytes from a source, with where they were seen.
#[derive(Debug, Clone)]
pub struct IncomingRaw {
    pub source_key: String,
    pub raw: Vec<u8>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub n_new: usize,
    pub n_known: usize,
    pub n_new_threads: usize,
    pub n_problems: usize,
}

impl BatchSummary {
    pub fn add(&mut self, other: &BatchSummary) {
        self.n_new += other.n_new;
        self.n_known += other.n_known;
        self.n_new_threads += other.n_new_threads;
        self.n_problems += other.n_problems;
    }
}

pub struct Ingester {
    store: Arc<dyn Store>,
    triage_config: Arc<TriageConfig>,
    acknowledger: Option<Arc<crate::replies::ack::Acknowledger>>,
}

impl Ingester {
    pub fn new(store: Arc<dyn Store>, triage_config: TriageConfig) -> Ingester {
        Ingester {
            store,
            triage_config: Arc::new(triage_config),
            acknowledger: None,
        }
    }

    /// Acknowledge new conversations as they are recorded.
    pub fn with_acknowledger(
        mut self,
        acknowledger: Arc<crate::replies::ack::Acknowledger>,
    ) -> Ingester {
        self.acknowledger = Some(acknowledger);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stores a batch of raw messages (one commit), then threads the new ones (a second commit).
    /// When this returns `Ok`, every message of the batch is safely stored.
    pub async fn ingest_batch(&self, items: Vec<IncomingRaw>) -> anyhow::Result<BatchSummary> {
        let received_at = now_ms();
        let new_raws: Vec<NewRaw> = items
            .into_iter()
            .map(|item| NewRaw {
                dedupe_key: dedupe_key(&item.raw),
                source_key: item.source_key,
                raw: item.raw,
                received_at,
            })
            .collect();
        let outcomes = self
            .store
            .store_raw_batch(&new_raws)
            .await
            .context("storing raw messages")?;
        let mut summary = BatchSummary::default();
        let mut fresh = Vec::new();
        for (outcome, item) in outcomes.into_iter().zip(new_raws) {
            match outcome {
                RawOutcome::Known(_) => summary.n_known += 1,
                RawOutcome::New(raw_id) => {
                    summary.n_new += 1;
                    fresh.push(Pending {
                        raw_id,
                        raw: item.raw,
                        received_at: item.received_at,
                    })
                }
                // Stored by a process that died (or failed) before threading it: thread it
                // now, with the time it first arrived.
                RawOutcome::Unprocessed(raw_id) => {
                    summary.n_known += 1;
                    let received_at = self
                        .store
                        .raw_message(raw_id)
                        .await?
                        .map(|stored| stored.received_at)
                        .unwrap_or(item.received_at);
                    info!(
                        raw_message_id = raw_id,
                        "threading a message stored earlier but never threaded"
                    );
                    fresh.push(Pending {
                        raw_id,
                        raw: item.raw,
                        received_at,
                    })
                }
            }
        }
        for recorded in self.process(fresh).await? {
            summary.n_new_threads += usize::from(recorded.new_thread);
            summary.n_problems += usize::from(recorded.had_problem);
        }
        Ok(summary)
    }

    /// Queues the acknowledgements a crash kept from being queued.
    pub async fn acknowledge_pending(&self) -> anyhow::Result<usize> {
        match &self.acknowledger {
            Some(acknowledger) => acknowledger.acknowledge_pending().await,
            None => Ok(0),
        }
    }

    /// Threads raw messages that were stored but not processed (after a crash).
    pub async fn process_pending(&self) -> anyhow::Result<usize> {
        let mut n_processed = 0;
        loop {
            let ids = self.store.unprocessed_raw_ids(100).await?;
            if ids.is_empty() {
                break;
            }
            let mut pending = Vec::with_capacity(ids.len());
            for raw_id in ids {
                let raw = self
                    .store
                    .raw_message(raw_id)
                    .await?
                    .with_context(|| format!("raw message {raw_id} vanished"))?;
                pending.push(Pending {
                    raw_id,
                    raw: raw.raw,
                    received_at: raw.received_at,
                });
            }
            n_processed += self.process(pending).await?.len();
        }
        if n_processed > 0 {
            info!(
                n_processed,
                "threaded raw messages left from an earlier run"
            );
        }
        Ok(n_processed)
    }

    /// Parses, triages and threads stored raw messages: parsing and triage on every core,
    /// recording in one transaction.
    async fn process(&self, pending: Vec<Pending>) -> anyhow::Result<Vec<Processed>> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let mut stage_ms = [0u128; 5];
        let mut lap = {
            let mut last = started;
            move || {
                let now = std::time::Instant::now();
                let ms = (now - last).as_millis();
                last = now;
                ms
            }
        };
        let pending = Arc::new(pending);
        let parsed = {
            let pending = pending.clone();
            tokio::task::spawn_blocking(move || {
                pending
                    .par_iter()
                    .map(|item| parse_message(&item.raw))
                    .collect::<Vec<_>>()
            })
            .await
            .context("the parser panicked")?
        };
        stage_ms[0] = lap();
        // Each sender's history once per batch: the histories
        // are read before any message of the batch is recorded, so a sender who wrote twice
        // in one batch gets the same history for both, as before.
        let mut senders: Vec<crate::domain::EmailAddress> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for address in parsed
            .iter()
            .filter_map(|result| result.as_ref().ok().and_then(|p| p.from.as_ref()))
        {
            if seen.insert(address.key()) {
                senders.push(address.clone());
            }
        }
        let queries = senders.into_iter().map(|address| {
            let store = self.store.clone();
            async move {
                let stored = store.contact_history(&address).await?;
                Ok::<_, crate::store::StoreError>((
                    address.key(),
                    SenderHistory {
                        known_country: stored.known_country,
                        known_language: stored.known_language,
                        recent_languages: stored.last_languages,
                    },
                ))
            }
        });
        let by_sender: std::collections::HashMap<String, SenderHistory> =
            futures::stream::iter(queries)
                .buffer_unordered(HISTORY_QUERIES)
                .try_collect()
                .await?;
        let histories: Vec<SenderHistory> = parsed
            .iter()
            .map(|result| {
                result
                    .as_ref()
                    .ok()
                    .and_then(|p| p.from.as_ref())
                    .and_then(|address| by_sender.get(&address.key()).cloned())
                    .unwrap_or_default()
            })
            .collect();
        stage_ms[1] = lap();
        let config = self.triage_config.clone();
        let messages = {
            let pending = pending.clone();
            tokio::task::spawn_blocking(move || {
                parsed
                    .into_par_iter()
                    .zip(histories)
                    .zip(pending.par_iter())
                    .map(|((parsed, history), item)| {
                        build_message(item.raw_id, item.received_at, parsed, &history, &config)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .context("triage panicked")?
        };
        stage_ms[2] = lap();
        for message in messages.iter().filter(|m| m.parse_problem.is_some()) {
            warn!(
                raw_message_id = message.raw_message_id,
                "message stored with a parse problem"
            );
        }
        let recorded = self
            .store
            .record_messages(&messages)
            .await
            .context("recording messages")?;
        stage_ms[3] = lap();
        // A bounce of one of our mails is linked to its outbox row.
        let our_domain = format!("@{}", self.triage_config.message_id_domain);
        for message in messages.iter().filter(|m| m.auto_kind == AutoKind::Bounce) {
            for id in message
                .threading
                .referenced_ids
                .iter()
                .filter(|id| id.as_str().to_ascii_lowercase().ends_with(&our_domain))
            {
                if let Some(outbox_id) = self.store.mark_outbox_bounced(id, now_ms()).await? {
                    warn!(
                        outbox_id,
                        raw_message_id = message.raw_message_id,
                        "one of our mails bounced"
                    );
                }
            }
        }
        // Acknowledgements follow the commit: a failure here never loses a message, and
        // `Acknowledger::acknowledge_pending` catches up after a crash.
        if let Some(acknowledger) = &self.acknowledger {
            let new_threads: Vec<_> = recorded
                .iter()
                .filter(|r| r.new_thread && r.newly_recorded)
                .map(|r| r.thread_id)
                .collect();
            if let Err(error) = acknowledger.acknowledge_batch(&new_threads).await {
                warn!(
                    n_threads = new_threads.len(),
                    error = format!("{error:#}"),
                    "acknowledgements not queued"
                );
            }
        }
        stage_ms[4] = lap();
        debug!(
            n_messages = messages.len(),
            parse_ms = stage_ms[0],
            history_ms = stage_ms[1],
            triage_ms = stage_ms[2],
            record_ms = stage_ms[3],
            acknowledge_ms = stage_ms[4],
            "batch processed"
        );
        Ok(recorded
            .into_iter()
            .zip(&messages)
            .map(|(recorded, message)| Processed {
                new_thread: recorded.new_thread,
                had_problem: message.parse_problem.is_some(),
            })
            .collect())
    }
}

/// A stored raw message waiting to be threaded.
struct Pending {
    raw_id: RawMessageId,
    raw: Vec<u8>,
    received_at: i64,
}

struct Processed {
    new_thread: bool,
    had_problem: bool,
}

/// Turns a parse result into the row to record, triaging it. Pure.
pub fn build_message(
    raw_message_id: RawMessageId,
    received_at: i64,
    parsed: Result<ParsedMessage, crate::mail::ParseFailure>,
    history: &SenderHistory,
    config: &TriageConfig,
) -> NewMessage {
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(failure) => {
            return NewMessage {
                raw_message_id,
                message_id: None,
                in_reply_to: None,
                references_header: None,
                from_address: None,
                from_name: None,
                subject: "(unreadable message)".into(),
                sent_at: None,
                received_at,
                body_text: String::new(),
                new_text: String::new(),
                has_html: false,
                n_attachments: 0,
                parse_problem: Some(failure.to_string()),
                language: None,
                language_confidence: None,
                country: None,
                risk: Risk::None,
                auto_kind: AutoKind::None,
                triage_json: "{}".into(),
                threading: ThreadingKeys::default(),
                processed_at: now_ms(),
            }
        }
    };
    let triaged = triage::triage(&parsed, history, config);
    let decision = &triaged.decision;
    let mut referenced_ids = parsed.in_reply_to.clone();
    for reference in parsed.references.iter().rev() {
        if !referenced_ids.contains(reference) {
            referenced_ids.push(reference.clone());
        }
    }
    // A bounce carries the message that could not be delivered (ours): thread it there.
    if decision.auto_kind.value == AutoKind::Bounce {
        for (name, value) in &parsed.embedded_headers {
            if name == "message-id" {
                if let Ok(id) = crate::domain::MessageId::parse(value) {
                    if !referenced_ids.contains(&id) {
                        referenced_ids.insert(0, id);
                    }
                }
            }
        }
    }
    let join_ids = |ids: &[crate::domain::MessageId]| {
        (!ids.is_empty()).then(|| {
            ids.iter()
                .map(|id| id.bracketed())
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    NewMessage {
        raw_message_id,
        message_id: parsed.message_id.clone(),
        in_reply_to: join_ids(&parsed.in_reply_to),
        references_header: join_ids(&parsed.references),
        from_address: parsed.from.clone(),
        from_name: parsed.from_name.clone(),
        subject: parsed.subject.clone(),
        sent_at: parsed.date_ms,
        received_at,
        body_text: parsed.text.clone(),
        new_text: triaged.parts.new_text.clone(),
        has_html: parsed.html.is_some(),
        n_attachments: parsed.attachments.len() as i64,
        parse_problem: (!parsed.problems.is_empty()).then(|| parsed.problems.join("; ")),
        language: decision.language.as_ref().map(|d| d.value.clone()),
        language_confidence: decision.language.as_ref().map(|d| d.confidence),
        country: decision.country.as_ref().map(|d| d.value),
        risk: decision.risk.value,
        auto_kind: decision.auto_kind.value,
        triage_json: serde_json::to_string(decision).unwrap_or_else(|_| "{}".into()),
        threading: ThreadingKeys {
            referenced_ids,
            token: ThreadToken::find_in_subject(&parsed.subject),
        },
        processed_at: now_ms(),
    }
}
