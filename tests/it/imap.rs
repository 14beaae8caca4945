//! The IMAP source against a real Dovecot server.

use crate::harness::{
    free_port, inbox_fixture, simple_message, wait_until, Dovecot, TestDb, IMAP_PASSWORD, IMAP_USER,
};
use crate::ingest::assert_inbox_fixture_threaded;
use crate::on_both_backends;
use concierge::source::imap::ImapSource;
use concierge::source::MailSource;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

async fn unseen_on_server(dovecot: &Dovecot, mailbox: &str) -> usize {
    let mut session = dovecot.client().await;
    session.select(mailbox).await.unwrap();
    let unseen = session.uid_search("UNSEEN").await.unwrap().len();
    session.logout().await.ok();
    unseen
}

on_both_backends! {
    async fn a_second_instance_takes_over_the_mailbox_when_the_poller_dies(db: TestDb) {
        let dovecot = Dovecot::start();
        let mut settings = dovecot.settings();
        settings.poll_interval_secs = 1;
        let ingester = Arc::new(db.ingester());
        let start = |ingester: Arc<concierge::ingest::Ingester>| {
            let mut source = ImapSource::new(settings.clone());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            (stop, tokio::spawn(async move { source.run(ingester, stopped).await }))
        };
        let (_first_stop, first) = start(ingester.clone());
        let store = db.store.clone();
        let count = |n: i64| {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move { store.counts().await.unwrap().messages == n }
            }
        };
        dovecot.append("INBOX", &[simple_message("lease-1@example.org", "ana@example.org", "One", "Hello, who can I talk to?")]).await;
        wait_until(Duration::from_secs(20), "the first instance's message", count(1)).await;
        // A second instance waits: the first holds the lease.
        let (second_stop, second) = start(ingester.clone());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!second.is_finished());
        // The first dies without a word (no release): its lease runs out and the second takes over.
        first.abort();
        let died_at = std::time::Instant::now();
        dovecot.append("INBOX", &[simple_message("lease-2@example.org", "bo@example.org", "Two", "Is anyone reading this inbox?")]).await;
        wait_until(Duration::from_secs(20), "the second instance's message", count(2)).await;
        let takeover = died_at.elapsed();
        assert!(takeover < Duration::from_secs(10), "took over after {takeover:?}");
        assert_eq!(db.store.counts().await.unwrap().threads, 2, "each message stored once, in its own thread");
        second_stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), second).await.expect("stops on shutdown").unwrap().unwrap();
    }

    async fn fifty_messages_over_imap_are_stored_once_and_flagged_seen(db: TestDb) {
        let dovecot = Dovecot::start();
        let (_, messages) = inbox_fixture();
        dovecot.append("INBOX", &messages).await;
        assert_eq!(unseen_on_server(&dovecot, "INBOX").await, 50);

        let source = ImapSource::new(dovecot.settings());
        let ingester = db.ingester();
        assert_eq!(source.sync_once(&ingester).await.unwrap(), 50);
        assert_inbox_fixture_threaded(&db).await;
        assert_eq!(unseen_on_server(&dovecot, "INBOX").await, 0, "every message is \\Seen on the server");

        // A restarted daemon (a new source, the same store) reads nothing twice.
        let restarted = ImapSource::new(dovecot.settings());
        assert_eq!(restarted.sync_once(&ingester).await.unwrap(), 0);
        let counts = db.store.counts().await.unwrap();
        assert_eq!((counts.raw_messages, counts.messages, counts.threads), (50, 50, 30));
    }

    async fn a_new_uidvalidity_rescans_without_duplicates(db: TestDb) {
        let dovecot = Dovecot::start();
        let messages: Vec<Vec<u8>> = (0..5)
            .map(|i| simple_message(&format!("uv{i}@example.org"), "ana@example.org", &format!("Question {i}"), "I would like to talk to someone about my anxiety before shows."))
            .collect();
        let mut session = dovecot.client().await;
        session.create("Help").await.unwrap();
        session.logout().await.ok();
        dovecot.append("Help", &messages).await;
        let ingester = db.ingester();
        let source = ImapSource::new(dovecot.settings_for("Help"));
        assert_eq!(source.sync_once(&ingester).await.unwrap(), 5);
        let first_validity = db.store.checkpoint(source.mailbox_key()).await.unwrap().unwrap().uid_validity;

        // Recreate the mailbox: same messages, one more, new UIDVALIDITY.
        let mut session = dovecot.client().await;
        session.delete("Help").await.unwrap();
        session.create("Help").await.unwrap();
        session.logout().await.ok();
        let mut again = messages.clone();
        again.push(simple_message("uv-new@example.org", "bo@example.org", "New", "Is there a support group for touring crew?"));
        dovecot.append("Help", &again).await;

        assert_eq!(source.sync_once(&ingester).await.unwrap(), 6);
        let checkpoint = db.store.checkpoint(source.mailbox_key()).await.unwrap().unwrap();
        assert_ne!(checkpoint.uid_validity, first_validity);
        let counts = db.store.counts().await.unwrap();
        assert_eq!((counts.raw_messages, counts.messages), (6, 6), "no duplicates after UIDVALIDITY changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_messages_can_be_moved_to_a_folder() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    let dovecot = Dovecot::start();
    let mut session = dovecot.client().await;
    session.create("Processed").await.unwrap();
    session.logout().await.ok();
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            simple_message(
                &format!("mv{i}@example.org"),
                "ana@example.org",
                "Moving",
                "Please move me after you stored me.",
            )
        })
        .collect();
    dovecot.append("INBOX", &messages).await;
    let mut settings = dovecot.settings();
    settings.processed_folder = "Processed".into();
    let ingester = db.ingester();
    assert_eq!(
        ImapSource::new(settings)
            .sync_once(&ingester)
            .await
            .unwrap(),
        3
    );
    let mut session = dovecot.client().await;
    assert_eq!(
        session.select("INBOX").await.unwrap().exists,
        0,
        "the inbox is empty"
    );
    assert_eq!(
        session.select("Processed").await.unwrap().exists,
        3,
        "the messages were moved"
    );
    session.logout().await.ok();
    assert_eq!(db.store.counts().await.unwrap().messages, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_delivers_a_new_message_without_waiting_for_the_poll() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    let dovecot = Dovecot::start();
    dovecot
        .append(
            "INBOX",
            &[simple_message(
                "idle-1@example.org",
                "ana@example.org",
                "First",
                "Hello, I am writing for my brother.",
            )],
        )
        .await;
    let mut settings = dovecot.settings();
    settings.poll_interval_secs = 600;
    let mut source = ImapSource::new(settings);
    let ingester = Arc::new(db.ingester());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let ingester = ingester.clone();
        async move { source.run(ingester, shutdown_rx).await }
    });
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "the first message", || {
        let store = store.clone();
        async move { store.counts().await.unwrap().messages == 1 }
    })
    .await;
    // Give the source a moment to enter IDLE, then deliver from another client.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered_at = std::time::Instant::now();
    dovecot
        .append(
            "INBOX",
            &[simple_message(
                "idle-2@example.org",
                "bo@example.org",
                "Second",
                "Can someone call me back?",
            )],
        )
        .await;
    wait_until(
        Duration::from_secs(10),
        "the message announced by IDLE",
        || {
            let store = store.clone();
            async move { store.counts().await.unwrap().messages == 2 }
        },
    )
    .await;
    let elapsed = delivered_at.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "IDLE took {elapsed:?}; the poll interval is 600 s"
    );
    shutdown_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the source stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_reconnects_after_the_server_restarts() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    let dovecot = Dovecot::start();
    let mut settings = dovecot.settings();
    settings.poll_interval_secs = 1;
    settings.idle = false;
    let port = dovecot.port;
    let mut source = ImapSource::new(settings);
    let ingester = Arc::new(db.ingester());
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let ingester = ingester.clone();
        async move { source.run(ingester, shutdown_rx).await }
    });
    dovecot
        .append(
            "INBOX",
            &[simple_message(
                "rc-1@example.org",
                "ana@example.org",
                "One",
                "First message before the restart.",
            )],
        )
        .await;
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "the first message", || {
        let store = store.clone();
        async move { store.counts().await.unwrap().messages == 1 }
    })
    .await;
    dovecot.restart();
    assert_eq!(dovecot.port, port);
    dovecot
        .append(
            "INBOX",
            &[simple_message(
                "rc-2@example.org",
                "bo@example.org",
                "Two",
                "Second message after the restart.",
            )],
        )
        .await;
    wait_until(
        Duration::from_secs(30),
        "the message after the restart",
        || {
            let store = store.clone();
            async move { store.counts().await.unwrap().messages == 2 }
        },
    )
    .await;
    shutdown_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start_daemon(dir: &std::path::Path, db_url: &str, dovecot: &Dovecot) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_concierge"))
        .arg("serve")
        .current_dir(dir)
        .env("CONCIERGE__DATABASE__URL", db_url)
        .env("CONCIERGE__INBOX__KIND", "imap")
        .env("CONCIERGE__IMAP__HOST", "127.0.0.1")
        .env("CONCIERGE__IMAP__PORT", dovecot.port.to_string())
        .env("CONCIERGE__IMAP__TLS", "none")
        .env("CONCIERGE__IMAP__USERNAME", IMAP_USER)
        .env("CONCIERGE__IMAP__PASSWORD", IMAP_PASSWORD)
        .env("CONCIERGE__IMAP__BATCH_SIZE", "50")
        .env("CONCIERGE__WEB__BIND", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start concierge serve");
    Daemon(child)
}

async fn kill_during_backlog(db: TestDb) {
    const N: usize = 2000;
    let dovecot = Dovecot::start();
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            simple_message(
                &format!("backlog-{i}@example.org"),
                &format!("person{}@example.org", i % 400),
                &format!("Message number {i}"),
                "I have been on the road for a long time and would like to talk to someone.",
            )
        })
        .collect();
    dovecot.deliver_files(&messages);
    let dir = tempfile::tempdir().unwrap();
    let store = db.store.clone();

    let mut daemon = start_daemon(dir.path(), &db.url, &dovecot);
    wait_until(Duration::from_secs(120), "part of the backlog", || {
        let store = store.clone();
        async move { store.counts().await.unwrap().raw_messages >= 150 }
    })
    .await;
    daemon.0.kill().expect("SIGKILL the daemon");
    daemon.0.wait().unwrap();
    let at_kill = store.counts().await.unwrap();
    assert!(
        at_kill.raw_messages < N as i64,
        "the daemon finished before it was killed; the test proves nothing"
    );

    let _restarted = start_daemon(dir.path(), &db.url, &dovecot);
    wait_until(Duration::from_secs(300), "the whole backlog", || {
        let store = store.clone();
        async move {
            let counts = store.counts().await.unwrap();
            counts.messages == N as i64 && counts.unprocessed == 0
        }
    })
    .await;
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.raw_messages, N as i64,
        "every message stored exactly once"
    );
    assert_eq!(counts.source_positions, N as i64);
    assert_eq!(counts.threads, N as i64);
    wait_until(
        Duration::from_secs(30),
        "every message flagged \\Seen",
        || {
            let dovecot = &dovecot;
            async move { unseen_on_server(dovecot, "INBOX").await == 0 }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_backlog_loses_and_duplicates_nothing_sqlite() {
    kill_during_backlog(TestDb::new(crate::harness::Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_backlog_loses_and_duplicates_nothing_postgres() {
    kill_during_backlog(TestDb::new(crate::harness::Backend::Postgres).await).await;
}
