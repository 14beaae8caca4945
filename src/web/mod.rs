//! The web app: axum routes rendering handlebars templates from `templates/web/`.
//!
//! Email-derived text is only ever rendered through `{{ }}`, which escapes HTML; an email's
//! own HTML is shown only after ammonia has cleaned it. Every route but `/login`, `/healthz`,
//! `/metrics` and the style sheet needs a session ([`auth::require_session`]).

mod actions;
mod admin;
pub mod auth;
mod reports;
mod security;
pub mod thread;

use crate::clock::{human_duration, now_ms};
use crate::domain::EmailAddress;
use crate::store::{ClaimFilter, QueueEntry, QueueQuery, Store, StoreError};
use auth::{CurrentUser, FAILED_LOGIN_WINDOW_MS, MAX_FAILED_LOGINS};
use axum::extract::{Extension, Form, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use handlebars::Handlebars;
use security::security_headers;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("../../templates/web/layout.hbs")),
    ("queue", include_str!("../../templates/web/queue.hbs")),
    ("login", include_str!("../../templates/web/login.hbs")),
    ("thread", include_str!("../../templates/web/thread.hbs")),
    ("compose", include_str!("../../templates/web/compose.hbs")),
    (
        "admin_users",
        include_str!("../../templates/web/admin_users.hbs"),
    ),
    (
        "admin_resources",
        include_str!("../../templates/web/admin_resources.hbs"),
    ),
    (
        "admin_resource_edit",
        include_str!("../../templates/web/admin_resource_edit.hbs"),
    ),
    (
        "admin_access",
        include_str!("../../templates/web/admin_access.hbs"),
    ),
    ("reports", include_str!("../../templates/web/reports.hbs")),
];
const STYLE_CSS: &str = include_str!("../../templates/web/style.css");

/// What the web app needs from the configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub idle_timeout_ms: i64,
    pub secure_cookies: bool,
}

impl WebConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> WebConfig {
        WebConfig {
            idle_timeout_ms: i64::from(settings.web.session_idle_minutes) * 60_000,
            secure_cookies: settings.web.secure_cookies,
        }
    }
}

/// What replies written in the web app are sent as.
#[derive(Debug, Clone)]
pub struct ComposeConfig {
    pub service: crate::replies::context::ServiceInfo,
    pub from_address: String,
    pub from_name: String,
    pub message_id_domain: String,
}

impl ComposeConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> ComposeConfig {
        ComposeConfig {
            service: crate::replies::context::ServiceInfo {
                service_name: settings.replies.service_name.clone(),
                reply_window_hours: settings.replies.reply_window_hours,
            },
            from_address: settings.mail.address.clone(),
            from_name: settings.outgoing.from_name.clone(),
            message_id_domain: settings.mail.message_id_domain.clone(),
        }
    }

    /// The From header.
    pub fn from(&self) -> String {
        crate::replies::from_header(&self.from_name, &self.from_address)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub templates: Arc<Handlebars<'static>>,
    pub web: WebConfig,
    pub replies: Arc<crate::replies::templates::Templates>,
    /// Woken when a reply is queued, so that the outbox worker sends it at once.
    pub queued: Arc<tokio::sync::Notify>,
    pub compose: ComposeConfig,
    /// Answer targets and business hours (the queue shows the targets; reports count breaches).
    pub reports: Arc<crate::reports::ReportConfig>,
    /// Which mailboxes count for the stalled-inbox alert (`/healthz`, the banner, `/metrics`).
    pub poll_watch: Arc<crate::health::PollWatch>,
    /// The servers this process could not reach (`/healthz`); `serve` shares one with the
    /// mail source and the outbox.
    pub dependencies: Arc<crate::health::Dependencies>,
    /// The queue's filter counts, shared by every request for a moment.
    pub queue_counts: Arc<QueueCountsCache>,
}

/// The queue's filter counts, counted by the database over every open thread and shared by
/// every request (the page refreshes every minute for every navigator; counting 100,000 open
/// threads per request would make the page's cost grow with the queue). Counts older than
/// [`QUEUE_COUNTS_TTL`] are still served while one background task counts again, so no
/// request waits for a recount; only the first request, and the first after this process
/// changed a thread, counts before it answers.
#[derive(Default)]
pub struct QueueCountsCache {
    cached: std::sync::Mutex<Option<(std::time::Instant, crate::store::QueueCounts)>>,
    recounting: std::sync::atomic::AtomicBool,
    /// Moves on at every invalidation, so that a recount begun before a change does not put
    /// the counts of before back.
    generation: std::sync::atomic::AtomicU64,
}

/// How long the queue's counts are served before they are counted again.
pub const QUEUE_COUNTS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl QueueCountsCache {
    pub async fn get(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
    ) -> Result<crate::store::QueueCounts, StoreError> {
        use std::sync::atomic::Ordering;
        let cached = self.cached.lock().expect("not poisoned").clone();
        match cached {
            Some((at, counts)) if at.elapsed() < QUEUE_COUNTS_TTL => Ok(counts),
            Some((_, counts)) => {
                if !self.recounting.swap(true, Ordering::AcqRel) {
                    let cache = Arc::clone(self);
                    let store = Arc::clone(store);
                    let generation = self.generation.load(Ordering::Acquire);
                    tokio::spawn(async move {
                        match store.queue_counts().await {
                            Ok(fresh) => cache.put_if(generation, fresh),
                            Err(error) => {
                                tracing::warn!(error = %error, "counting the queue failed")
                            }
                        }
                        cache.recounting.store(false, Ordering::Release);
                    });
                }
                Ok(counts)
            }
            None => {
                let counts = store.queue_counts().await?;
                self.put(counts.clone());
                Ok(counts)
            }
        }
    }

    fn put(&self, counts: crate::store::QueueCounts) {
        *self.cached.lock().expect("not poisoned") = Some((std::time::Instant::now(), counts));
    }

    /// Puts a background recount's counts, unless the counts were forgotten since it began.
    fn put_if(&self, generation: u64, counts: crate::store::QueueCounts) {
        let mut cached = self.cached.lock().expect("not poisoned");
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            *cached = Some((std::time::Instant::now(), counts));
        }
    }

    /// Forgets the counts, after this process changed a thread.
    pub fn invalidate(&self) {
        let mut cached = self.cached.lock().expect("not poisoned");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *cached = None;
    }
}

impl AppState {
    /// The web app over a store, as configured; replies use these templates and wake this
    /// outbox worker.
    pub fn new(
        store: Arc<dyn Store>,
        settings: &crate::config::Settings,
        replies: Arc<crate::replies::templates::Templates>,
        queued: Arc<tokio::sync::Notify>,
    ) -> Result<AppState, handlebars::TemplateError> {
        Ok(AppState {
            store,
            templates: Arc::new(templates()?),
            web: WebConfig::from_settings(settings),
            replies,
            queued,
            compose: ComposeConfig::from_settings(settings),
            reports: Arc::new(crate::reports::ReportConfig::from_settings(settings)),
            poll_watch: Arc::new(crate::health::PollWatch::from_settings(settings, now_ms())),
            dependencies: Arc::default(),
            queue_counts: Arc::default(),
        })
    }
}

/// A thread, or a 404 page.
pub async fn existing_thread(
    state: &AppState,
    thread_id: i64,
) -> Result<crate::store::ThreadSummary, WebError> {
    state
        .store
        .thread_summary(thread_id)
        .await?
        .ok_or(WebError::NotFound)
}

/// What a request handler can fail with. The person sees a generic page; the cause is logged once.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("storage failed")]
    Store(#[from] crate::store::StoreError),
    #[error("rendering failed")]
    Render(#[from] handlebars::RenderError),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
            WebError::NotFound => (StatusCode::NOT_FOUND, "Not found.").into_response(),
            WebError::Conflict(why) => (StatusCode::CONFLICT, why).into_response(),
            WebError::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
            other => {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::from(other)),
                    "request failed"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong. It has been logged; please try again.",
                )
                    .into_response()
            }
        }
    }
}

/// Registers the embedded templates in strict mode.
pub fn templates() -> Result<Handlebars<'static>, handlebars::TemplateError> {
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    for (name, text) in TEMPLATES {
        handlebars.register_template_string(name, *text)?;
    }
    Ok(handlebars)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(queue_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/threads/{id}", get(thread::thread_page))
        .route(
            "/threads/{id}/messages/{message_id}/html",
            get(thread::message_html),
        )
        .route(
            "/threads/{id}/messages/{message_id}/attachments/{index}",
            get(thread::attachment),
        )
        .route("/threads/{id}/claim", post(actions::claim))
        .route("/threads/{id}/release", post(actions::release))
        .route("/threads/{id}/status", post(actions::set_status))
        .route("/threads/{id}/notes", post(actions::add_note))
        .route("/threads/{id}/correct", post(actions::correct))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/users/{id}", post(admin::update_user))
        .route("/admin/access", get(admin::access_log))
        .route("/admin/resources", get(admin::resources))
        .route("/admin/resources/{id}/verify", post(admin::verify_resource))
        .route(
            "/admin/resources/{id}",
            get(admin::edit_resource_page).post(admin::edit_resource),
        )
        .route(
            "/threads/{id}/reply",
            get(actions::compose_page).post(actions::send),
        )
        .route("/reports", get(reports::reports_page))
        .route("/reports/export.csv", get(reports::export_csv))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/style.css", get(style))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            fresh_queue_counts,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_session,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// After a navigator changed a thread (claimed, released, closed, answered it...), the queue
/// they are sent back to counts again instead of showing the counts of before.
async fn fresh_queue_counts(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let changes_threads = request.method() == axum::http::Method::POST
        && request.uri().path().starts_with("/threads/");
    let response = next.run(request).await;
    if changes_threads {
        state.queue_counts.invalidate();
    }
    response
}

/// A worker's web address: `/healthz` and `/metrics` only, for the load balancer and the
/// monitoring; the app is served by the web nodes.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// `ok`; `degraded: no successful poll of ... for N min` (503) when a watched inbox stalled;
/// `database unavailable` (503).
/// The longest `/healthz` waits for the database.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn healthz(State(state): State<AppState>) -> Response {
    let checked = async {
        state.store.ping().await?;
        state.store.poll_statuses().await
    };
    // A database that is down makes the pool wait for a connection for half a minute: a
    // health check answers within seconds instead.
    let checked = match tokio::time::timeout(HEALTH_TIMEOUT, checked).await {
        Ok(result) => result,
        Err(_) => Err(crate::store::StoreError::Database(
            sqlx::Error::PoolTimedOut,
        )),
    };
    match checked {
        Ok(polls) => {
            let now = now_ms();
            let stalls = state.poll_watch.stalls(&polls, now);
            let down = state.dependencies.down();
            if stalls.is_empty() && down.is_empty() {
                (StatusCode::OK, "ok").into_response()
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    crate::health::degraded_body(&down, &stalls, now),
                )
                    .into_response()
            }
        }
        Err(error) => {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "health check failed"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Prometheus metrics: counts, codes and times from the database and this process.
async fn metrics(State(state): State<AppState>) -> Result<Response, WebError> {
    let snapshot = state.store.metrics_snapshot().await?;
    let text = crate::metrics::render(&snapshot, &state.poll_watch, now_ms());
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}

/// The banner shown to everyone logged in while a watched inbox is stalled.
pub async fn poll_alert(state: &AppState) -> Result<Option<String>, WebError> {
    let polls = state.store.poll_statuses().await?;
    let stalls = state.poll_watch.stalls(&polls, now_ms());
    if stalls.is_empty() {
        return Ok(None);
    }
    let reasons: Vec<String> = stalls.iter().map(crate::health::Watched::reason).collect();
    Ok(Some(format!(
        "Mail is not coming in: {}. New messages may be waiting on the mail server; tell whoever runs concierge.",
        reasons.join("; ")
    )))
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

/// The signed-in user as templates see it.
#[derive(Serialize)]
pub struct UserView {
    pub display_name: String,
    pub role: &'static str,
    pub csrf: String,
}

impl UserView {
    pub fn of(user: &CurrentUser) -> UserView {
        UserView {
            display_name: user.display_name.clone(),
            role: user.role.as_str(),
            csrf: user.csrf_token.clone(),
        }
    }
}

#[derive(Serialize)]
struct LoginPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    error: String,
}

async fn login_page(State(state): State<AppState>) -> Result<Html<String>, WebError> {
    let page = LoginPage {
        title: "Log in",
        refresh: false,
        user: None,
        error: String::new(),
    };
    Ok(Html(state.templates.render("login", &page)?))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let now = now_ms();
    let email_key = form.email.trim().to_lowercase();
    let refuse = |status: StatusCode, error: &str| -> Result<Response, WebError> {
        let page = LoginPage {
            title: "Log in",
            refresh: false,
            user: None,
            error: error.to_string(),
        };
        Ok((status, Html(state.templates.render("login", &page)?)).into_response())
    };
    if state
        .store
        .failed_login_attempts(&email_key, now - FAILED_LOGIN_WINDOW_MS)
        .await?
        >= MAX_FAILED_LOGINS
    {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait 15 minutes and try again.",
        );
    }
    let user = match EmailAddress::parse(&form.email) {
        Ok(address) => state.store.user_by_email(&address).await?,
        Err(_) => None,
    };
    // The same work whether or not the user exists, so that timing does not tell.
    let verified = match &user {
        Some(user) => auth::verify_password(&form.password, &user.password_hash) && !user.disabled,
        None => {
            auth::verify_password(&form.password, dummy_hash());
            false
        }
    };
    state
        .store
        .record_login_attempt(&email_key, verified, now)
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The email address or the password is not right.",
        );
    };
    let token = auth::new_token();
    state
        .store
        .create_session(&auth::token_hash(&token), user.id, &auth::new_token(), now)
        .await?;
    tracing::info!(user_id = user.id, "logged in");
    Ok((
        [(
            header::SET_COOKIE,
            auth::set_cookie(&token, state.web.secure_cookies),
        )],
        Redirect::to("/"),
    )
        .into_response())
}

/// An argon2 hash of a random password, verified when the address is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&auth::new_token()).unwrap_or_default())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    auth::check_csrf(&user, &form.csrf)?;
    if let Some(token) = auth::session_cookie(&headers) {
        state
            .store
            .delete_session(&auth::token_hash(&token))
            .await?;
    }
    Ok((
        [(
            header::SET_COOKIE,
            auth::set_cookie("", state.web.secure_cookies),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Serialize)]
struct QueueRow {
    thread_id: i64,
    token: String,
    subject: String,
    status: &'static str,
    risk: &'static str,
    risk_label: &'static str,
    language: String,
    country: String,
    auto_kind: &'static str,
    is_auto: bool,
    n_messages: i64,
    sender: String,
    waited: String,
    /// The answer time we aim for at this risk level, and whether it has passed.
    target: String,
    overdue: bool,
    claimed_by: String,
}

/// The queue's filters, from the query string; they survive the page's refresh.
#[derive(Debug, Default, Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    risk: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    country: String,
    /// `mine` or `unclaimed`.
    #[serde(default)]
    claim: String,
    /// 1 for the first page of [`QUEUE_PAGE_SIZE`].
    #[serde(default)]
    page: Option<u32>,
}

/// Rows on one page of the queue.
pub const QUEUE_PAGE_SIZE: i64 = 100;

impl QueueFilter {
    /// What the store lists; `None` when a value names nothing (an unknown risk, say), which
    /// lists no thread rather than all of them.
    fn query(&self, user_id: i64) -> Option<QueueQuery> {
        let nonempty = |value: &str| (!value.is_empty()).then(|| value.to_string());
        Some(QueueQuery {
            status: match self.status.as_str() {
                "" | "closed" => None,
                value => Some(
                    crate::domain::ThreadStatus::parse(value)
                        .filter(|s| *s != crate::domain::ThreadStatus::Closed)?,
                ),
            },
            risk: match self.risk.as_str() {
                "" => None,
                value => Some(crate::domain::Risk::parse(value)?),
            },
            language: nonempty(&self.language),
            country: nonempty(&self.country),
            claim: match self.claim.as_str() {
                "" => None,
                "mine" => Some(ClaimFilter::Mine(user_id)),
                "unclaimed" => Some(ClaimFilter::Unclaimed),
                _ => return None,
            },
        })
    }

    /// Closed threads are listed from the most recent 200 and filtered here.
    fn keeps(&self, entry: &QueueEntry, user_id: i64) -> bool {
        (self.risk.is_empty() || entry.risk.as_str() == self.risk)
            && (self.language.is_empty()
                || entry.language.as_deref() == Some(self.language.as_str()))
            && (self.country.is_empty() || entry.country.as_deref() == Some(self.country.as_str()))
            && match self.claim.as_str() {
                "mine" => entry.claimed_by == Some(user_id),
                "unclaimed" => entry.claimed_by.is_none(),
                _ => true,
            }
    }

    /// The query string of this filter on another page.
    fn href_for_page(&self, page: u32) -> String {
        let page_text = page.to_string();
        let mut pairs: Vec<(&str, &str)> = [
            ("status", &self.status),
            ("risk", &self.risk),
            ("language", &self.language),
            ("country", &self.country),
            ("claim", &self.claim),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key, value.as_str()))
        .collect();
        if page > 1 {
            pairs.push(("page", &page_text));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/".into()
        } else {
            format!("/?{query}")
        }
    }
}

#[derive(Serialize)]
struct FilterLink {
    label: String,
    href: String,
    count: usize,
    active: bool,
}

#[derive(Serialize)]
struct QueuePage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    n_open: usize,
    n_crisis: usize,
    n_shown: usize,
    /// A filter is applied (the empty page says "for this filter").
    filtered: bool,
    /// The rows shown, counted from 1 in the filter's whole list (0 when none).
    first_shown: i64,
    last_shown: i64,
    previous_page: Option<String>,
    next_page: Option<String>,
    filters: Vec<FilterLink>,
    languages: Vec<FilterLink>,
    countries: Vec<FilterLink>,
    rows: Vec<QueueRow>,
    /// The stalled-inbox banner (the layout shows it).
    poll_alert: Option<String>,
}

async fn queue_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    axum::extract::Query(filter): axum::extract::Query<QueueFilter>,
) -> Result<Html<String>, WebError> {
    use crate::domain::{Risk, ThreadStatus};
    let counts = state.queue_counts.get(&state.store).await?;
    let page_number = filter.page.unwrap_or(1).max(1);
    let offset = i64::from(page_number - 1) * QUEUE_PAGE_SIZE;
    // One row more than the page: whether there is a next page.
    let mut listed = if filter.status == "closed" {
        let closed = state.store.closed_threads(200).await?;
        closed
            .into_iter()
            .filter(|entry| filter.keeps(entry, user.id))
            .skip(offset as usize)
            .take(QUEUE_PAGE_SIZE as usize + 1)
            .collect()
    } else {
        match filter.query(user.id) {
            Some(query) => {
                state
                    .store
                    .queue_page(&query, QUEUE_PAGE_SIZE + 1, offset)
                    .await?
            }
            None => Vec::new(),
        }
    };
    let has_next = listed.len() as i64 > QUEUE_PAGE_SIZE;
    listed.truncate(QUEUE_PAGE_SIZE as usize);
    let now = now_ms();
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    let link = |label: &str, query: &str, n: i64, active: bool| FilterLink {
        label: label.to_string(),
        href: if query.is_empty() {
            "/".into()
        } else {
            format!("/?{}", query)
        },
        count: count(n),
        active,
    };
    let is = |value: &str, field: &str| value == field;
    let no_filter = filter.status.is_empty()
        && filter.risk.is_empty()
        && filter.claim.is_empty()
        && filter.language.is_empty()
        && filter.country.is_empty();
    let filters = vec![
        link("All open", "", counts.open, no_filter),
        link(
            "Crisis",
            "risk=crisis",
            counts.risk(Risk::Crisis),
            is(&filter.risk, "crisis"),
        ),
        link(
            "Concern",
            "risk=concern",
            counts.risk(Risk::Concern),
            is(&filter.risk, "concern"),
        ),
        link(
            "Risk unknown",
            "risk=unknown",
            counts.risk(Risk::Unknown),
            is(&filter.risk, "unknown"),
        ),
        link(
            "Unclaimed",
            "claim=unclaimed",
            counts.held_by(None),
            is(&filter.claim, "unclaimed"),
        ),
        link(
            "Mine",
            "claim=mine",
            counts.held_by(Some(user.id)),
            is(&filter.claim, "mine"),
        ),
        link(
            "New",
            "status=new",
            counts.status(ThreadStatus::New),
            is(&filter.status, "new"),
        ),
        link(
            "Claimed",
            "status=claimed",
            counts.status(ThreadStatus::Claimed),
            is(&filter.status, "claimed"),
        ),
        link(
            "Waiting for them",
            "status=waiting",
            counts.status(ThreadStatus::Waiting),
            is(&filter.status, "waiting"),
        ),
        link("Closed", "status=closed", 0, is(&filter.status, "closed")),
    ];
    let code_links = |codes: &[(Option<String>, i64)], key: &str, current: &str| {
        codes
            .iter()
            .filter_map(|(code, n)| {
                let code = code.as_deref()?;
                let query = serde_urlencoded::to_string([(key, code)]).unwrap_or_default();
                Some(link(code, &query, *n, current == code))
            })
            .collect::<Vec<_>>()
    };
    let languages = code_links(&counts.by_language, "language", &filter.language);
    let countries = code_links(&counts.by_country, "country", &filter.country);
    let rows: Vec<QueueRow> = listed
        .iter()
        .map(|entry| queue_row(entry, now, &state.reports.sla))
        .collect();
    let first_shown = if rows.is_empty() { 0 } else { offset + 1 };
    let page = QueuePage {
        title: "Queue",
        refresh: true,
        user: Some(UserView::of(&user)),
        n_open: count(counts.open),
        n_crisis: count(counts.risk(Risk::Crisis)),
        n_shown: rows.len(),
        filtered: !no_filter,
        first_shown,
        last_shown: offset + rows.len() as i64,
        previous_page: (page_number > 1).then(|| filter.href_for_page(page_number - 1)),
        next_page: has_next.then(|| filter.href_for_page(page_number + 1)),
        filters,
        languages,
        countries,
        rows,
        poll_alert: poll_alert(&state).await?,
    };
    Ok(Html(state.templates.render("queue", &page)?))
}

/// How soon a person should hear from a navigator: the answer target of their risk level
/// (`reports.sla`), the same that reports count breaches against.
fn queue_row(entry: &QueueEntry, now: i64, sla: &crate::store::SlaTargets) -> QueueRow {
    let waited_ms = entry.waiting_since.map(|since| now - since).unwrap_or(0);
    let target = sla.for_risk(entry.risk);
    QueueRow {
        thread_id: entry.thread_id,
        token: entry.token.clone(),
        subject: entry.subject.clone(),
        status: entry.status.as_str(),
        risk: entry.risk.as_str(),
        risk_label: entry.risk.label(),
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
        target: human_duration(target),
        overdue: entry.waiting_since.is_some() && waited_ms > target,
        claimed_by: entry.claimed_by_name.clone().unwrap_or_default(),
    }
}
