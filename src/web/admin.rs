//! Admin pages: users and roles, the resource directory with its stale entries, and the
//! access log (who opened which thread, when).

use super::auth::{check_csrf, hash_password, new_password, require_role, CurrentUser};
use super::{AppState, UserView, WebError};
use crate::clock::now_ms;
use crate::domain::{EmailAddress, Role};
use crate::resources::check::{days_overdue, DUE_SOON_DAYS};
use crate::resources::model::{day_of, Status};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct UserRow {
    id: i64,
    is_me: bool,
    roles: Vec<RoleChoice>,
    email: String,
    display_name: String,
    role: &'static str,
    disabled: bool,
}

#[derive(Serialize)]
struct UsersPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    users: Vec<UserRow>,
    created: String,
    one_time_password: String,
    error: String,
}

async fn users_page(
    state: &AppState,
    user: &CurrentUser,
    created: String,
    one_time_password: String,
    error: String,
) -> Result<Html<String>, WebError> {
    let users = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id,
            is_me: u.id == user.id,
            roles: [Role::Navigator, Role::Coordinator, Role::Admin]
                .into_iter()
                .map(|role| RoleChoice {
                    name: role.as_str(),
                    selected: role == u.role,
                })
                .collect(),
            email: u.email,
            display_name: u.display_name,
            role: u.role.as_str(),
            disabled: u.disabled,
        })
        .collect();
    let page = UsersPage {
        title: "Users",
        refresh: false,
        user: Some(UserView::of(user)),
        users,
        created,
        one_time_password,
        error,
    };
    Ok(Html(state.templates.render("admin_users", &page)?))
}

pub async fn users(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Admin)?;
    users_page(&state, &user, String::new(), String::new(), String::new()).await
}

#[derive(Serialize)]
struct RoleChoice {
    name: &'static str,
    selected: bool,
}

#[derive(Deserialize)]
pub struct UpdateUserForm {
    csrf: String,
    role: String,
    #[serde(default)]
    disabled: Option<String>,
}

/// An admin changes a role or disables an account (its sessions end at once).
pub async fn update_user(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(user_id): Path<i64>,
    Form(form): Form<UpdateUserForm>,
) -> Result<Response, WebError> {
    require_role(&user, Role::Admin)?;
    check_csrf(&user, &form.csrf)?;
    let role = Role::parse(&form.role).ok_or(WebError::Forbidden("unknown role"))?;
    if user_id == user.id && (form.disabled.is_some() || role != Role::Admin) {
        return Err(WebError::Forbidden(
            "you cannot disable yourself or give up your own admin role",
        ));
    }
    if !state.store.users().await?.iter().any(|u| u.id == user_id) {
        return Err(WebError::NotFound);
    }
    state
        .store
        .update_user(user_id, role, form.disabled.is_some(), now_ms())
        .await?;
    tracing::info!(admin_id = user.id, user_id, "user changed");
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    email: String,
    name: String,
    role: String,
}

pub async fn add_user(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Form(form): Form<NewUserForm>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Admin)?;
    check_csrf(&user, &form.csrf)?;
    let (Ok(email), Some(role)) = (EmailAddress::parse(&form.email), Role::parse(&form.role))
    else {
        return users_page(
            &state,
            &user,
            String::new(),
            String::new(),
            "Check the address and the role.".into(),
        )
        .await;
    };
    if state.store.user_by_email(&email).await?.is_some() {
        return users_page(
            &state,
            &user,
            String::new(),
            String::new(),
            "There is already a user with this address.".into(),
        )
        .await;
    }
    let password = new_password();
    let name = if form.name.trim().is_empty() {
        email.local_part().to_string()
    } else {
        form.name.trim().to_string()
    };
    state
        .store
        .create_user(&email, &name, role, &hash_password(&password)?, now_ms())
        .await?;
    tracing::info!(admin_id = user.id, "user created");
    users_page(&state, &user, email.to_string(), password, String::new()).await
}

#[derive(Deserialize, Default)]
pub struct ResourceQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    stale: Option<String>,
}

#[derive(Serialize)]
struct ResourceRow {
    id: String,
    name: String,
    countries: String,
    topics: String,
    status: String,
    verified_at: String,
    verified_by: String,
    stale: bool,
    /// How overdue the re-verification is, in words; `""` when not due.
    overdue: String,
    contacts: String,
}

#[derive(Serialize)]
struct ResourcesPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    q: String,
    stale_only: bool,
    n_total: usize,
    n_stale: usize,
    rows: Vec<ResourceRow>,
}

pub async fn resources(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(query): Query<ResourceQuery>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Coordinator)?;
    let today = day_of(now_ms());
    let directory = state.store.resources().await?;
    let needle = query.q.trim().to_lowercase();
    let stale_only = query.stale.is_some();
    // Due: an active record within `DUE_SOON_DAYS` of the 24-month limit, past it, or never verified.
    let is_due = |r: &crate::resources::Resource| {
        r.status == Status::Active && days_overdue(r, today).is_none_or(|days| days >= 0)
    };
    let mut records: Vec<&crate::resources::Resource> = directory
        .iter()
        .filter(|r| !stale_only || is_due(r))
        .filter(|r| {
            // Two letters are a country code; anything else searches names, ids and topics.
            if needle.len() == 2 && needle.chars().all(|c| c.is_ascii_alphabetic()) {
                return r.countries.iter().any(|c| c.to_lowercase() == needle);
            }
            needle.is_empty()
                || r.id.contains(&needle)
                || r.name.to_lowercase().contains(&needle)
                || r.local_name.to_lowercase().contains(&needle)
                || r.countries.iter().any(|c| c.to_lowercase() == needle)
                || r.topics.iter().any(|t| t.contains(&needle))
        })
        .collect();
    if stale_only {
        // Most overdue first; never verified before everything; crisis lines first among equals.
        records.sort_by_key(|r| {
            (
                std::cmp::Reverse(days_overdue(r, today).unwrap_or(i64::MAX)),
                !(r.is_crisis_line() || r.is_emergency()),
                r.id.clone(),
            )
        });
    }
    let rows: Vec<ResourceRow> = records
        .into_iter()
        .map(|r| ResourceRow {
            id: r.id.clone(),
            name: r.name.clone(),
            countries: r.countries.join(" "),
            topics: r.topics.join(", "),
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            verified_at: r.verified_at.clone(),
            verified_by: r.verified_by.clone(),
            stale: is_due(r),
            overdue: match days_overdue(r, today) {
                None if r.status == Status::Active => "never verified".into(),
                None => String::new(),
                Some(days) if days > DUE_SOON_DAYS => {
                    format!("stale: {} days past 24 months", days - DUE_SOON_DAYS)
                }
                Some(days) if days >= 0 => format!(
                    "due {days} days ago; stale in {} days",
                    DUE_SOON_DAYS - days
                ),
                Some(_) => String::new(),
            },
            contacts: r
                .contacts
                .iter()
                .map(|c| {
                    let hours = c.hours_label();
                    if hours.is_empty() {
                        format!("{} {}", c.channel, c.value)
                    } else {
                        format!("{} {} ({hours})", c.channel, c.value)
                    }
                })
                .collect::<Vec<_>>()
                .join(" · "),
        })
        .collect();
    let page = ResourcesPage {
        title: "Resources",
        refresh: false,
        user: Some(UserView::of(&user)),
        q: query.q.clone(),
        stale_only,
        n_total: directory.len(),
        n_stale: directory.iter().filter(|r| is_due(r)).count(),
        rows,
    };
    Ok(Html(state.templates.render("admin_resources", &page)?))
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    #[serde(default)]
    from_due: Option<String>,
}

/// An admin confirmed the record against its source today.
pub async fn verify_resource(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<VerifyForm>,
) -> Result<Response, WebError> {
    require_role(&user, Role::Admin)?;
    check_csrf(&user, &form.csrf)?;
    let mut resource = state
        .store
        .resources()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(WebError::NotFound)?;
    let now = now_ms();
    let today = crate::web::thread::format_time(now);
    resource.verified_at = today[..10].to_string();
    resource.verified_by = user.display_name.clone();
    resource.verification = format!(
        "checked on source_url by {} in the web app on {}",
        user.display_name,
        &today[..10]
    );
    if resource.status == Status::Unverified {
        resource.status = Status::Active;
    }
    // An active record must pass the same validation as an imported one.
    if resource.validate("the web app").is_err() {
        return Err(WebError::Forbidden("this record lacks a source page, a contact or hours: fix it in the resource file and import it"));
    }
    state
        .store
        .upsert_resources(std::slice::from_ref(&resource), now)
        .await?;
    tracing::info!(admin_id = user.id, "resource verified");
    // Back to where the admin was: the due list when they came from it.
    let back = if form.from_due.is_some() {
        "/admin/resources?stale=1"
    } else {
        "/admin/resources"
    };
    Ok(Redirect::to(back).into_response())
}

#[derive(Serialize)]
struct EditPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    id: String,
    toml: String,
    error: String,
}

/// An admin edits one record as TOML, in the import format, checked by the same validation.
pub async fn edit_resource_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Admin)?;
    let resource = state
        .store
        .resources()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(WebError::NotFound)?;
    let toml = crate::resources::files::to_toml(std::slice::from_ref(&resource))
        .map_err(|error| WebError::Internal(error.into()))?;
    let page = EditPage {
        title: "Edit resource",
        refresh: false,
        user: Some(UserView::of(&user)),
        id,
        toml,
        error: String::new(),
    };
    Ok(Html(state.templates.render("admin_resource_edit", &page)?))
}

#[derive(Deserialize)]
pub struct EditForm {
    csrf: String,
    toml: String,
}

pub async fn edit_resource(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    require_role(&user, Role::Admin)?;
    check_csrf(&user, &form.csrf)?;
    let parsed: Result<crate::resources::files::ResourceFile, String> =
        toml::from_str(&form.toml).map_err(|error| error.to_string());
    let result = parsed.and_then(|file| match file.resource.as_slice() {
        [resource] if resource.id == id => resource
            .validate("the edit form")
            .map(|()| resource.clone())
            .map_err(|error| error.to_string()),
        [_] => Err("the id cannot change; add a new record with an import instead".into()),
        _ => Err("the form must hold exactly one [[resource]]".into()),
    });
    match result {
        Ok(resource) => {
            state
                .store
                .upsert_resources(std::slice::from_ref(&resource), now_ms())
                .await?;
            tracing::info!(admin_id = user.id, "resource edited");
            Ok(Redirect::to("/admin/resources").into_response())
        }
        Err(error) => {
            let page = EditPage {
                title: "Edit resource",
                refresh: false,
                user: Some(UserView::of(&user)),
                id,
                toml: form.toml,
                error,
            };
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                Html(state.templates.render("admin_resource_edit", &page)?),
            )
                .into_response())
        }
    }
}

/// How many access-log entries one page shows; the "Older" link pages on by keyset.
pub const ACCESS_LOG_PAGE_SIZE: i64 = 100;

/// What the web app writes to the access log, for the action filter.
const ACCESS_LOG_ACTIONS: &[&str] = &[
    "open",
    "open html",
    "download attachment",
    "claim",
    "reassign",
    "release",
    "reply",
    "correct",
    "close",
    "mark not a conversation",
    "reopen",
    "read report",
    "read access log",
];

/// The access log's filters, as the URL carries them; empty means any.
#[derive(Deserialize, Default)]
pub struct AccessLogParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    thread: String,
    #[serde(default)]
    action: String,
    /// Inclusive UTC dates, `YYYY-MM-DD`.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// `AT.ID` of the last entry of the page before.
    #[serde(default)]
    before: String,
}

impl AccessLogParams {
    fn parse(&self) -> Result<crate::store::AccessLogQuery, WebError> {
        const DAY: i64 = 86_400_000;
        let id = |text: &str, why: &'static str| -> Result<Option<i64>, WebError> {
            match text.trim().trim_start_matches('#') {
                "" => Ok(None),
                number => number
                    .parse()
                    .map(Some)
                    .map_err(|_| WebError::BadRequest(why)),
            }
        };
        let date = |text: &str, why: &'static str| -> Result<Option<i64>, WebError> {
            match text.trim() {
                "" => Ok(None),
                day => crate::reports::parse_date(day)
                    .map(Some)
                    .ok_or(WebError::BadRequest(why)),
            }
        };
        let from = date(&self.from, "`from` must be a date like 2026-12-01")?;
        let to = date(&self.to, "`to` must be a date like 2026-12-31")?.map(|day| day + DAY);
        if let (Some(from), Some(to)) = (from, to) {
            if from >= to {
                return Err(WebError::BadRequest("`from` must be on or before `to`"));
            }
        }
        let before = match self.before.trim() {
            "" => None,
            cursor => {
                let parsed = cursor
                    .split_once('.')
                    .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)));
                Some(parsed.ok_or(WebError::BadRequest("`before` is not a page of the log"))?)
            }
        };
        let action = self.action.trim();
        Ok(crate::store::AccessLogQuery {
            user_id: id(&self.user, "`user` must be a user id")?,
            thread_id: id(&self.thread, "`thread` must be a thread id")?,
            action: (!action.is_empty()).then(|| action.to_string()),
            from,
            to,
            before,
            // One more than a page, to know whether there is an older one.
            limit: ACCESS_LOG_PAGE_SIZE + 1,
        })
    }
}

/// The filters as a query string, without the page (`before`).
fn access_log_query_string(query: &crate::store::AccessLogQuery) -> String {
    let mut pairs = Vec::new();
    if let Some(user_id) = query.user_id {
        pairs.push(format!("user={user_id}"));
    }
    if let Some(thread_id) = query.thread_id {
        pairs.push(format!("thread={thread_id}"));
    }
    if let Some(action) = &query.action {
        pairs.push(format!("action={}", super::reports::url_encode(action)));
    }
    if let Some(from) = query.from {
        pairs.push(format!("from={}", crate::reports::date_of(from)));
    }
    if let Some(to) = query.to {
        pairs.push(format!("to={}", crate::reports::date_of(to - 1)));
    }
    pairs.join("&")
}

/// What the access log says was read: the log and its filters, like a report's reading.
fn access_log_target(query: &crate::store::AccessLogQuery) -> String {
    let text = |value: Option<i64>| value.map(|n| n.to_string()).unwrap_or_default();
    format!(
        "access log user={} thread={} action={} from={} to={} before={}",
        text(query.user_id),
        text(query.thread_id),
        query.action.as_deref().unwrap_or(""),
        query.from.map(crate::reports::date_of).unwrap_or_default(),
        query
            .to
            .map(|to| crate::reports::date_of(to - 1))
            .unwrap_or_default(),
        query
            .before
            .map(|(at, id)| format!("{at}.{id}"))
            .unwrap_or_default()
    )
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn access_time(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct AccessRow {
    at: String,
    user_id: i64,
    user_name: String,
    user_email: String,
    action: String,
    /// A thread's id and token; report readings have a target instead.
    has_thread: bool,
    thread_id: i64,
    thread_token: String,
    target: String,
}

#[derive(Serialize)]
struct AccessPage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    users: Vec<Choice>,
    actions: Vec<Choice>,
    thread: String,
    from: String,
    to: String,
    rows: Vec<AccessRow>,
    page_size: i64,
    /// Links to the older entries and back to the newest; `""` when there is none.
    older: String,
    newest: String,
}

/// The whole access log for admins: who opened or changed which thread and read which report,
/// newest first. Reading it is itself written to the log.
pub async fn access_log(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Query(params): Query<AccessLogParams>,
) -> Result<Html<String>, WebError> {
    require_role(&user, Role::Admin)?;
    let query = params.parse()?;
    let filters = access_log_query_string(&query);
    state
        .store
        .log_target_access(
            user.id,
            "read access log",
            &access_log_target(&query),
            now_ms(),
        )
        .await?;
    let mut entries = state.store.access_log_entries(&query).await?;
    let has_older = entries.len() as i64 > ACCESS_LOG_PAGE_SIZE;
    entries.truncate(ACCESS_LOG_PAGE_SIZE as usize);
    let link = |extra: String| {
        let parts: Vec<&str> = [filters.as_str(), extra.as_str()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect();
        if parts.is_empty() {
            "/admin/access".to_string()
        } else {
            format!("/admin/access?{}", parts.join("&"))
        }
    };
    let older = match entries.last() {
        Some(last) if has_older => link(format!("before={}.{}", last.at, last.id)),
        _ => String::new(),
    };
    let newest = if query.before.is_some() {
        link(String::new())
    } else {
        String::new()
    };
    let users = std::iter::once(Choice {
        value: String::new(),
        label: "anyone".into(),
        selected: query.user_id.is_none(),
    })
    .chain(state.store.users().await?.into_iter().map(|u| Choice {
        value: u.id.to_string(),
        label: format!("{} ({})", u.display_name, u.email),
        selected: query.user_id == Some(u.id),
    }))
    .collect();
    let mut action_names: Vec<&str> = ACCESS_LOG_ACTIONS.to_vec();
    if let Some(action) = query.action.as_deref() {
        if !action_names.contains(&action) {
            action_names.push(action);
        }
    }
    let actions = std::iter::once(Choice {
        value: String::new(),
        label: "any".into(),
        selected: query.action.is_none(),
    })
    .chain(action_names.into_iter().map(|name| Choice {
        value: name.to_string(),
        label: name.to_string(),
        selected: query.action.as_deref() == Some(name),
    }))
    .collect();
    let rows = entries
        .into_iter()
        .map(|entry| AccessRow {
            at: access_time(entry.at),
            user_id: entry.user_id,
            user_name: entry.user_name,
            user_email: entry.user_email,
            action: entry.action,
            has_thread: entry.thread_id.is_some(),
            thread_id: entry.thread_id.unwrap_or_default(),
            thread_token: entry.thread_token.unwrap_or_default(),
            target: entry.target.unwrap_or_default(),
        })
        .collect();
    let page = AccessPage {
        title: "Access log",
        refresh: false,
        user: Some(UserView::of(&user)),
        users,
        actions,
        thread: query.thread_id.map(|id| id.to_string()).unwrap_or_default(),
        from: query.from.map(crate::reports::date_of).unwrap_or_default(),
        to: query
            .to
            .map(|to| crate::reports::date_of(to - 1))
            .unwrap_or_default(),
        rows,
        page_size: ACCESS_LOG_PAGE_SIZE,
        older,
        newest,
    };
    Ok(Html(state.templates.render("admin_access", &page)?))
}
