//! Backlog ingest over IMAP (issue 11, item 1): drains a mailbox with the project's own
//! `ImapSource::sync_once` (batched `UID FETCH BODY.PEEK[]`, store raw, parse, triage,
//! thread, queue the acknowledgements) into the given database, and prints messages,
//! seconds and messages/s. Run through `scripts/bench-imap`, which measures max RSS from
//! outside with `/usr/bin/time`.
//!
//! Usage: bench_imap HOST PORT USER DATABASE_URL [BATCH_SIZE]
//! The password comes from `BENCH_IMAP_PASSWORD` (default `secret`).

use concierge::config::{Settings, TlsMode};
use concierge::source::imap::ImapSource;
use secrecy::SecretString;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concierge::telemetry::init();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        anyhow::bail!("usage: bench_imap HOST PORT USER DATABASE_URL [BATCH_SIZE]");
    }
    let mut settings = Settings::load(None)?;
    settings.imap.host = args[1].clone();
    settings.imap.port = args[2].parse()?;
    settings.imap.username = args[3].clone();
    settings.imap.password = SecretString::from(
        std::env::var("BENCH_IMAP_PASSWORD").unwrap_or_else(|_| "secret".into()),
    );
    settings.imap.tls = TlsMode::None;
    settings.imap.mailbox = "INBOX".into();
    settings.imap.processed_folder = String::new();
    if let Some(batch) = args.get(5) {
        settings.imap.batch_size = batch.parse()?;
    }
    let url = &args[4];
    let store = concierge::store::connect(url, settings.database.max_connections).await?;
    store.migrate().await?;
    // The same ingester as `concierge serve`: acknowledgements queued for new threads.
    let (ingester, _outbox_worker) = concierge::cli::reply_pipeline(&store, &settings)?;
    let source = ImapSource::new(settings.imap.clone());

    tracing::info!("draining the mailbox");
    let start = Instant::now();
    let mut n_fetched = 0;
    let mut n_rounds = 0;
    loop {
        let n = source.sync_once(&ingester).await?;
        n_rounds += 1;
        if n == 0 {
            break;
        }
        n_fetched += n;
    }
    let seconds = start.elapsed().as_secs_f64();

    let counts = store.counts().await?;
    let n_queued = store.outbox_all().await?.len();
    println!(
        "sync_once rounds: {n_rounds} (batch size {}); in the database: {} messages, {} threads, \
         {} unprocessed, {n_queued} acknowledgements queued",
        settings.imap.batch_size, counts.messages, counts.threads, counts.unprocessed
    );
    println!(
        "{n_fetched} messages in {seconds:.2} s: {:.0} messages/s",
        n_fetched as f64 / seconds
    );
    if counts.unprocessed != 0 || counts.messages < n_fetched as i64 {
        anyhow::bail!("the mailbox was not ingested completely");
    }
    Ok(())
}
