//! Outbox throughput: queue N mails in a fresh SQLite database, then time the worker sending
//! them to an SMTP server on this machine. Run through `scripts/bench-outbox`.
//!
//! Usage: bench_outbox PORT N DATABASE_URL

use concierge::domain::{EmailAddress, MessageId};
use concierge::store::{NewMessage, NewOutboxItem, NewRaw, ThreadingKeys};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).expect("PORT").parse()?;
    let n: usize = args.get(2).expect("N").parse()?;
    let url = args.get(3).expect("DATABASE_URL");
    let store = concierge::store::connect(url, 5).await?;
    store.migrate().await?;
    let now = concierge::clock::now_ms();
    // One thread to hang the mails on.
    let raw = store
        .store_raw_batch(&[NewRaw {
            source_key: "bench".into(),
            dedupe_key: "bench".into(),
            raw: b"Subject: x\r\n\r\nx".to_vec(),
            received_at: now,
        }])
        .await?;
    let recorded = store
        .record_message(&NewMessage {
            raw_message_id: raw[0].id(),
            message_id: Some(MessageId::parse("bench@example.org")?),
            in_reply_to: None,
            references_header: None,
            from_address: Some(EmailAddress::parse("person@example.org")?),
            from_name: None,
            subject: "bench".into(),
            sent_at: None,
            received_at: now,
            body_text: String::new(),
            new_text: String::new(),
            has_html: false,
            n_attachments: 0,
            parse_problem: None,
            language: None,
            language_confidence: None,
            country: None,
            risk: concierge::domain::Risk::None,
            auto_kind: concierge::domain::AutoKind::None,
            triage_json: "{}".into(),
            threading: ThreadingKeys::default(),
            processed_at: now,
        })
        .await?;
    let body = "Thank you for writing to us. A navigator will reply within 48 hours.\n".repeat(15);
    for i in 0..n {
        store
            .enqueue_outbox(&NewOutboxItem {
                thread_id: recorded.thread_id,
                kind: "reply".into(),
                to_address: EmailAddress::parse(&format!("person{i}@example.org"))?,
                from_address: "concierge <help@concierge.example.org>".into(),
                subject: format!("Re: your message [#BENCH] {i}"),
                body_text: body.clone(),
                message_id: concierge::replies::ack::new_message_id("concierge.example.org"),
                in_reply_to: Some("<bench@example.org>".into()),
                references_header: Some("<bench@example.org>".into()),
                auto_submitted: false,
                language: Some("en".into()),
                template: None,
                template_note: None,
                created_at: now,
                sent_by: None,
            })
            .await?;
    }
    let mut settings = concierge::config::Settings::load(None)?;
    settings.outgoing.transport = concierge::config::TransportKind::Smtp;
    settings.outgoing.host = "127.0.0.1".into();
    settings.outgoing.port = port;
    settings.outgoing.tls = concierge::config::TlsMode::None;
    let transport = concierge::replies::outbox::Transport::from_settings(&settings.outgoing)?;
    let worker = concierge::replies::outbox::OutboxWorker::new(
        store.clone(),
        transport,
        8,
        Duration::from_millis(100),
        Default::default(),
    );
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let took = worker.send_due().await?;
        if took == 0 {
            break;
        }
        sent += took;
    }
    let seconds = start.elapsed().as_secs_f64();
    let n_sent = store
        .outbox_all()
        .await?
        .iter()
        .filter(|r| r.status == "sent")
        .count();
    println!(
        "{n_sent} of {n} mails sent in {seconds:.2} s: {:.0} mails/s",
        n_sent as f64 / seconds
    );

    // The time of one SMTP exchange: 200 mails one after the other on one connection.
    let transport = concierge::replies::outbox::Transport::from_settings(&settings.outgoing)?;
    let item = store.outbox_all().await?.remove(0);
    let mut times = Vec::new();
    for _ in 0..200 {
        let message = concierge::replies::outbox::build_message(&item)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let start = Instant::now();
        transport
            .send(message)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "one exchange at a time (200 mails): p50 {:.2} ms, p99 {:.2} ms",
        times[99], times[197]
    );
    Ok(())
}
