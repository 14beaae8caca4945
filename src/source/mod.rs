//! Mail sources: where raw messages come from. Protocol code lives here and nowhere else.
//!
//! A source hands raw bytes with a source position to the [`Ingester`] and marks the message
//! on its side (`\Seen`, a move, a rename into `cur/`) only after the ingester has committed.

pub mod imap;
pub mod maildir;
pub mod mbox;

use crate::ingest::Ingester;
use async_trait::async_trait;
use std::sync::Arc;
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
