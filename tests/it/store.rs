//! Store conformance: every test runs on SQLite and on PostgreSQL.

use crate::harness::TestDb;
use crate::on_both_backends;
use concierge::domain::{
    AutoKind, CountryCode, EmailAddress, LanguageCode, MessageId, Risk, ThreadToken,
};
use concierge::store::{Checkpoint, NewMessage, NewRaw, RawOutcome, ThreadingKeys};

fn raw(source_key: &str, dedupe_key: &str) -> NewRaw {
    NewRaw {
        source_key: source_key.into(),
        dedupe_key: dedupe_key.into(),
        raw: format!("Subject: {dedupe_key}\r\n\r\nbody").into_bytes(),
        received_at: 1_000,
    }
}

fn message(raw_message_id: i64, message_id: &str, from: &str) -> NewMessage {
    NewMessage {
        raw_message_id,
        message_id: Some(MessageId::parse(message_id).unwrap()),
        in_reply_to: None,
        references_header: None,
        from_address: Some(EmailAddress::parse(from).unwrap()),
        from_name: Some("Test Person".into()),
        subject: format!("subject of {message_id}"),
        sent_at: Some(500),
        received_at: 1_000 + raw_message_id,
        body_text: "body".into(),
        new_text: "body".into(),
        has_html: false,
        n_attachments: 0,
        parse_problem: None,
        language: Some(LanguageCode::parse("en").unwrap()),
        language_confidence: Some(0.9),
        country: None,
        risk: Risk::None,
        auto_kind: AutoKind::None,
        triage_json: "{}".into(),
        threading: ThreadingKeys::default(),
        processed_at: 2_000,
    }
}

async fn stored(db: &TestDb, source_key: &str) -> i64 {
    let outcome = db
        .store
        .store_raw_batch(&[raw(source_key, source_key)])
        .await
        .unwrap();
    match outcome[0] {
        RawOutcome::New(id) => id,
        RawOutcome::Known(id) | RawOutcome::Unprocessed(id) => {
            panic!("{source_key} was already known as {id}")
        }
    }
}

on_both_backends! {
    async fn raw_messages_are_stored_once(db: TestDb) {
        let first = db.store.store_raw_batch(&[raw("imap:a:1:1", "k1"), raw("imap:a:1:2", "k2")]).await.unwrap();
        assert!(matches!(first[..], [RawOutcome::New(_), RawOutcome::New(_)]), "{first:?}");
        // The same source position again, and the same message seen at a new position.
        let again = db.store.store_raw_batch(&[raw("imap:a:1:1", "k1"), raw("imap:a:2:7", "k2"), raw("imap:a:2:8", "k3")]).await.unwrap();
        // Never threaded yet: handed on again, for processing.
        assert_eq!(again[0], RawOutcome::Unprocessed(first[0].id()));
        assert_eq!(again[1], RawOutcome::Unprocessed(first[1].id()));
        assert!(matches!(again[2], RawOutcome::New(_)));
        // Duplicates inside one batch.
        let within = db.store.store_raw_batch(&[raw("x:1", "k9"), raw("x:2", "k9")]).await.unwrap();
        assert!(matches!(within[0], RawOutcome::New(_)));
        assert_eq!(within[1], RawOutcome::Known(within[0].id()));
        let counts = db.store.counts().await.unwrap();
        assert_eq!(counts.raw_messages, 4);
        assert_eq!(counts.source_positions, 6);
        assert_eq!(counts.unprocessed, 4);
        let loaded = db.store.raw_message(first[0].id()).await.unwrap().unwrap();
        assert_eq!(loaded.raw, b"Subject: k1\r\n\r\nbody");
        assert_eq!(loaded.processed_at, None);
        // Once threaded, a message seen again is only known.
        db.store.record_message(&message(first[0].id(), "k1@x.org", "ana@example.org")).await.unwrap();
        let later = db.store.store_raw_batch(&[raw("imap:a:3:1", "k1"), raw("imap:a:3:2", "k2")]).await.unwrap();
        assert_eq!(later[0], RawOutcome::Known(first[0].id()));
        assert_eq!(later[1], RawOutcome::Unprocessed(first[1].id()));
    }

    async fn messages_thread_by_reply_headers_and_token(db: TestDb) {
        let root_raw = stored(&db, "r1").await;
        let root = db.store.record_message(&message(root_raw, "root@x.org", "ana@example.org")).await.unwrap();
        assert!(root.new_thread && root.newly_recorded);

        let reply_raw = stored(&db, "r2").await;
        let mut reply = message(reply_raw, "reply@x.org", "ana@example.org");
        reply.threading.referenced_ids = vec![MessageId::parse("unknown@x.org").unwrap(), MessageId::parse("root@x.org").unwrap()];
        let reply = db.store.record_message(&reply).await.unwrap();
        assert_eq!(reply.thread_id, root.thread_id);
        assert!(!reply.new_thread);

        let queue = db.store.queue(10).await.unwrap();
        assert_eq!(queue.len(), 1);
        let token = ThreadToken::parse(&queue[0].token).unwrap();
        assert_eq!(queue[0].n_messages, 2);
        assert_eq!(queue[0].contact_email.as_deref(), Some("ana@example.org"));

        let by_token_raw = stored(&db, "r3").await;
        let mut by_token = message(by_token_raw, "other@y.org", "ana@example.org");
        by_token.threading.token = Some(token);
        assert_eq!(db.store.record_message(&by_token).await.unwrap().thread_id, root.thread_id);

        let unrelated_raw = stored(&db, "r4").await;
        let unrelated = db.store.record_message(&message(unrelated_raw, "new@z.org", "bo@example.org")).await.unwrap();
        assert_ne!(unrelated.thread_id, root.thread_id);
        assert!(unrelated.new_thread);

        assert_eq!(db.store.thread_of_message_id(&MessageId::parse("reply@x.org").unwrap()).await.unwrap(), Some(root.thread_id));
        let messages = db.store.thread_messages(root.thread_id).await.unwrap();
        assert_eq!(messages.iter().map(|m| m.raw_message_id).collect::<Vec<_>>(), vec![root_raw, reply_raw, by_token_raw]);
        assert_eq!(db.store.counts().await.unwrap().unprocessed, 0);
    }

    async fn recording_twice_changes_nothing(db: TestDb) {
        let raw_id = stored(&db, "once").await;
        let first = db.store.record_message(&message(raw_id, "m@x.org", "ana@example.org")).await.unwrap();
        let second = db.store.record_message(&message(raw_id, "m@x.org", "ana@example.org")).await.unwrap();
        assert!(first.newly_recorded);
        assert!(!second.newly_recorded);
        assert_eq!((first.message_id, first.thread_id), (second.message_id, second.thread_id));
        let counts = db.store.counts().await.unwrap();
        assert_eq!((counts.messages, counts.threads, counts.contacts), (1, 1, 1));
    }

    async fn the_queue_puts_crisis_first_then_the_longest_wait(db: TestDb) {
        let mut ids = Vec::new();
        for (index, (risk, received_at)) in [(Risk::None, 100), (Risk::Crisis, 300), (Risk::Concern, 200), (Risk::None, 50), (Risk::Crisis, 400)].into_iter().enumerate() {
            let raw_id = stored(&db, &format!("q{index}")).await;
            let mut new = message(raw_id, &format!("q{index}@x.org"), &format!("p{index}@example.org"));
            new.risk = risk;
            new.received_at = received_at;
            ids.push(db.store.record_message(&new).await.unwrap().thread_id);
        }
        let order: Vec<i64> = db.store.queue(10).await.unwrap().iter().map(|e| e.thread_id).collect();
        assert_eq!(order, vec![ids[1], ids[4], ids[2], ids[3], ids[0]]);
    }

    async fn a_later_crisis_raises_the_thread_and_auto_mail_does_not_wait(db: TestDb) {
        let first_raw = stored(&db, "c1").await;
        let thread = db.store.record_message(&message(first_raw, "c1@x.org", "ana@example.org")).await.unwrap().thread_id;
        let second_raw = stored(&db, "c2").await;
        let mut second = message(second_raw, "c2@x.org", "ana@example.org");
        second.risk = Risk::Crisis;
        second.threading.referenced_ids = vec![MessageId::parse("c1@x.org").unwrap()];
        db.store.record_message(&second).await.unwrap();
        let third_raw = stored(&db, "c3").await;
        let mut third = message(third_raw, "c3@x.org", "ana@example.org");
        third.risk = Risk::None;
        third.threading.referenced_ids = vec![MessageId::parse("c1@x.org").unwrap()];
        db.store.record_message(&third).await.unwrap();
        let entry = db.store.queue(10).await.unwrap().into_iter().find(|e| e.thread_id == thread).unwrap();
        assert_eq!(entry.risk, Risk::Crisis, "risk never drops on its own");

        let bulk_raw = stored(&db, "b1").await;
        let mut bulk = message(bulk_raw, "b1@list.org", "news@list.org");
        bulk.auto_kind = AutoKind::Bulk;
        let bulk_thread = db.store.record_message(&bulk).await.unwrap().thread_id;
        let entry = db.store.queue(10).await.unwrap().into_iter().find(|e| e.thread_id == bulk_thread).unwrap();
        assert_eq!(entry.waiting_since, None);
        assert_eq!(entry.auto_kind, AutoKind::Bulk);
    }

    async fn checkpoints_round_trip(db: TestDb) {
        assert_eq!(db.store.checkpoint("imap:box").await.unwrap(), None);
        let checkpoint = Checkpoint { mailbox: "imap:box".into(), uid_validity: 42, last_uid: 7 };
        db.store.save_checkpoint(&checkpoint, 1).await.unwrap();
        assert_eq!(db.store.checkpoint("imap:box").await.unwrap(), Some(checkpoint));
        let moved = Checkpoint { mailbox: "imap:box".into(), uid_validity: 43, last_uid: 1 };
        db.store.save_checkpoint(&moved, 2).await.unwrap();
        assert_eq!(db.store.checkpoint("imap:box").await.unwrap(), Some(moved));
    }

    async fn one_instance_holds_a_mailbox_lease_until_it_expires_or_is_released(db: TestDb) {
        let store = &db.store;
        assert!(store.try_lease_mailbox("imap:box", "a", 1_000, 6_000).await.unwrap(), "nobody held it");
        assert!(!store.try_lease_mailbox("imap:box", "b", 2_000, 6_000).await.unwrap(), "a holds it");
        assert!(store.try_lease_mailbox("imap:box", "a", 3_000, 6_000).await.unwrap(), "a renews");
        // a's renewal at 3,000 lasts until 9,000.
        assert!(!store.try_lease_mailbox("imap:box", "b", 8_999, 6_000).await.unwrap());
        assert!(store.try_lease_mailbox("imap:other", "b", 8_999, 6_000).await.unwrap(), "leases are per mailbox");
        assert!(store.try_lease_mailbox("imap:box", "b", 9_000, 6_000).await.unwrap(), "expired: b takes over");
        assert!(!store.try_lease_mailbox("imap:box", "a", 9_500, 6_000).await.unwrap(), "a lost it");
        // Releasing someone else's lease does nothing; releasing one's own frees it at once.
        store.release_mailbox_lease("imap:box", "a").await.unwrap();
        assert!(!store.try_lease_mailbox("imap:box", "c", 10_000, 6_000).await.unwrap());
        store.release_mailbox_lease("imap:box", "b").await.unwrap();
        assert!(store.try_lease_mailbox("imap:box", "c", 10_000, 6_000).await.unwrap());
    }

    async fn unprocessed_raw_messages_are_listed_oldest_first(db: TestDb) {
        let a = stored(&db, "u1").await;
        let b = stored(&db, "u2").await;
        assert_eq!(db.store.unprocessed_raw_ids(10).await.unwrap(), vec![a, b]);
        db.store.record_message(&message(a, "u1@x.org", "ana@example.org")).await.unwrap();
        assert_eq!(db.store.unprocessed_raw_ids(10).await.unwrap(), vec![b]);
    }

    async fn contact_history_remembers_languages(db: TestDb) {
        let ana = EmailAddress::parse("Ana@Example.org").unwrap();
        assert_eq!(db.store.contact_history(&ana).await.unwrap().n_previous_messages, 0);
        let raw_id = stored(&db, "h1").await;
        let mut new = message(raw_id, "h1@x.org", "ana@example.org");
        new.language = Some(LanguageCode::parse("pt").unwrap());
        new.country = Some(CountryCode::parse("BR").unwrap());
        db.store.record_message(&new).await.unwrap();
        let history = db.store.contact_history(&ana).await.unwrap();
        assert_eq!(history.n_previous_messages, 1);
        assert_eq!(history.last_languages, vec![LanguageCode::parse("pt").unwrap()]);
        assert_eq!(history.known_country, None, "only a navigator's confirmation makes a country known");
    }

    async fn migrations_can_run_twice(db: TestDb) {
        db.store.migrate().await.unwrap();
        db.store.ping().await.unwrap();
    }
}

on_both_backends! {
    async fn risk_unknown_sorts_with_concern_and_only_a_concern_replaces_it(db: TestDb) {
        let mut ids = Vec::new();
        for (index, (risk, received_at)) in [(Risk::None, 50), (Risk::Unknown, 300), (Risk::Concern, 200), (Risk::Crisis, 400), (Risk::Unknown, 100)].into_iter().enumerate() {
            let raw_id = stored(&db, &format!("u{index}")).await;
            let mut new = message(raw_id, &format!("u{index}@x.org"), &format!("u{index}@example.org"));
            new.risk = risk;
            new.received_at = received_at;
            ids.push(db.store.record_message(&new).await.unwrap().thread_id);
        }
        let queue = db.store.queue(10).await.unwrap();
        let order: Vec<i64> = queue.iter().map(|e| e.thread_id).collect();
        // Crisis, then unknown and concern together by waiting time, then none.
        assert_eq!(order, vec![ids[3], ids[4], ids[2], ids[1], ids[0]]);
        assert_eq!(queue[1].risk, Risk::Unknown);

        // Risk never goes down by itself: a later "none" leaves unknown, a later unknown
        // leaves concern; a concern is more specific than unknown and replaces it.
        let follow_up = |index: usize, risk: Risk, thread_of: &str| {
            let thread_of = thread_of.to_string();
            let db = &db;
            async move {
                let raw_id = stored(db, &format!("f{index}")).await;
                let mut new = message(raw_id, &format!("f{index}@x.org"), "someone@example.org");
                new.risk = risk;
                new.threading.referenced_ids = vec![MessageId::parse(&thread_of).unwrap()];
                db.store.record_message(&new).await.unwrap().thread_id
            }
        };
        let risk_of = |thread_id: i64| {
            let db = &db;
            async move { db.store.thread_summary(thread_id).await.unwrap().unwrap().risk }
        };
        assert_eq!(follow_up(1, Risk::None, "u1@x.org").await, ids[1]);
        assert_eq!(risk_of(ids[1]).await, Risk::Unknown);
        follow_up(2, Risk::Unknown, "u2@x.org").await;
        assert_eq!(risk_of(ids[2]).await, Risk::Concern);
        follow_up(3, Risk::Concern, "u4@x.org").await;
        assert_eq!(risk_of(ids[4]).await, Risk::Concern);
        follow_up(4, Risk::Unknown, "u0@x.org").await;
        assert_eq!(risk_of(ids[0]).await, Risk::Unknown);
        follow_up(5, Risk::Crisis, "u1@x.org").await;
        assert_eq!(risk_of(ids[1]).await, Risk::Crisis);
    }
}

on_both_backends! {
    async fn risk_corrections_come_with_their_message_and_language(db: TestDb) {
        use concierge::store::Correction;
        let navigator = db.store.create_user(&EmailAddress::parse("nav@concierge.localhost").unwrap(), "Nav", concierge::domain::Role::Navigator, "x", 1).await.unwrap();
        // A person's thread: the correction is about the message read before it, not the later one.
        let first_raw = stored(&db, "k1").await;
        let mut first = message(first_raw, "k1@x.org", "ana@example.org");
        first.language = Some(LanguageCode::parse("es").unwrap());
        first.subject = "Ayuda".into();
        first.new_text = "Escríbeme a ana.g@example.es o llama al +34 612 345 678".into();
        first.received_at = 1_000;
        let thread = db.store.record_message(&first).await.unwrap().thread_id;
        db.store.correct_thread(thread, navigator, &Correction::Risk(Risk::Crisis), 5_000).await.unwrap();
        let later_raw = stored(&db, "k2").await;
        let mut later = message(later_raw, "k2@x.org", "ana@example.org");
        later.received_at = 6_000;
        later.threading.referenced_ids = vec![MessageId::parse("k1@x.org").unwrap()];
        db.store.record_message(&later).await.unwrap();
        db.store.correct_thread(thread, navigator, &Correction::Language(LanguageCode::parse("pt").unwrap()), 7_000).await.unwrap();
        db.store.correct_thread(thread, navigator, &Correction::Country(CountryCode::parse("PT").unwrap()), 7_100).await.unwrap();

        // A thread corrected twice: the later correction is the label.
        let twice_raw = stored(&db, "k3").await;
        let twice = db.store.record_message(&message(twice_raw, "k3@x.org", "ben@example.org")).await.unwrap().thread_id;
        db.store.correct_thread(twice, navigator, &Correction::Risk(Risk::Concern), 8_000).await.unwrap();
        db.store.correct_thread(twice, navigator, &Correction::Risk(Risk::None), 9_000).await.unwrap();

        // Auto-mail only: no person's message to label.
        let bulk_raw = stored(&db, "k4").await;
        let mut bulk = message(bulk_raw, "k4@list.org", "news@list.org");
        bulk.auto_kind = AutoKind::Bulk;
        let bulk_thread = db.store.record_message(&bulk).await.unwrap().thread_id;
        db.store.correct_thread(bulk_thread, navigator, &Correction::Risk(Risk::Concern), 9_500).await.unwrap();

        let corrections = db.store.risk_corrections().await.unwrap();
        let summary: Vec<String> = corrections
            .iter()
            .map(|c| format!("{} {} {:?} {:?} {:?}", c.corrected_at, c.corrected_risk.as_str(), c.old_risk, c.corrected_language, c.detected_language))
            .collect();
        assert_eq!(summary, vec![
            r#"5000 crisis Some("none") Some("pt") Some("es")"#,
            r#"8000 concern Some("none") None Some("en")"#,
            r#"9000 none Some("concern") None Some("en")"#,
        ]);
        assert_eq!(corrections[0].new_text, first.new_text);
        assert_eq!(corrections[1].message_id, corrections[2].message_id);

        let items = concierge::eval::correction_items(&corrections);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].id, format!("corr-{}", corrections[0].message_id));
        assert_eq!((items[0].language.as_str(), items[0].risk.as_str(), items[0].split.as_str()), ("pt", "crisis", "dev"));
        assert_eq!(items[0].subject, "Ayuda");
        assert_eq!(items[0].body, "Escríbeme a [email] o llama al [phone]");
        assert_eq!((items[1].language.as_str(), items[1].risk.as_str()), ("en", "none"));
        let line = serde_json::to_string(&items[0]).unwrap();
        assert!(!line.contains("ana") && !line.contains("@") && !line.contains("612"), "{line}");
    }
}

on_both_backends! {
    async fn two_instances_racing_for_fifty_threads_claim_each_exactly_once(db: TestDb) {
        use concierge::store::ClaimOutcome;
        // A second instance: its own connection pool on the same database.
        let other = concierge::store::connect(&db.url, 8).await.unwrap();
        let mut threads = Vec::new();
        for i in 0..50 {
            let raw_id = stored(&db, &format!("race-{i}")).await;
            let recorded = db.store.record_message(&message(raw_id, &format!("race-{i}@x.org"), &format!("p{i}@example.org"))).await.unwrap();
            threads.push(recorded.thread_id);
        }
        let mut navigators = Vec::new();
        for n in 0..4 {
            let email = EmailAddress::parse(&format!("nav{n}@concierge.localhost")).unwrap();
            navigators.push(db.store.create_user(&email, &format!("Nav {n}"), concierge::domain::Role::Navigator, "x", 1).await.unwrap());
        }
        // 200 attempts at once: every navigator on every thread, half through each instance.
        let now = concierge::clock::now_ms();
        let attempts = threads.iter().flat_map(|&thread| {
            navigators.iter().enumerate().map(move |(n, &navigator)| (thread, n, navigator))
        });
        let results = futures::future::join_all(attempts.map(|(thread, n, navigator)| {
            let store = if n % 2 == 0 { db.store.clone() } else { other.clone() };
            async move { (thread, navigator, store.claim_thread(thread, navigator, now, 60_000, false).await.unwrap()) }
        }))
        .await;
        assert_eq!(results.len(), 200);
        for &thread in &threads {
            let winners: Vec<i64> = results
                .iter()
                .filter(|(t, _, outcome)| *t == thread && *outcome == ClaimOutcome::Claimed)
                .map(|(_, navigator, _)| *navigator)
                .collect();
            assert_eq!(winners.len(), 1, "thread {thread}: claimed by {winners:?}");
            let summary = db.store.thread_summary(thread).await.unwrap().unwrap();
            assert_eq!(summary.claimed_by, Some(winners[0]), "thread {thread}: the stored claim is the winner's");
        }
    }
}

on_both_backends! {
    async fn queue_pages_and_counts_cover_every_open_thread(db: TestDb) {
        use concierge::domain::ThreadStatus;
        use concierge::store::{ClaimFilter, QueueQuery};
        // 30 threads: every third crisis, languages en/de/fr in turn, country only on even ones.
        let mut ids = Vec::new();
        for i in 0..30i64 {
            let raw_id = stored(&db, &format!("page-{i}")).await;
            let mut new = message(raw_id, &format!("page-{i}@x.org"), &format!("p{i}@example.org"));
            new.risk = if i % 3 == 0 { Risk::Crisis } else { Risk::None };
            new.received_at = 10_000 + i;
            new.language = Some(LanguageCode::parse(["en", "de", "fr"][i as usize % 3]).unwrap());
            new.country = (i % 2 == 0).then(|| CountryCode::parse("DE").unwrap());
            ids.push(db.store.record_message(&new).await.unwrap().thread_id);
        }
        let navigator = db.store.create_user(&EmailAddress::parse("nav@concierge.localhost").unwrap(), "Nav", concierge::domain::Role::Navigator, "x", 1).await.unwrap();
        let now = concierge::clock::now_ms();
        for &thread in &ids[1..3] {
            db.store.claim_thread(thread, navigator, now, 60_000, false).await.unwrap();
        }
        db.store.set_thread_status(ids[29], ThreadStatus::Closed, now).await.unwrap();

        // Pages in queue order: the 10 crisis threads first, oldest first, then the rest; no
        // thread twice, none missing, the closed one nowhere.
        let all = QueueQuery::default();
        let mut paged = Vec::new();
        for page in 0..4 {
            paged.extend(db.store.queue_page(&all, 8, page * 8).await.unwrap().iter().map(|e| e.thread_id));
        }
        let mut expected: Vec<i64> = (0..29).filter(|i| i % 3 == 0).map(|i| ids[i]).collect();
        expected.extend((0..29).filter(|i| i % 3 != 0).map(|i| ids[i]));
        assert_eq!(paged, expected);
        assert_eq!(db.store.queue(100).await.unwrap().iter().map(|e| e.thread_id).collect::<Vec<_>>(), expected);

        let ids_of = |entries: Vec<concierge::store::QueueEntry>| entries.iter().map(|e| e.thread_id).collect::<Vec<_>>();
        let crisis = QueueQuery { risk: Some(Risk::Crisis), ..Default::default() };
        assert_eq!(ids_of(db.store.queue_page(&crisis, 100, 0).await.unwrap()), (0..29).filter(|i| i % 3 == 0).map(|i| ids[i]).collect::<Vec<_>>());
        let german_in_de = QueueQuery { language: Some("de".into()), country: Some("DE".into()), ..Default::default() };
        assert_eq!(ids_of(db.store.queue_page(&german_in_de, 100, 0).await.unwrap()), vec![ids[4], ids[10], ids[16], ids[22], ids[28]]);
        let mine = QueueQuery { claim: Some(ClaimFilter::Mine(navigator)), ..Default::default() };
        assert_eq!(ids_of(db.store.queue_page(&mine, 100, 0).await.unwrap()), vec![ids[1], ids[2]]);
        let unclaimed = QueueQuery { claim: Some(ClaimFilter::Unclaimed), ..Default::default() };
        assert_eq!(db.store.queue_page(&unclaimed, 100, 0).await.unwrap().len(), 27);
        let claimed = QueueQuery { status: Some(ThreadStatus::Claimed), ..Default::default() };
        assert_eq!(ids_of(db.store.queue_page(&claimed, 100, 0).await.unwrap()), vec![ids[1], ids[2]]);
        assert!(db.store.queue_page(&all, 8, 100).await.unwrap().is_empty(), "past the end: an empty page");

        // The counts are over every open thread, whatever the page.
        let counts = db.store.queue_counts().await.unwrap();
        assert_eq!(counts.open, 29);
        assert_eq!((counts.risk(Risk::Crisis), counts.risk(Risk::None), counts.risk(Risk::Concern)), (10, 19, 0));
        assert_eq!((counts.status(ThreadStatus::New), counts.status(ThreadStatus::Claimed), counts.status(ThreadStatus::Closed)), (27, 2, 0));
        assert_eq!((counts.held_by(None), counts.held_by(Some(navigator))), (27, 2));
        let language = |code: &str| counts.by_language.iter().find(|(c, _)| c.as_deref() == Some(code)).map(|(_, n)| *n);
        assert_eq!((language("en"), language("de"), language("fr")), (Some(10), Some(10), Some(9)));
        let country = |code: Option<&str>| counts.by_country.iter().find(|(c, _)| c.as_deref() == code).map(|(_, n)| *n);
        assert_eq!((country(Some("DE")), country(None)), (Some(15), Some(14)));
    }
}
