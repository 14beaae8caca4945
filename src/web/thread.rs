//! The thread page: the conversation in order, the triage decision with its evidence, and
//! what we sent. Each inbound message is plain text; its HTML is shown only on request,
//! cleaned by ammonia, with images and scripts removed.

use super::auth::CurrentUser;
use super::{AppState, UserView, WebError};
use crate::clock::now_ms;
use axum::extract::{Extension, Path, State};
use axum::response::Html;
use serde::Serialize;

#[derive(Serialize)]
struct EvidenceView {
    signal: String,
    detail: String,
}

#[derive(Serialize)]
struct FieldView {
    name: &'static str,
    value: String,
    confidence: String,
    evidence: Vec<EvidenceView>,
}

#[derive(Serialize)]
struct MessageView {
    id: i64,
    from: String,
    received: String,
    subject: String,
    new_text: String,
    quoted: String,
    has_quoted: bool,
    problem: String,
    has_problem: bool,
    risk: &'static str,
    /// What the badge says ("risk unknown" for a language without a lexicon).
    risk_label: &'static str,
    auto_kind: &'static str,
    triage: Vec<FieldView>,
    attachments: Vec<AttachmentView>,
    /// When retention purged the text, the original and the attachments ("" when it did not).
    purged: String,
}

#[derive(Serialize)]
struct AttachmentView {
    index: usize,
    name: String,
    content_type: String,
    size: String,
}

#[derive(Serialize)]
struct OutboxView {
    body: String,
    kind: String,
    status: String,
    subject: String,
    created: String,
    error: String,
    has_error: bool,
    bounced: bool,
    note: String,
    /// When retention purged what we sent ("" when it did not).
    purged: String,
}

#[derive(Serialize)]
struct ThreadPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    thread_id: i64,
    token: String,
    subject: String,
    risk: &'static str,
    risk_label: &'static str,
    language: String,
    country: String,
    sender: String,
    timeline: Vec<TimelineEntry>,
    status: &'static str,
    is_closed: bool,
    claimed_by_me: bool,
    claimed_by_other: String,
    can_reassign: bool,
    /// When retention last purged the conversation's content ("" when it never did).
    purged: String,
    /// The stalled-inbox banner (the layout shows it).
    poll_alert: Option<String>,
}

/// One entry of the conversation, in time order: a message from the person, a mail we sent
/// (acknowledgement or reply, with its delivery status), or an internal note.
#[derive(Serialize)]
struct TimelineEntry {
    at: i64,
    inbound: Option<MessageView>,
    outbound: Option<OutboxView>,
    note: Option<NoteView>,
}

#[derive(Serialize)]
struct NoteView {
    author: String,
    body: String,
    created: String,
    /// When retention purged the text ("" when it did not).
    purged: String,
}

/// Unix milliseconds as `2026-11-25 14:03 UTC`.
pub fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let minutes_of_day = ms.rem_euclid(86_400_000) / 60_000;
    // Civil date from days (Howard Hinnant's algorithm, inverse of days_from_civil).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes_of_day / 60,
        minutes_of_day % 60
    )
}

fn field(name: &'static str, value: &serde_json::Value) -> FieldView {
    let evidence = value["evidence"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| EvidenceView {
                    signal: e["signal"].as_str().unwrap_or_default().to_string(),
                    detail: e["detail"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    FieldView {
        name,
        value: match &value["value"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "unknown".into(),
            other => other.to_string(),
        },
        confidence: value["confidence"]
            .as_f64()
            .map(|c| format!("{:.0}%", c * 100.0))
            .unwrap_or_default(),
        evidence,
    }
}

pub async fn thread_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let summary = super::existing_thread(&state, thread_id).await?;
    state
        .store
        .log_access(user.id, thread_id, "open", now_ms())
        .await?;
    let rows = state.store.thread_messages(thread_id).await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let attachments = match state.store.raw_message(row.raw_message_id).await? {
            Some(raw) if row_has_attachments(&row) && raw.purged_at.is_none() => {
                crate::mail::parse_message(&raw.raw)
                    .map(|parsed| {
                        parsed
                            .attachments
                            .iter()
                            .enumerate()
                            .map(|(index, a)| AttachmentView {
                                index,
                                name: a
                                    .file_name
                                    .clone()
                                    .unwrap_or_else(|| format!("attachment-{}", index + 1)),
                                content_type: a.content_type.clone(),
                                size: format!("{} KB", a.size_bytes.div_ceil(1024)),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let at = row.received_at;
        messages.push(TimelineEntry {
            at,
            inbound: Some(message_view(row, attachments)),
            outbound: None,
            note: None,
        });
    }
    for item in state.store.outbox_for_thread(thread_id).await? {
        let at = item.created_at;
        messages.push(TimelineEntry {
            at,
            inbound: None,
            outbound: Some(OutboxView {
                body: item.body_text,
                kind: item.kind.replace('_', " "),
                status: item.status,
                subject: item.subject,
                created: format_time(item.created_at),
                has_error: item.last_error.is_some(),
                error: item.last_error.unwrap_or_default(),
                bounced: item.bounced_at.is_some(),
                note: item.template_note.unwrap_or_default(),
                purged: purged_on(item.purged_at),
            }),
            note: None,
        });
    }
    let now = now_ms();
    let claim_live = summary
        .claim_expires_at
        .is_some_and(|expires| expires > now);
    let claimed_by_me = claim_live && summary.claimed_by == Some(user.id);
    let claimed_by_other = if claim_live && !claimed_by_me {
        summary.claimed_by_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    for note in state.store.notes(thread_id).await? {
        messages.push(TimelineEntry {
            at: note.created_at,
            inbound: None,
            outbound: None,
            note: Some(NoteView {
                author: note.author,
                body: note.body_text,
                created: format_time(note.created_at),
                purged: purged_on(note.purged_at),
            }),
        });
    }
    // In time order; at the same moment the person's message comes before our answer to it.
    messages.sort_by_key(|entry| (entry.at, entry.inbound.is_none()));
    let page = ThreadPage {
        status: summary.status.as_str(),
        is_closed: summary.status == crate::domain::ThreadStatus::Closed,
        claimed_by_me,
        can_reassign: !claimed_by_other.is_empty() && user.role >= crate::domain::Role::Coordinator,
        claimed_by_other,
        title: "Conversation",
        refresh: false,
        user: Some(UserView::of(&user)),
        thread_id,
        token: summary.token,
        subject: summary.subject,
        risk: summary.risk.as_str(),
        risk_label: summary.risk.label(),
        language: summary.language.unwrap_or_else(|| "?".into()),
        country: summary.country.unwrap_or_else(|| "unknown".into()),
        sender: summary
            .contact_name
            .or(summary.contact_email)
            .unwrap_or_else(|| "(unknown sender)".into()),
        timeline: messages,
        purged: purged_on(summary.purged_at),
        poll_alert: super::poll_alert(&state).await?,
    };
    Ok(Html(state.templates.render("thread", &page)?))
}

fn row_has_attachments(row: &crate::store::MessageRow) -> bool {
    row.n_attachments > 0 && row.purged_at.is_none()
}

/// The date a purge happened, for the page ("" when nothing was purged).
fn purged_on(purged_at: Option<i64>) -> String {
    purged_at.map(format_time).unwrap_or_default()
}

/// What the original HTML and the attachments of a purged message answer.
fn purged_response(purged_at: i64) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::GONE,
        format!(
            "Purged on {} under the retention policy: the original message is no longer kept.",
            format_time(purged_at)
        ),
    )
        .into_response()
}

fn message_view(row: crate::store::MessageRow, attachments: Vec<AttachmentView>) -> MessageView {
    let triage: serde_json::Value = serde_json::from_str(&row.triage_json).unwrap_or_default();
    let quoted = crate::triage::text::split_new_text(&row.body_text).quoted;
    MessageView {
        attachments,
        purged: purged_on(row.purged_at),
        id: row.id,
        from: match (&row.from_name, &row.from_address) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => address.clone(),
            (Some(name), None) => name.clone(),
            (None, None) => "(no sender)".into(),
        },
        received: format_time(row.received_at),
        subject: row.subject.clone(),
        new_text: if row.new_text.is_empty() {
            row.body_text.clone()
        } else {
            row.new_text.clone()
        },
        has_quoted: !quoted.is_empty(),
        quoted,
        has_problem: row.parse_problem.is_some(),
        problem: row.parse_problem.clone().unwrap_or_default(),
        risk: row.risk.as_str(),
        risk_label: row.risk.label(),
        auto_kind: row.auto_kind.as_str(),
        triage: vec![
            field("language", &triage["language"]),
            field("country", &triage["country"]),
            field("risk", &triage["risk"]),
            field("auto-mail", &triage["auto_kind"]),
        ],
    }
}

/// An inbound message's own HTML, cleaned: no scripts, no images (remote images would tell the
/// sender, or a tracker, that the mail was read), links that open without a referrer.
pub async fn message_html(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path((thread_id, message_id)): Path<(i64, i64)>,
) -> Result<axum::response::Response, WebError> {
    use axum::response::IntoResponse;
    let row = state
        .store
        .thread_messages(thread_id)
        .await?
        .into_iter()
        .find(|row| row.id == message_id)
        .ok_or(WebError::NotFound)?;
    state
        .store
        .log_access(user.id, thread_id, "open html", now_ms())
        .await?;
    let raw = state
        .store
        .raw_message(row.raw_message_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if let Some(purged_at) = raw.purged_at.or(row.purged_at) {
        return Ok(purged_response(purged_at));
    }
    let html = crate::mail::parse_message(&raw.raw)
        .ok()
        .and_then(|parsed| parsed.html)
        .unwrap_or_default();
    Ok(Html(format!(
        "<!doctype html><meta charset=\"utf-8\"><link rel=\"stylesheet\" href=\"/static/style.css\"><div class=\"email-html\">{}</div>",
        clean_html(&html)
    ))
    .into_response())
}

/// Email HTML made safe to show.
pub fn clean_html(html: &str) -> String {
    ammonia::Builder::default()
        .rm_tags(["img", "picture", "source", "video", "audio"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .attribute_filter(|_element, attribute, value| {
            if attribute == "href" {
                Some(strip_tracking(value).into())
            } else {
                Some(value.into())
            }
        })
        .clean(html)
        .to_string()
}

/// Query parameters that only tell a sender or an ad network that a link was opened.
const TRACKING_PARAMETERS: &[&str] = &[
    "fbclid", "gclid", "dclid", "msclkid", "mc_eid", "mc_cid", "_hsenc", "_hsmi", "igshid",
    "yclid", "ref_src",
];

/// A link without its tracking parameters (`utm_*` and the usual click ids).
pub fn strip_tracking(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair
                .split('=')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            !name.starts_with("utm_") && !TRACKING_PARAMETERS.contains(&name.as_str())
        })
        .collect();
    let mut cleaned = base.to_string();
    if !kept.is_empty() {
        cleaned.push('?');
        cleaned.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        cleaned.push('#');
        cleaned.push_str(fragment);
    }
    cleaned
}

/// Types a browser would render or run: served as plain bytes instead.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
];

/// An attachment, only to logged-in users, always as a download, never rendered in the app.
pub async fn attachment(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path((thread_id, message_id, index)): Path<(i64, i64, usize)>,
) -> Result<axum::response::Response, WebError> {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let row = state
        .store
        .thread_messages(thread_id)
        .await?
        .into_iter()
        .find(|row| row.id == message_id)
        .ok_or(WebError::NotFound)?;
    let raw = state
        .store
        .raw_message(row.raw_message_id)
        .await?
        .ok_or(WebError::NotFound)?;
    if let Some(purged_at) = raw.purged_at.or(row.purged_at) {
        return Ok(purged_response(purged_at));
    }
    let (info, bytes) =
        crate::mail::parse::attachment_bytes(&raw.raw, index).ok_or(WebError::NotFound)?;
    state
        .store
        .log_access(user.id, thread_id, "download attachment", now_ms())
        .await?;
    let content_type = if ACTIVE_TYPES.contains(&info.content_type.as_str())
        || !info
            .content_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '.' | '+'))
    {
        "application/octet-stream".to_string()
    } else {
        info.content_type
    };
    // A file name reduced to safe characters: it goes into a header.
    let name: String = info
        .file_name
        .unwrap_or_else(|| format!("attachment-{}", index + 1))
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.chars().filter(char::is_ascii).collect::<String>()
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_795_000_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn link_tracking_is_removed() {
        assert_eq!(
            strip_tracking("https://x.org/a?utm_source=m&id=3&fbclid=Z#top"),
            "https://x.org/a?id=3#top"
        );
        assert_eq!(
            strip_tracking("https://x.org/a?utm_campaign=y"),
            "https://x.org/a"
        );
        assert_eq!(strip_tracking("mailto:a@b.org"), "mailto:a@b.org");
        assert!(
            clean_html("<a href=\"https://x.org/?utm_medium=email&amp;q=1\">x</a>")
                .contains("href=\"https://x.org/?q=1\"")
        );
    }

    #[test]
    fn hostile_html_is_cleaned() {
        let cleaned = clean_html(
            "<p onclick=\"x()\">Hi<script>window.pwned=1</script><img src=http://tracker.example/p.gif onerror=alert(1)>\
             <a href=\"javascript:alert(1)\">a</a><a href=\"https://example.org\">b</a><style>body{display:none}</style></p>",
        );
        for bad in [
            "script",
            "onclick",
            "onerror",
            "tracker",
            "javascript:",
            "<style",
            "<img",
        ] {
            assert!(!cleaned.contains(bad), "{bad} in {cleaned}");
        }
        assert!(cleaned.contains("noopener noreferrer nofollow"));
    }
}
