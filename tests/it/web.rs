//! Router tests without a socket.

use crate::harness::{simple_message, Backend, TestDb};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use concierge::ingest::IncomingRaw;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(db: &TestDb, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let state = concierge::web::AppState {
        store: db.store.clone(),
        templates: std::sync::Arc::new(concierge::web::templates().unwrap()),
    };
    let response = concierge::web::router(state)
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn health_check_answers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (status, _, body) = get(&db, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn the_queue_page_escapes_everything_from_email() {
    let db = TestDb::new(Backend::Sqlite).await;
    let hostile = simple_message(
        "hostile@x.org",
        "\"<img src=x onerror=alert(1)>\" <evil@example.org>",
        "<script>window.pwned=1</script> help",
        "<b>bold</b>",
    );
    db.ingester()
        .ingest_batch(vec![IncomingRaw {
            source_key: "t:1".into(),
            raw: hostile,
        }])
        .await
        .unwrap();
    let (status, headers, body) = get(&db, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("&lt;script&gt;window.pwned&#x3D;1&lt;/script&gt; help"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "a script tag reached the page");
    assert!(
        !body.contains("<img src=x"),
        "an image tag reached the page"
    );
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
}

#[tokio::test]
async fn an_empty_queue_says_so() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (status, _, body) = get(&db, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No open conversations"));
}
