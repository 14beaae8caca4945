//! Ingest from Maildir folders and files: threading, languages, awkward input.

use crate::harness::{fixtures, inbox_fixture, simple_message, TestDb};
use crate::on_both_backends;
use concierge::domain::MessageId;
use concierge::ingest::IncomingRaw;
use concierge::source::maildir::MaildirSource;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// Copies messages into a fresh Maildir's `new/`.
pub fn maildir_with(dir: &Path, messages: &[(String, Vec<u8>)]) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (name, raw) in messages {
        std::fs::write(dir.join("new").join(name), raw).unwrap();
    }
}

/// Checks that the 50-message fixture landed on the right threads with the right languages.
pub async fn assert_inbox_fixture_threaded(db: &TestDb) {
    let (manifest, _) = inbox_fixture();
    let counts = db.store.counts().await.unwrap();
    assert_eq!(counts.raw_messages, 50);
    assert_eq!(counts.messages, 50);
    assert_eq!(counts.threads as usize, manifest.n_threads);
    assert_eq!(counts.unprocessed, 0);
    let mut thread_of_label: HashMap<String, i64> = HashMap::new();
    let mut labels_of_thread: HashMap<i64, HashSet<String>> = HashMap::new();
    for entry in &manifest.message {
        let thread_id = db
            .store
            .thread_of_message_id(&MessageId::parse(&entry.message_id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} is on no thread", entry.file));
        if let Some(expected) = thread_of_label.insert(entry.thread.clone(), thread_id) {
            assert_eq!(
                expected, thread_id,
                "{} is not on its conversation's thread",
                entry.file
            );
        }
        labels_of_thread
            .entry(thread_id)
            .or_default()
            .insert(entry.thread.clone());
    }
    assert!(
        labels_of_thread.values().all(|labels| labels.len() == 1),
        "two conversations share a thread"
    );

    let mut wrong_languages = Vec::new();
    for (thread_id, labels) in &labels_of_thread {
        let label = labels.iter().next().unwrap();
        for row in db.store.thread_messages(*thread_id).await.unwrap() {
            let entry = manifest
                .message
                .iter()
                .find(|e| Some(e.message_id.as_str()) == row.message_id.as_deref())
                .unwrap();
            assert_eq!(&entry.thread, label);
            if row.language.as_deref() != Some(entry.language.as_str()) {
                wrong_languages.push(format!(
                    "{}: {:?} instead of {}",
                    entry.file, row.language, entry.language
                ));
            }
            assert!(
                !row.new_text.contains("\n>"),
                "{}: quoted text left in the new text",
                entry.file
            );
        }
    }
    assert!(
        wrong_languages.is_empty(),
        "languages detected wrongly: {wrong_languages:?}"
    );
}

on_both_backends! {
    async fn a_maildir_of_fifty_messages_becomes_thirty_threads(db: TestDb) {
        let (manifest, messages) = inbox_fixture();
        let dir = tempfile::tempdir().unwrap();
        let named: Vec<(String, Vec<u8>)> = manifest.message.iter().zip(messages)
            .enumerate()
            .map(|(index, (entry, raw))| (format!("{:04}.{}.host", index, entry.file), raw))
            .collect();
        maildir_with(dir.path(), &named);
        let source = MaildirSource::new(dir.path(), Duration::ZERO);
        let ingester = db.ingester();
        let summary = source.scan_once(&ingester, true).await.unwrap();
        assert_eq!(summary.n_new, 50);
        assert_eq!(summary.n_new_threads, 30);
        assert_inbox_fixture_threaded(&db).await;

        // Everything moved to cur/ with the seen flag; a second scan finds nothing to do.
        assert_eq!(std::fs::read_dir(dir.path().join("new")).unwrap().count(), 0);
        let cur: Vec<String> = std::fs::read_dir(dir.path().join("cur")).unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(cur.len(), 50);
        assert!(cur.iter().all(|name| name.ends_with(":2,S")), "{cur:?}");
        let again = source.scan_once(&ingester, true).await.unwrap();
        assert_eq!(again.n_new + again.n_known, 0);
        assert_eq!(db.store.counts().await.unwrap().messages, 50);
    }

    async fn awkward_messages_are_kept_raw_and_shown(db: TestDb) {
        let dir = fixtures().join("awkward");
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files.push(("huge-attachment.eml".into(), message_with_attachment(20 * 1024 * 1024)));
        assert!(files.len() >= 21, "the awkward fixtures are missing");
        let ingester = db.ingester();
        let items: Vec<IncomingRaw> = files.iter()
            .map(|(name, raw)| IncomingRaw { source_key: format!("test:{name}"), raw: raw.clone() })
            .collect();
        let summary = ingester.ingest_batch(items).await.unwrap();
        // empty.eml, headers-only and a duplicate may collapse by dedupe key; nothing is lost.
        assert_eq!(summary.n_new + summary.n_known, files.len());
        let counts = db.store.counts().await.unwrap();
        assert_eq!(counts.messages, counts.raw_messages, "every stored message is on a thread");
        assert_eq!(counts.unprocessed, 0);
        assert_eq!(counts.source_positions as usize, files.len());

        // Each file's bytes are in the store exactly as they came.
        let queue = db.store.queue(1000).await.unwrap();
        let mut stored_raw = HashSet::new();
        let mut problems = 0;
        for entry in &queue {
            for row in db.store.thread_messages(entry.thread_id).await.unwrap() {
                problems += usize::from(row.parse_problem.is_some());
                stored_raw.insert(db.store.raw_message(row.raw_message_id).await.unwrap().unwrap().raw);
            }
        }
        for (name, raw) in &files {
            assert!(stored_raw.contains(raw), "{name} is not stored byte for byte");
        }
        assert!(problems >= 6, "problems recorded: {problems}");
        let subjects: Vec<&str> = queue.iter().map(|e| e.subject.as_str()).collect();
        assert!(subjects.contains(&"(unreadable message)"), "garbage is shown as a thread: {subjects:?}");
    }

    async fn a_crash_between_raw_and_thread_is_healed(db: TestDb) {
        let raws = vec![
            concierge::store::NewRaw {
                source_key: "k1".into(),
                dedupe_key: concierge::mail::raw::dedupe_key(&simple_message("p1@x", "a@example.org", "one", "Hello, I need some help finding a therapist.")),
                raw: simple_message("p1@x", "a@example.org", "one", "Hello, I need some help finding a therapist."),
                received_at: 1,
            },
        ];
        db.store.store_raw_batch(&raws).await.unwrap();
        assert_eq!(db.store.counts().await.unwrap().unprocessed, 1);
        let ingester = db.ingester();
        assert_eq!(ingester.process_pending().await.unwrap(), 1);
        let counts = db.store.counts().await.unwrap();
        assert_eq!((counts.unprocessed, counts.messages, counts.threads), (0, 1, 1));
        assert_eq!(ingester.process_pending().await.unwrap(), 0);
    }

    async fn a_message_another_process_stored_but_never_threaded_is_threaded_when_seen_again(db: TestDb) {
        // A poller stored a batch and died before threading it; a second instance (which
        // will never run process_pending for it) fetches the same messages again.
        let body = simple_message("died@x", "a@example.org", "Still there?", "Please, I need to talk to someone tonight.");
        db.store
            .store_raw_batch(&[concierge::store::NewRaw {
                source_key: "imap:box:1:7".into(),
                dedupe_key: concierge::mail::raw::dedupe_key(&body),
                raw: body.clone(),
                received_at: 1_000,
            }])
            .await
            .unwrap();
        let ingester = db.ingester();
        let summary = ingester
            .ingest_batch(vec![concierge::ingest::IncomingRaw { source_key: "imap:box:1:7".into(), raw: body.clone() }])
            .await
            .unwrap();
        assert_eq!((summary.n_new, summary.n_known, summary.n_new_threads), (0, 1, 1));
        let counts = db.store.counts().await.unwrap();
        assert_eq!((counts.raw_messages, counts.unprocessed, counts.messages, counts.threads), (1, 0, 1, 1));
        let queue = db.store.queue(10).await.unwrap();
        assert_eq!(queue[0].waiting_since, Some(1_000), "it waits since it first arrived");
        // Seen a third time, it is only known: nothing is recorded twice.
        let again = ingester
            .ingest_batch(vec![concierge::ingest::IncomingRaw { source_key: "imap:box:2:1".into(), raw: body }])
            .await
            .unwrap();
        assert_eq!((again.n_new, again.n_known, again.n_new_threads), (0, 1, 0));
        assert_eq!(db.store.counts().await.unwrap().messages, 1);
    }
}

/// A message with one base64 attachment of `size` bytes.
pub fn message_with_attachment(size: usize) -> Vec<u8> {
    let mut raw = b"From: Big Sender <big@example.org>\r\nTo: help@concierge.example.org\r\nSubject: Recording attached\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <huge-attachment@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Please listen to the recording I attached, it explains how I feel better than I can write it.\r\n\
--b1\r\nContent-Type: audio/mpeg; name=\"voice.mp3\"\r\nContent-Disposition: attachment; filename=\"voice.mp3\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let n_lines = size / 57 + 1;
    raw.reserve(n_lines * line.len() + 16);
    for _ in 0..n_lines {
        raw.extend_from_slice(line);
    }
    raw.extend_from_slice(b"--b1--\r\n");
    raw
}
