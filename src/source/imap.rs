//! The shared inbox over IMAP: UID checkpoints, batched `UID FETCH BODY.PEEK[]`, IDLE with a
//! poll fallback, reconnection with exponential backoff and jitter.
//!
//! Exactly-once reading rests on three steps in this order: the ingester commits the batch,
//! then the server-side mark (`\Seen` or a move) is set, then the checkpoint (UIDVALIDITY,
//! last UID) is saved. A crash between any two of them replays a batch, and the store
//! recognises every replayed message by its source position or its dedupe key.

use super::lease::Lease;
use super::{MailSource, PollRecorder};
use crate::clock::now_ms;
use crate::config::{ImapSettings, TlsMode};
use crate::health::{Dependencies, Dependency};
use crate::ingest::{IncomingRaw, Ingester};
use crate::store::Checkpoint;
use anyhow::{bail, Context};
use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use async_trait::async_trait;
use futures::TryStreamExt;
use rand::Rng;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 2177: clients should renew IDLE at least every 29 minutes.
const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

/// async-imap wants one concrete stream type.
pub type ImapStream = crate::net::NetStream;

pub type ImapSession = Session<ImapStream>;

/// Exponential backoff with jitter, from one second up to a ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    ceiling: Duration,
}

impl Backoff {
    pub fn new(ceiling: Duration) -> Backoff {
        Backoff {
            attempt: 0,
            ceiling,
        }
    }

    /// The next wait: 1 s, 2 s, 4 s ... up to the ceiling, each between 75% and 125%.
    pub fn next_delay(&mut self) -> Duration {
        let base = Duration::from_secs(1u64 << self.attempt.min(16)).min(self.ceiling);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = rand::thread_rng().gen_range(0.75..1.25);
        base.mul_f64(jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

pub struct ImapSource {
    settings: ImapSettings,
    ingester_key: String,
    poll: PollRecorder,
    dependencies: Arc<Dependencies>,
}

/// The key of this mailbox's last successful poll: `imap:HOST/FOLDER` (no account name).
pub fn poll_key(settings: &ImapSettings) -> String {
    format!("imap:{}/{}", settings.host, settings.mailbox)
}

impl ImapSource {
    pub fn new(settings: ImapSettings) -> ImapSource {
        // The checkpoint key names the account and folder, not the password.
        let ingester_key = format!(
            "imap:{}@{}:{}/{}",
            settings.username, settings.host, settings.port, settings.mailbox
        );
        ImapSource {
            poll: PollRecorder::new(poll_key(&settings)),
            settings,
            ingester_key,
            dependencies: Arc::default(),
        }
    }

    /// Reports whether the server can be reached to `dependencies` (`/healthz`).
    pub fn with_dependencies(mut self, dependencies: Arc<Dependencies>) -> ImapSource {
        self.dependencies = dependencies;
        self
    }

    /// The key of this mailbox's checkpoint and source positions.
    pub fn mailbox_key(&self) -> &str {
        &self.ingester_key
    }

    /// Reads everything new once, without IDLE: for tests and `concierge ingest`.
    pub async fn sync_once(&self, ingester: &Ingester) -> anyhow::Result<usize> {
        let mut session = connect(&self.settings).await?;
        let uid_validity = self.select(&mut session).await?;
        let n = self.sync(&mut session, uid_validity, ingester).await?;
        session.logout().await.ok();
        Ok(n)
    }

    async fn select(&self, session: &mut ImapSession) -> anyhow::Result<u32> {
        let mailbox = session
            .select(&self.settings.mailbox)
            .await
            .context("selecting the mailbox")?;
        mailbox
            .uid_validity
            .context("the server sent no UIDVALIDITY")
    }

    /// Fetches every message above the checkpoint, in batches; returns how many were fetched.
    async fn sync(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        ingester: &Ingester,
    ) -> anyhow::Result<usize> {
        let store = ingester.store();
        let key = self.mailbox_key();
        let last_uid = match store.checkpoint(key).await? {
            Some(checkpoint) if checkpoint.uid_validity == i64::from(uid_validity) => {
                checkpoint.last_uid
            }
            Some(_) => {
                // The server renumbered the mailbox: read it all again; dedupe keys prevent doubles.
                info!(uid_validity, "UIDVALIDITY changed; re-scanning the mailbox");
                0
            }
            None => 0,
        };
        let found = session
            .uid_search(format!("UID {}:*", last_uid + 1))
            .await
            .context("searching for new messages")?;
        // "n:*" always matches the highest UID, even when it is below n.
        let mut uids: Vec<u32> = found
            .into_iter()
            .filter(|uid| i64::from(*uid) > last_uid)
            .collect();
        uids.sort_unstable();
        drain_unsolicited(session);
        let mut n_fetched = 0;
        for chunk in uids.chunks(self.settings.batch_size as usize) {
            let uid_set = uid_set(chunk);
            let fetches: Vec<_> = session
                .uid_fetch(&uid_set, "(UID BODY.PEEK[])")
                .await
                .context("fetching messages")?
                .try_collect()
                .await
                .context("reading fetched messages")?;
            let mut items: Vec<(u32, IncomingRaw)> = fetches
                .iter()
                .filter_map(|fetch| {
                    let uid = fetch.uid?;
                    let body = fetch.body()?;
                    Some((
                        uid,
                        IncomingRaw {
                            source_key: format!("{key}:{uid_validity}:{uid}"),
                            raw: body.to_vec(),
                        },
                    ))
                })
                .collect();
            items.sort_by_key(|(uid, _)| *uid);
            n_fetched += items.len();
            let summary = ingester
                .ingest_batch(items.into_iter().map(|(_, item)| item).collect())
                .await?;
            debug!(
                n_new = summary.n_new,
                n_known = summary.n_known,
                "IMAP batch stored"
            );
            self.mark_processed(session, &uid_set).await?;
            let last_uid = i64::from(*chunk.last().expect("chunks are not empty"));
            store
                .save_checkpoint(
                    &Checkpoint {
                        mailbox: key.to_string(),
                        uid_validity: i64::from(uid_validity),
                        last_uid,
                    },
                    now_ms(),
                )
                .await?;
            drain_unsolicited(session);
        }
        if n_fetched > 0 {
            info!(n_fetched, "IMAP messages stored");
        }
        self.poll.succeeded(store.as_ref()).await?;
        Ok(n_fetched)
    }

    async fn mark_processed(&self, session: &mut ImapSession, uid_set: &str) -> anyhow::Result<()> {
        if self.settings.processed_folder.trim().is_empty() {
            let _: Vec<_> = session
                .uid_store(uid_set, "+FLAGS.SILENT (\\Seen)")
                .await
                .context("flagging messages \\Seen")?
                .try_collect()
                .await
                .context("flagging messages \\Seen")?;
        } else {
            session
                .uid_mv(uid_set, &self.settings.processed_folder)
                .await
                .context("moving messages to the processed folder")?;
        }
        Ok(())
    }

    /// One connection's life: sync, then IDLE (or poll) and sync again, until shutdown.
    async fn session_loop(
        &self,
        ingester: &Ingester,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> anyhow::Result<()> {
        let mut session = match connect(&self.settings).await {
            Ok(session) => session,
            Err(error) => {
                self.dependencies.report_down(Dependency::Imap, now_ms());
                return Err(error);
            }
        };
        self.dependencies.report_up(Dependency::Imap, now_ms());
        let capabilities = session
            .capabilities()
            .await
            .context("asking for capabilities")?;
        let use_idle = self.settings.idle && capabilities.has_str("IDLE");
        let uid_validity = self.select(&mut session).await?;
        info!(use_idle, "IMAP session open");
        backoff.reset();
        let wait = Duration::from_secs(self.settings.poll_interval_secs).min(MAX_IDLE);
        loop {
            self.sync(&mut session, uid_validity, ingester).await?;
            if *shutdown.borrow() {
                session.logout().await.ok();
                return Ok(());
            }
            if use_idle {
                let mut handle = session.idle();
                handle.init().await.context("starting IDLE")?;
                let (idle_wait, _stop) = handle.wait_with_timeout(wait);
                let outcome = tokio::select! {
                    outcome = idle_wait => Some(outcome.context("waiting in IDLE")?),
                    _ = shutdown.changed() => None,
                };
                session = handle.done().await.context("ending IDLE")?;
                match outcome {
                    None => {
                        session.logout().await.ok();
                        return Ok(());
                    }
                    Some(IdleResponse::NewData(_)) => debug!("IDLE: the server announced a change"),
                    Some(IdleResponse::Timeout) | Some(IdleResponse::ManualInterrupt) => {}
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                session.noop().await.context("NOOP")?;
            }
        }
    }
}

#[async_trait]
impl MailSource for ImapSource {
    fn name(&self) -> String {
        format!(
            "imap {}:{}/{}",
            self.settings.host, self.settings.port, self.settings.mailbox
        )
    }

    async fn run(
        &mut self,
        ingester: Arc<Ingester>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(Duration::from_secs(self.settings.max_backoff_secs.max(1)));
        info!(source = %self.name(), "reading the IMAP inbox");
        // Several instances on one database: one of them polls the mailbox at a time.
        let lease = Lease::new(ingester.store().clone(), self.mailbox_key().to_string());
        loop {
            let Some(mut held) = lease.acquire(&shutdown).await else {
                return Ok(());
            };
            // `held.stop` turns true on shutdown or when the lease is lost.
            loop {
                if *held.stop.borrow() {
                    break;
                }
                match self
                    .session_loop(&ingester, &mut held.stop, &mut backoff)
                    .await
                {
                    Ok(()) => break,
                    Err(error) => {
                        self.poll.failed();
                        let delay = backoff.next_delay();
                        warn!(
                            error = format!("{error:#}"),
                            retry_in_ms = delay.as_millis() as u64,
                            "IMAP session failed"
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = held.stop.changed() => {}
                        }
                    }
                }
            }
            let lost = held.lost();
            held.release().await;
            if !lost {
                return Ok(());
            }
        }
    }
}

/// Unsolicited responses (EXISTS, EXPUNGE...) pile up in a channel; we re-search instead.
fn drain_unsolicited(session: &mut ImapSession) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// `[1,2,3,7,9,10]` -> `1:3,7,9:10`.
pub fn uid_set(sorted_uids: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut index = 0;
    while index < sorted_uids.len() {
        let start = sorted_uids[index];
        let mut end = start;
        while index + 1 < sorted_uids.len() && sorted_uids[index + 1] == end + 1 {
            index += 1;
            end = sorted_uids[index];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        index += 1;
    }
    parts.join(",")
}

/// Opens a session: TCP, TLS as configured, greeting, LOGIN.
pub async fn connect(settings: &ImapSettings) -> anyhow::Result<ImapSession> {
    let trust = match settings.tls {
        TlsMode::None => crate::net::Trust::WebPki,
        TlsMode::Implicit | TlsMode::Starttls => {
            crate::net::Trust::load(&settings.ca_file).context("imap.ca_file")?
        }
    };
    let tcp =
        crate::net::tcp_connect(&settings.host, settings.port, CONNECT_TIMEOUT, "IMAP").await?;
    let client = match settings.tls {
        TlsMode::None => greet(async_imap::Client::new(ImapStream::Plain(tcp))).await?,
        TlsMode::Implicit => {
            let tls = crate::net::tls_connect(&settings.host, tcp, &trust, "IMAP").await?;
            greet(async_imap::Client::new(ImapStream::Tls(Box::new(tls)))).await?
        }
        TlsMode::Starttls => {
            let mut plain = greet(async_imap::Client::new(ImapStream::Plain(tcp))).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("STARTTLS")?;
            let ImapStream::Plain(tcp) = plain.into_inner() else {
                bail!("STARTTLS on a connection that is already encrypted");
            };
            let tls = crate::net::tls_connect(&settings.host, tcp, &trust, "IMAP").await?;
            async_imap::Client::new(ImapStream::Tls(Box::new(tls)))
        }
    };
    client
        .login(&settings.username, settings.password.expose_secret())
        .await
        .map_err(|(error, _)| error)
        .context("logging in to the IMAP server")
}

async fn greet(
    mut client: async_imap::Client<ImapStream>,
) -> anyhow::Result<async_imap::Client<ImapStream>> {
    tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
        .await
        .context("waiting for the IMAP greeting timed out")?
        .context("reading the IMAP greeting")?
        .context("the IMAP server closed the connection before its greeting")?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_uid_sets() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_secs(300));
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        assert!(
            delays[0] >= Duration::from_millis(750) && delays[0] <= Duration::from_millis(1250)
        );
        assert!(delays[3] >= Duration::from_secs(6) && delays[3] <= Duration::from_secs(10));
        assert!(delays[11] <= Duration::from_secs(375) && delays[11] >= Duration::from_secs(225));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(1250));
    }
}
