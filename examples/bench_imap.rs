//! Backlog ingest over IMAP (issue 11, item 1): drains a mailbox with the project's own
//! `ImapSource::sync_once` (batched `UID FETCH BODY.PEEK[]`, store raw, parse, triage,
//! thread, queue the acknowledgements) into the given database, and prints messages,
//! seconds and messages/s. Run through `scripts/bench-imap`, which measures max RSS from
//! outside with `/usr/bin/time`.
//!
//! Usage: bench_imap HOST PORT USER DATABASE_URL [BATCH_SIZE]
//!        bench_imap HOST PORT USER DATABASE_URL push N
//! The password comes from `BENCH_IMAP_PASSWORD` (default `secret`).
//!
//! `push N` (issue 11, item 2) runs the daemon's own IMAP source (`MailSource::run`: IDLE,
//! then sync on the server's announcement) on an empty mailbox, appends N messages one at a
//! time from a second IMAP session at irregular intervals (50-1000 ms, fixed seed), and
//! times each from the server's OK to the APPEND until the message's thread is committed
//! (visible to navigators), polling the database every 2 ms; prints p50, p99 and max.

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
    let push: Option<usize> = match args.get(5).map(String::as_str) {
        Some("push") => Some(args.get(6).map(|n| n.parse()).transpose()?.unwrap_or(200)),
        Some(batch) => {
            settings.imap.batch_size = batch.parse()?;
            None
        }
        None => None,
    };
    let url = &args[4];
    let store = concierge::store::connect(url, settings.database.max_connections).await?;
    store.migrate().await?;
    // The same ingester as `concierge serve`: acknowledgements queued for new threads.
    let (ingester, _outbox_worker) = concierge::cli::reply_pipeline(&store, &settings)?;
    if let Some(n) = push {
        return push_latency(settings, store, ingester, n).await;
    }
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

/// Push latency: delivery (APPEND acknowledged by the server) to the thread committed.
async fn push_latency(
    settings: Settings,
    store: std::sync::Arc<dyn concierge::store::Store>,
    ingester: concierge::ingest::Ingester,
    n: usize,
) -> anyhow::Result<()> {
    use concierge::source::MailSource;
    use std::time::Duration;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut source = ImapSource::new(settings.imap.clone());
    let ingester = std::sync::Arc::new(ingester);
    let daemon = tokio::spawn(async move { source.run(ingester, stopped).await });
    // Let the source open its session, sync the empty mailbox and enter IDLE.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut appender = concierge::source::imap::connect(&settings.imap).await?;
    let mut seed: u64 = 20_261_203;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let mut latencies = Vec::with_capacity(n);
    let run = std::process::id();
    for i in 0..n {
        tokio::time::sleep(Duration::from_millis(50 + next() % 951)).await;
        let id = format!("push-{run}-{i}@bench.example.org");
        let raw = format!(
            "From: Push Bench <push-{i}@example.org>\r\nTo: help@concierge.localhost\r\n\
             Subject: Question {i}\r\nMessage-ID: <{id}>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hello, I work on tour as a sound engineer and I am looking for a therapist near me.\r\n"
        );
        appender.append("INBOX", None, None, raw.as_bytes()).await?;
        let delivered = Instant::now();
        let message_id = concierge::domain::MessageId::parse(&format!("<{id}>"))?;
        while store.thread_of_message_id(&message_id).await?.is_none() {
            anyhow::ensure!(
                delivered.elapsed() < Duration::from_secs(60),
                "message {i} not visible after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(delivered.elapsed().as_secs_f64() * 1000.0);
    }
    appender.logout().await.ok();
    stop.send(true).ok();
    daemon.await??;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    println!(
        "push latency over {n} messages: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        rank(0.50),
        rank(0.99),
        sorted[sorted.len() - 1]
    );
    Ok(())
}
