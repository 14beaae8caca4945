//! The outbox worker: the only code that sends mail.
//!
//! It takes due rows with a lease, sends each over SMTP (or writes it as an `.eml` file), and
//! marks it sent right after the server accepts it. A transient (4xx or connection) failure is
//! retried with exponential backoff; a permanent (5xx) one marks the row failed. A row marked
//! sent is never sent again. A crash between the server's acceptance and the mark leaves the
//! row `sending`; when its lease expires it is sent again with the same Message-ID, which mail
//! clients show once.

use super::smtp::{SmtpClient, SmtpError};
use crate::clock::now_ms;
use crate::config::{OutgoingSettings, TransportKind};
use crate::store::{OutboxItem, Store};
use anyhow::Context;
use futures::{FutureExt, StreamExt};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

/// How long a worker owns a row it took; after that another worker (or a restart) retries it.
const LEASE_MS: i64 = 30_000;
/// How often a worker renews the lease of the rows it is sending.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Rows one pass takes (one claim transaction).
const BATCH: i64 = 128;
/// Mails in flight at once, each on its own connection (`smtp::MAX_IDLE` are kept).
const CONCURRENT_SENDS: usize = 8;

/// RFC 3834: this mail was written by a machine, in reply to a person.
#[derive(Debug, Clone)]
pub struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.trim().to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Asks Microsoft servers not to answer our automatic mail with theirs.
#[derive(Debug, Clone)]
pub struct AutoResponseSuppress(String);

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoResponseSuppress(s.trim().to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

pub enum Transport {
    Smtp(SmtpClient),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// How a send went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later (4xx, connection trouble).
    Transient(String),
    /// Do not try again (5xx, a mail that cannot be built).
    Permanent(String),
}

impl Transport {
    pub fn from_settings(settings: &OutgoingSettings) -> anyhow::Result<Transport> {
        Ok(match settings.transport {
            TransportKind::File => {
                std::fs::create_dir_all(&settings.file_dir).with_context(|| {
                    format!(
                        "creating the outgoing mail folder {}",
                        settings.file_dir.display()
                    )
                })?;
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(
                    &settings.file_dir,
                ))
            }
            TransportKind::Smtp => Transport::Smtp(SmtpClient::new(settings)),
        })
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp
                .send(message.envelope(), &message.formatted())
                .await
                .map_err(|error| match error {
                    SmtpError::Permanent(error) => SendError::Permanent(error),
                    SmtpError::Transient(error) => SendError::Transient(error),
                }),
            Transport::File(file) => file
                .send(message)
                .await
                .map(|_| ())
                .map_err(|error| SendError::Transient(error.to_string())),
        }
    }
}

/// Builds the mail of an outbox row.
pub fn build_message(item: &OutboxItem) -> Result<Message, SendError> {
    let permanent = |what: &str, error: &dyn std::fmt::Display| {
        SendError::Permanent(format!("{what}: {error}"))
    };
    let from: Mailbox = item
        .from_address
        .parse()
        .map_err(|e| permanent("From", &e))?;
    let to: Mailbox = item.to_address.parse().map_err(|e| permanent("To", &e))?;
    // Headers are one line each: a stored value can never add a header.
    let one_line = crate::mail::parse::unfold;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&item.subject))
        .message_id(Some(format!("<{}>", item.message_id)))
        .date_now();
    if let Some(in_reply_to) = &item.in_reply_to {
        builder = builder.in_reply_to(one_line(in_reply_to));
    }
    if let Some(references) = &item.references_header {
        builder = builder.references(one_line(references));
    }
    if item.auto_submitted {
        builder = builder
            .header(AutoSubmitted("auto-replied".into()))
            .header(AutoResponseSuppress("All".into()));
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(item.body_text.clone())
        .map_err(|e| permanent("body", &e))
}

/// The wait before attempt `attempt + 1`: 30 s, 1 min, 2 min ... up to an hour.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exponent = (attempt.max(1) - 1).min(7) as u32;
    (30_000i64 * 2i64.pow(exponent)).min(3_600_000)
}

pub struct OutboxWorker {
    store: Arc<dyn Store>,
    transport: Transport,
    max_attempts: i64,
    poll_interval: Duration,
    queued: Arc<Notify>,
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn Store>,
        transport: Transport,
        max_attempts: u32,
        poll_interval: Duration,
        queued: Arc<Notify>,
    ) -> OutboxWorker {
        OutboxWorker {
            store,
            transport,
            max_attempts: i64::from(max_attempts),
            poll_interval,
            queued,
        }
    }

    /// Reports whether the SMTP server can be reached to `dependencies` (`/healthz`).
    pub fn with_dependencies(
        mut self,
        dependencies: Arc<crate::health::Dependencies>,
    ) -> OutboxWorker {
        if let Transport::Smtp(client) = &mut self.transport {
            client.set_dependencies(dependencies);
        }
        self
    }

    /// The signal that wakes this worker when a mail is queued.
    pub fn queued(&self) -> Arc<Notify> {
        self.queued.clone()
    }

    /// Sends every due row once; returns how many rows it took.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        self.send_due_at(now_ms()).await
    }

    /// As [`Self::send_due`], as if it were `now` (tests move time forward with it).
    pub async fn send_due_at(&self, now: i64) -> anyhow::Result<usize> {
        let items = self.store.claim_outbox(now, LEASE_MS, BATCH).await?;
        // Several mails at once: each SMTP exchange is mostly waiting on the network.
        let transport = &self.transport;
        let mut sends = Vec::with_capacity(items.len());
        for item in &items {
            let message = build_message(item);
            sends.push(async move {
                let result = match message {
                    Ok(message) => transport.send(message).await,
                    Err(error) => Err(error),
                };
                (item, result)
            });
        }
        // Each row is marked as soon as its own exchange ends, not after the batch: a crash
        // then resends at most the mails still in flight.
        let mut results = futures::stream::iter(sends).buffer_unordered(CONCURRENT_SENDS);
        // The claim is renewed while the batch is out, so the lease can be short: a worker
        // that dies leaves its rows to another within LEASE_MS, and a slow server never lets
        // another worker take a row still being sent.
        let claimed: Vec<i64> = items.iter().map(|item| item.id).collect();
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
        loop {
            let first = tokio::select! {
                next = results.next() => match next {
                    Some(first) => first,
                    None => break,
                },
                _ = renew.tick() => {
                    if let Err(error) = self.store.renew_outbox_lease(&claimed, now_ms() + LEASE_MS).await {
                        warn!(error = %error, "the outbox lease could not be renewed");
                    }
                    continue;
                }
            };
            // Every exchange that has ended by now is marked in one transaction.
            let mut ended = vec![first];
            while let Some(Some(more)) = results.next().now_or_never() {
                ended.push(more);
            }
            let sent: Vec<&OutboxItem> = ended
                .iter()
                .filter(|(_, result)| result.is_ok())
                .map(|(item, _)| *item)
                .collect();
            if !sent.is_empty() {
                let ids: Vec<i64> = sent.iter().map(|item| item.id).collect();
                self.store.mark_outbox_sent(&ids, now_ms()).await?;
                for item in sent {
                    info!(outbox_id = item.id, thread_id = item.thread_id, kind = %item.kind, "mail sent");
                }
            }
            for (item, result) in ended {
                let Err(error) = result else { continue };
                match error {
                    SendError::Permanent(error) => {
                        self.store.mark_outbox_failed(item.id, &error).await?;
                        warn!(
                            outbox_id = item.id,
                            thread_id = item.thread_id,
                            "mail refused for good"
                        );
                    }
                    SendError::Transient(error) if item.attempts >= self.max_attempts => {
                        self.store
                            .mark_outbox_failed(
                                item.id,
                                &format!("gave up after {} attempts: {error}", item.attempts),
                            )
                            .await?;
                        warn!(
                            outbox_id = item.id,
                            thread_id = item.thread_id,
                            attempts = item.attempts,
                            "mail given up"
                        );
                    }
                    SendError::Transient(error) => {
                        let delay = backoff_ms(item.attempts);
                        self.store
                            .mark_outbox_retry(item.id, now_ms() + delay, &error)
                            .await?;
                        warn!(
                            outbox_id = item.id,
                            thread_id = item.thread_id,
                            attempts = item.attempts,
                            retry_in_ms = delay,
                            "mail deferred"
                        );
                    }
                }
            }
        }
        Ok(items.len())
    }

    /// Sends until shutdown: at once when a mail is queued, else every poll interval.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let took = match self.send_due().await {
                Ok(n) => n,
                Err(error) => {
                    warn!(error = format!("{error:#}"), "outbox pass failed");
                    0
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if took as i64 >= BATCH {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = self.queued.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(5), 480_000);
        assert_eq!(backoff_ms(50), 3_600_000);
    }
}
