//! The variables every reply template gets (see `templates/replies/README.md`).

use crate::resources::{Contact, Matched, Resource};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ReplyContext {
    pub sender_name: String,
    pub has_sender_name: bool,
    pub thread_token: String,
    pub reply_window_hours: u32,
    pub navigator_name: String,
    pub has_navigator_name: bool,
    pub service_name: String,
    pub country_known: bool,
    pub country_name: String,
    pub emergency: Vec<ResourceView>,
    pub crisis_lines: Vec<ResourceView>,
    pub resources: Vec<ResourceView>,
    pub international: Vec<ResourceView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    pub name: String,
    pub local_name: String,
    pub organisation: String,
    pub url: String,
    pub contacts: Vec<ContactView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub channel: String,
    pub value: String,
    /// `24/7`, or the schedule with its time zone, e.g. `Mon-Sun 16:00-21:00 (Asia/Tokyo)`.
    pub hours: String,
    /// The IANA time zone of a schedule; `""` for `24/7`.
    pub timezone: String,
    pub is_24_7: bool,
    pub has_hours: bool,
    pub free: bool,
    pub anonymous: bool,
}

impl ResourceView {
    pub fn of(resource: &Resource) -> ResourceView {
        // Templates cannot compare strings: a name that repeats the name is left empty.
        let unless_same = |value: &str| {
            if value.trim() == resource.name.trim() {
                String::new()
            } else {
                value.to_string()
            }
        };
        ResourceView {
            name: resource.name.clone(),
            local_name: unless_same(&resource.local_name),
            organisation: unless_same(&resource.organisation),
            url: resource.source_url.clone(),
            contacts: resource.contacts.iter().map(ContactView::of).collect(),
        }
    }

    /// An emergency record shows only what can be dialled.
    pub fn emergency(resource: &Resource) -> ResourceView {
        let mut view = ResourceView::of(resource);
        view.contacts.retain(|contact| contact.channel == "phone");
        view
    }
}

impl ContactView {
    pub fn of(contact: &Contact) -> ContactView {
        ContactView {
            channel: contact.channel.clone(),
            value: contact.value.clone(),
            hours: contact.hours_label(),
            timezone: contact.timezone.trim().to_string(),
            is_24_7: contact.is_24_7(),
            has_hours: !contact.hours.trim().is_empty(),
            free: contact.free,
            anonymous: contact.anonymous,
        }
    }
}

/// Everything but the person and the thread.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub service_name: String,
    pub reply_window_hours: u32,
}

impl ReplyContext {
    pub fn new(
        service: &ServiceInfo,
        sender_name: Option<&str>,
        thread_token: &str,
        navigator_name: Option<&str>,
        country_name: Option<&str>,
        matched: &Matched,
    ) -> ReplyContext {
        let views =
            |resources: &[Resource]| resources.iter().map(ResourceView::of).collect::<Vec<_>>();
        // A display name is what the person chose to be called; an address local part is not.
        let sender_name = sender_name.map(first_name).unwrap_or_default();
        let navigator_name = navigator_name.unwrap_or_default().trim().to_string();
        ReplyContext {
            has_sender_name: !sender_name.is_empty(),
            sender_name,
            thread_token: thread_token.to_string(),
            reply_window_hours: service.reply_window_hours,
            has_navigator_name: !navigator_name.is_empty(),
            navigator_name,
            service_name: service.service_name.clone(),
            country_known: country_name.is_some(),
            country_name: country_name.unwrap_or_default().to_string(),
            emergency: matched
                .emergency
                .iter()
                .map(ResourceView::emergency)
                .collect(),
            crisis_lines: views(&matched.crisis_lines),
            resources: views(&matched.resources),
            international: views(&matched.international),
        }
    }
}

/// "Ana Silva" -> "Ana"; names that look like addresses or are too long are dropped.
fn first_name(display_name: &str) -> String {
    let cleaned: String = display_name.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_matches('"').trim();
    if cleaned.is_empty() || cleaned.contains('@') || cleaned.chars().count() > 60 {
        return String::new();
    }
    // Names written family-name first (CJK) or with a comma keep their whole form.
    if cleaned.contains(',') || cleaned.chars().any(|c| (c as u32) >= 0x3000) {
        return cleaned.to_string();
    }
    cleaned
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::first_name;

    #[test]
    fn greets_by_first_name() {
        assert_eq!(first_name("Ana Silva"), "Ana");
        assert_eq!(first_name("\"Jonas\""), "Jonas");
        assert_eq!(first_name("someone@example.org"), "");
        assert_eq!(first_name("山田 太郎"), "山田 太郎");
        assert_eq!(first_name(""), "");
    }
}
