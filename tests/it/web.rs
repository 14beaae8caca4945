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
    let state = concierge::web::AppState::new(
        db.store.clone(),
        concierge::web::WebConfig {
            idle_timeout_ms: 3_600_000,
            secure_cookies: false,
        },
    )
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
