//! Retention: the content of closed conversations nobody touched for
//! `retention.purge_after_days` is purged, by `concierge purge` and hourly by the instances
//! of `serve` that read mail.
//!
//! The store decides what is purgeable and what goes (`store/retention.rs`); this module
//! drives it in batches of [`BATCH_THREADS`] threads, one transaction each with a pause in
//! between, so that a large first purge never holds SQLite's write lock for long and the
//! ingester gets in between batches.

use crate::store::{PurgeCounts, Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info};

/// Threads purged per transaction.
pub const BATCH_THREADS: i64 = 500;

/// How often `serve` purges.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Lets other writers take SQLite's write lock between two batches.
const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(50);

const DAY_MS: i64 = 86_400_000;

/// The cutoff for a retention of `purge_after_days` at `now`: content last touched before it
/// goes. `None` when retention is off (0 days).
pub fn cutoff(purge_after_days: i64, now: i64) -> Option<i64> {
    (purge_after_days > 0).then(|| now.saturating_sub(purge_after_days.saturating_mul(DAY_MS)))
}

/// Purges everything purgeable at `cutoff`, batch by batch, or with `dry_run` only counts it
/// (in batches of the same size, so the counts are those the real run then reports).
/// A `true` on `stop` ends the purge after the batch in progress.
pub async fn purge(
    store: &dyn Store,
    cutoff: i64,
    now: i64,
    dry_run: bool,
    stop: Option<&watch::Receiver<bool>>,
) -> StoreResult<PurgeCounts> {
    if dry_run {
        return store.purge_preview(cutoff, BATCH_THREADS).await;
    }
    let mut total = PurgeCounts::default();
    loop {
        let batch = store.purge_batch(cutoff, BATCH_THREADS, now).await?;
        total.add(&batch);
        // A batch shorter than the limit took the last purgeable threads.
        if batch.threads < BATCH_THREADS || stop.is_some_and(|stop| *stop.borrow()) {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE_BETWEEN_BATCHES).await;
    }
}

/// The `serve` task: purges now and then every [`PURGE_EVERY`] until shutdown, logging counts
/// only. Does nothing when retention is off.
pub async fn run_periodically(
    store: Arc<dyn Store>,
    purge_after_days: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    if purge_after_days <= 0 {
        return;
    }
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let now = crate::clock::now_ms();
        let Some(cutoff) = cutoff(purge_after_days, now) else {
            return;
        };
        match purge(store.as_ref(), cutoff, now, false, Some(&shutdown)).await {
            Ok(counts) if counts.threads > 0 => info!(
                n_threads = counts.threads,
                n_messages = counts.messages,
                n_raw_messages = counts.raw_messages,
                raw_bytes = counts.raw_bytes,
                n_outbox = counts.outbox,
                n_notes = counts.notes,
                n_drafts = counts.drafts,
                cutoff,
                "retention: purged closed conversations"
            ),
            Ok(_) => tracing::debug!(cutoff, "retention: nothing to purge"),
            Err(error) => error!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "retention: the purge failed; it runs again in an hour"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_age_before_now_and_zero_is_off() {
        let now = 1_800_000_000_000;
        assert_eq!(cutoff(0, now), None);
        assert_eq!(cutoff(-1, now), None);
        assert_eq!(cutoff(30, now), Some(now - 30 * DAY_MS));
        assert_eq!(cutoff(36_500, 0), Some(-36_500 * DAY_MS));
    }
}
