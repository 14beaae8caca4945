//! Router tests without a socket: sessions, roles, CSRF and escaping.

use crate::harness::{simple_message, Backend, TestDb};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use concierge::domain::{EmailAddress, Role};
use concierge::ingest::IncomingRaw;
use concierge::web::auth;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct App {
    router: Router,
    cookie: String,
    csrf: String,
}

async fn app(db: &TestDb) -> App {
    let mut settings = concierge::config::Settings::load(None).unwrap();
    settings.web.session_idle_minutes = 60;
    settings.web.secure_cookies = false;
    let templates = concierge::cli::reply_templates(&settings).unwrap();
    let state =
        concierge::web::AppState::new(db.store.clone(), &settings, templates, Default::default())
            .unwrap();
    let now = concierge::clock::now_ms();
    let user_id = db
        .store
        .create_user(
            &EmailAddress::parse("nav@example.org").unwrap(),
            "Nav",
            Role::Navigator,
            &auth::hash_password("a long enough password").unwrap(),
            now,
        )
        .await
        .unwrap();
    let token = auth::new_token();
    let csrf = auth::new_token();
    db.store
        .create_session(&auth::token_hash(&token), user_id, &csrf, now)
        .await
        .unwrap();
    App {
        router: concierge::web::router(state),
        cookie: format!("{}={token}", auth::SESSION_COOKIE),
        csrf,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(form.to_string())).unwrap()
}

#[tokio::test]
async fn health_check_and_login_page_are_public_everything_else_needs_a_session() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let health = send(&app.router, get("/healthz", None)).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    assert_eq!(
        send(&app.router, get("/login", None)).await.status,
        StatusCode::OK
    );
    for path in ["/", "/threads/1", "/threads/1/messages/1/html"] {
        let reply = send(&app.router, get(path, None)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers.get(header::LOCATION).unwrap(), "/login");
        let forged = send(&app.router, get(path, Some("concierge_session=forged"))).await;
        assert_eq!(
            forged.status,
            StatusCode::SEE_OTHER,
            "{path} with a forged cookie"
        );
    }
    assert_eq!(
        send(&app.router, post("/logout", None, "csrf=x"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app.router, get("/", Some(&app.cookie))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logging_in_sets_a_safe_cookie_and_failures_are_rate_limited() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let wrong = send(
        &app.router,
        post("/login", None, "email=nav%40example.org&password=wrong"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let right = send(
        &app.router,
        post(
            "/login",
            None,
            "email=nav%40example.org&password=a+long+enough+password",
        ),
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    let cookie = right
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    assert_eq!(
        send(&app.router, get("/", Some(session))).await.status,
        StatusCode::OK
    );

    for _ in 0..5 {
        send(
            &app.router,
            post("/login", None, "email=nav%40example.org&password=guess"),
        )
        .await;
    }
    let locked = send(
        &app.router,
        post(
            "/login",
            None,
            "email=nav%40example.org&password=a+long+enough+password",
        ),
    )
    .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password does not help while locked"
    );
    let unknown = send(
        &app.router,
        post(
            "/login",
            None,
            "email=nobody%40example.org&password=whatever",
        ),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let forged = send(
        &app.router,
        post("/logout", Some(&app.cookie), "csrf=not-the-token"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&app.router, get("/", Some(&app.cookie))).await.status,
        StatusCode::OK
    );
    let out = send(
        &app.router,
        post("/logout", Some(&app.cookie), &format!("csrf={}", app.csrf)),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&app.router, get("/", Some(&app.cookie))).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn pages_escape_everything_from_email_and_clean_its_html() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let hostile = simple_message(
        "hostile@x.org",
        "\"<img src=x onerror=alert(1)>\" <evil@example.org>",
        "<script>window.pwned=1</script> help",
        "<b>bold</b> <a href=\"javascript:alert(1)\">x</a> style=\"background:url(http://t.example/p)\"",
    );
    let html_only = b"From: Html <html@example.org>\r\nSubject: html\r\nMessage-ID: <html@example.org>\r\nContent-Type: text/html\r\n\r\n\
<p onclick=\"x()\">I need help<script>window.pwned=2</script><img src=\"http://tracker.example/p.gif\"></p>\r\n"
        .to_vec();
    db.ingester()
        .ingest_batch(vec![
            IncomingRaw {
                source_key: "t:1".into(),
                raw: hostile,
            },
            IncomingRaw {
                source_key: "t:2".into(),
                raw: html_only,
            },
        ])
        .await
        .unwrap();
    let queue = send(&app.router, get("/", Some(&app.cookie))).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue
            .body
            .contains("&lt;script&gt;window.pwned&#x3D;1&lt;/script&gt; help"),
        "{}",
        queue.body
    );
    let csp = queue
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(queue.headers.get("x-frame-options").unwrap(), "DENY");

    for entry in db.store.queue(10).await.unwrap() {
        let page = send(
            &app.router,
            get(&format!("/threads/{}", entry.thread_id), Some(&app.cookie)),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.body.contains("<script>"),
            "a script tag reached the page"
        );
        assert!(
            !page.body.contains("<img src=x") && !page.body.contains("<b>bold"),
            "email markup reached the page"
        );
        assert_eq!(
            db.store.access_log(entry.thread_id).await.unwrap().len(),
            1,
            "opening a thread is logged"
        );
        for message in db.store.thread_messages(entry.thread_id).await.unwrap() {
            let html = send(
                &app.router,
                get(
                    &format!("/threads/{}/messages/{}/html", entry.thread_id, message.id),
                    Some(&app.cookie),
                ),
            )
            .await;
            assert_eq!(html.status, StatusCode::OK);
            for bad in [
                "<script",
                "onclick",
                "tracker.example",
                "<a href=\"javascript",
                "<img",
            ] {
                assert!(!html.body.contains(bad), "{bad} in {}", html.body);
            }
        }
    }
    assert_eq!(
        send(&app.router, get("/threads/999", Some(&app.cookie)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_empty_queue_says_so() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let reply = send(&app.router, get("/", Some(&app.cookie))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("No open conversations"));
}

/// A second user with its own session.
/// A session for a new user: the cookie and the CSRF token.
pub async fn login_as(db: &TestDb, email: &str, role: Role) -> (String, String) {
    let now = concierge::clock::now_ms();
    let user_id = db
        .store
        .create_user(
            &EmailAddress::parse(email).unwrap(),
            email.split('@').next().unwrap(),
            role,
            &auth::hash_password("a long enough password").unwrap(),
            now,
        )
        .await
        .unwrap();
    let token = auth::new_token();
    let csrf = auth::new_token();
    db.store
        .create_session(&auth::token_hash(&token), user_id, &csrf, now)
        .await
        .unwrap();
    (format!("{}={token}", auth::SESSION_COOKIE), csrf)
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn claims_are_exclusive_replies_go_through_the_outbox_and_stale_drafts_are_stopped() {
    let db = TestDb::new(Backend::Sqlite).await;
    crate::harness::seed_resources(&db.store).await;
    let app = app(&db).await;
    let (other, other_csrf) = login_as(&db, "other@example.org", Role::Navigator).await;
    let (coordinator, coordinator_csrf) =
        login_as(&db, "coord@example.org", Role::Coordinator).await;
    db.ingester()
        .ingest_batch(vec![IncomingRaw {
            source_key: "t:1".into(),
            raw: simple_message(
                "first@example-band.de",
                "Jonas <jonas@example-band.de>",
                "Hilfe",
                "Hallo, ich wohne in Hamburg und ich will nicht mehr leben.",
            ),
        }])
        .await
        .unwrap();
    let thread = db.store.queue(1).await.unwrap().remove(0).thread_id;

    let claimed = send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&app.cookie),
            &format!("csrf={}", app.csrf),
        ),
    )
    .await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER);
    let forged = send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&other),
            "csrf=forged",
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let second = send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&other),
            &format!("csrf={other_csrf}"),
        ),
    )
    .await;
    assert_eq!(
        second.status,
        StatusCode::CONFLICT,
        "a second navigator cannot claim the same thread"
    );
    let not_allowed = send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&other),
            &format!("csrf={other_csrf}&force=1"),
        ),
    )
    .await;
    assert_eq!(
        not_allowed.status,
        StatusCode::FORBIDDEN,
        "a navigator cannot take over"
    );
    let page = send(
        &app.router,
        get(&format!("/threads/{thread}"), Some(&other)),
    )
    .await;
    assert!(
        page.body.contains("Nav is working on this"),
        "others see who holds it"
    );

    // Compose: the German template with the German crisis line, pre-filled.
    let compose = send(
        &app.router,
        get(&format!("/threads/{thread}/reply"), Some(&app.cookie)),
    )
    .await;
    assert_eq!(compose.status, StatusCode::OK);
    assert!(compose.body.contains("0800 111 0 111"), "{}", compose.body);
    let summary = db.store.thread_summary(thread).await.unwrap().unwrap();
    let body = "Hallo Jonas,\nhier sind Stellen, die dir helfen koennen: TelefonSeelsorge 0800 111 0 111.\nNav";
    let form = |action: &str, seen: i64| {
        format!(
            "csrf={}&subject={}&body={}&template=resources&language=de&seen_last_inbound_at={seen}&action={action}",
            app.csrf,
            form_encode("Ein paar Adressen"),
            form_encode(body)
        )
    };
    let preview = send(
        &app.router,
        post(
            &format!("/threads/{thread}/reply"),
            Some(&app.cookie),
            &form("preview", summary.last_inbound_at),
        ),
    )
    .await;
    assert!(
        preview.body.contains("Exactly what will be sent")
            && preview
                .body
                .contains("In-Reply-To: &lt;first@example-band.de&gt;"),
        "{}",
        preview.body
    );
    let reloaded = send(
        &app.router,
        get(&format!("/threads/{thread}/reply"), Some(&app.cookie)),
    )
    .await;
    assert!(
        reloaded.body.contains("Your saved draft") && reloaded.body.contains("Ein paar Adressen"),
        "drafts survive a reload"
    );

    // Someone else cannot send while the thread is claimed.
    let blocked = send(
        &app.router,
        post(
            &format!("/threads/{thread}/reply"),
            Some(&other),
            &form("send", summary.last_inbound_at).replace(&app.csrf, &other_csrf),
        ),
    )
    .await;
    assert!(blocked.body.contains("is working on this conversation"));
    assert!(db
        .store
        .outbox_all()
        .await
        .unwrap()
        .iter()
        .all(|r| r.kind != "reply"));

    // A message arrives after the draft was opened: review first.
    db.ingester()
        .ingest_batch(vec![IncomingRaw {
            source_key: "t:2".into(),
            raw: String::from_utf8(simple_message(
                "second@example-band.de",
                "Jonas <jonas@example-band.de>",
                "Re: Hilfe",
                "Bist du noch da?",
            ))
            .unwrap()
            .replacen(
                "Message-ID:",
                "In-Reply-To: <first@example-band.de>\r\nMessage-ID:",
                1,
            )
            .into_bytes(),
        }])
        .await
        .unwrap();
    let stale = send(
        &app.router,
        post(
            &format!("/threads/{thread}/reply"),
            Some(&app.cookie),
            &form("send", summary.last_inbound_at),
        ),
    )
    .await;
    assert!(
        stale.body.contains("A new message arrived"),
        "{}",
        stale.body
    );
    let fresh = db.store.thread_summary(thread).await.unwrap().unwrap();
    let sent = send(
        &app.router,
        post(
            &format!("/threads/{thread}/reply"),
            Some(&app.cookie),
            &form("send", fresh.last_inbound_at),
        ),
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let reply = db
        .store
        .outbox_all()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "reply")
        .expect("the reply is in the outbox");
    assert!(reply.subject.contains(&format!("[#{}]", fresh.token)));
    assert!(reply
        .references_header
        .unwrap()
        .contains("<first@example-band.de>"));
    assert_eq!(
        db.store
            .thread_summary(thread)
            .await
            .unwrap()
            .unwrap()
            .status,
        concierge::domain::ThreadStatus::Waiting
    );

    // A coordinator can take the thread over; closing and reopening work.
    let over = send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&coordinator),
            &format!("csrf={coordinator_csrf}&force=1"),
        ),
    )
    .await;
    assert_eq!(over.status, StatusCode::SEE_OTHER);
    let close = send(
        &app.router,
        post(
            &format!("/threads/{thread}/status"),
            Some(&app.cookie),
            &format!("csrf={}&status=closed", app.csrf),
        ),
    )
    .await;
    assert_eq!(close.status, StatusCode::SEE_OTHER);
    assert!(
        db.store
            .queue(10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.thread_id != thread),
        "closed threads leave the queue"
    );
    let note = send(
        &app.router,
        post(
            &format!("/threads/{thread}/notes"),
            Some(&app.cookie),
            &format!("csrf={}&body=Called+back", app.csrf),
        ),
    )
    .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store.notes(thread).await.unwrap()[0].body_text,
        "Called back"
    );
    let actions: Vec<String> = db
        .store
        .access_log(thread)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, action, _)| action)
        .collect();
    for expected in ["claim", "open", "reply", "reassign", "close"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from the access log: {actions:?}"
        );
    }
}

#[tokio::test]
async fn the_queue_filters_by_risk_claim_and_language_with_counts() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    db.ingester()
        .ingest_batch(vec![
            IncomingRaw {
                source_key: "f:1".into(),
                raw: simple_message(
                    "f1@x.org",
                    "a@example.org",
                    "Crisis subject",
                    "I want to end my life tonight.",
                ),
            },
            IncomingRaw {
                source_key: "f:2".into(),
                raw: simple_message(
                    "f2@x.org",
                    "b@example.org",
                    "Calm subject",
                    "Hallo, ich suche einen Therapieplatz für Musiker in meiner Stadt.",
                ),
            },
        ])
        .await
        .unwrap();
    let all = send(&app.router, get("/", Some(&app.cookie))).await;
    assert!(all.body.contains("Crisis subject") && all.body.contains("Calm subject"));
    assert!(
        all.body.contains("http-equiv=\"refresh\""),
        "the queue refreshes itself"
    );
    let crisis = send(&app.router, get("/?risk=crisis", Some(&app.cookie))).await;
    assert!(crisis.body.contains("Crisis subject") && !crisis.body.contains("Calm subject"));
    let german = send(&app.router, get("/?language=de", Some(&app.cookie))).await;
    assert!(!german.body.contains("Crisis subject") && german.body.contains("Calm subject"));
    let mine = send(&app.router, get("/?claim=mine", Some(&app.cookie))).await;
    assert!(mine.body.contains("for this filter"), "nothing claimed yet");
    let thread = db.store.queue(10).await.unwrap()[0].thread_id;
    send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&app.cookie),
            &format!("csrf={}", app.csrf),
        ),
    )
    .await;
    let mine = send(&app.router, get("/?claim=mine", Some(&app.cookie))).await;
    assert!(mine.body.contains("Crisis subject") && !mine.body.contains("Calm subject"));
    let calm = db
        .store
        .queue(10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.subject == "Calm subject")
        .unwrap()
        .thread_id;
    let spam = send(
        &app.router,
        post(
            &format!("/threads/{calm}/status"),
            Some(&app.cookie),
            &format!("csrf={}&status=spam", app.csrf),
        ),
    )
    .await;
    assert_eq!(spam.status, StatusCode::SEE_OTHER);
    assert!(
        db.store
            .queue(10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.thread_id != calm),
        "spam leaves the queue"
    );
    assert!(db.store.notes(calm).await.unwrap()[0]
        .body_text
        .contains("not a conversation"));
}

/// A message in a language without a crisis lexicon (Georgian, with every language allowed)
/// shows "risk unknown", sorts with concern, and has its own filter; a navigator corrects it
/// to a real level, never to "unknown".
#[tokio::test]
async fn risk_unknown_is_shown_filtered_and_corrected_to_a_real_level() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let every_language = concierge::triage::TriageConfig {
        languages: Vec::new(),
        message_id_domain: "concierge.localhost".into(),
        classifier: concierge::triage::classifier::ClassifierUse::Decide,
    };
    concierge::ingest::Ingester::new(db.store.clone(), every_language)
        .ingest_batch(vec![
            IncomingRaw {
                source_key: "u:1".into(),
                raw: simple_message(
                    "u1@x.org",
                    "a@example.org",
                    "Calm subject",
                    "Hi, could you send me a list of therapists in Berlin? Thanks a lot.",
                ),
            },
            IncomingRaw {
                source_key: "u:2".into(),
                raw: simple_message(
                    "u2@x.org",
                    "b@example.org",
                    "Georgian subject",
                    "გამარჯობა, მე ვარ მუსიკოსი და ვეძებ ფსიქოლოგს ჩემს ქალაქში. ძალიან მიჭირს ბოლო დროს.",
                ),
            },
        ])
        .await
        .unwrap();
    let queue = db.store.queue(10).await.unwrap();
    assert_eq!(
        queue[0].subject, "Georgian subject",
        "unknown sorts above none"
    );
    assert_eq!(queue[0].risk, concierge::domain::Risk::Unknown);
    let thread = queue[0].thread_id;
    let all = send(&app.router, get("/", Some(&app.cookie))).await;
    assert!(
        all.body.contains("badge risk-unknown\">risk unknown<"),
        "{}",
        all.body
    );
    let unknown = send(&app.router, get("/?risk=unknown", Some(&app.cookie))).await;
    assert!(unknown.body.contains("Georgian subject") && !unknown.body.contains("Calm subject"));
    let page = send(
        &app.router,
        get(&format!("/threads/{thread}"), Some(&app.cookie)),
    )
    .await;
    assert!(
        page.body.contains(">risk unknown<")
            && page.body.contains("the language could not be told")
    );
    let refused = send(
        &app.router,
        post(
            &format!("/threads/{thread}/correct"),
            Some(&app.cookie),
            &format!("csrf={}&field=risk&value=unknown", app.csrf),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let corrected = send(
        &app.router,
        post(
            &format!("/threads/{thread}/correct"),
            Some(&app.cookie),
            &format!("csrf={}&field=risk&value=none", app.csrf),
        ),
    )
    .await;
    assert_eq!(corrected.status, StatusCode::SEE_OTHER);
    let summary = db.store.thread_summary(thread).await.unwrap().unwrap();
    assert_eq!(summary.risk, concierge::domain::Risk::None);
}

#[tokio::test]
async fn a_correction_is_recorded_and_becomes_the_senders_known_country() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let ingester = db.ingester();
    ingester
        .ingest_batch(vec![IncomingRaw {
            source_key: "c:1".into(),
            raw: simple_message(
                "c1@x.org",
                "Ana <ana@gmail.com>",
                "Hola",
                "Hola, necesito ayuda para encontrar una terapeuta.",
            ),
        }])
        .await
        .unwrap();
    let thread = db.store.queue(1).await.unwrap()[0].thread_id;
    assert_eq!(
        db.store
            .thread_summary(thread)
            .await
            .unwrap()
            .unwrap()
            .country,
        None,
        "no evidence: unknown"
    );
    let wrong = send(
        &app.router,
        post(
            &format!("/threads/{thread}/correct"),
            Some(&app.cookie),
            &format!("csrf={}&field=country&value=Mexico", app.csrf),
        ),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let fixed = send(
        &app.router,
        post(
            &format!("/threads/{thread}/correct"),
            Some(&app.cookie),
            &format!("csrf={}&field=country&value=MX", app.csrf),
        ),
    )
    .await;
    assert_eq!(fixed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store
            .thread_summary(thread)
            .await
            .unwrap()
            .unwrap()
            .country
            .as_deref(),
        Some("MX")
    );
    // The next conversation from the same person starts with the country a navigator confirmed.
    ingester
        .ingest_batch(vec![IncomingRaw {
            source_key: "c:2".into(),
            raw: simple_message(
                "c2@x.org",
                "Ana <ana@gmail.com>",
                "Otra pregunta",
                "¿Hay grupos de apoyo para músicos?",
            ),
        }])
        .await
        .unwrap();
    let second = db
        .store
        .queue(10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.subject == "Otra pregunta")
        .unwrap();
    assert_eq!(second.country.as_deref(), Some("MX"));
    let lowered = send(
        &app.router,
        post(
            &format!("/threads/{thread}/correct"),
            Some(&app.cookie),
            &format!("csrf={}&field=risk&value=concern", app.csrf),
        ),
    )
    .await;
    assert_eq!(lowered.status, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store.thread_summary(thread).await.unwrap().unwrap().risk,
        concierge::domain::Risk::Concern
    );
}

#[tokio::test]
async fn roles_guard_the_admin_pages() {
    let db = TestDb::new(Backend::Sqlite).await;
    crate::harness::seed_resources(&db.store).await;
    let app = app(&db).await;
    let (coordinator, _) = login_as(&db, "coord@example.org", Role::Coordinator).await;
    let (admin, admin_csrf) = login_as(&db, "admin@example.org", Role::Admin).await;
    assert_eq!(
        send(&app.router, get("/admin/users", Some(&app.cookie)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app.router, get("/admin/resources", Some(&app.cookie)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app.router, get("/admin/users", Some(&coordinator)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let listed = send(
        &app.router,
        get("/admin/resources?q=DE", Some(&coordinator)),
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.body.contains("TelefonSeelsorge") && !listed.body.contains("13 11 14"),
        "search by country"
    );
    assert!(
        !listed.body.contains("/verify"),
        "only admins mark records verified"
    );
    let forged = send(
        &app.router,
        post(
            "/admin/users",
            Some(&coordinator),
            "csrf=x&email=new%40example.org&name=New&role=navigator",
        ),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let created = send(
        &app.router,
        post(
            "/admin/users",
            Some(&admin),
            &format!("csrf={admin_csrf}&email=new%40example.org&name=New&role=navigator"),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    assert!(
        created.body.contains("One-time password"),
        "{}",
        created.body
    );
    assert_eq!(
        db.store
            .user_by_email(&EmailAddress::parse("new@example.org").unwrap())
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Navigator
    );

    let unverified = db.store.resources().await.unwrap().into_iter().find(|r| {
        r.status == concierge::resources::Status::Unverified
            && r.validate("x").is_ok()
            && !r.source_url.is_empty()
            && r.contacts.iter().all(|c| !c.hours.is_empty())
    });
    if let Some(record) = unverified {
        let verified = send(
            &app.router,
            post(
                &format!("/admin/resources/{}/verify", record.id),
                Some(&admin),
                &format!("csrf={admin_csrf}"),
            ),
        )
        .await;
        assert_eq!(verified.status, StatusCode::SEE_OTHER);
        let after = db
            .store
            .resources()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.id == record.id)
            .unwrap();
        assert_eq!(after.status, concierge::resources::Status::Active);
        assert!(after.verification.contains("in the web app"));
    }
}

#[tokio::test]
async fn resources_are_searched_and_inserted_into_a_reply() {
    let db = TestDb::new(Backend::Sqlite).await;
    crate::harness::seed_resources(&db.store).await;
    let app = app(&db).await;
    db.ingester()
        .ingest_batch(vec![IncomingRaw {
            source_key: "r:1".into(),
            raw: simple_message(
                "r1@x.org",
                "Ana <ana@example.com.br>",
                "Ajuda",
                "Olá, moro em São Paulo e preciso de ajuda com ansiedade.",
            ),
        }])
        .await
        .unwrap();
    let thread = db.store.queue(1).await.unwrap()[0].thread_id;
    let seen = db
        .store
        .thread_summary(thread)
        .await
        .unwrap()
        .unwrap()
        .last_inbound_at;
    let compose = send(
        &app.router,
        get(&format!("/threads/{thread}/reply"), Some(&app.cookie)),
    )
    .await;
    assert!(
        compose.body.contains("insert:br-"),
        "Brazilian resources are offered"
    );
    let search = send(
        &app.router,
        post(&format!("/threads/{thread}/reply"), Some(&app.cookie), &format!("csrf={}&subject=x&body=Hi&template=resources&language=pt&seen_last_inbound_at={seen}&action=search&resource_query=GB", app.csrf)),
    )
    .await;
    assert!(
        search.body.contains("insert:gb-") && !search.body.contains("insert:br-"),
        "search by country code"
    );
    let inserted = send(
        &app.router,
        post(&format!("/threads/{thread}/reply"), Some(&app.cookie), &format!("csrf={}&subject=x&body=Hi&template=resources&language=pt&seen_last_inbound_at={seen}&action=insert%3Agb-samaritans&resource_query=GB", app.csrf)),
    )
    .await;
    assert_eq!(inserted.status, StatusCode::OK);
    assert!(
        inserted.body.contains("116 123"),
        "the inserted resource is in the message"
    );
    let draft = db
        .store
        .draft(
            thread,
            db.store
                .user_by_email(&EmailAddress::parse("nav@example.org").unwrap())
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        draft.body_text.starts_with("Hi\n\n") && draft.body_text.contains("116 123"),
        "{}",
        draft.body_text
    );
}

#[tokio::test]
async fn attachments_are_downloads_for_logged_in_users_only() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let raw = b"From: Kim <kim@example.org>\r\nTo: help@concierge.example.org\r\nSubject: My letter\r\nMessage-ID: <att@example.org>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nI wrote down how I feel.\r\n\
--b\r\nContent-Type: text/html; name=\"letter.html\"\r\nContent-Disposition: attachment; filename=\"letter.html\"\r\n\r\n<script>window.pwned=1</script>\r\n\
--b\r\nContent-Type: application/pdf; name=\"my \\\"notes\\\".pdf\"\r\nContent-Disposition: attachment; filename=\"my notes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        .to_vec();
    db.ingester()
        .ingest_batch(vec![IncomingRaw {
            source_key: "a:1".into(),
            raw,
        }])
        .await
        .unwrap();
    let thread = db.store.queue(1).await.unwrap()[0].thread_id;
    let message = db.store.thread_messages(thread).await.unwrap()[0].id;
    let page = send(
        &app.router,
        get(&format!("/threads/{thread}"), Some(&app.cookie)),
    )
    .await;
    assert!(
        page.body.contains("letter.html") && page.body.contains("my notes.pdf"),
        "{}",
        page.body
    );
    let html = send(
        &app.router,
        get(
            &format!("/threads/{thread}/messages/{message}/attachments/0"),
            Some(&app.cookie),
        ),
    )
    .await;
    assert_eq!(html.status, StatusCode::OK);
    assert_eq!(
        html.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/octet-stream",
        "HTML is never served as HTML"
    );
    assert_eq!(
        html.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        "attachment; filename=\"letter.html\""
    );
    let pdf = send(
        &app.router,
        get(
            &format!("/threads/{thread}/messages/{message}/attachments/1"),
            Some(&app.cookie),
        ),
    )
    .await;
    assert_eq!(
        pdf.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/pdf"
    );
    assert_eq!(
        pdf.headers.get(header::CONTENT_DISPOSITION).unwrap(),
        "attachment; filename=\"my_notes.pdf\""
    );
    assert!(pdf.body.starts_with("%PDF"));
    let anonymous = send(
        &app.router,
        get(
            &format!("/threads/{thread}/messages/{message}/attachments/1"),
            None,
        ),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(
            &app.router,
            get(
                &format!("/threads/{thread}/messages/{message}/attachments/9"),
                Some(&app.cookie)
            )
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_admin_changes_roles_and_disabling_ends_sessions() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let (admin, admin_csrf) = login_as(&db, "admin@example.org", Role::Admin).await;
    let nav = db
        .store
        .user_by_email(&EmailAddress::parse("nav@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    let me = db
        .store
        .user_by_email(&EmailAddress::parse("admin@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    let promoted = send(
        &app.router,
        post(
            &format!("/admin/users/{}", nav.id),
            Some(&admin),
            &format!("csrf={admin_csrf}&role=coordinator"),
        ),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        db.store
            .user_by_email(&EmailAddress::parse("nav@example.org").unwrap())
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Coordinator
    );
    assert_eq!(
        send(&app.router, get("/admin/resources", Some(&app.cookie)))
            .await
            .status,
        StatusCode::OK,
        "the new role applies at once"
    );
    let disabled = send(
        &app.router,
        post(
            &format!("/admin/users/{}", nav.id),
            Some(&admin),
            &format!("csrf={admin_csrf}&role=coordinator&disabled=1"),
        ),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&app.router, get("/", Some(&app.cookie))).await.status,
        StatusCode::SEE_OTHER,
        "a disabled user's session ends"
    );
    let login = send(
        &app.router,
        post(
            "/login",
            None,
            "email=nav%40example.org&password=a+long+enough+password",
        ),
    )
    .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED, "and cannot log in");
    let self_demote = send(
        &app.router,
        post(
            &format!("/admin/users/{}", me.id),
            Some(&admin),
            &format!("csrf={admin_csrf}&role=navigator"),
        ),
    )
    .await;
    assert_eq!(
        self_demote.status,
        StatusCode::FORBIDDEN,
        "an admin cannot lock themselves out"
    );
}

#[tokio::test]
async fn every_route_but_login_and_health_needs_a_session() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let gets = [
        "/",
        "/threads/1",
        "/threads/1/reply",
        "/threads/1/messages/1/html",
        "/threads/1/messages/1/attachments/0",
        "/admin/users",
        "/admin/resources",
        "/admin/access",
    ];
    for path in gets {
        assert_eq!(
            send(&app.router, get(path, None)).await.status,
            StatusCode::SEE_OTHER,
            "GET {path}"
        );
    }
    let posts = [
        "/logout",
        "/threads/1/claim",
        "/threads/1/release",
        "/threads/1/status",
        "/threads/1/notes",
        "/threads/1/correct",
        "/threads/1/reply",
        "/admin/users",
        "/admin/users/1",
        "/admin/resources/x/verify",
    ];
    for path in posts {
        assert_eq!(
            send(&app.router, post(path, None, "csrf=x")).await.status,
            StatusCode::UNAUTHORIZED,
            "POST {path}"
        );
        // With a session but a wrong CSRF token, nothing changes either.
        let status = send(&app.router, post(path, Some(&app.cookie), "csrf=wrong&status=closed&body=x&field=risk&value=none&role=admin&email=a%40b.org&name=x&subject=x&template=resources&language=en&seen_last_inbound_at=0&action=send")).await.status;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "POST {path} with a wrong CSRF token: {status}"
        );
    }
    for path in ["/login", "/healthz", "/metrics", "/static/style.css"] {
        assert_eq!(
            send(&app.router, get(path, None)).await.status,
            StatusCode::OK,
            "GET {path}"
        );
    }
}

#[tokio::test]
async fn an_admin_edits_a_resource_with_the_same_validation_as_an_import() {
    let db = TestDb::new(Backend::Sqlite).await;
    crate::harness::seed_resources(&db.store).await;
    let app = app(&db).await;
    let (admin, admin_csrf) = login_as(&db, "admin@example.org", Role::Admin).await;
    assert_eq!(
        send(
            &app.router,
            get("/admin/resources/de-telefonseelsorge", Some(&app.cookie))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let page = send(
        &app.router,
        get("/admin/resources/de-telefonseelsorge", Some(&admin)),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let record = concierge::resources::files::to_toml(
        &db.store
            .resources()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.id == "de-telefonseelsorge")
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let edited = record.replace("notes = \"", "notes = \"Checked by phone. ");
    let saved = send(
        &app.router,
        post(
            "/admin/resources/de-telefonseelsorge",
            Some(&admin),
            &format!("csrf={admin_csrf}&toml={}", form_encode(&edited)),
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let after = db
        .store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == "de-telefonseelsorge")
        .unwrap();
    assert!(after.notes.starts_with("Checked by phone."));
    let broken = record
        .replace(
            "status = \"active\"",
            "status = \"active\"\nverified_at = \"\"",
        )
        .replacen("verified_at = \"2026-11-25\"\n", "", 1);
    let refused = send(
        &app.router,
        post(
            "/admin/resources/de-telefonseelsorge",
            Some(&admin),
            &format!("csrf={admin_csrf}&toml={}", form_encode(&broken)),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("verified_at"), "{}", refused.body);
}

#[tokio::test]
async fn reports_are_for_coordinators_logged_escaped_and_match_their_csv() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let (coordinator, _) = login_as(&db, "coord@example.org", Role::Coordinator).await;
    // A navigator whose name is hostile HTML, with generated history under their name.
    let hostile = db
        .store
        .create_user(
            &EmailAddress::parse("mallory@example.org").unwrap(),
            "<script>alert('x')</script>",
            Role::Navigator,
            "!",
            0,
        )
        .await
        .unwrap();
    let now = concierge::clock::now_ms();
    let spec = concierge::reports::history::HistorySpec {
        n_threads: 120,
        n_messages: 300,
        end_ms: now,
        days: 20,
        seed: 3,
        finished: false,
    };
    let threads = concierge::reports::history::generate_batch(&spec, &[hostile], 0, 120);
    db.store.insert_history(&threads).await.unwrap();

    assert_eq!(
        send(&app.router, get("/reports", Some(&app.cookie)))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "a navigator gets no reports"
    );
    assert_eq!(
        send(&app.router, get("/reports/export.csv", Some(&app.cookie)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app.router, get("/reports", None)).await.status,
        StatusCode::SEE_OTHER
    );

    let page = send(
        &app.router,
        get("/reports?group=navigator", Some(&coordinator)),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>alert"), "the name is escaped");
    assert!(page.body.contains("&lt;script&gt;alert"));
    assert!(page.body.contains("<svg"), "charts are drawn");
    assert!(!page.body.contains("example.invalid"), "no addresses");
    assert!(!page.body.contains("Conversation 1"), "no subjects");

    // The page's totals are the CSV's totals.
    let csv = send(
        &app.router,
        get(
            "/reports/export.csv?table=responses&group=navigator",
            Some(&coordinator),
        ),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
        "a download, never rendered as a page"
    );
    let total: Vec<&str> = csv.body.lines().last().unwrap().split(',').collect();
    assert_eq!(total[0], "All");
    let threads_cell = page
        .body
        .split("<tr data-group=\"All\">")
        .nth(1)
        .and_then(|rest| rest.split("data-col=\"threads\">").nth(1))
        .and_then(|rest| rest.split('<').next())
        .unwrap();
    assert_eq!(threads_cell, total[1]);
    let expected_threads = threads
        .iter()
        .filter(|t| t.auto_kind == concierge::domain::AutoKind::None)
        .count();
    assert_eq!(total[1], expected_threads.to_string());

    // Every reading is in the access log, with the filters and without any person.
    let log = db.store.report_access_log(10).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[0].1.starts_with("csv responses"), "{:?}", log[0]);
    assert!(log[1].1.starts_with("page "), "{:?}", log[1]);
    assert!(log[1].1.contains("group=navigator"));

    let bad = send(
        &app.router,
        get("/reports?from=tomorrow", Some(&coordinator)),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn records_due_for_re_verification_are_listed_most_overdue_first_and_verified_in_one_click() {
    let db = TestDb::new(Backend::Sqlite).await;
    crate::harness::seed_resources(&db.store).await;
    let now = concierge::clock::now_ms();
    let days_ago =
        |days: i64| concierge::web::thread::format_time(now - days * 86_400_000)[..10].to_string();
    // Three records verified long ago: 10 days, 30 days and 70 days past the 24 months - 60 days mark.
    let mut directory = db.store.resources().await.unwrap();
    for (id, days) in [
        ("nl-113-zelfmoordpreventie", 680),
        ("gb-samaritans", 700),
        ("us-988-lifeline", 800),
    ] {
        let record = directory.iter_mut().find(|r| r.id == id).unwrap();
        record.verified_at = days_ago(days);
        record.verified_by = "someone".into();
        db.store
            .upsert_resources(std::slice::from_ref(record), now)
            .await
            .unwrap();
    }
    let app = app(&db).await;
    let (coordinator, _) = login_as(&db, "coord@example.org", Role::Coordinator).await;
    let (admin, admin_csrf) = login_as(&db, "admin@example.org", Role::Admin).await;

    let due = send(
        &app.router,
        get("/admin/resources?stale=1", Some(&coordinator)),
    )
    .await;
    assert_eq!(due.status, StatusCode::OK);
    let position = |id: &str| {
        due.body
            .find(&format!("<div class=\"meta\">{id}</div>"))
            .unwrap_or_else(|| panic!("{id} is on the due list:\n{}", due.body))
    };
    assert!(position("us-988-lifeline") < position("gb-samaritans"));
    assert!(position("gb-samaritans") < position("nl-113-zelfmoordpreventie"));
    assert!(
        due.body.contains("stale: 70 days past 24 months"),
        "{}",
        due.body
    );
    assert!(due.body.contains("due 30 days ago"), "{}", due.body);
    assert!(
        !due.body
            .contains("<div class=\"meta\">de-telefonseelsorge</div>"),
        "a fresh record is not due"
    );
    // Coordinators see the list but cannot mark a record verified.
    assert!(!due.body.contains(">Verified today</button>"));

    let page = send(&app.router, get("/admin/resources?stale=1", Some(&admin))).await;
    assert!(page.body.contains("name=\"from_due\""), "{}", page.body);
    let verified = send(
        &app.router,
        post(
            "/admin/resources/us-988-lifeline/verify",
            Some(&admin),
            &format!("csrf={admin_csrf}&from_due=1"),
        ),
    )
    .await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER);
    assert_eq!(
        verified.headers.get(header::LOCATION).unwrap(),
        "/admin/resources?stale=1"
    );
    let after = db
        .store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == "us-988-lifeline")
        .unwrap();
    assert_eq!(after.verified_at, days_ago(0));
    assert_eq!(after.verified_by, "admin");
    let due = send(
        &app.router,
        get("/admin/resources?stale=1", Some(&coordinator)),
    )
    .await;
    assert!(
        !due.body
            .contains("<div class=\"meta\">us-988-lifeline</div>"),
        "no longer due"
    );
    assert!(due.body.contains("<div class=\"meta\">gb-samaritans</div>"));
}

/// More open threads than a page: the counts are of every open thread, the pages list each
/// thread once, and paging keeps the filter. A claim is counted at once (the counts are
/// shared between requests for a moment, and a change forgets them).
#[tokio::test]
async fn the_queue_pages_through_every_open_thread_with_true_counts() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = app(&db).await;
    let batch: Vec<IncomingRaw> = (0..130)
        .map(|i| IncomingRaw {
            source_key: format!("page:{i}"),
            raw: simple_message(
                &format!("page-{i}@x.org"),
                &format!("p{i}@example.org"),
                &format!("Question number {i}"),
                "Hello, I am looking for a therapist who knows the music business.",
            ),
        })
        .collect();
    db.ingester().ingest_batch(batch).await.unwrap();
    let rows = |body: &str| {
        body.split("data-thread-id=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse::<i64>().unwrap())
            .collect::<Vec<_>>()
    };
    let first = send(&app.router, get("/", Some(&app.cookie))).await;
    assert!(
        first.body.contains("130 open"),
        "the count is of every open thread"
    );
    assert!(first.body.contains("Showing 1–100"));
    // Handlebars writes `=` in attributes as `&#x3D;`.
    assert!(
        first.body.contains("href=\"/?page&#x3D;2\""),
        "a link to the next page"
    );
    let second = send(&app.router, get("/?page=2", Some(&app.cookie))).await;
    assert!(second.body.contains("Showing 101–130") && second.body.contains("rel=\"prev\""));
    assert!(
        !second.body.contains("rel=\"next\""),
        "no page after the last"
    );
    let mut seen = rows(&first.body);
    seen.extend(rows(&second.body));
    let queue: Vec<i64> = db
        .store
        .queue(1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.thread_id)
        .collect();
    assert_eq!(
        seen, queue,
        "both pages together are the queue, in its order"
    );

    let filtered = send(&app.router, get("/?risk=none", Some(&app.cookie))).await;
    assert!(
        filtered
            .body
            .contains("href=\"/?risk&#x3D;none&amp;page&#x3D;2\""),
        "paging keeps the filter"
    );
    let empty = send(&app.router, get("/?risk=nonsense", Some(&app.cookie))).await;
    assert!(rows(&empty.body).is_empty() && empty.body.contains("for this filter"));

    assert!(
        first.body.contains("Mine</a>") || !first.body.contains("Mine <span"),
        "nothing is mine yet"
    );
    let thread = queue[0];
    send(
        &app.router,
        post(
            &format!("/threads/{thread}/claim"),
            Some(&app.cookie),
            &format!("csrf={}", app.csrf),
        ),
    )
    .await;
    let after = send(&app.router, get("/", Some(&app.cookie))).await;
    assert!(
        after.body.contains("Mine <span class=\"count\">1</span>"),
        "the claim is counted at once"
    );
    assert!(after
        .body
        .contains("Unclaimed <span class=\"count\">129</span>"));
}
