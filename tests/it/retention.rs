//! Retention: the content of old closed conversations is purged, their rows, timestamps,
//! codes, dedupe keys and Message-IDs stay; on both backends.

#[allow(unused_imports)]
use crate::harness::{simple_message, TestDb};
use crate::on_both_backends;
use concierge::domain::{AutoKind, EmailAddress, MessageId, Risk, Role, ThreadStatus};
use concierge::ingest::IncomingRaw;
use concierge::reports::{self, Clock, ReportConfig, ReportRequest};
use concierge::store::{
    Draft, HistoryMessage, HistoryThread, PurgeCounts, ReportFilter, ReportGroup, SlaTargets,
    Store, PURGED_SUBJECT,
};

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
const D: i64 = 24 * H;
/// Monday 2 November 2026, 00:00 UTC.
const BASE: i64 = 1_793_577_600_000;
const NOW: i64 = BASE + 100 * D;
/// A retention of 30 days at NOW.
const CUTOFF: i64 = NOW - 30 * D;

/// A conversation of the person `n`: messages at `inbound`, acknowledged a minute after the
/// first, a reply by `navigator` after `reply_after`, closed at `closed_at`.
fn conversation(
    n: usize,
    risk: Risk,
    inbound: &[i64],
    reply_after: Option<i64>,
    navigator: i64,
    closed_at: Option<i64>,
) -> HistoryThread {
    HistoryThread {
        contact_email: format!("person-{n}@example.invalid"),
        subject: format!("subject of conversation {n}"),
        language: Some("en".into()),
        country: Some("GB".into()),
        risk,
        auto_kind: AutoKind::None,
        inbound: inbound
            .iter()
            .enumerate()
            .map(|(i, at)| HistoryMessage {
                received_at: *at,
                auto_kind: AutoKind::None,
                text: format!("words of person {n}, message {i}"),
            })
            .collect(),
        acknowledged_at: Some(inbound[0] + MIN),
        replies: reply_after
            .map(|after| (inbound[0] + after, navigator))
            .into_iter()
            .collect(),
        closed_at,
        n_reopens: 0,
    }
}

async fn navigator(store: &dyn Store) -> i64 {
    store
        .create_user(
            &EmailAddress::parse("ana@example.org").unwrap(),
            "Ana",
            Role::Navigator,
            "!",
            BASE,
        )
        .await
        .unwrap()
}

/// Threads 1.. in insertion order (insert_history numbers them after the largest id).
async fn thread_ids(store: &dyn Store) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .queue(1000)
        .await
        .unwrap()
        .into_iter()
        .chain(store.closed_threads(1000).await.unwrap())
        .map(|entry| entry.thread_id)
        .collect();
    ids.sort();
    ids
}

/// Everything a thread shows, as JSON: what must not change when it is not purged.
async fn content_of(store: &dyn Store, thread_id: i64) -> String {
    let messages = store.thread_messages(thread_id).await.unwrap();
    let mut raws = Vec::new();
    for message in &messages {
        let raw = store
            .raw_message(message.raw_message_id)
            .await
            .unwrap()
            .unwrap();
        raws.push((raw.raw, raw.purged_at));
    }
    serde_json::json!({
        "summary": format!("{:?}", store.thread_summary(thread_id).await.unwrap()),
        "messages": messages,
        "raws": raws,
        "outbox": store.outbox_for_thread(thread_id).await.unwrap(),
        "notes": store.notes(thread_id).await.unwrap(),
    })
    .to_string()
}

async fn assert_purged(store: &dyn Store, thread_id: i64) {
    let summary = store.thread_summary(thread_id).await.unwrap().unwrap();
    assert_eq!(summary.subject, PURGED_SUBJECT);
    assert!(summary.purged_at.is_some());
    let messages = store.thread_messages(thread_id).await.unwrap();
    assert!(!messages.is_empty());
    for message in &messages {
        assert!(message.purged_at.is_some(), "message {}", message.id);
        assert_eq!(
            (message.body_text.as_str(), message.new_text.as_str()),
            ("", "")
        );
        assert_eq!(message.subject, PURGED_SUBJECT);
        assert!(
            message.message_id.is_some(),
            "the Message-ID stays for threading"
        );
        let raw = store
            .raw_message(message.raw_message_id)
            .await
            .unwrap()
            .unwrap();
        assert!(raw.raw.is_empty(), "raw bytes of message {}", message.id);
        assert!(raw.purged_at.is_some());
        assert!(raw.processed_at.is_some(), "still known as processed");
    }
    for item in store.outbox_for_thread(thread_id).await.unwrap() {
        assert!(item.purged_at.is_some());
        assert_eq!(
            (item.subject.as_str(), item.body_text.as_str()),
            (PURGED_SUBJECT, "")
        );
        assert!(
            item.sent_at.is_some(),
            "the sending time stays for the reports"
        );
    }
    for note in store.notes(thread_id).await.unwrap() {
        assert!(note.purged_at.is_some());
        assert_eq!(note.body_text, "");
    }
}

on_both_backends! {
    async fn closed_old_conversations_are_purged_and_open_or_recent_ones_kept(db: TestDb) {
        let store = db.store.as_ref();
        let ana = navigator(store).await;
        store.insert_history(&[
            // 1: closed 80 days ago after a reply: purged.
            conversation(1, Risk::Crisis, &[BASE, BASE + H], Some(30 * MIN), ana, Some(BASE + 20 * D)),
            // 2: open, and older than any other: never purged.
            conversation(2, Risk::Concern, &[BASE - 10 * D], None, ana, None),
            // 3: closed 10 days ago: within the retention.
            conversation(3, Risk::None, &[NOW - 12 * D], Some(H), ana, Some(NOW - 10 * D)),
            // 4: closed long ago, but a navigator added a note last week: kept.
            conversation(4, Risk::None, &[BASE + D], Some(H), ana, Some(BASE + 2 * D)),
            // 5: its last message came in 20 days ago, although it was closed before: kept.
            conversation(5, Risk::None, &[BASE + D, NOW - 20 * D], None, ana, Some(BASE + 3 * D)),
        ]).await.unwrap();
        let ids = thread_ids(store).await;
        assert_eq!(ids.len(), 5);
        let (first, open, recent, noted, late) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        store.add_note(first, ana, "private note about the person", BASE + 20 * D).await.unwrap();
        store.save_draft(first, ana, &Draft {
            subject: "Re: x".into(),
            body_text: "an unsent draft".into(),
            template: None,
            language: None,
            updated_at: BASE + 20 * D,
        }).await.unwrap();
        store.add_note(noted, ana, "a recent note", NOW - 7 * D).await.unwrap();
        let counts_before = store.counts().await.unwrap();
        let mut kept_before = Vec::new();
        for id in [open, recent, noted, late] {
            kept_before.push(content_of(store, id).await);
        }
        let first_before = content_of(store, first).await;
        let first_message_ids: Vec<Option<String>> =
            store.thread_messages(first).await.unwrap().iter().map(|m| m.message_id.clone()).collect();
        let first_raw_bytes: i64 = {
            let mut n = 0;
            for message in store.thread_messages(first).await.unwrap() {
                n += store.raw_message(message.raw_message_id).await.unwrap().unwrap().raw.len() as i64;
            }
            n
        };

        // The dry run counts and changes nothing.
        let preview = concierge::retention::purge(store, CUTOFF, NOW, true, None).await.unwrap();
        let expected = PurgeCounts {
            threads: 1,
            messages: 2,
            raw_messages: 2,
            raw_bytes: first_raw_bytes,
            outbox: 2,
            notes: 1,
            drafts: 1,
        };
        assert_eq!(preview, expected);
        assert_eq!(content_of(store, first).await, first_before, "a dry run changes nothing");
        assert!(store.draft(first, ana).await.unwrap().is_some());

        // The real run purges what the dry run counted.
        let purged = concierge::retention::purge(store, CUTOFF, NOW, false, None).await.unwrap();
        assert_eq!(purged, expected);
        assert_purged(store, first).await;
        assert!(store.draft(first, ana).await.unwrap().is_none(), "drafts go");
        let first_messages = store.thread_messages(first).await.unwrap();
        assert_eq!(first_messages[0].risk, Risk::Crisis, "codes stay");
        assert_eq!(first_messages[0].language.as_deref(), Some("en"));
        // (Generated history files no Message-IDs for threading; the ingest test below checks
        // that a reply to a purged message still finds its conversation.)
        let message_ids: Vec<Option<String>> = first_messages.iter().map(|m| m.message_id.clone()).collect();
        assert_eq!(message_ids, first_message_ids, "Message-IDs stay");
        let summary = store.thread_summary(first).await.unwrap().unwrap();
        assert_eq!((summary.status, summary.risk), (ThreadStatus::Closed, Risk::Crisis));

        // Everything else is exactly as it was, and no row went.
        for (id, before) in [open, recent, noted, late].into_iter().zip(&kept_before) {
            assert_eq!(&content_of(store, id).await, before, "thread {id} was touched");
        }
        let counts_after = store.counts().await.unwrap();
        assert_eq!(counts_after, counts_before, "rows stay");

        // Nothing is left to purge.
        assert_eq!(concierge::retention::purge(store, CUTOFF, NOW, true, None).await.unwrap(), PurgeCounts::default());
        assert_eq!(concierge::retention::purge(store, CUTOFF, NOW, false, None).await.unwrap(), PurgeCounts::default());

        // Later, the kept ones age out too, once closed; the open one never does.
        let much_later = NOW + 400 * D;
        let later = concierge::retention::purge(store, much_later - 30 * D, much_later, false, None).await.unwrap();
        assert_eq!(later.threads, 3, "recent, noted and late");
        for id in [recent, noted, late] {
            assert_purged(store, id).await;
        }
        assert_eq!(&content_of(store, open).await, &kept_before[0], "an open thread is never purged");
    }

    async fn a_big_purge_goes_in_batches_and_the_dry_run_counts_it_exactly(db: TestDb) {
        let store = db.store.as_ref();
        let ana = navigator(store).await;
        let n_closed = concierge::retention::BATCH_THREADS as usize * 2 + 37;
        let mut threads: Vec<HistoryThread> = (0..n_closed)
            .map(|n| {
                let first = BASE + (n as i64) * MIN;
                conversation(n, Risk::None, &[first, first + H], Some(2 * H), ana, Some(first + D))
            })
            .collect();
        threads.push(conversation(99_999, Risk::None, &[BASE], None, ana, None));
        store.insert_history(&threads).await.unwrap();
        let preview = concierge::retention::purge(store, CUTOFF, NOW, true, None).await.unwrap();
        assert_eq!(preview.threads, n_closed as i64);
        assert_eq!(preview.messages, 2 * n_closed as i64);
        assert_eq!(preview.raw_messages, 2 * n_closed as i64);
        assert_eq!(preview.outbox, 2 * n_closed as i64, "acknowledgement and reply");
        assert!(preview.raw_bytes > 100 * n_closed as i64);
        let purged = concierge::retention::purge(store, CUTOFF, NOW, false, None).await.unwrap();
        assert_eq!(purged, preview);
        assert_eq!(concierge::retention::purge(store, CUTOFF, NOW, true, None).await.unwrap(), PurgeCounts::default());
        assert_eq!(store.queue(10).await.unwrap().len(), 1, "the open one is still there");
    }

    async fn a_purged_message_read_again_is_not_ingested_again(db: TestDb) {
        let store = db.store.as_ref();
        let ingester = db.ingester();
        let raw = simple_message(
            "first-1@example.org",
            "person@example.org",
            "I need someone to talk to",
            "It has been a really hard month on tour and I cannot sleep.",
        );
        let summary = ingester
            .ingest_batch(vec![IncomingRaw { source_key: "maildir:one".into(), raw: raw.clone() }])
            .await
            .unwrap();
        assert_eq!((summary.n_new, summary.n_new_threads), (1, 1));
        let thread_id = store
            .thread_of_message_id(&MessageId::parse("first-1@example.org").unwrap())
            .await
            .unwrap()
            .unwrap();
        let now = concierge::clock::now_ms();
        store.set_thread_status(thread_id, ThreadStatus::Closed, now).await.unwrap();
        // Purged as if a retention had passed: the cutoff is after everything.
        let purged = concierge::retention::purge(store, now + H, now + H, false, None).await.unwrap();
        assert_eq!((purged.threads, purged.messages, purged.raw_messages), (1, 1, 1));
        assert_eq!(purged.raw_bytes, raw.len() as i64);
        assert_purged(store, thread_id).await;
        let counts = store.counts().await.unwrap();

        // The same mail, from the same place and from another (moved, or a new UID): known.
        for source_key in ["maildir:one", "imap:INBOX:1700000000:7"] {
            let again = ingester
                .ingest_batch(vec![IncomingRaw { source_key: source_key.into(), raw: raw.clone() }])
                .await
                .unwrap();
            assert_eq!((again.n_new, again.n_known, again.n_new_threads), (0, 1, 0), "{source_key}");
        }
        let after = store.counts().await.unwrap();
        assert_eq!(
            (after.raw_messages, after.messages, after.threads, after.unprocessed),
            (counts.raw_messages, counts.messages, counts.threads, 0)
        );
        assert_eq!(after.source_positions, counts.source_positions + 1, "the new place is remembered");
        assert_eq!(ingester.process_pending().await.unwrap(), 0);
        let summary = store.thread_summary(thread_id).await.unwrap().unwrap();
        assert_eq!(summary.status, ThreadStatus::Closed, "not reopened by the old mail");
        assert_purged(store, thread_id).await;

        // The person answers the purged mail: the Message-ID still finds the conversation,
        // which reopens; the new message is kept whole, the old one stays purged.
        let mut reply = simple_message(
            "second-2@example.org",
            "person@example.org",
            "Re: I need someone to talk to",
            "Writing again, it got worse this week.",
        );
        reply.splice(0..0, b"In-Reply-To: <first-1@example.org>\r\n".iter().copied());
        let summary = ingester
            .ingest_batch(vec![IncomingRaw { source_key: "maildir:two".into(), raw: reply }])
            .await
            .unwrap();
        assert_eq!((summary.n_new, summary.n_new_threads), (1, 0));
        let thread = store.thread_summary(thread_id).await.unwrap().unwrap();
        assert_eq!(thread.status, ThreadStatus::New, "reopened");
        let messages = store.thread_messages(thread_id).await.unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].purged_at.is_some() && messages[0].body_text.is_empty());
        assert!(messages[1].purged_at.is_none());
        assert!(messages[1].body_text.contains("it got worse"));
        // An open thread is not purged, whatever the cutoff.
        let later = concierge::clock::now_ms() + 2 * H;
        assert_eq!(concierge::retention::purge(store, later, later, false, None).await.unwrap(), PurgeCounts::default());
    }

    async fn reports_give_the_same_numbers_after_the_purge(db: TestDb) {
        let store = db.store.as_ref();
        let ana = navigator(store).await;
        let mut threads = vec![
            conversation(1, Risk::Crisis, &[BASE + 10 * H], Some(30 * MIN), ana, Some(BASE + 2 * D)),
            conversation(2, Risk::Crisis, &[BASE + 11 * H, BASE + 13 * H], Some(2 * H), ana, Some(BASE + 3 * D)),
            conversation(3, Risk::Concern, &[BASE + 12 * H], Some(5 * H), ana, None),
            conversation(4, Risk::None, &[BASE + 13 * H], None, ana, None),
            conversation(5, Risk::None, &[BASE + 8 * D + 20 * H], Some(H), ana, Some(BASE + 10 * D)),
            conversation(6, Risk::Concern, &[BASE + 9 * D], Some(26 * H), ana, Some(BASE + 12 * D)),
        ];
        let mut bulk = conversation(7, Risk::None, &[BASE + 14 * H], None, ana, Some(BASE + D));
        bulk.auto_kind = AutoKind::Bulk;
        bulk.inbound[0].auto_kind = AutoKind::Bulk;
        bulk.acknowledged_at = None;
        threads.push(bulk);
        store.insert_history(&threads).await.unwrap();
        let config = ReportConfig {
            sla: SlaTargets { crisis_ms: H, concern_ms: 12 * H, none_ms: 48 * H },
            calendar: None,
            team_calendars: Default::default(),
        };
        let filter = ReportFilter { from: BASE, to: BASE + 14 * D, ..ReportFilter::default() };
        let every_report = || async {
            let mut out = Vec::new();
            for group in [ReportGroup::All, ReportGroup::Risk, ReportGroup::Navigator, ReportGroup::Language, ReportGroup::Week] {
                let request = ReportRequest { filter: filter.clone(), group, clock: Clock::Wall };
                let report = reports::response_report(store, &config, &request, NOW).await.unwrap();
                out.push(serde_json::to_string(&report).unwrap());
            }
            out.push(serde_json::to_string(&store.report_breaches(&filter, &config.sla, NOW, 100).await.unwrap()).unwrap());
            out.push(serde_json::to_string(&store.report_volume(&filter, ReportGroup::Country).await.unwrap()).unwrap());
            out.push(serde_json::to_string(&store.report_auto_share(BASE, BASE + 14 * D).await.unwrap()).unwrap());
            out.push(serde_json::to_string(&store.report_live(NOW).await.unwrap()).unwrap());
            out
        };
        let before = every_report().await;
        let total = reports::response_report(store, &config, &ReportRequest { filter: filter.clone(), group: ReportGroup::All, clock: Clock::Wall }, NOW).await.unwrap();
        let first_reply = total.total.first_reply.unwrap();
        assert_eq!((first_reply.n, first_reply.max), (5, 26 * H), "the report has numbers to keep");

        let purged = concierge::retention::purge(store, CUTOFF, NOW, false, None).await.unwrap();
        assert_eq!(purged.threads, 5, "the four closed conversations and the newsletter");
        assert_eq!(purged.messages, 6);
        let after = every_report().await;
        for (before, after) in before.iter().zip(&after) {
            assert_eq!(before, after);
        }
    }

    async fn the_page_of_a_purged_conversation_renders_and_says_so(db: TestDb) {
        use axum::body::Body;
        use axum::http::{header, Request, StatusCode};
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let settings = concierge::config::Settings::load(None).unwrap();
        let templates = concierge::cli::reply_templates(&settings).unwrap();
        let state = concierge::web::AppState::new(db.store.clone(), &settings, templates, Default::default()).unwrap();
        let router = concierge::web::router(state);
        let (cookie, _csrf) = crate::web::login_as(&db, "nav@example.org", Role::Navigator).await;
        let get = |path: String| {
            let router = router.clone();
            let cookie = cookie.clone();
            async move {
                let response = router
                    .oneshot(Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let raw = b"From: Person <person@example.org>\r\nTo: help@concierge.localhost\r\nSubject: Sleepless on tour\r\n\
            Message-ID: <with-attachment@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>I keep thinking about the setlist notes</p>\r\n\
            --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"letter.pdf\"\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n".to_vec();
        db.ingester()
            .ingest_batch(vec![IncomingRaw { source_key: "maildir:page".into(), raw }])
            .await
            .unwrap();
        let thread_id = db.store
            .thread_of_message_id(&MessageId::parse("with-attachment@example.org").unwrap())
            .await
            .unwrap()
            .unwrap();
        let message_id = db.store.thread_messages(thread_id).await.unwrap()[0].id;
        let (status, page) = get(format!("/threads/{thread_id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("setlist notes") && page.contains("letter.pdf"), "shown before the purge");
        assert!(!page.contains("Purged on"));

        let now = concierge::clock::now_ms();
        db.store.set_thread_status(thread_id, ThreadStatus::Closed, now).await.unwrap();
        let purged = concierge::retention::purge(db.store.as_ref(), now + H, now + H, false, None).await.unwrap();
        assert_eq!(purged.threads, 1);

        let (status, page) = get(format!("/threads/{thread_id}")).await;
        assert_eq!(status, StatusCode::OK);
        for gone in ["setlist notes", "letter.pdf", "Sleepless on tour"] {
            assert!(!page.contains(gone), "{gone} is still on the page");
        }
        assert!(page.contains("purged on"), "the conversation says it was purged");
        assert!(page.contains("Purged on"), "the message says it was purged");
        let (status, html) = get(format!("/threads/{thread_id}/messages/{message_id}/html")).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(html.contains("Purged on") && !html.contains("setlist"), "{html}");
        let (status, _) = get(format!("/threads/{thread_id}/messages/{message_id}/attachments/0")).await;
        assert_eq!(status, StatusCode::GONE);
        // The closed list still shows the conversation.
        let (status, closed) = get("/?status=closed".to_string()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!closed.contains("Sleepless on tour"));
        assert!(closed.contains(PURGED_SUBJECT), "{closed}");
    }
}
