//! The web app: axum routes rendering handlebars templates from `templates/web/`.
//!
//! Email-derived text is only ever rendered through `{{ }}`, which escapes HTML.

use crate::clock::now_ms;
use crate::store::{QueueEntry, Store};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use handlebars::Handlebars;
use security::security_headers;
use serde::Serialize;
use std::sync::Arc;

mod security;

const QUEUE_TEMPLATE: &str = include_str!("../../templates/web/queue.hbs");
const LAYOUT_TEMPLATE: &str = include_str!("../../templates/web/layout.hbs");
const STYLE_CSS: &str = include_str!("../../templates/web/style.css");

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub templates: Arc<Handlebars<'static>>,
}

/// What a request handler can fail with. The person sees a generic page; the cause is logged once.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("storage failed")]
    Store(#[from] crate::store::StoreError),
    #[error("rendering failed")]
    Render(#[from] handlebars::RenderError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        tracing::error!(
            error = format!("{:#}", anyhow::Error::from(self)),
            "request failed"
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. It has been logged; please try again.",
        )
            .into_response()
    }
}

/// Registers the embedded templates in strict mode.
pub fn templates() -> Result<Handlebars<'static>, handlebars::TemplateError> {
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_template_string("layout", LAYOUT_TEMPLATE)?;
    handlebars.register_template_string("queue", QUEUE_TEMPLATE)?;
    Ok(handlebars)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(queue_page))
        .route("/healthz", get(healthz))
        .route("/static/style.css", get(style))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "health check failed"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn style() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLE_CSS,
    )
        .into_response()
}

#[derive(Serialize)]
struct QueueRow {
    thread_id: i64,
    token: String,
    subject: String,
    status: &'static str,
    risk: &'static str,
    language: String,
    country: String,
    auto_kind: &'static str,
    is_auto: bool,
    n_messages: i64,
    sender: String,
    waited: String,
}

#[derive(Serialize)]
struct QueuePage {
    title: &'static str,
    n_open: usize,
    n_crisis: usize,
    rows: Vec<QueueRow>,
}

async fn queue_page(State(state): State<AppState>) -> Result<Html<String>, WebError> {
    let entries = state.store.queue(500).await?;
    let now = now_ms();
    let rows: Vec<QueueRow> = entries.iter().map(|entry| queue_row(entry, now)).collect();
    let page = QueuePage {
        title: "Queue",
        n_open: rows.len(),
        n_crisis: entries
            .iter()
            .filter(|e| e.risk == crate::domain::Risk::Crisis)
            .count(),
        rows,
    };
    Ok(Html(state.templates.render("queue", &page)?))
}

fn queue_row(entry: &QueueEntry, now: i64) -> QueueRow {
    let waited_ms = entry.waiting_since.map(|since| now - since).unwrap_or(0);
    QueueRow {
        thread_id: entry.thread_id,
        token: entry.token.clone(),
        subject: entry.subject.clone(),
        status: entry.status.as_str(),
        risk: entry.risk.as_str(),
        language: entry.language.clone().unwrap_or_else(|| "?".into()),
        country: entry.country.clone().unwrap_or_else(|| "?".into()),
        auto_kind: entry.auto_kind.as_str(),
        is_auto: entry.auto_kind != crate::domain::AutoKind::None,
        n_messages: entry.n_messages,
        sender: entry
            .contact_name
            .clone()
            .or_else(|| entry.contact_email.clone())
            .unwrap_or_else(|| "(unknown sender)".into()),
        waited: if entry.waiting_since.is_some() {
            human_duration(waited_ms)
        } else {
            "—".into()
        },
    }
}

/// "3 min", "2 h 5 min", "4 d 3 h".
pub fn human_duration(ms: i64) -> String {
    let minutes = (ms.max(0) / 60_000) as u64;
    let (days, hours, minutes) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(0), "0 min");
        assert_eq!(human_duration(125 * 60_000), "2 h 5 min");
        assert_eq!(human_duration((4 * 1440 + 3 * 60) * 60_000), "4 d 3 h");
        assert_eq!(human_duration(-5), "0 min");
    }
}
