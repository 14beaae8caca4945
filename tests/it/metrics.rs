//! Operability: `/metrics` after real ingestion, `/healthz` and the queue's banner while the
//! inbox is stalled and after a real poll, on both backends.

use crate::harness::{inbox_fixture, wait_until, Dovecot, TestDb};
use crate::on_both_backends;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use concierge::config::{InboxKind, Settings};
use concierge::domain::{EmailAddress, MessageId, Role};
use concierge::health::PollWatch;
use concierge::ingest::IncomingRaw;
use concierge::source::imap::ImapSource;
use concierge::source::maildir::MaildirSource;
use concierge::source::MailSource;
use concierge::store::NewOutboxItem;
use concierge::web::AppState;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const MIN: i64 = 60_000;

fn state(db: &TestDb, settings: &Settings) -> AppState {
    let templates = concierge::cli::reply_templates(settings).unwrap();
    AppState::new(db.store.clone(), settings, templates, Default::default()).unwrap()
}

/// A navigator's session cookie.
async fn login(db: &TestDb) -> String {
    crate::web::login_as(db, "nav@example.org", Role::Navigator)
        .await
        .0
}

async fn get(router: &Router, path: &str, cookie: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of one sample line (`name{labels}`), which must be there exactly once.
fn value(text: &str, series: &str) -> f64 {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "{series} in\n{text}");
    values[0]
}

fn mail(from: &str, subject: &str, extra_headers: &str, body: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: help@concierge.example.org\r\nSubject: {subject}\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn outbox_item(thread_id: i64, n: u32) -> NewOutboxItem {
    NewOutboxItem {
        thread_id,
        kind: "reply".into(),
        to_address: EmailAddress::parse("jamie.rivera@example.org").unwrap(),
        from_address: "help@concierge.example.org".into(),
        subject: "Re: Tonight".into(),
        body_text: "We are here, Jamie.".into(),
        message_id: MessageId::parse(&format!("out{n}@concierge.example.org")).unwrap(),
        in_reply_to: None,
        references_header: None,
        auto_submitted: false,
        language: Some("en".into()),
        template: None,
        template_note: None,
        created_at: concierge::clock::now_ms(),
        sent_by: None,
    }
}

on_both_backends! {
    async fn metrics_count_what_was_ingested_and_carry_no_personal_data(db: TestDb) {
        let settings = Settings::load(None).unwrap();
        let router = concierge::web::router(state(&db, &settings));
        db.ingester()
            .ingest_batch(vec![
                IncomingRaw {
                    source_key: "m:1".into(),
                    raw: mail("Jamie Rivera <jamie.rivera@example.org>", "Tonight", "", "I want to end my life tonight.", "m1@example.org"),
                },
                IncomingRaw {
                    source_key: "m:2".into(),
                    raw: mail("Lena Vogel <lena.vogel@example.org>", "Therapieplatz gesucht", "",
                        "Hallo, ich suche einen Therapieplatz für Musiker in meiner Stadt.", "m2@example.org"),
                },
                IncomingRaw {
                    source_key: "m:3".into(),
                    raw: mail("Robin Abwesend <robin.abwesend@example.net>", "Out of office", "Auto-Submitted: auto-replied\r\n",
                        "I am away until Monday.", "m3@example.org"),
                },
                // The same message at a second position: stored once.
                IncomingRaw {
                    source_key: "m:4".into(),
                    raw: mail("Lena Vogel <lena.vogel@example.org>", "Therapieplatz gesucht", "",
                        "Hallo, ich suche einen Therapieplatz für Musiker in meiner Stadt.", "m2@example.org"),
                },
            ])
            .await
            .unwrap();
        let crisis_thread = db.store.queue(10).await.unwrap()[0].thread_id;
        for n in 0..3 {
            db.store.enqueue_outbox(&outbox_item(crisis_thread, n)).await.unwrap();
        }
        let now = concierge::clock::now_ms();
        let claimed = db.store.claim_outbox(now, 60_000, 2).await.unwrap();
        db.store.mark_outbox_sent(&[claimed[0].id], now).await.unwrap();
        db.store.mark_outbox_failed(claimed[1].id, "550 no such user").await.unwrap();
        db.store.record_poll_success("imap:mail.example.net/INBOX", now - 2 * MIN).await.unwrap();

        // Public, like /healthz: no session.
        let (status, content_type, text) = get(&router, "/metrics", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        assert_eq!(value(&text, "concierge_raw_messages_total"), 3.0);
        assert_eq!(value(&text, "concierge_raw_messages_processed_total"), 3.0);
        assert_eq!(value(&text, "concierge_raw_messages_unprocessed"), 0.0);
        assert_eq!(value(&text, "concierge_inbound_messages_by_risk_total{risk=\"crisis\"}"), 1.0);
        // The other two are triage's to judge (the auto-reply is read for risk too); every
        // message is counted once.
        let levels: f64 = ["crisis", "concern", "unknown", "none"]
            .iter()
            .map(|risk| value(&text, &format!("concierge_inbound_messages_by_risk_total{{risk=\"{risk}\"}}")))
            .sum();
        assert_eq!(levels, 3.0);
        assert_eq!(value(&text, "concierge_inbound_messages_by_auto_kind_total{auto_kind=\"none\"}"), 2.0);
        assert_eq!(value(&text, "concierge_inbound_messages_by_auto_kind_total{auto_kind=\"auto_reply\"}"), 1.0);
        // The auto-reply makes nobody wait: one crisis and one calm person are waiting.
        assert_eq!(value(&text, "concierge_queue_depth{risk=\"crisis\"}"), 1.0);
        assert_eq!(value(&text, "concierge_queue_depth{risk=\"none\"}"), 1.0);
        assert_eq!(value(&text, "concierge_queue_depth{risk=\"concern\"}"), 0.0);
        assert_eq!(value(&text, "concierge_queue_oldest_wait_seconds{risk=\"concern\"}"), 0.0);
        let waited = value(&text, "concierge_queue_oldest_wait_seconds{risk=\"crisis\"}");
        let expected = (now - db.store.queue(10).await.unwrap()[0].waiting_since.unwrap()) as f64 / 1000.0;
        assert!((waited - expected).abs() < 60.0, "{waited} vs {expected}");
        assert_eq!(value(&text, "concierge_outbox_rows{status=\"queued\"}"), 1.0);
        assert_eq!(value(&text, "concierge_outbox_rows{status=\"sent\"}"), 1.0);
        assert_eq!(value(&text, "concierge_outbox_rows{status=\"failed\"}"), 1.0);
        assert_eq!(value(&text, "concierge_outbox_rows{status=\"sending\"}"), 0.0);
        let last = value(&text, "concierge_mailbox_last_poll_success_timestamp_seconds{mailbox=\"imap:mail.example.net/INBOX\"}");
        assert_eq!(last, ((now - 2 * MIN) as f64 / 1000.0));
        let lag = value(&text, "concierge_mailbox_poll_lag_seconds{mailbox=\"imap:mail.example.net/INBOX\"}");
        assert!((120.0..180.0).contains(&lag), "{lag}");
        assert_eq!(value(&text, "concierge_mailbox_poll_stall_threshold_seconds"), 900.0);
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            assert!(line.starts_with("concierge_"), "{line}");
        }

        // Fifty more messages in sixteen languages: the metrics agree with the queue and the
        // threads, and no address, name or subject of them reaches the output.
        let (_, messages) = inbox_fixture();
        db.ingester()
            .ingest_batch(messages.into_iter().enumerate().map(|(i, raw)| IncomingRaw { source_key: format!("fx:{i}"), raw }).collect())
            .await
            .unwrap();
        let (_, _, text) = get(&router, "/metrics", None).await;
        assert_eq!(value(&text, "concierge_raw_messages_total"), 53.0);
        let queue = db.store.queue(1000).await.unwrap();
        let mut by_risk = std::collections::BTreeMap::<&str, (i64, i64)>::new();
        let mut personal: Vec<String> = vec!["Jamie".into(), "Rivera".into(), "Lena".into(), "Vogel".into(), "Robin".into(), "Therapieplatz".into(), "Tonight".into()];
        for entry in &queue {
            if entry.waiting_since.is_some() {
                by_risk.entry(entry.risk.as_str()).or_default().0 += 1;
            }
            personal.extend([entry.contact_email.clone(), entry.contact_name.clone(), Some(entry.subject.clone())].into_iter().flatten());
            for message in db.store.thread_messages(entry.thread_id).await.unwrap() {
                by_risk.entry(message.risk.as_str()).or_default().1 += 1;
                personal.extend([message.from_address, message.from_name, Some(message.subject)].into_iter().flatten());
            }
        }
        for risk in ["crisis", "concern", "unknown", "none"] {
            let (waiting, messages) = by_risk.get(risk).copied().unwrap_or_default();
            assert_eq!(value(&text, &format!("concierge_queue_depth{{risk=\"{risk}\"}}")), waiting as f64, "{risk}");
            assert_eq!(value(&text, &format!("concierge_inbound_messages_by_risk_total{{risk=\"{risk}\"}}")), messages as f64, "{risk}");
        }
        assert!(!text.contains('@'), "no address:\n{text}");
        for value in personal.iter().map(|v| v.trim()).filter(|v| v.chars().count() >= 5) {
            assert!(!text.contains(value), "{value:?} is in /metrics:\n{text}");
        }
    }

    async fn health_is_degraded_while_the_inbox_is_stalled_and_ok_after_a_real_poll(db: TestDb) {
        let inbox = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(None).unwrap();
        settings.maildir.path = inbox.path().to_path_buf();
        let key = format!("maildir:{}", inbox.path().display());
        let cookie = login(&db).await;
        let now = concierge::clock::now_ms();
        db.store.record_poll_success(&key, now - 20 * MIN).await.unwrap();

        // A freshly started instance is not stalled before the threshold has passed since its
        // start, whatever the last poll before it was.
        let fresh = concierge::web::router(state(&db, &settings));
        let (status, _, body) = get(&fresh, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));

        // Started 30 minutes ago, last poll 20 minutes ago: stalled.
        let mut started_earlier = state(&db, &settings);
        started_earlier.poll_watch = Arc::new(PollWatch { started_at: now - 30 * MIN, ..(*started_earlier.poll_watch).clone() });
        let router = concierge::web::router(started_earlier);
        let (status, _, body) = get(&router, "/healthz", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, format!("degraded: no successful poll of {key} for 20 min"));
        let (_, _, queue) = get(&router, "/", Some(&cookie)).await;
        assert!(queue.contains("class=\"alert\"") && queue.contains("Mail is not coming in"), "{queue}");
        assert!(queue.contains(&format!("no successful poll of {key} for 20 min")), "{queue}");
        db.ingester()
            .ingest_batch(vec![IncomingRaw { source_key: "b:1".into(), raw: crate::harness::simple_message("b1@example.org", "a@example.org", "Hello", "Can we talk?") }])
            .await
            .unwrap();
        let thread_id = db.store.queue(1).await.unwrap()[0].thread_id;
        let (_, _, thread) = get(&router, &format!("/threads/{thread_id}"), Some(&cookie)).await;
        assert!(thread.contains("class=\"alert\""), "the conversation page shows the banner too");
        let (_, _, text) = get(&router, "/metrics", None).await;
        assert_eq!(value(&text, &format!("concierge_mailbox_poll_stalled{{mailbox=\"{key}\"}}")), 1.0);

        // The daemon's Maildir source polls: healthy again, and the banner is gone.
        let source_settings = settings.maildir.clone();
        let mut source = MaildirSource::new(source_settings.path, Duration::from_millis(50));
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let ingester = Arc::new(db.ingester());
        let task = tokio::spawn(async move { source.run(ingester, shutdown_rx).await });
        let store = db.store.clone();
        let polled_key = key.clone();
        wait_until(Duration::from_secs(20), "a recorded Maildir poll", || {
            let store = store.clone();
            let key = polled_key.clone();
            async move {
                store.poll_statuses().await.unwrap().iter().any(|p| p.mailbox == key && p.last_success_at >= now)
            }
        })
        .await;
        shutdown_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        let (status, _, body) = get(&router, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        let (_, _, queue) = get(&router, "/", Some(&cookie)).await;
        assert!(!queue.contains("class=\"alert\""), "{queue}");
        let (_, _, text) = get(&router, "/metrics", None).await;
        assert_eq!(value(&text, &format!("concierge_mailbox_poll_stalled{{mailbox=\"{key}\"}}")), 0.0);
        assert!(value(&text, &format!("concierge_poll_rounds_total{{mailbox=\"{key}\",outcome=\"ok\"}}")) >= 1.0);
    }

    async fn a_web_only_node_reports_another_instances_stalled_inbox(db: TestDb) {
        let mut settings = Settings::load(None).unwrap();
        settings.inbox.kind = InboxKind::None;
        let router = concierge::web::router(state(&db, &settings));
        let (status, _, body) = get(&router, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"), "nothing polled anywhere yet");
        let now = concierge::clock::now_ms();
        db.store.record_poll_success("imap:mail.example.net/INBOX", now - 20 * MIN).await.unwrap();
        let (status, _, body) = get(&router, "/healthz", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "degraded: no successful poll of imap:mail.example.net/INBOX for 20 min");
        // An older time from a slower instance does not move the last poll back.
        db.store.record_poll_success("imap:mail.example.net/INBOX", now).await.unwrap();
        db.store.record_poll_success("imap:mail.example.net/INBOX", now - 30 * MIN).await.unwrap();
        let (status, _, body) = get(&router, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        assert_eq!(db.store.poll_statuses().await.unwrap()[0].last_success_at, now);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_sync_records_its_successful_poll() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    let dovecot = Dovecot::start();
    let source = ImapSource::new(dovecot.settings());
    let before = concierge::clock::now_ms();
    assert_eq!(source.sync_once(&db.ingester()).await.unwrap(), 0);
    let polls = db.store.poll_statuses().await.unwrap();
    assert_eq!(polls.len(), 1, "{polls:?}");
    assert_eq!(polls[0].mailbox, "imap:127.0.0.1/INBOX");
    assert!(polls[0].last_success_at >= before);
    let mut settings = Settings::load(None).unwrap();
    settings.inbox.kind = InboxKind::Imap;
    settings.imap = dovecot.settings();
    assert_eq!(
        concierge::source::poll_key(&settings).as_deref(),
        Some("imap:127.0.0.1/INBOX"),
        "the web app watches the key the source writes"
    );
}
