//! A local Maildir as the inbox: the embedded default, and a way to feed tests.
//!
//! New mail is read from `new/` (and unseen mail from `cur/`); once the ingester has
//! committed a message, its file moves to `cur/` with the `S` (seen) flag.

use super::{MailSource, PollRecorder};
use crate::ingest::{BatchSummary, IncomingRaw, Ingester};
use anyhow::Context;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

const BATCH_SIZE: usize = 100;

pub struct MaildirSource {
    root: PathBuf,
    poll_interval: Duration,
    poll: PollRecorder,
}

/// The key of this Maildir's last successful poll: `maildir:PATH`.
pub fn poll_key(root: &Path) -> String {
    format!("maildir:{}", root.display())
}

/// A message file waiting in the Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirEntry {
    pub path: PathBuf,
    /// The file name without its `:2,FLAGS` info part: stable across renames.
    pub unique: String,
    pub flags: String,
}

impl MaildirSource {
    pub fn new(root: impl Into<PathBuf>, poll_interval: Duration) -> MaildirSource {
        let root = root.into();
        MaildirSource {
            poll: PollRecorder::new(poll_key(&root)),
            root,
            poll_interval,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `new/`, `cur/` and `tmp/` when they are missing.
    pub fn ensure_layout(&self) -> std::io::Result<()> {
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(self.root.join(sub))?;
        }
        Ok(())
    }

    /// Messages not yet seen: everything in `new/`, and files in `cur/` without the `S` flag.
    pub fn pending(&self) -> std::io::Result<Vec<MaildirEntry>> {
        let mut entries = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.root.join(sub);
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if !entry.file_type()?.is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let (unique, flags) = match name.split_once(":2,") {
                    Some((unique, flags)) => (unique.to_string(), flags.to_string()),
                    None => (name.clone(), String::new()),
                };
                if sub == "cur" && flags.contains('S') {
                    continue;
                }
                entries.push(MaildirEntry {
                    path: entry.path(),
                    unique,
                    flags,
                });
            }
        }
        // Maildir unique names start with the delivery time: this is arrival order.
        entries.sort_by(|a, b| a.unique.cmp(&b.unique));
        Ok(entries)
    }

    /// Reads every pending message once. With `mark_seen`, committed files move to `cur/`.
    pub async fn scan_once(
        &self,
        ingester: &Ingester,
        mark_seen: bool,
    ) -> anyhow::Result<BatchSummary> {
        let pending = self
            .pending()
            .with_context(|| format!("reading the Maildir {}", self.root.display()))?;
        let mut summary = BatchSummary::default();
        for chunk in pending.chunks(BATCH_SIZE) {
            let mut items = Vec::with_capacity(chunk.len());
            let mut readable = Vec::with_capacity(chunk.len());
            for entry in chunk {
                match tokio::fs::read(&entry.path).await {
                    Ok(raw) => {
                        items.push(IncomingRaw {
                            source_key: format!("maildir:{}", entry.unique),
                            raw,
                        });
                        readable.push(entry);
                    }
                    // Another reader moved it, or it is being delivered: the next scan decides.
                    Err(error) => warn!(error = %error, "a Maildir file could not be read"),
                }
            }
            let batch = ingester.ingest_batch(items).await?;
            summary.add(&batch);
            if mark_seen {
                for entry in readable {
                    self.mark_seen(entry)?;
                }
            }
        }
        Ok(summary)
    }

    fn mark_seen(&self, entry: &MaildirEntry) -> anyhow::Result<()> {
        let mut flags: Vec<char> = entry
            .flags
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect();
        flags.push('S');
        flags.sort_unstable();
        flags.dedup();
        let flags: String = flags.into_iter().collect();
        let target = self
            .root
            .join("cur")
            .join(format!("{}:2,{flags}", entry.unique));
        std::fs::rename(&entry.path, &target)
            .with_context(|| format!("moving {} into cur/", entry.unique))
    }
}

#[async_trait]
impl MailSource for MaildirSource {
    fn name(&self) -> String {
        format!("maildir {}", self.root.display())
    }

    async fn run(
        &mut self,
        ingester: Arc<Ingester>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        self.ensure_layout()
            .with_context(|| format!("creating the Maildir {}", self.root.display()))?;
        info!(source = %self.name(), "reading the Maildir inbox");
        loop {
            match self.scan_once(&ingester, true).await {
                Ok(summary) => {
                    if summary.n_new + summary.n_known > 0 {
                        info!(
                            n_new = summary.n_new,
                            n_known = summary.n_known,
                            n_new_threads = summary.n_new_threads,
                            "Maildir scan"
                        )
                    }
                    if let Err(error) = self.poll.succeeded(ingester.store().as_ref()).await {
                        warn!(
                            error = format!("{:#}", anyhow::Error::from(error)),
                            "recording the Maildir poll failed"
                        );
                    }
                }
                Err(error) => {
                    self.poll.failed();
                    warn!(
                        error = format!("{error:#}"),
                        "Maildir scan failed; retrying"
                    )
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return Ok(());
            }
        }
    }
}
