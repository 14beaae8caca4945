//! What navigators do on a thread: claim, compose from a template with matched resources,
//! preview, send through the outbox, add notes, close and reopen.

use super::auth::{check_csrf, require_role, CurrentUser};
use super::{AppState, UserView, WebError};
use crate::clock::now_ms;
use crate::domain::{CountryCode, EmailAddress, LanguageCode, Role, ThreadStatus};
use crate::replies::ack::{country_name, new_message_id, threading_headers};
use crate::replies::context::ReplyContext;
use crate::resources::{match_resources, MatchQuery};
use crate::store::{ClaimOutcome, Draft, NewOutboxItem};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

/// A claim lasts this long without activity; any action on the thread renews it.
pub const CLAIM_LEASE_MS: i64 = 30 * 60_000;

/// Reply templates a navigator can start from.
pub const REPLY_TEMPLATES: &[&str] = &["resources", "follow_up", "closing"];

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub struct ClaimForm {
    csrf: String,
    /// A coordinator may take a thread from someone else.
    #[serde(default)]
    force: Option<String>,
}

pub async fn claim(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<ClaimForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    let force = form.force.is_some();
    if force {
        require_role(&user, Role::Coordinator)?;
    }
    super::existing_thread(&state, thread_id).await?;
    match state
        .store
        .claim_thread(thread_id, user.id, now_ms(), CLAIM_LEASE_MS, force)
        .await?
    {
        ClaimOutcome::Claimed => {
            state
                .store
                .log_access(
                    user.id,
                    thread_id,
                    if force { "reassign" } else { "claim" },
                    now_ms(),
                )
                .await?;
            Ok(Redirect::to(&format!("/threads/{thread_id}")).into_response())
        }
        ClaimOutcome::HeldBy(_) => Err(WebError::Conflict(
            "another navigator holds this conversation",
        )),
    }
}

pub async fn release(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    state.store.release_thread(thread_id, user.id).await?;
    state
        .store
        .log_access(user.id, thread_id, "release", now_ms())
        .await?;
    Ok(Redirect::to(&format!("/threads/{thread_id}")).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    let (status, action) = match form.status.as_str() {
        "closed" => (ThreadStatus::Closed, "close"),
        // Spam and mail that is not a conversation leave the queue, with a note saying why.
        "spam" => (ThreadStatus::Closed, "mark not a conversation"),
        "new" => (ThreadStatus::New, "reopen"),
        _ => return Err(WebError::Forbidden("unknown status")),
    };
    super::existing_thread(&state, thread_id).await?;
    state
        .store
        .set_thread_status(thread_id, status, now_ms())
        .await?;
    // Spam leaves the reports; reopening brings a thread back into them.
    if form.status == "spam" || form.status == "new" {
        state
            .store
            .set_thread_excluded(thread_id, form.status == "spam", now_ms())
            .await?;
    }
    if form.status == "spam" {
        state
            .store
            .add_note(
                thread_id,
                user.id,
                "Marked as spam / not a conversation.",
                now_ms(),
            )
            .await?;
    }
    state
        .store
        .log_access(user.id, thread_id, action, now_ms())
        .await?;
    Ok(Redirect::to(&format!("/threads/{thread_id}")).into_response())
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    body: String,
}

pub async fn add_note(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    super::existing_thread(&state, thread_id).await?;
    if !form.body.trim().is_empty() {
        state
            .store
            .add_note(thread_id, user.id, form.body.trim(), now_ms())
            .await?;
    }
    Ok(Redirect::to(&format!("/threads/{thread_id}#notes")).into_response())
}

#[derive(Deserialize)]
pub struct ComposeQuery {
    template: Option<String>,
    language: Option<String>,
}

#[derive(Serialize)]
struct TemplateChoice {
    name: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct ComposePage {
    title: &'static str,
    refresh: bool,
    user: Option<UserView>,
    thread_id: i64,
    token: String,
    to: String,
    subject: String,
    body: String,
    template: String,
    language: String,
    languages: Vec<String>,
    templates: Vec<TemplateChoice>,
    seen_last_inbound_at: i64,
    note: String,
    warning: String,
    preview: bool,
    preview_headers: String,
    held_by_other: String,
    /// The searchable list of resources to insert.
    picker: Vec<PickerRow>,
    resource_query: String,
}

#[derive(Serialize)]
struct PickerRow {
    id: String,
    name: String,
    countries: String,
    detail: String,
}

/// Active, verified resources for the picker: by default the thread's country and the
/// international ones; with a query, any record whose name, id, country or topic matches.
async fn picker(
    state: &AppState,
    summary: &crate::store::ThreadSummary,
    query: &str,
) -> Result<Vec<PickerRow>, WebError> {
    let today = crate::resources::model::day_of(now_ms());
    let needle = query.trim().to_lowercase();
    let country = summary.country.clone().unwrap_or_default();
    Ok(state
        .store
        .resources()
        .await?
        .into_iter()
        .filter(|r| r.is_fresh(today))
        .filter(|r| {
            if needle.is_empty() {
                r.is_international() || r.countries.contains(&country)
            } else {
                r.name.to_lowercase().contains(&needle)
                    || r.local_name.to_lowercase().contains(&needle)
                    || r.id.contains(&needle)
                    || r.countries.iter().any(|c| c.to_lowercase() == needle)
                    || r.topics.iter().any(|t| t.contains(&needle))
            }
        })
        .take(40)
        .map(|r| PickerRow {
            detail: resource_snippet(&r),
            id: r.id,
            name: r.name,
            countries: r.countries.join(" "),
        })
        .collect())
}

/// A resource as plain text for a reply: name, contacts with hours, page.
fn resource_snippet(resource: &crate::resources::Resource) -> String {
    let mut lines = vec![
        if resource.local_name.is_empty() || resource.local_name == resource.name {
            resource.name.clone()
        } else {
            format!("{} ({})", resource.name, resource.local_name)
        },
    ];
    if resource.is_for_a_group() {
        // Never offered on its own as the crisis line (matching), so say whom it is for.
        lines.push(format!("  only for: {}", resource.audience.join(", ")));
    }
    for contact in &resource.contacts {
        let hours = contact.hours_label();
        let hours = if hours.is_empty() {
            String::new()
        } else {
            format!(", {hours}")
        };
        lines.push(format!("  {}: {}{hours}", contact.channel, contact.value));
    }
    if !resource.source_url.is_empty() {
        lines.push(format!("  {}", resource.source_url));
    }
    lines.join("\n")
}

/// Renders a template for a thread with the resources matched to it.
async fn render_for_thread(
    state: &AppState,
    user: &CurrentUser,
    summary: &crate::store::ThreadSummary,
    template: &str,
    language: Option<&str>,
) -> Result<crate::replies::templates::Rendered, WebError> {
    let country = summary
        .country
        .as_deref()
        .and_then(|c| CountryCode::parse(c).ok());
    let sender_language = summary
        .language
        .as_deref()
        .and_then(|l| LanguageCode::parse(l).ok());
    let directory = state.store.resources().await?;
    let matched = match_resources(
        &directory,
        &MatchQuery {
            country,
            region: None,
            language: sender_language,
            topics: Vec::new(),
            risk: summary.risk,
            today: crate::resources::model::day_of(now_ms()),
        },
    );
    let context = ReplyContext::new(
        &state.compose.service,
        summary.contact_name.as_deref(),
        &summary.token,
        Some(&user.display_name),
        country.and_then(country_name),
        &matched,
    );
    state
        .replies
        .render(template, language.or(summary.language.as_deref()), &context)
        .map_err(|error| WebError::Internal(error.into()))
}

pub async fn compose_page(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Query(query): Query<ComposeQuery>,
) -> Result<Html<String>, WebError> {
    let summary = super::existing_thread(&state, thread_id).await?;
    let draft = if query.template.is_none() && query.language.is_none() {
        state.store.draft(thread_id, user.id).await?
    } else {
        None
    };
    let template = query
        .template
        .filter(|t| REPLY_TEMPLATES.contains(&t.as_str()))
        .unwrap_or_else(|| "resources".into());
    let (subject, body, language, note) = match draft {
        Some(draft) => (
            draft.subject,
            draft.body_text,
            draft.language.unwrap_or_default(),
            "Your saved draft.".to_string(),
        ),
        None => {
            let rendered = render_for_thread(
                &state,
                &user,
                &summary,
                &template,
                query.language.as_deref(),
            )
            .await?;
            (
                rendered.subject,
                rendered.text,
                rendered.language,
                rendered.note.unwrap_or_default(),
            )
        }
    };
    let picker = picker(&state, &summary, "").await?;
    let page = compose_view(
        &state,
        &user,
        &summary,
        subject,
        body,
        template,
        language,
        note,
        String::new(),
        false,
        picker,
        String::new(),
    );
    Ok(Html(state.templates.render("compose", &page)?))
}

#[allow(clippy::too_many_arguments)]
fn compose_view(
    state: &AppState,
    user: &CurrentUser,
    summary: &crate::store::ThreadSummary,
    subject: String,
    body: String,
    template: String,
    language: String,
    note: String,
    warning: String,
    preview: bool,
    picker: Vec<PickerRow>,
    resource_query: String,
) -> ComposePage {
    let (in_reply_to, references) = threading_headers(&summary.inbound_message_ids);
    let held_by_other = match (summary.claimed_by, summary.claim_expires_at) {
        (Some(holder), Some(expires)) if holder != user.id && expires > now_ms() => {
            summary.claimed_by_name.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    ComposePage {
        title: "Reply",
        refresh: false,
        user: Some(UserView::of(user)),
        thread_id: summary.thread_id,
        token: summary.token.clone(),
        to: summary.contact_email.clone().unwrap_or_default(),
        preview_headers: format!(
            "From: {}\nTo: {}\nSubject: {}\nIn-Reply-To: {}\nReferences: {}",
            state.compose.from(),
            summary.contact_email.clone().unwrap_or_default(),
            crate::mail::parse::unfold(&subject),
            in_reply_to.unwrap_or_default(),
            references.unwrap_or_default()
        ),
        subject,
        body,
        templates: REPLY_TEMPLATES
            .iter()
            .map(|name| TemplateChoice {
                name,
                selected: *name == template,
            })
            .collect(),
        template,
        language,
        languages: state.replies.languages(),
        seen_last_inbound_at: summary.last_inbound_at,
        note,
        warning,
        preview,
        held_by_other,
        picker,
        resource_query,
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    csrf: String,
    subject: String,
    body: String,
    template: String,
    language: String,
    seen_last_inbound_at: i64,
    /// `preview`, `send`, `search` (the resource list) or `insert:<resource id>`.
    action: String,
    #[serde(default)]
    resource_query: String,
}

pub async fn send(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<SendForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    let summary = super::existing_thread(&state, thread_id).await?;
    let now = now_ms();
    let subject = crate::mail::parse::unfold(&form.subject);
    let mut body = form.body.replace("\r\n", "\n");
    // Inserting a resource appends it to the message, where the navigator can move or cut it.
    if let Some(id) = form.action.strip_prefix("insert:") {
        let today = crate::resources::model::day_of(now);
        let resource = state
            .store
            .resources()
            .await?
            .into_iter()
            .find(|r| r.id == id && r.is_fresh(today))
            .ok_or(WebError::NotFound)?;
        body = format!("{}\n\n{}\n", body.trim_end(), resource_snippet(&resource));
    }
    let picker_rows = picker(&state, &summary, &form.resource_query).await?;
    state
        .store
        .save_draft(
            thread_id,
            user.id,
            &Draft {
                subject: subject.clone(),
                body_text: body.clone(),
                template: Some(form.template.clone()),
                language: Some(form.language.clone()),
                updated_at: now,
            },
        )
        .await?;
    let rerender = |warning: String,
                    preview: bool,
                    summary: &crate::store::ThreadSummary|
     -> Result<Response, WebError> {
        let page = compose_view(
            &state,
            &user,
            summary,
            subject.clone(),
            body.clone(),
            form.template.clone(),
            form.language.clone(),
            String::new(),
            warning,
            preview,
            picker_rows,
            form.resource_query.clone(),
        );
        Ok(Html(state.templates.render("compose", &page)?).into_response())
    };
    if form.action != "send" {
        return rerender(String::new(), form.action == "preview", &summary);
    }
    if summary.last_inbound_at != form.seen_last_inbound_at {
        return rerender(
            "A new message arrived after you opened this reply. Read it, then send again.".into(),
            false,
            &summary,
        );
    }
    // Sending needs the claim: nobody answers a conversation someone else is working on.
    if let ClaimOutcome::HeldBy(holder) = state
        .store
        .claim_thread(thread_id, user.id, now, CLAIM_LEASE_MS, false)
        .await?
    {
        return rerender(
            format!("{holder} is working on this conversation."),
            false,
            &summary,
        );
    }
    let Some(to) = summary
        .contact_email
        .as_deref()
        .and_then(|a| EmailAddress::parse(a).ok())
    else {
        return rerender(
            "This conversation has no address to reply to.".into(),
            false,
            &summary,
        );
    };
    if subject.is_empty() || body.trim().is_empty() {
        return rerender(
            "The subject and the message must not be empty.".into(),
            false,
            &summary,
        );
    }
    let subject_to_send = if subject.contains(&format!("[#{}]", summary.token)) {
        subject.clone()
    } else {
        format!("{subject} [#{}]", summary.token)
    };
    let (in_reply_to, references) = threading_headers(&summary.inbound_message_ids);
    let queued = state
        .store
        .enqueue_reply(
            &NewOutboxItem {
                thread_id,
                kind: "reply".into(),
                to_address: to,
                from_address: state.compose.from(),
                subject: subject_to_send,
                body_text: body.clone(),
                message_id: new_message_id(&state.compose.message_id_domain),
                in_reply_to,
                references_header: references,
                auto_submitted: false,
                language: Some(form.language.clone()),
                template: Some(form.template.clone()),
                template_note: None,
                created_at: now,
                sent_by: Some(user.id),
            },
            form.seen_last_inbound_at,
        )
        .await?;
    match queued {
        Some(outbox_id) => {
            state.queued.notify_one();
            state
                .store
                .log_access(user.id, thread_id, "reply", now)
                .await?;
            tracing::info!(thread_id, outbox_id, user_id = user.id, "reply queued");
            Ok(Redirect::to(&format!("/threads/{thread_id}")).into_response())
        }
        None => {
            let fresh = super::existing_thread(&state, thread_id).await?;
            rerender(
                "A new message arrived after you opened this reply. Read it, then send again."
                    .into(),
                false,
                &fresh,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    csrf: String,
    field: String,
    value: String,
}

/// A navigator corrects the language, country or risk of a thread.
pub async fn correct(
    State(state): State<AppState>,
    Extension(user): Extension<CurrentUser>,
    Path(thread_id): Path<i64>,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, WebError> {
    check_csrf(&user, &form.csrf)?;
    super::existing_thread(&state, thread_id).await?;
    let value = form.value.trim();
    let correction = match form.field.as_str() {
        "language" => crate::store::Correction::Language(
            LanguageCode::parse(value).map_err(|_| WebError::Forbidden("not a language code"))?,
        ),
        "country" => crate::store::Correction::Country(
            CountryCode::parse(value).map_err(|_| WebError::Forbidden("not a country code"))?,
        ),
        // "Risk unknown" is what triage says when it could not read a language; a navigator
        // who has read the message says what the risk is.
        "risk" => crate::store::Correction::Risk(
            crate::domain::Risk::parse(value)
                .filter(|risk| *risk != crate::domain::Risk::Unknown)
                .ok_or(WebError::Forbidden("not a risk level"))?,
        ),
        _ => return Err(WebError::Forbidden("unknown field")),
    };
    state
        .store
        .correct_thread(thread_id, user.id, &correction, now_ms())
        .await?;
    state
        .store
        .log_access(user.id, thread_id, "correct", now_ms())
        .await?;
    Ok(Redirect::to(&format!("/threads/{thread_id}")).into_response())
}
