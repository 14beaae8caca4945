//! Mail sources: where raw messages come from. Protocol code lives here and nowhere else.
//!
//! A source hands raw bytes with a source position to the [`Ingester`] and marks the message
//! on its side (`\Seen`, a move, a rename into `cur/`) only after the ingester has committed.

pub mod imap;
pub mod lease;
pub mod maildir;
pub mod mbox;

use crate::ingest::Ingester;
use crate::store::{Store, StoreResult};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[async_trait]
pub trait MailSource: Send {
    /// A name for logs, without secrets.
    fn name(&self) -> String;

    /// Reads until `shutdown` turns true. Errors that a retry can cure are handled inside.
    async fn run(
        &mut self,
        ingester: Arc<Ingester>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()>;
}

/// The key under which a mailbox's last successful poll is stored, shown in `/metrics` and
/// named in the stalled-inbox alert: `imap:HOST/FOLDER` or `maildir:PATH`, from the
/// configuration only (no account name). `None` when this instance reads no mail.
pub fn poll_key(settings: &crate::config::Settings) -> Option<String> {
    match settings.inbox.kind {
        crate::config::InboxKind::Imap => Some(imap::poll_key(&settings.imap)),
        crate::config::InboxKind::Maildir => Some(maildir::poll_key(&settings.maildir.path)),
        crate::config::InboxKind::None => None,
    }
}

/// Rounds this process's mail source finished, and those that failed (`/metrics`).
pub static POLL_ROUNDS_OK: AtomicU64 = AtomicU64::new(0);
pub static POLL_ROUNDS_FAILED: AtomicU64 = AtomicU64::new(0);

/// How often a successful poll is written to the database at most: a Maildir is scanned every
/// second, and the stall threshold is counted in minutes.
pub const POLL_RECORD_INTERVAL: Duration = Duration::from_secs(30);

/// Records the outcome of a source's poll rounds: counts them, and writes the time of a
/// successful one to the store (the first at once, then at most every [`POLL_RECORD_INTERVAL`]).
pub struct PollRecorder {
    key: String,
    last_written: Mutex<Option<Instant>>,
}

impl PollRecorder {
    pub fn new(key: String) -> PollRecorder {
        PollRecorder {
            key,
            last_written: Mutex::new(None),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub async fn succeeded(&self, store: &dyn Store) -> StoreResult<()> {
        POLL_ROUNDS_OK.fetch_add(1, Ordering::Relaxed);
        let due = {
            let last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
            last.is_none_or(|at| at.elapsed() >= POLL_RECORD_INTERVAL)
        };
        if due {
            store
                .record_poll_success(&self.key, crate::clock::now_ms())
                .await?;
            *self.last_written.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        Ok(())
    }

    pub fn failed(&self) {
        POLL_ROUNDS_FAILED.fetch_add(1, Ordering::Relaxed);
    }
}
