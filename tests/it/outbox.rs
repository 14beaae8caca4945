//! Acknowledgements and the outbox against a real SMTP server (Postfix's smtp-sink).

use crate::harness::{
    header_of, seed_resources, settings_with_smtp, simple_message, Dovecot, SmtpSink, TestDb,
};
use crate::on_both_backends;
use concierge::ingest::IncomingRaw;
use concierge::mail::parse_message;

fn item(key: &str, raw: Vec<u8>) -> IncomingRaw {
    IncomingRaw {
        source_key: key.into(),
        raw,
    }
}

fn german_crisis() -> Vec<u8> {
    simple_message(
        "crisis-de@example-band.de",
        "Jonas Weber <jonas@example-band.de>",
        "Ich kann nicht mehr",
        "Hallo, ich wohne in Berlin und ich will nicht mehr leben. Ich weiß nicht, an wen ich mich wenden soll.",
    )
}

on_both_backends! {
    async fn a_crisis_gets_an_acknowledgement_with_the_local_crisis_line(db: TestDb) {
        let sink = SmtpSink::start(&[]);
        seed_resources(&db.store).await;
        let (ingester, worker) = concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(sink.port)).unwrap();
        ingester.ingest_batch(vec![item("t:1", german_crisis())]).await.unwrap();
        let outbox = db.store.outbox_all().await.unwrap();
        assert_eq!(outbox.len(), 1, "one acknowledgement queued");
        assert_eq!(outbox[0].kind, "crisis_acknowledgement");
        assert_eq!(worker.send_due().await.unwrap(), 1);
        assert_eq!(db.store.outbox_all().await.unwrap()[0].status, "sent");

        let captured = sink.messages();
        assert_eq!(captured.len(), 1);
        let mail = &captured[0];
        assert!(header_of(mail, "Message-ID").unwrap().ends_with("@concierge.example.org>"));
        assert_eq!(header_of(mail, "In-Reply-To").as_deref(), Some("<crisis-de@example-band.de>"));
        assert!(header_of(mail, "References").unwrap().contains("<crisis-de@example-band.de>"));
        assert_eq!(header_of(mail, "Auto-Submitted").as_deref(), Some("auto-replied"));
        let parsed = parse_message(mail.as_bytes()).unwrap();
        let token = db.store.queue(10).await.unwrap()[0].token.clone();
        assert!(parsed.subject.contains(&format!("[#{token}]")), "{}", parsed.subject);
        assert!(parsed.text.contains("0800 111 0 111"), "the German crisis line is in the mail:\n{}", parsed.text);
        assert!(parsed.text.contains("112"), "the emergency number is in the mail");
        let language = concierge::triage::language::detect_text(&parsed.text, &[]).unwrap().value;
        assert_eq!(language.as_str(), outbox[0].language.as_deref().unwrap());
        if outbox[0].language.as_deref() != Some("de") {
            assert!(outbox[0].template_note.is_some(), "a fallback is recorded");
        }
    }

    async fn transient_failures_retry_and_permanent_failures_fail(db: TestDb) {
        let port = crate::harness::free_port();
        let sink = SmtpSink::start_on(port, &["-r", "RCPT"]);
        let (ingester, worker) = concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(port)).unwrap();
        ingester.ingest_batch(vec![item("t:1", simple_message("a@example.org", "ana@example.org", "Hello", "I would like to find a therapist."))]).await.unwrap();
        assert_eq!(worker.send_due().await.unwrap(), 1);
        let row = db.store.outbox_all().await.unwrap().remove(0);
        assert_eq!((row.status.as_str(), row.attempts), ("queued", 1));
        assert!(row.last_error.is_some());
        assert!(row.next_attempt_at > concierge::clock::now_ms(), "the retry waits");
        assert_eq!(worker.send_due().await.unwrap(), 0, "not due yet");
        drop(sink);

        // The server recovers; an hour later the row goes out.
        let sink = SmtpSink::start_on(port, &[]);
        assert_eq!(worker.send_due_at(concierge::clock::now_ms() + 3_600_000).await.unwrap(), 1);
        assert_eq!(db.store.outbox_all().await.unwrap()[0].status, "sent");
        assert_eq!(sink.messages().len(), 1);
        drop(sink);

        // A permanent refusal fails the row for good, and it is never tried again.
        let sink = SmtpSink::start_on(port, &["-f", "DATA"]);
        ingester.ingest_batch(vec![item("t:2", simple_message("b@example.org", "bo@example.org", "Hi", "Can I talk to someone about my drinking?"))]).await.unwrap();
        assert_eq!(worker.send_due().await.unwrap(), 1);
        let failed = db.store.outbox_all().await.unwrap().into_iter().find(|r| r.to_address == "bo@example.org").unwrap();
        assert_eq!(failed.status, "failed");
        assert_eq!(worker.send_due_at(concierge::clock::now_ms() + 86_400_000).await.unwrap(), 0);
        assert!(sink.messages().is_empty());
    }

    async fn a_renewed_sending_lease_keeps_other_workers_off_and_a_lapsed_one_frees_the_row(db: TestDb) {
        let (ingester, _worker) = concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(1)).unwrap();
        ingester.ingest_batch(vec![item("l:1", simple_message("lease@example.org", "ana@example.org", "Hello", "I would like to talk to someone."))]).await.unwrap();
        let now = concierge::clock::now_ms();
        let claimed = db.store.claim_outbox(now, 30_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let id = claimed[0].id;
        // Another worker 20 s later: the lease holds.
        assert!(db.store.claim_outbox(now + 20_000, 30_000, 10).await.unwrap().is_empty());
        // Renewed at +20 s until +50 s: at +40 s, past the first lease, nobody takes it.
        db.store.renew_outbox_lease(&[id], now + 50_000).await.unwrap();
        assert!(db.store.claim_outbox(now + 40_000, 30_000, 10).await.unwrap().is_empty());
        // The holder died and renewed no more: after the lease the row is taken again.
        let retaken = db.store.claim_outbox(now + 50_001, 30_000, 10).await.unwrap();
        assert_eq!(retaken.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
        assert_eq!(retaken[0].attempts, 2);
        // A sent row is never renewed back into sending.
        db.store.mark_outbox_sent(&[id], now + 50_002).await.unwrap();
        db.store.renew_outbox_lease(&[id], now + 90_000).await.unwrap();
        assert_eq!(db.store.outbox_all().await.unwrap()[0].status, "sent");
    }

    async fn nothing_is_sent_twice_across_a_restart(db: TestDb) {
        let sink = SmtpSink::start(&[]);
        let settings = settings_with_smtp(sink.port);
        let (ingester, worker) = concierge::cli::reply_pipeline(&db.store, &settings).unwrap();
        ingester.ingest_batch(vec![item("t:1", simple_message("r@example.org", "ana@example.org", "Hello", "I need help with anxiety on tour."))]).await.unwrap();
        assert_eq!(worker.send_due().await.unwrap(), 1);
        drop(worker);
        // A restarted daemon: a new worker and a new ingester over the same store.
        let (ingester, worker) = concierge::cli::reply_pipeline(&db.store, &settings).unwrap();
        assert_eq!(ingester.acknowledge_pending().await.unwrap(), 0);
        ingester.ingest_batch(vec![item("t:1", simple_message("r@example.org", "ana@example.org", "Hello", "I need help with anxiety on tour."))]).await.unwrap();
        assert_eq!(worker.send_due_at(concierge::clock::now_ms() + 86_400_000).await.unwrap(), 0);
        assert_eq!(sink.messages().len(), 1);
    }

    async fn machine_mail_and_repeated_mail_get_no_acknowledgement(db: TestDb) {
        let (ingester, _worker) = concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(1)).unwrap();
        let out_of_office = "From: Kim <kim@example.org>\r\nTo: help@concierge.example.org\r\nSubject: Out of office: your message\r\n\
Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nI am away until Monday.\r\n";
        let bounce = "From: MAILER-DAEMON@mx.example.net\r\nTo: help@concierge.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Return-Path: <>\r\nMessage-ID: <dsn@mx.example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n";
        let list = "From: News <news@example.org>\r\nTo: help@concierge.example.org\r\nSubject: November news\r\nList-Id: <news.example.org>\r\n\
List-Unsubscribe: <mailto:leave@example.org>\r\nMessage-ID: <news@example.org>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nOur news.\r\n";
        ingester
            .ingest_batch(vec![item("a", out_of_office.into()), item("b", bounce.into()), item("c", list.into())])
            .await
            .unwrap();
        assert!(db.store.outbox_all().await.unwrap().is_empty(), "no acknowledgement to machine mail");

        let ten: Vec<IncomingRaw> = (0..10)
            .map(|i| item(&format!("s:{i}"), simple_message(&format!("ten-{i}@example.org"), "sam@example.org", &format!("Question {i}"), "Another question about finding a therapist.")))
            .collect();
        for message in ten {
            ingester.ingest_batch(vec![message]).await.unwrap();
        }
        let acknowledgements: Vec<_> = db.store.outbox_all().await.unwrap().into_iter().filter(|r| r.to_address == "sam@example.org").collect();
        assert_eq!(acknowledgements.len(), 1, "one acknowledgement per sender per window");
        assert_eq!(db.store.queue(100).await.unwrap().len(), 13, "every message still reaches the queue");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_trip_from_imap_to_smtp_is_threaded() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start(&[]);
    seed_resources(&db.store).await;
    let (ingester, worker) =
        concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(sink.port)).unwrap();
    dovecot
        .append("INBOX", &[simple_message("round-trip@example.com.br", "Ana Souza <ana@example.com.br>", "Preciso de ajuda", "Olá, moro em São Paulo e estou com muita ansiedade antes dos shows. Vocês podem me ajudar a encontrar um psicólogo?")])
        .await;
    concierge::source::imap::ImapSource::new(dovecot.settings())
        .sync_once(&ingester)
        .await
        .unwrap();
    assert_eq!(worker.send_due().await.unwrap(), 1);
    let captured = sink.messages();
    assert_eq!(captured.len(), 1);
    assert_eq!(
        header_of(&captured[0], "In-Reply-To").as_deref(),
        Some("<round-trip@example.com.br>")
    );
    let parsed = parse_message(captured[0].as_bytes()).unwrap();
    assert!(
        parsed.text.contains("188") || parsed.text.contains("190") || parsed.text.contains("192"),
        "a Brazilian number:\n{}",
        parsed.text
    );
    // Our own acknowledgement, come back through the inbox, threads onto the conversation and is
    // recognised as ours.
    dovecot
        .append("INBOX", &[captured[0].as_bytes().to_vec()])
        .await;
    concierge::source::imap::ImapSource::new(dovecot.settings())
        .sync_once(&ingester)
        .await
        .unwrap();
    let queue = db.store.queue(10).await.unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(
        db.store.outbox_all().await.unwrap().len(),
        1,
        "no acknowledgement of our own mail"
    );
}

#[test]
fn every_template_renders_in_every_language() {
    use concierge::replies::context::{ReplyContext, ServiceInfo};
    use concierge::replies::templates::Templates;
    use concierge::resources::{match_resources, MatchQuery};
    let templates = Templates::load(None).unwrap();
    let languages = templates.languages();
    for required in ["en", "es", "pt", "fr", "de", "it"] {
        assert!(
            languages.iter().any(|l| l == required),
            "no {required} templates: {languages:?}"
        );
    }
    let directory = concierge::resources::files::read_path(
        &crate::harness::fixtures().join("../../config/resources"),
    )
    .unwrap();
    let service = ServiceInfo {
        service_name: "concierge".into(),
        reply_window_hours: 48,
    };
    let today = concierge::resources::model::day_of(concierge::clock::now_ms());
    let query = |country: Option<&str>| MatchQuery {
        country: country.map(|c| concierge::domain::CountryCode::parse(c).unwrap()),
        region: None,
        language: None,
        topics: vec![],
        risk: concierge::domain::Risk::Crisis,
        today,
    };
    let known = match_resources(&directory, &query(Some("DE")));
    let unknown = match_resources(&directory, &query(None));
    let contexts = [
        (
            ReplyContext::new(
                &service,
                Some("Ana Silva"),
                "K7Q2M",
                Some("Sam"),
                Some("Germany"),
                &known,
            ),
            "0800 111 0 111",
        ),
        (
            ReplyContext::new(&service, None, "K7Q2M", None, None, &unknown),
            "findahelpline",
        ),
    ];
    let mut problems = Vec::new();
    for language in &languages {
        for name in [
            "acknowledgement",
            "crisis_acknowledgement",
            "resources",
            "follow_up",
            "closing",
        ] {
            if !templates.has(language, name) {
                problems.push(format!("{language}/{name} is missing"));
                continue;
            }
            for (context, must_contain) in &contexts {
                match templates.render(name, Some(language), context) {
                    Ok(rendered) => {
                        if !rendered.subject.contains("[#K7Q2M]") {
                            problems.push(format!("{language}/{name}: subject without the token"));
                        }
                        if rendered.language != *language {
                            problems.push(format!(
                                "{language}/{name}: rendered in {}",
                                rendered.language
                            ));
                        }
                        let is_ack = name.contains("acknowledgement");
                        if is_ack && !rendered.text.contains(must_contain) {
                            problems.push(format!("{language}/{name}: no {must_contain}"));
                        }
                    }
                    Err(error) => problems.push(format!("{language}/{name}: {error}")),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A small directory for Japan: the emergency numbers, an evening line and, optionally, a
/// line open around the clock.
fn japan_directory(with_24_7_line: bool) -> Vec<concierge::resources::Resource> {
    let toml = format!(
        r#"
[[resource]]
id = "jp-emergency"
name = "Emergency numbers"
local_name = ""
organisation = ""
countries = ["JP"]
regions = []
languages = ["ja"]
topics = ["emergency"]
audience = ["everyone"]
priority = 100
pairing_group = "jp-crisis"
source_url = "https://example.org/emergency"
verified_at = "{today}"
verification = "test record"
verified_by = "test"
status = "active"
notes = ""
[[resource.contacts]]
channel = "phone"
value = "119"
languages = ["ja"]
hours = "24/7"
timezone = ""
free = true
anonymous = false

[[resource]]
id = "jp-evening-line"
name = "Evening Line"
local_name = ""
organisation = ""
countries = ["JP"]
regions = []
languages = ["ja", "en"]
topics = ["crisis", "suicide"]
audience = ["everyone"]
priority = 90
pairing_group = "jp-crisis"
source_url = "https://example.org/evening"
verified_at = "{today}"
verification = "test record"
verified_by = "test"
status = "active"
notes = ""
[[resource.contacts]]
channel = "phone"
value = "0120-000-001"
languages = ["ja"]
hours = "Mon-Sun 16:00-21:00"
timezone = "Asia/Tokyo"
free = true
anonymous = false
{always}"#,
        today = &concierge::web::thread::format_time(concierge::clock::now_ms())[..10],
        always = if with_24_7_line {
            r#"
[[resource]]
id = "jp-night-and-day"
name = "Night and Day Line"
local_name = ""
organisation = ""
countries = ["JP"]
regions = []
languages = ["ja"]
topics = ["crisis"]
audience = ["everyone"]
priority = 70
pairing_group = "jp-crisis"
source_url = "https://example.org/always"
verified_at = "2026-12-01"
verification = "test record"
verified_by = "test"
status = "active"
notes = ""
[[resource.contacts]]
channel = "phone"
value = "0120-000-247"
languages = ["ja"]
hours = "24/7"
timezone = ""
free = false
anonymous = false
"#
        } else {
            ""
        },
    );
    let file: concierge::resources::files::ResourceFile = toml::from_str(&toml).unwrap();
    for record in &file.resource {
        record.validate("test").unwrap();
    }
    file.resource
}

fn crisis_in_japan() -> Vec<u8> {
    simple_message(
        "crisis-jp@example.org",
        "Ken <ken@example.org>",
        "I can't go on",
        "Hi, I live in Japan and I play in a band. I want to kill myself and I don't know who to talk to.",
    )
}

#[tokio::test]
async fn a_crisis_acknowledgement_gives_the_emergency_number_first_and_the_lines_hours() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    db.store
        .upsert_resources(&japan_directory(false), concierge::clock::now_ms())
        .await
        .unwrap();
    let (ingester, _worker) =
        concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(1)).unwrap();
    ingester
        .ingest_batch(vec![item("t:1", crisis_in_japan())])
        .await
        .unwrap();
    let outbox = db.store.outbox_all().await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, "crisis_acknowledgement");
    let body = &outbox[0].body_text;
    // The line's schedule, with its time zone, is in the mail.
    assert!(
        body.contains("0120-000-001 (phone) · Mon-Sun 16:00-21:00 (Asia/Tokyo)"),
        "{body}"
    );
    let emergency = body
        .find("119")
        .expect("the emergency number is in the mail");
    let line = body.find("0120-000-001").unwrap();
    assert!(
        emergency < line,
        "the emergency number comes first:\n{body}"
    );
}

#[tokio::test]
async fn a_crisis_acknowledgement_puts_a_line_open_24_7_before_an_evening_line() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    db.store
        .upsert_resources(&japan_directory(true), concierge::clock::now_ms())
        .await
        .unwrap();
    let (ingester, _worker) =
        concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(1)).unwrap();
    ingester
        .ingest_batch(vec![item("t:1", crisis_in_japan())])
        .await
        .unwrap();
    let body = db.store.outbox_all().await.unwrap().remove(0).body_text;
    let always = body
        .find("0120-000-247")
        .expect("the 24/7 line is in the mail");
    let evening = body
        .find("0120-000-001")
        .expect("the evening line is in the mail");
    let emergency = body.find("119").unwrap();
    assert!(emergency < always && always < evening, "{body}");
    assert!(body.contains("0120-000-247 (phone) · 24/7"), "{body}");
}

#[tokio::test]
async fn an_acknowledgement_never_gives_an_adult_a_youth_line_as_the_crisis_line() {
    let db = TestDb::new(crate::harness::Backend::Sqlite).await;
    // The line open around the clock is a youth line here: it would otherwise come first.
    let mut directory = japan_directory(true);
    let youth = directory
        .iter_mut()
        .find(|r| r.id == "jp-night-and-day")
        .unwrap();
    youth.audience = vec!["youth".into()];
    youth.topics.push("youth".into());
    youth.priority = 95;
    db.store
        .upsert_resources(&directory, concierge::clock::now_ms())
        .await
        .unwrap();
    let (ingester, _worker) =
        concierge::cli::reply_pipeline(&db.store, &settings_with_smtp(1)).unwrap();
    ingester
        .ingest_batch(vec![item("t:1", crisis_in_japan())])
        .await
        .unwrap();
    let body = db.store.outbox_all().await.unwrap().remove(0).body_text;
    assert!(
        body.contains("0120-000-001"),
        "the line for everyone:\n{body}"
    );
    assert!(body.contains("119"), "{body}");
    assert!(
        !body.contains("0120-000-247") && !body.contains("Night and Day"),
        "a youth line in an adult's acknowledgement:\n{body}"
    );
}
