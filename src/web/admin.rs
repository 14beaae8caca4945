//! Admin pages: users and roles, and the resource directory with its stale entries.

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
