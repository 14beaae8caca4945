//! One poller per mailbox when several instances share a database: a lease row
//! (`mailbox_leases`) that its holder renews every [`RENEW_EVERY`] and that another instance
//! takes once it expired ([`TTL`] after the last renewal: the holder died or lost the
//! database) or was released (a clean stop).
//!
//! The lease saves work and keeps one IMAP session per mailbox; it is not what keeps a message
//! from being stored twice: if two instances ever read the same messages (a clock far off, a
//! renewal that ran late), the store recognises every message again by its source position or
//! dedupe key. Expiry times are written from each instance's clock, so instances must keep
//! their clocks in sync (NTP) to well under [`TTL`].

use crate::clock::now_ms;
use crate::store::Store;
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// How long a lease lasts after its last renewal: a dead holder's mailbox is taken over
/// within this plus [`RETRY_EVERY`].
pub const TTL: Duration = Duration::from_secs(6);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How often an instance without the lease tries to take it.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The lease on polling one mailbox, for this instance.
pub struct Lease {
    store: Arc<dyn Store>,
    mailbox: String,
    holder: String,
}

impl Lease {
    /// `mailbox` is the source's checkpoint key; the holder is this process: host name,
    /// process id and a random part (a restarted process is a new holder).
    pub fn new(store: Arc<dyn Store>, mailbox: String) -> Lease {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "host".into());
        let holder = format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        );
        Lease {
            store,
            mailbox,
            holder,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Waits until this instance holds the lease, then keeps renewing it in the background.
    /// `None` when `shutdown` turned true first.
    pub async fn acquire(&self, shutdown: &watch::Receiver<bool>) -> Option<Held> {
        let mut shutdown = shutdown.clone();
        let mut said_waiting = false;
        // While the database is down, one warning, not one a second.
        let mut said_unreadable = false;
        loop {
            if *shutdown.borrow() {
                return None;
            }
            match self
                .store
                .try_lease_mailbox(&self.mailbox, &self.holder, now_ms(), ttl_ms())
                .await
            {
                Ok(true) => break,
                Ok(false) if !said_waiting => {
                    info!("another instance polls this mailbox; waiting to take over");
                    said_waiting = true;
                    said_unreadable = false;
                }
                Ok(false) => said_unreadable = false,
                Err(error) if !said_unreadable => {
                    warn!(error = %error, "the mailbox lease could not be read; retrying every second");
                    said_unreadable = true;
                }
                Err(error) => debug!(error = %error, "the mailbox lease could still not be read"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY_EVERY) => {}
                _ = shutdown.changed() => {}
            }
        }
        info!("holding the mailbox lease");
        let (stop_tx, stop) = watch::channel(false);
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            self.store.clone(),
            self.mailbox.clone(),
            self.holder.clone(),
            shutdown,
            stop_tx,
            lost.clone(),
        ));
        Some(Held {
            stop,
            lost,
            renewer,
            store: self.store.clone(),
            mailbox: self.mailbox.clone(),
            holder: self.holder.clone(),
        })
    }
}

fn ttl_ms() -> i64 {
    TTL.as_millis() as i64
}

/// Renews until shutdown or until the lease is lost (another instance has it, or no renewal
/// succeeded for longer than the lease lasts); then turns `stop` true.
async fn renew(
    store: Arc<dyn Store>,
    mailbox: String,
    holder: String,
    mut shutdown: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    lost: Arc<AtomicBool>,
) {
    let mut renewed_at = now_ms();
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = shutdown.changed() => continue,
        }
        match store
            .try_lease_mailbox(&mailbox, &holder, now_ms(), ttl_ms())
            .await
        {
            Ok(true) => {
                renewed_at = now_ms();
                debug!("mailbox lease renewed");
            }
            Ok(false) => {
                warn!("another instance took the mailbox lease: stopping this poller");
                lost.store(true, Ordering::SeqCst);
                break;
            }
            // Stop before the lease can have run out: past that, another instance may poll.
            Err(error) if now_ms() - renewed_at >= ttl_ms() - RENEW_EVERY.as_millis() as i64 => {
                warn!(error = %error, "the mailbox lease could not be renewed in time: stopping this poller");
                lost.store(true, Ordering::SeqCst);
                break;
            }
            Err(error) => warn!(error = %error, "renewing the mailbox lease failed; retrying"),
        }
    }
    stop.send(true).ok();
}

/// A lease this instance holds. `stop` turns true on shutdown or when the lease is lost.
pub struct Held {
    pub stop: watch::Receiver<bool>,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
    store: Arc<dyn Store>,
    mailbox: String,
    holder: String,
}

/// A dropped guard (its poller's task ended or was cancelled) renews nothing any more: the
/// lease then expires by itself.
impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Held {
    /// Whether the lease was lost (rather than given up at shutdown).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and deletes the lease row if it is still ours, so that another
    /// instance takes over at once.
    pub async fn release(self) {
        self.renewer.abort();
        if let Err(error) = self
            .store
            .release_mailbox_lease(&self.mailbox, &self.holder)
            .await
        {
            warn!(error = %error, "the mailbox lease could not be released; it expires by itself");
        }
    }
}
