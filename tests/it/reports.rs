//! Reports on synthetic timelines whose right answers are known by hand, on both backends,
//! and the per-thread timestamps that the real reply path keeps for them.

#[allow(unused_imports)]
use crate::harness::TestDb;
use crate::on_both_backends;
use concierge::config::BusinessHoursSettings;
use concierge::domain::{
    AutoKind, EmailAddress, LanguageCode, MessageId, Risk, Role, ThreadStatus,
};
use concierge::reports::{self, Clock, ReportConfig, ReportRequest};
use concierge::store::{
    HistoryMessage, HistoryThread, Metric, NewMessage, NewOutboxItem, NewRaw, ReportFilter,
    ReportGroup, SlaTargets, Store, ThreadingKeys,
};

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
const D: i64 = 24 * H;
/// Monday 2 November 2026, 00:00 UTC.
const BASE: i64 = 1_793_577_600_000;
const NOW: i64 = BASE + 10 * D;

/// One conversation of a timeline table; the arguments are the table's columns.
#[allow(clippy::too_many_arguments)]
fn thread(
    n: usize,
    risk: Risk,
    language: &str,
    country: &str,
    first: i64,
    reply_after: Option<i64>,
    navigator: i64,
    closed_after: Option<i64>,
) -> HistoryThread {
    HistoryThread {
        contact_email: format!("person-{n}@example.invalid"),
        subject: format!("t{n}"),
        language: Some(language.into()),
        country: Some(country.into()),
        risk,
        auto_kind: AutoKind::None,
        inbound: vec![HistoryMessage {
            received_at: first,
            auto_kind: AutoKind::None,
            text: "x".into(),
        }],
        acknowledged_at: Some(first + MIN),
        replies: reply_after
            .map(|after| (first + after, navigator))
            .into_iter()
            .collect(),
        closed_at: closed_after.map(|after| first + after),
        n_reopens: 0,
    }
}

fn sla() -> SlaTargets {
    SlaTargets {
        crisis_ms: H,
        concern_ms: 12 * H,
        none_ms: 48 * H,
    }
}

async fn navigator(store: &dyn Store, email: &str, name: &str) -> i64 {
    store
        .create_user(
            &EmailAddress::parse(email).unwrap(),
            name,
            Role::Navigator,
            "!",
            BASE,
        )
        .await
        .unwrap()
}

/// Five conversations and one newsletter, the answers worked out by hand in the comments.
async fn timelines(store: &dyn Store) -> (i64, i64) {
    let ana = navigator(store, "ana@example.org", "Ana").await;
    let ben = navigator(store, "ben@example.org", "<b>Ben</b>").await;
    let mut threads = vec![
        // Crisis, answered in 30 min (on target), closed a day later.
        thread(
            1,
            Risk::Crisis,
            "en",
            "GB",
            BASE + 10 * H,
            Some(30 * MIN),
            ana,
            Some(D),
        ),
        // Crisis, answered after 2 h: missed the 1 h target.
        thread(
            2,
            Risk::Crisis,
            "en",
            "GB",
            BASE + 11 * H,
            Some(2 * H),
            ben,
            Some(2 * D),
        ),
        // Concern, answered after 5 h (target 12 h), still open.
        thread(
            3,
            Risk::Concern,
            "es",
            "ES",
            BASE + 12 * H,
            Some(5 * H),
            ana,
            None,
        ),
        // No risk, never answered: by NOW it has waited far beyond 48 h.
        thread(4, Risk::None, "es", "MX", BASE + 13 * H, None, ana, None),
        // The next week, Tuesday 20:00, answered after 1 h.
        thread(
            5,
            Risk::None,
            "de",
            "DE",
            BASE + 8 * D + 20 * H,
            Some(H),
            ben,
            None,
        ),
    ];
    // A newsletter: not a conversation, only in the auto-mail share.
    let mut bulk = thread(6, Risk::None, "en", "US", BASE + 14 * H, None, ana, None);
    bulk.auto_kind = AutoKind::Bulk;
    bulk.inbound[0].auto_kind = AutoKind::Bulk;
    bulk.acknowledged_at = None;
    threads.push(bulk);
    store.insert_history(&threads).await.unwrap();
    (ana, ben)
}

fn filter() -> ReportFilter {
    ReportFilter {
        from: BASE,
        to: BASE + 14 * D,
        ..ReportFilter::default()
    }
}

fn config(business: bool) -> ReportConfig {
    let mut config = ReportConfig {
        sla: sla(),
        calendar: None,
        team_calendars: Default::default(),
    };
    if business {
        config.calendar = reports::calendar::Calendar::from_settings(&BusinessHoursSettings {
            timezone: "UTC".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            open: "09:00".into(),
            close: "17:00".into(),
            holidays: vec![],
        })
        .unwrap();
    }
    config
}

on_both_backends! {
    async fn percentiles_counts_and_breaches_match_the_hand_computed_answers(db: TestDb) {
        timelines(db.store.as_ref()).await;
        let request = ReportRequest { filter: filter(), group: ReportGroup::Risk, clock: Clock::Wall };
        let report = reports::response_report(db.store.as_ref(), &config(false), &request, NOW).await.unwrap();
        // First replies 30 min, 2 h, 5 h, 1 h: sorted 30 min, 1 h, 2 h, 5 h; nearest rank
        // p50 = 2nd = 1 h, p90 = 4th = 5 h.
        let all = report.total.first_reply.unwrap();
        assert_eq!((all.n, all.p50, all.p90, all.p99, all.max), (4, H, 5 * H, 5 * H, 5 * H));
        assert_eq!(report.total.counts.threads, 5, "the newsletter is not a conversation");
        assert_eq!(report.total.counts.breaches, 2, "thread 2 late, thread 4 never answered");
        assert_eq!(report.total.counts.waiting, 1);
        assert_eq!(report.total.counts.resolved, 2);
        let keys: Vec<&str> = report.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["crisis", "concern", "none"], "crisis first");
        let crisis = &report.rows[0];
        let reply = crisis.first_reply.unwrap();
        assert_eq!((reply.n, reply.p50, reply.p90), (2, 30 * MIN, 2 * H));
        let resolution = crisis.resolution.unwrap();
        assert_eq!((resolution.p50, resolution.max), (D, 2 * D));
        assert_eq!(crisis.counts.breaches, 1);
        assert_eq!(crisis.acknowledgement.unwrap().p50, MIN);
        // The same numbers through the CSV: a group under 5 threads has no percentile cells.
        let csv = reports::response_csv(&report);
        let total_line = csv.lines().last().unwrap();
        assert_eq!(total_line, "All,5,5,4,2,1,2,4,0,5,1,1,1,4,,,,2,,,");

        let breaches = db.store.report_breaches(&filter(), &sla(), NOW, 10).await.unwrap();
        let subjects: Vec<(Risk, i64)> = breaches.iter().map(|b| (b.risk, b.waited_ms)).collect();
        assert_eq!(subjects, [(Risk::Crisis, 2 * H), (Risk::None, NOW - (BASE + 13 * H))]);
    }

    async fn grouping_by_week_language_and_navigator(db: TestDb) {
        let (ana, ben) = timelines(db.store.as_ref()).await;
        let by_week = db.store.report_groups(&filter(), ReportGroup::Week, &sla(), NOW).await.unwrap();
        let weeks: Vec<(String, i64)> = by_week.iter().map(|g| (g.counts.key.clone(), g.counts.threads)).collect();
        assert_eq!(weeks, [(BASE.to_string(), 4), ((BASE + 7 * D).to_string(), 1)]);
        let by_language = db.store.report_groups(&filter(), ReportGroup::Language, &sla(), NOW).await.unwrap();
        let languages: Vec<(String, i64)> = by_language.iter().map(|g| (g.counts.key.clone(), g.counts.threads)).collect();
        assert_eq!(languages, [("de".into(), 1), ("en".into(), 2), ("es".into(), 2)]);
        let request = ReportRequest { filter: filter(), group: ReportGroup::Navigator, clock: Clock::Wall };
        let report = reports::response_report(db.store.as_ref(), &config(false), &request, NOW).await.unwrap();
        let navigators: Vec<(String, String, i64)> = report.rows.iter().map(|r| (r.key.clone(), r.label.clone(), r.counts.threads)).collect();
        assert_eq!(navigators, [
            (String::new(), "(no reply yet)".into(), 1),
            (ana.to_string(), "Ana".into(), 2),
            (ben.to_string(), "<b>Ben</b>".into(), 2),
        ]);
        let narrowed = ReportFilter { risk: Some(Risk::Crisis), language: Some("en".into()), ..filter() };
        let groups = db.store.report_groups(&narrowed, ReportGroup::All, &sla(), NOW).await.unwrap();
        assert_eq!(groups[0].counts.threads, 2);
        let outside = ReportFilter { from: BASE + 20 * D, to: BASE + 21 * D, ..filter() };
        assert!(db.store.report_groups(&outside, ReportGroup::All, &sla(), NOW).await.unwrap().is_empty());
    }

    async fn business_hours_leave_out_nights_and_weekends(db: TestDb) {
        timelines(db.store.as_ref()).await;
        let request = ReportRequest { filter: filter(), group: ReportGroup::All, clock: Clock::Business };
        let report = reports::response_report(db.store.as_ref(), &config(true), &request, NOW).await.unwrap();
        // Mon 10:00 -> 10:30, Mon 11:00 -> 13:00, Mon 12:00 -> 17:00 inside 09-17; Tue 20:00 -> 21:00
        // outside: 0, 30 min, 2 h, 5 h.
        let reply = report.total.first_reply.unwrap();
        assert_eq!((reply.n, reply.p50, reply.max), (4, 30 * MIN, 5 * H));
        // Thread 1 closed Tue 10:00 after Mon 10:00: 7 h of Monday and 1 h of Tuesday.
        let resolution = report.total.resolution.unwrap();
        assert_eq!(resolution.p50, 8 * H);
    }

    async fn live_view_histogram_and_volume(db: TestDb) {
        timelines(db.store.as_ref()).await;
        let live = db.store.report_live(NOW).await.unwrap();
        assert_eq!(live.waiting, 1);
        assert_eq!(live.by_risk[0].risk, Risk::None);
        assert_eq!(live.by_risk[0].oldest_waiting_since, BASE + 13 * H);
        assert!(live.unclaimed_crisis.is_empty());
        let request = ReportRequest { filter: filter(), group: ReportGroup::Language, clock: Clock::Wall };
        let report = reports::response_report(db.store.as_ref(), &config(false), &request, NOW).await.unwrap();
        assert_eq!(report.first_reply_histogram, [0, 1, 2, 1, 0, 0, 0, 0]);
        let volume = db.store.report_volume(&filter(), ReportGroup::Language).await.unwrap();
        let days: Vec<(i64, &str, i64)> = volume.iter().map(|v| (v.day, v.key.as_str(), v.threads)).collect();
        assert_eq!(days, [(BASE, "en", 2), (BASE, "es", 2), (BASE + 8 * D, "de", 1)]);
        let auto = db.store.report_auto_share(BASE, BASE + 14 * D).await.unwrap();
        assert_eq!(auto.iter().map(|a| (a.messages, a.auto)).collect::<Vec<_>>(), [(5, 1), (1, 0)]);
    }
}

fn inbound(raw_message_id: i64, message_id: &str, received_at: i64, refs: &[&str]) -> NewMessage {
    NewMessage {
        raw_message_id,
        message_id: Some(MessageId::parse(message_id).unwrap()),
        in_reply_to: refs.first().map(|r| format!("<{r}>")),
        references_header: None,
        from_address: Some(EmailAddress::parse("someone@example.org").unwrap()),
        from_name: None,
        subject: "help".into(),
        sent_at: None,
        received_at,
        body_text: "body".into(),
        new_text: "body".into(),
        has_html: false,
        n_attachments: 0,
        parse_problem: None,
        language: Some(LanguageCode::parse("en").unwrap()),
        language_confidence: Some(0.9),
        country: None,
        risk: Risk::Concern,
        auto_kind: AutoKind::None,
        triage_json: "{}".into(),
        threading: ThreadingKeys {
            referenced_ids: refs.iter().map(|r| MessageId::parse(r).unwrap()).collect(),
            token: None,
        },
        processed_at: received_at,
    }
}

on_both_backends! {
    async fn the_reply_path_keeps_what_reports_need(db: TestDb) {
        let store = db.store.as_ref();
        let ana = navigator(store, "ana@example.org", "Ana").await;
        let raws = store
            .store_raw_batch(&[1, 2].map(|n| NewRaw {
                source_key: format!("test:{n}"),
                dedupe_key: format!("k{n}"),
                raw: b"Subject: x\r\n\r\nx".to_vec(),
                received_at: BASE,
            }))
            .await
            .unwrap();
        let first = store.record_message(&inbound(raws[0].id(), "a@example.org", BASE, &[])).await.unwrap();
        let thread_id = first.thread_id;
        let reply = NewOutboxItem {
            thread_id,
            kind: "reply".into(),
            to_address: EmailAddress::parse("someone@example.org").unwrap(),
            from_address: "help@example.org".into(),
            subject: "Re: help".into(),
            body_text: "hello".into(),
            message_id: MessageId::parse("r1@example.org").unwrap(),
            in_reply_to: None,
            references_header: None,
            auto_submitted: false,
            language: Some("en".into()),
            template: None,
            template_note: None,
            created_at: BASE + H,
            sent_by: Some(ana),
        };
        store.enqueue_reply(&reply, BASE).await.unwrap().expect("queued");
        let claimed = store.claim_outbox(BASE + H, 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        store.mark_outbox_sent(&[claimed[0].id], BASE + 2 * H).await.unwrap();
        store.set_thread_status(thread_id, ThreadStatus::Closed, BASE + 3 * H).await.unwrap();
        // The person writes again: the thread reopens, and that is counted.
        let again = store.record_message(&inbound(raws[1].id(), "b@example.org", BASE + 4 * H, &["r1@example.org"])).await.unwrap();
        assert_eq!(again.thread_id, thread_id);

        let filter = ReportFilter { from: BASE, to: BASE + D, ..ReportFilter::default() };
        let groups = store.report_groups(&filter, ReportGroup::Navigator, &sla(), BASE + 5 * H).await.unwrap();
        assert_eq!(groups.len(), 1);
        let counts = &groups[0].counts;
        assert_eq!(counts.key, ana.to_string(), "reported under the navigator who replied");
        assert_eq!((counts.replies, counts.reopens, counts.resolved), (1, 1, 0));
        assert_eq!(groups[0].durations(Metric::FirstReply), [2 * H], "first message to the reply's acceptance");

        // Marked spam: out of the reports.
        store.set_thread_excluded(thread_id, true, BASE + 6 * H).await.unwrap();
        assert!(store.report_groups(&filter, ReportGroup::All, &sla(), BASE + 7 * H).await.unwrap().is_empty());
    }
}
