//! The admins' access-log page (`/admin/access`) over HTTP and `Store::access_log_entries`
//! underneath, on both backends: who opened which thread, filters, paging, roles, and that no
//! person's address or subject reaches the page.

use crate::harness::{simple_message, TestDb};
use crate::on_both_backends;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use concierge::domain::Role;
use concierge::ingest::IncomingRaw;
use concierge::store::{AccessLogEntry, AccessLogQuery, QueueEntry};
use http_body_util::BodyExt;
use tower::ServiceExt;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-11-20 00:00 UTC.
const NOV_20: i64 = 1_795_132_800_000;

/// An entry as the test wrote it: (at, user id, thread id, action).
type Written = (i64, i64, Option<i64>, String);

fn router(db: &TestDb) -> Router {
    let settings = concierge::config::Settings::load(None).unwrap();
    let templates = concierge::cli::reply_templates(&settings).unwrap();
    let state =
        concierge::web::AppState::new(db.store.clone(), &settings, templates, Default::default())
            .unwrap();
    concierge::web::router(state)
}

async fn get(router: &Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Two conversations from people whose address, name and subject must never reach the page.
async fn two_threads(db: &TestDb) -> Vec<QueueEntry> {
    db.ingester()
        .ingest_batch(vec![
            IncomingRaw {
                source_key: "t:1".into(),
                raw: simple_message(
                    "first@example-band.de",
                    "Jonas Beispiel <jonas.private@example-band.de>",
                    "Sehr persönlicher Betreff",
                    "Hallo, ich wohne in Hamburg und mir geht es nicht gut.",
                ),
            },
            IncomingRaw {
                source_key: "t:2".into(),
                raw: simple_message(
                    "second@example-label.com",
                    "Riley Example <riley.private@example-label.com>",
                    "A very private subject line",
                    "Hi, I play bass on tour and I cannot sleep any more.",
                ),
            },
        ])
        .await
        .unwrap();
    let mut threads = db.store.queue(10).await.unwrap();
    threads.sort_by_key(|t| t.thread_id);
    assert_eq!(threads.len(), 2);
    threads
}

async fn user_id(db: &TestDb, email: &str) -> i64 {
    db.store
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.email == email)
        .unwrap()
        .id
}

/// One row of the page's table as the admin reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    time: String,
    user_id: i64,
    action: String,
    thread_id: Option<i64>,
    /// The last cell's text: the thread's number and token, or the report read.
    what: String,
}

/// Text as handlebars escaped it, read back.
fn unescape(html: &str) -> String {
    html.replace("&#x3D;", "=")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn cells(row: &str) -> Vec<String> {
    row.split("<td>")
        .skip(1)
        .map(|cell| unescape(cell.split("</td>").next().unwrap()))
        .collect()
}

fn number_after(text: &str, prefix: &str) -> Option<i64> {
    let rest = text.split(prefix).nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The rows of the access-log table, newest first, and the "Older" link if there is one.
fn table(body: &str) -> (Vec<Row>, Option<String>) {
    let tbody = body
        .split("<table class=\"queue\" id=\"access-log\">")
        .nth(1)
        .and_then(|rest| rest.split("<tbody>").nth(1))
        .and_then(|rest| rest.split("</tbody>").next())
        .expect("the access-log table");
    let rows = tbody
        .split("<tr>")
        .skip(1)
        .filter(|row| !row.contains("Nothing in the log matches"))
        .map(|row| {
            let cells = cells(row);
            assert_eq!(cells.len(), 4, "{row}");
            Row {
                time: cells[0].clone(),
                user_id: number_after(&cells[1], "/admin/access?user=").unwrap(),
                action: cells[2].clone(),
                thread_id: number_after(&cells[3], "href=\"/threads/"),
                what: cells[3].clone(),
            }
        })
        .collect();
    let older = body
        .split("<a href=\"")
        .skip(1)
        .find(|link| link.contains("rel=\"next\">Older</a>"))
        .map(|link| unescape(link.split('"').next().unwrap()));
    (rows, older)
}

on_both_backends! {
    async fn an_admin_sees_who_opened_which_thread_and_a_navigator_is_refused(db: TestDb) {
        let router = router(&db);
        let threads = two_threads(&db).await;
        let (navigator, _) = crate::web::login_as(&db, "nav@example.org", Role::Navigator).await;
        let (coordinator, _) =
            crate::web::login_as(&db, "coord@example.org", Role::Coordinator).await;
        let (admin, _) = crate::web::login_as(&db, "admin@example.org", Role::Admin).await;
        let navigator_id = user_id(&db, "nav@example.org").await;
        let admin_id = user_id(&db, "admin@example.org").await;
        let thread = &threads[0];

        let (status, _) = get(&router, &format!("/threads/{}", thread.thread_id), &navigator).await;
        assert_eq!(status, StatusCode::OK);

        for (who, cookie) in [("navigator", &navigator), ("coordinator", &coordinator)] {
            let (status, _) = get(&router, "/admin/access", cookie).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
            let (_, queue) = get(&router, "/", cookie).await;
            assert!(!queue.contains("href=\"/admin/access\""), "{who} sees no link");
        }
        let (_, queue) = get(&router, "/", &admin).await;
        assert!(queue.contains("href=\"/admin/access\""), "the admin navigation links the log");

        let (status, body) = get(&router, "/admin/access", &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (rows, older) = table(&body);
        assert_eq!(older, None);
        // Newest first: the admin's own reading of the log, then the navigator's opening.
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            (rows[0].user_id, rows[0].action.as_str(), rows[0].thread_id),
            (admin_id, "read access log", None)
        );
        assert!(rows[0].what.starts_with("access log user= thread="), "{:?}", rows[0]);
        assert_eq!(
            (rows[1].user_id, rows[1].action.as_str(), rows[1].thread_id),
            (navigator_id, "open", Some(thread.thread_id))
        );
        assert!(rows[1].what.contains(&format!("[#{}]", thread.token)), "{:?}", rows[1]);
        assert!(rows[1].time.ends_with(" UTC") && rows[1].time.len() == 23, "{:?}", rows[1]);
        // Staff are named; the people who wrote in are not.
        assert!(body.contains("nav (nav@example.org)") && body.contains("nav@example.org"));
        for private in [
            "jonas.private@example-band.de",
            "Jonas Beispiel",
            "Sehr persönlicher Betreff",
            "Sehr pers",
            "riley.private@example-label.com",
            "A very private subject line",
            "Hamburg",
        ] {
            assert!(!body.contains(private), "{private} on the access-log page");
        }

        // Reading the log is itself in the log, once per reading, and the refusals are not.
        let readings = db
            .store
            .access_log_entries(&AccessLogQuery {
                action: Some("read access log".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(readings.len(), 1, "{readings:?}");
        assert_eq!(readings[0].user_id, admin_id);
        assert_eq!(readings[0].user_email, "admin@example.org");
        assert_eq!(readings[0].thread_id, None);
        // It is not a report reading.
        assert!(db.store.report_access_log(10).await.unwrap().is_empty());

        let (status, _) = get(&router, "/admin/access?thread=abc", &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = get(&router, "/admin/access?from=2026-12-02&to=2026-12-01", &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    async fn filters_narrow_the_log_and_older_pages_hold_the_rest(db: TestDb) {
        let router = router(&db);
        let threads = two_threads(&db).await;
        let (admin, _) = crate::web::login_as(&db, "admin@example.org", Role::Admin).await;
        crate::web::login_as(&db, "a@example.org", Role::Navigator).await;
        crate::web::login_as(&db, "b@example.org", Role::Coordinator).await;
        let admin_id = user_id(&db, "admin@example.org").await;
        let users = [user_id(&db, "a@example.org").await, user_id(&db, "b@example.org").await];
        let thread_ids = [threads[0].thread_id, threads[1].thread_id];

        // 260 entries on 2026-11-20, one a minute, with every tenth pair in the same
        // millisecond (paging must neither skip nor repeat those), and one on each side.
        let mut model: Vec<Written> = Vec::new();
        for i in 0..260_i64 {
            let at = NOV_20 + 8 * 60 * MINUTE + (i - i64::from(i % 10 == 1)) * MINUTE;
            let user = users[(i % 2) as usize];
            let thread = thread_ids[usize::from(i % 3 == 0)];
            let action = if i % 5 == 0 { "reply" } else { "open" };
            db.store.log_access(user, thread, action, at).await.unwrap();
            model.push((at, user, Some(thread), action.to_string()));
        }
        for (at, user) in [(NOV_20 - DAY + 1, users[0]), (NOV_20 + 2 * DAY, users[1])] {
            db.store.log_access(user, thread_ids[0], "open", at).await.unwrap();
            model.push((at, user, Some(thread_ids[0]), "open".to_string()));
        }
        db.store.log_report_access(users[1], "page from=2026-11-01", NOV_20 + DAY).await.unwrap();
        model.push((NOV_20 + DAY, users[1], None, "read report".to_string()));
        // Newest first; entries of the same millisecond in the reverse order of writing.
        let mut newest_first: Vec<(usize, &Written)> =
            model.iter().enumerate().collect();
        newest_first.sort_by_key(|(index, entry)| std::cmp::Reverse((entry.0, *index)));
        let expected = |keep: &dyn Fn(&Written) -> bool| {
            newest_first
                .iter()
                .map(|(_, entry)| *entry)
                .filter(|entry| keep(entry))
                .cloned()
                .collect::<Vec<_>>()
        };
        let tuple = |e: &AccessLogEntry| (e.at, e.user_id, e.thread_id, e.action.clone());

        // The store: every filter and their combinations, read to the end in pages of 37.
        let cases: Vec<(AccessLogQuery, Vec<Written>)> = vec![
            (AccessLogQuery::default(), expected(&|_| true)),
            (
                AccessLogQuery { user_id: Some(users[0]), ..Default::default() },
                expected(&|e| e.1 == users[0]),
            ),
            (
                AccessLogQuery { thread_id: Some(thread_ids[1]), ..Default::default() },
                expected(&|e| e.2 == Some(thread_ids[1])),
            ),
            (
                AccessLogQuery { action: Some("reply".into()), ..Default::default() },
                expected(&|e| e.3 == "reply"),
            ),
            (
                AccessLogQuery { from: Some(NOV_20), to: Some(NOV_20 + DAY), ..Default::default() },
                expected(&|e| e.0 >= NOV_20 && e.0 < NOV_20 + DAY),
            ),
            (
                AccessLogQuery {
                    user_id: Some(users[1]),
                    thread_id: Some(thread_ids[0]),
                    action: Some("open".into()),
                    from: Some(NOV_20),
                    to: Some(NOV_20 + 3 * DAY),
                    ..Default::default()
                },
                expected(&|e| {
                    e.1 == users[1] && e.2 == Some(thread_ids[0]) && e.3 == "open" && e.0 >= NOV_20
                }),
            ),
        ];
        let mut n_ties_across_pages = 0;
        for (query, want) in &cases {
            assert!(!want.is_empty(), "{query:?} matches something");
            let mut got = Vec::new();
            let mut page = AccessLogQuery { limit: 37, ..query.clone() };
            loop {
                let entries = db.store.access_log_entries(&page).await.unwrap();
                assert!(entries.len() <= 37);
                if let (Some((before_at, _)), Some(first)) = (page.before, entries.first()) {
                    n_ties_across_pages += usize::from(first.at == before_at);
                }
                got.extend(entries.iter().map(tuple));
                match entries.last() {
                    Some(last) if entries.len() == 37 => page.before = Some((last.at, last.id)),
                    _ => break,
                }
            }
            assert_eq!(&got, want, "{query:?}");
        }
        assert!(n_ties_across_pages > 0, "a page ended inside one millisecond");
        let report = db
            .store
            .access_log_entries(&AccessLogQuery {
                user_id: Some(users[1]),
                to: Some(NOV_20 + 2 * DAY),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(report[0].action, "read report");
        assert_eq!(report[0].target.as_deref(), Some("page from=2026-11-01"));
        assert_eq!((report[0].thread_id, report[0].thread_token.as_deref()), (None, None));
        let opened = db
            .store
            .access_log_entries(&AccessLogQuery {
                thread_id: Some(thread_ids[1]),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(opened[0].thread_token.as_deref(), Some(threads[1].token.as_str()));
        assert_eq!(opened[0].user_name, "a");

        // The page: one user, read to the end by following "Older".
        let want_user = expected(&|e| e.1 == users[0]);
        let mut path = format!("/admin/access?user={}", users[0]);
        let mut seen: Vec<Row> = Vec::new();
        let mut n_pages = 0;
        loop {
            let (status, body) = get(&router, &path, &admin).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert!(body.contains(&format!("<option value=\"{}\" selected>", users[0])));
            let (rows, older) = table(&body);
            n_pages += 1;
            assert!(rows.len() <= 100);
            seen.extend(rows);
            match older {
                Some(next) => {
                    assert!(next.contains(&format!("user={}", users[0])), "{next}");
                    path = next;
                }
                None => break,
            }
        }
        assert_eq!(n_pages, 2, "131 entries are two pages of 100");
        assert_eq!(seen.len(), want_user.len());
        for (row, want) in seen.iter().zip(&want_user) {
            assert_eq!(
                (row.user_id, row.thread_id, row.action.as_str()),
                (want.1, want.2, want.3.as_str())
            );
        }
        assert!(seen.iter().all(|row| row.time.starts_with("2026-11-")), "{seen:?}");

        // The page: every filter at once, dates as the form sends them.
        let (status, body) = get(
            &router,
            &format!(
                "/admin/access?user={}&thread={}&action=reply&from=2026-11-20&to=2026-11-20",
                users[0], thread_ids[1]
            ),
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (rows, older) = table(&body);
        let want = expected(&|e| {
            e.1 == users[0]
                && e.2 == Some(thread_ids[1])
                && e.3 == "reply"
                && e.0 >= NOV_20
                && e.0 < NOV_20 + DAY
        });
        assert_eq!(older, None);
        assert!(!want.is_empty());
        assert_eq!(rows.len(), want.len());
        assert!(rows.iter().all(|r| {
            r.user_id == users[0] && r.thread_id == Some(thread_ids[1]) && r.action == "reply"
        }));

        // Report readings show what was read; the admin's readings carry the filters they used.
        let (_, body) = get(&router, "/admin/access?action=read+report", &admin).await;
        let (rows, _) = table(&body);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].thread_id, rows[0].what.as_str()), (None, "page from=2026-11-01"));
        let readings = db
            .store
            .access_log_entries(&AccessLogQuery {
                user_id: Some(admin_id),
                action: Some("read access log".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(readings.len(), n_pages + 2);
        let all_filters = format!(
            "access log user={} thread={} action=reply from=2026-11-20 to=2026-11-20 before=",
            users[0], thread_ids[1]
        );
        assert_eq!(readings[1].target.as_deref(), Some(all_filters.as_str()));
        assert!(readings[2].target.as_deref().unwrap().contains(" before=17"), "{:?}", readings[2]);
    }
}
