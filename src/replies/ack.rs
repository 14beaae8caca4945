//! Acknowledging new conversations: within seconds, in the sender's language, with the
//! crisis line and emergency number of their country (or international options).
//!
//! Loop-safe: never for auto-replies, bounces, list or bulk mail or our own mail; at most one
//! per sender per window (a crisis acknowledgement may follow an ordinary one once). The
//! decision is pure ([`decide`]); [`Acknowledger`] is the glue that queues the mail.

use super::context::{ReplyContext, ServiceInfo};
use super::templates::Templates;
use crate::clock::now_ms;
use crate::domain::{AutoKind, CountryCode, EmailAddress, LanguageCode, MessageId, Risk};
use crate::resources::{match_resources, MatchQuery};
use crate::store::{NewOutboxItem, OutboxItem, Store, ThreadId, ThreadSummary};
use anyhow::Context;
use std::sync::Arc;
use tracing::{info, warn};

pub const KIND_ACKNOWLEDGEMENT: &str = "acknowledgement";
pub const KIND_CRISIS_ACKNOWLEDGEMENT: &str = "crisis_acknowledgement";

/// Whether to acknowledge a new thread, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckDecision {
    Send { kind: &'static str },
    Skip(&'static str),
}

/// Decides about one new thread, given the latest acknowledgement to the same sender within
/// the window.
pub fn decide(
    summary: &ThreadSummary,
    last_in_window: Option<&OutboxItem>,
    our_address: &str,
    enabled: bool,
) -> AckDecision {
    if !enabled {
        return AckDecision::Skip("acknowledgements are turned off");
    }
    if summary.auto_kind != AutoKind::None {
        return AckDecision::Skip("the message was written by a machine");
    }
    let Some(contact) = &summary.contact_email else {
        return AckDecision::Skip("the message has no sender address");
    };
    if contact.eq_ignore_ascii_case(our_address) {
        return AckDecision::Skip("the message came from our own address");
    }
    let kind = if summary.risk == Risk::Crisis {
        KIND_CRISIS_ACKNOWLEDGEMENT
    } else {
        KIND_ACKNOWLEDGEMENT
    };
    match last_in_window {
        None => AckDecision::Send { kind },
        Some(last) if kind == KIND_CRISIS_ACKNOWLEDGEMENT && last.kind == KIND_ACKNOWLEDGEMENT => {
            AckDecision::Send { kind }
        }
        Some(_) => AckDecision::Skip("this sender was acknowledged within the window"),
    }
}

/// A new Message-ID on our domain: `<time.random@domain>`.
pub fn new_message_id(domain: &str) -> MessageId {
    use rand::Rng;
    let random: u64 = rand::thread_rng().gen();
    MessageId::parse(&format!("{}.{random:016x}@{domain}", now_ms()))
        .expect("a generated Message-ID is valid")
}

/// In-Reply-To (the latest inbound message) and References (the first and the latest nine).
pub fn threading_headers(inbound_message_ids: &[String]) -> (Option<String>, Option<String>) {
    let bracket = |id: &String| format!("<{}>", id.trim_start_matches('<').trim_end_matches('>'));
    let in_reply_to = inbound_message_ids.last().map(bracket);
    let mut references: Vec<String> = Vec::new();
    if let Some(first) = inbound_message_ids.first() {
        references.push(bracket(first));
    }
    let start = inbound_message_ids.len().saturating_sub(9).max(1);
    references.extend(inbound_message_ids.iter().skip(start).map(bracket));
    let references = (!references.is_empty()).then(|| references.join(" "));
    (in_reply_to, references)
}

/// The English name of a country, for templates.
pub fn country_name(country: CountryCode) -> Option<&'static str> {
    const NAMES: &str = include_str!("../../data/geo/country_names.tsv");
    NAMES
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .find(|(code, _)| *code == country.as_str())
        .map(|(_, name)| name)
}

pub struct AckSettings {
    pub enabled: bool,
    pub window_ms: i64,
    pub service: ServiceInfo,
    pub from_address: String,
    pub from_name: String,
    pub message_id_domain: String,
}

pub struct Acknowledger {
    store: Arc<dyn Store>,
    templates: Arc<Templates>,
    settings: AckSettings,
    /// Woken when a mail is queued, so the outbox worker sends it at once.
    pub queued: Arc<tokio::sync::Notify>,
}

impl Acknowledger {
    pub fn new(
        store: Arc<dyn Store>,
        templates: Arc<Templates>,
        settings: AckSettings,
        queued: Arc<tokio::sync::Notify>,
    ) -> Acknowledger {
        Acknowledger {
            store,
            templates,
            settings,
            queued,
        }
    }

    pub fn from_settings(
        store: Arc<dyn Store>,
        templates: Arc<Templates>,
        settings: &crate::config::Settings,
        queued: Arc<tokio::sync::Notify>,
    ) -> Acknowledger {
        Acknowledger::new(
            store,
            templates,
            AckSettings {
                enabled: settings.replies.acknowledge,
                window_ms: i64::from(settings.replies.acknowledgement_window_hours) * 3_600_000,
                service: ServiceInfo {
                    service_name: settings.replies.service_name.clone(),
                    reply_window_hours: settings.replies.reply_window_hours,
                },
                from_address: settings.mail.address.clone(),
                from_name: settings.outgoing.from_name.clone(),
                message_id_domain: settings.mail.message_id_domain.clone(),
            },
            queued,
        )
    }

    /// Queues the acknowledgement of a new thread when [`decide`] says so; returns the outbox row.
    pub async fn acknowledge(&self, thread_id: ThreadId) -> anyhow::Result<Option<i64>> {
        let directory = self.store.resources().await?;
        self.acknowledge_with(thread_id, &directory).await
    }

    /// Acknowledges the new threads of one ingested batch, reading the resource directory
    /// once for all of them. A thread whose acknowledgement fails is logged and skipped
    /// (`acknowledge_pending` catches up); returns how many were queued.
    pub async fn acknowledge_batch(&self, thread_ids: &[ThreadId]) -> anyhow::Result<usize> {
        if thread_ids.is_empty() {
            return Ok(0);
        }
        let directory = self.store.resources().await?;
        let mut n_queued = 0;
        for &thread_id in thread_ids {
            match self.acknowledge_with(thread_id, &directory).await {
                Ok(queued) => n_queued += usize::from(queued.is_some()),
                Err(error) => warn!(
                    thread_id,
                    error = format!("{error:#}"),
                    "acknowledgement not queued"
                ),
            }
        }
        Ok(n_queued)
    }

    async fn acknowledge_with(
        &self,
        thread_id: ThreadId,
        directory: &[crate::resources::Resource],
    ) -> anyhow::Result<Option<i64>> {
        let summary = self
            .store
            .thread_summary(thread_id)
            .await?
            .with_context(|| format!("thread {thread_id} vanished"))?;
        let now = now_ms();
        let last = match summary.contact_email.as_deref().map(EmailAddress::parse) {
            Some(Ok(address)) => {
                self.store
                    .last_acknowledgement_to(&address, now - self.settings.window_ms)
                    .await?
            }
            _ => None,
        };
        let kind = match decide(
            &summary,
            last.as_ref(),
            &self.settings.from_address,
            self.settings.enabled,
        ) {
            AckDecision::Send { kind } => kind,
            AckDecision::Skip(reason) => {
                info!(thread_id, reason, "no acknowledgement");
                return Ok(None);
            }
        };
        let to = EmailAddress::parse(summary.contact_email.as_deref().unwrap_or_default())
            .context("the sender's address")?;
        let country = summary
            .country
            .as_deref()
            .and_then(|c| CountryCode::parse(c).ok());
        let language = summary
            .language
            .as_deref()
            .and_then(|l| LanguageCode::parse(l).ok());
        let matched = match_resources(
            directory,
            &MatchQuery {
                country,
                region: None,
                language: language.clone(),
                topics: Vec::new(),
                risk: summary.risk,
                today: crate::resources::model::day_of(now),
            },
        );
        if !matched.stale.is_empty() {
            warn!(
                thread_id,
                n_stale = matched.stale.len(),
                "resources left out: not verified within 24 months"
            );
        }
        let context = ReplyContext::new(
            &self.settings.service,
            summary.contact_name.as_deref(),
            &summary.token,
            None,
            country.and_then(country_name),
            &matched,
        );
        let rendered =
            self.templates
                .render(kind, language.as_ref().map(LanguageCode::as_str), &context)?;
        let (in_reply_to, references) = threading_headers(&summary.inbound_message_ids);
        let from = super::from_header(&self.settings.from_name, &self.settings.from_address);
        let id = self
            .store
            .enqueue_outbox(&NewOutboxItem {
                thread_id,
                kind: kind.to_string(),
                to_address: to,
                from_address: from,
                subject: rendered.subject,
                body_text: rendered.text,
                message_id: new_message_id(&self.settings.message_id_domain),
                in_reply_to,
                references_header: references,
                auto_submitted: true,
                language: Some(rendered.language),
                template: Some(kind.to_string()),
                template_note: rendered.note,
                created_at: now,
                sent_by: None,
            })
            .await?;
        self.queued.notify_one();
        info!(thread_id, outbox_id = id, kind, "acknowledgement queued");
        Ok(Some(id))
    }

    /// Queues acknowledgements that a crash kept from being queued (threads of the last hour).
    pub async fn acknowledge_pending(&self) -> anyhow::Result<usize> {
        let since = now_ms() - 3_600_000;
        let mut n = 0;
        let threads = self.store.threads_awaiting_acknowledgement(since).await?;
        if threads.is_empty() {
            return Ok(0);
        }
        let directory = self.store.resources().await?;
        for thread_id in threads {
            n += usize::from(
                self.acknowledge_with(thread_id, &directory)
                    .await?
                    .is_some(),
            );
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(risk: Risk, auto_kind: AutoKind) -> ThreadSummary {
        ThreadSummary {
            thread_id: 1,
            token: "K7Q2M".into(),
            subject: "help".into(),
            contact_email: Some("ana@example.org".into()),
            contact_name: Some("Ana".into()),
            risk,
            language: Some("pt".into()),
            country: Some("BR".into()),
            auto_kind,
            created_at: 0,
            inbound_message_ids: vec!["a@x".into()],
            status: crate::domain::ThreadStatus::New,
            last_inbound_at: 0,
            claimed_by: None,
            claimed_by_name: None,
            claim_expires_at: None,
            purged_at: None,
        }
    }

    fn sent(kind: &str) -> OutboxItem {
        OutboxItem {
            id: 1,
            thread_id: 1,
            kind: kind.into(),
            to_address: "ana@example.org".into(),
            from_address: String::new(),
            subject: String::new(),
            body_text: String::new(),
            message_id: "m@x".into(),
            in_reply_to: None,
            references_header: None,
            auto_submitted: true,
            language: None,
            template: None,
            template_note: None,
            status: "sent".into(),
            attempts: 1,
            next_attempt_at: 0,
            last_error: None,
            created_at: 0,
            sent_at: Some(0),
            bounced_at: None,
            purged_at: None,
        }
    }

    #[test]
    fn loop_safety_and_crisis_first() {
        let us = "help@concierge.example.org";
        assert_eq!(
            decide(&summary(Risk::None, AutoKind::None), None, us, true),
            AckDecision::Send {
                kind: KIND_ACKNOWLEDGEMENT
            }
        );
        assert_eq!(
            decide(&summary(Risk::Crisis, AutoKind::None), None, us, true),
            AckDecision::Send {
                kind: KIND_CRISIS_ACKNOWLEDGEMENT
            }
        );
        for auto in [
            AutoKind::AutoReply,
            AutoKind::Bounce,
            AutoKind::Bulk,
            AutoKind::Own,
        ] {
            assert!(
                matches!(
                    decide(&summary(Risk::Crisis, auto), None, us, true),
                    AckDecision::Skip(_)
                ),
                "{auto:?}"
            );
        }
        let ack = sent(KIND_ACKNOWLEDGEMENT);
        assert!(matches!(
            decide(&summary(Risk::None, AutoKind::None), Some(&ack), us, true),
            AckDecision::Skip(_)
        ));
        assert_eq!(
            decide(&summary(Risk::Crisis, AutoKind::None), Some(&ack), us, true),
            AckDecision::Send {
                kind: KIND_CRISIS_ACKNOWLEDGEMENT
            }
        );
        let crisis_ack = sent(KIND_CRISIS_ACKNOWLEDGEMENT);
        assert!(matches!(
            decide(
                &summary(Risk::Crisis, AutoKind::None),
                Some(&crisis_ack),
                us,
                true
            ),
            AckDecision::Skip(_)
        ));
        assert!(matches!(
            decide(&summary(Risk::None, AutoKind::None), None, us, false),
            AckDecision::Skip(_)
        ));
    }

    #[test]
    fn replies_thread_onto_the_conversation() {
        let ids: Vec<String> = (0..12).map(|i| format!("m{i}@x")).collect();
        let (in_reply_to, references) = threading_headers(&ids);
        assert_eq!(in_reply_to.as_deref(), Some("<m11@x>"));
        let references = references.unwrap();
        assert!(references.starts_with("<m0@x> <m3@x>"), "{references}");
        assert_eq!(references.split(' ').count(), 10);
        assert_eq!(threading_headers(&[]), (None, None));
    }

    #[test]
    fn message_ids_are_ours_and_unique() {
        let a = new_message_id("concierge.example.org");
        let b = new_message_id("concierge.example.org");
        assert_ne!(a, b);
        assert!(a.as_str().ends_with("@concierge.example.org"));
    }
}
