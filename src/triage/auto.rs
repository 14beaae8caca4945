//! Mail written by machines: auto-replies, bounces, bulk and list mail, and our own mail come
//! back (RFC 3834, RFC 3464, RFC 2369/2919). Such mail never gets an acknowledgement.

use super::{Detected, Evidence, TriageConfig};
use crate::domain::AutoKind;
use crate::mail::ParsedMessage;

/// Subject starts of out-of-office and automatic replies, lowercase, in the languages we serve.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "away from the office",
    "on vacation",
    "vacation reply",
    "i am away",
    "i'm away",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesend",
    "nicht im büro",
    "réponse automatique",
    "absence du bureau",
    "absent du bureau",
    "message d'absence",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "ausente",
    "resposta automática",
    "resposta automatica",
    "ausência",
    "fora do escritório",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "assenza",
    "automatisch antwoord",
    "afwezig",
    "afwezigheid",
    "frånvaro",
    "autosvar",
    "automatiskt svar",
    "automatisk svar",
    "fraværende",
    "fravær",
    "automatyczna odpowiedź",
    "poza biurem",
    "nieobecność",
    "автоответ",
    "автоматический ответ",
    "автоматична відповідь",
    "нет на месте",
    "otomatik yanıt",
    "otomatik cevap",
    "ofis dışında",
    "自動返信",
    "自動応答",
    "不在通知",
    "不在のお知らせ",
    "自动回复",
    "自動回覆",
    "自動回复",
    "자동 응답",
    "자동응답",
    "부재중",
    "부재 중",
    "رد تلقائي",
    "رد آلي",
    "automaattinen vastaus",
    "poissa toimistolta",
    "automatikus válasz",
    "házon kívül",
    "automatická odpověď",
    "mimo kancelář",
    "răspuns automat",
    "αυτόματη απάντηση",
    "תשובה אוטומטית",
    "balasan otomatis",
    "trả lời tự động",
    "ตอบกลับอัตโนมัติ",
];

/// Subject starts of delivery failure reports, lowercase.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail",
    "undeliverable",
    "delivery status notification",
    "mail delivery failed",
    "delivery failure",
    "failure notice",
    "returned mail",
    "mail delivery failure",
    "delivery has failed",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "échec de la remise",
    "no se puede entregar",
    "no entregado",
    "não entregue",
    "mensagem não entregue",
    "non recapitabile",
    "onbestelbaar",
    "kunde inte levereras",
    "не доставлено",
    "недоставленное сообщение",
    "配信不能",
    "未送达",
    "退信",
    "배달 실패",
];

/// Classifies a message as written by a person or by a machine, with the evidence.
pub fn detect(message: &ParsedMessage, config: &TriageConfig) -> Detected<AutoKind> {
    let mut evidence = Vec::new();
    let verdict = |kind: AutoKind, confidence: f64, evidence: Vec<Evidence>| Detected {
        value: kind,
        confidence,
        evidence,
    };

    // Our own mail, come back to us (a loop through a forwarder, or a copy).
    if let Some(message_id) = &message.message_id {
        let domain = message_id
            .as_str()
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase());
        if domain.as_deref() == Some(config.message_id_domain.as_str()) {
            evidence.push(Evidence::new(
                "message-id",
                "our own Message-ID domain",
                1.0,
            ));
            return verdict(AutoKind::Own, 1.0, evidence);
        }
    }
    if message.header("x-concierge-loop").is_some() {
        evidence.push(Evidence::new("header", "X-Concierge-Loop", 1.0));
        return verdict(AutoKind::Own, 1.0, evidence);
    }

    // Bounces (delivery status notifications).
    let subject = message.subject.trim().to_lowercase();
    if message.content_type == "multipart/report"
        && message.report_type.as_deref() == Some("delivery-status")
    {
        evidence.push(Evidence::new(
            "content-type",
            "multipart/report; report-type=delivery-status",
            1.0,
        ));
        return verdict(AutoKind::Bounce, 1.0, evidence);
    }
    let from_local = message
        .from
        .as_ref()
        .map(|from| from.local_part().to_ascii_lowercase())
        .unwrap_or_default();
    let null_sender = message
        .return_path
        .as_deref()
        .is_some_and(|path| path.trim().is_empty());
    let bounce_subject = BOUNCE_SUBJECTS
        .iter()
        .find(|start| subject.starts_with(*start));
    if matches!(from_local.as_str(), "mailer-daemon" | "postmaster") {
        evidence.push(Evidence::new(
            "from",
            format!("sender is {from_local}"),
            0.9,
        ));
        return verdict(AutoKind::Bounce, 0.9, evidence);
    }
    if let Some(start) = bounce_subject {
        if null_sender || message.content_type == "multipart/report" {
            evidence.push(Evidence::new(
                "subject",
                format!("starts with {start:?}"),
                0.6,
            ));
            evidence.push(Evidence::new("return-path", "null sender or report", 0.3));
            return verdict(AutoKind::Bounce, 0.9, evidence);
        }
    }

    // Automatic replies (RFC 3834 and the de-facto headers).
    if let Some(value) = message.header("auto-submitted") {
        let value = value.trim().to_ascii_lowercase();
        if !value.starts_with("no") {
            evidence.push(Evidence::new(
                "header",
                format!("Auto-Submitted: {value}"),
                1.0,
            ));
            return verdict(AutoKind::AutoReply, 1.0, evidence);
        }
    }
    for header in ["x-autoreply", "x-autorespond", "x-autoresponder"] {
        if message.header(header).is_some() {
            evidence.push(Evidence::new("header", header, 0.95));
            return verdict(AutoKind::AutoReply, 0.95, evidence);
        }
    }
    let precedence = message
        .header("precedence")
        .map(|p| p.trim().to_ascii_lowercase());
    if precedence.as_deref() == Some("auto_reply") {
        evidence.push(Evidence::new("header", "Precedence: auto_reply", 0.95));
        return verdict(AutoKind::AutoReply, 0.95, evidence);
    }

    // Bulk and list mail.
    for header in ["list-id", "list-unsubscribe", "list-post"] {
        if message.header(header).is_some() {
            evidence.push(Evidence::new("header", header, 0.95));
            return verdict(AutoKind::Bulk, 0.95, evidence);
        }
    }
    if let Some(precedence) = precedence.as_deref() {
        if matches!(precedence, "bulk" | "list" | "junk") {
            evidence.push(Evidence::new(
                "header",
                format!("Precedence: {precedence}"),
                0.9,
            ));
            return verdict(AutoKind::Bulk, 0.9, evidence);
        }
    }

    // Weaker signals of an automatic reply.
    let subject_without_prefixes = super::language::strip_reply_prefixes(&subject).to_string();
    if let Some(start) = AUTO_REPLY_SUBJECTS
        .iter()
        .find(|start| subject.starts_with(*start) || subject_without_prefixes.starts_with(*start))
    {
        evidence.push(Evidence::new(
            "subject",
            format!("starts with {start:?}"),
            0.8,
        ));
        return verdict(AutoKind::AutoReply, 0.8, evidence);
    }
    if message.header("x-auto-response-suppress").is_some()
        && message.header("in-reply-to").is_some()
        && subject.contains(':')
    {
        evidence.push(Evidence::new(
            "header",
            "X-Auto-Response-Suppress on a reply",
            0.6,
        ));
        return verdict(AutoKind::AutoReply, 0.6, evidence);
    }
    if null_sender {
        // RFC 3834 asks automatic responders to use the null sender; people never do.
        evidence.push(Evidence::new("return-path", "null sender <>", 0.6));
        return verdict(AutoKind::AutoReply, 0.6, evidence);
    }
    verdict(AutoKind::None, 0.9, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TriageConfig {
        TriageConfig {
            languages: Vec::new(),
            message_id_domain: "concierge.example.org".into(),
            classifier: crate::triage::classifier::ClassifierUse::Decide,
        }
    }

    fn message(headers: &[(&str, &str)], subject: &str) -> ParsedMessage {
        ParsedMessage {
            subject: subject.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            content_type: "text/plain".into(),
            ..ParsedMessage::default()
        }
    }

    #[test]
    fn classifies_machine_mail() {
        let cases: Vec<(ParsedMessage, AutoKind)> = vec![
            (
                message(&[("auto-submitted", "auto-replied")], "Re: help"),
                AutoKind::AutoReply,
            ),
            (
                message(&[("auto-submitted", "no")], "Re: help"),
                AutoKind::None,
            ),
            (
                message(&[("x-autoreply", "yes")], "hello"),
                AutoKind::AutoReply,
            ),
            (
                message(&[("precedence", "auto_reply")], "hello"),
                AutoKind::AutoReply,
            ),
            (
                message(&[], "Abwesenheitsnotiz: Ihre Nachricht"),
                AutoKind::AutoReply,
            ),
            (
                message(&[], "RE: Réponse automatique : votre message"),
                AutoKind::AutoReply,
            ),
            (message(&[], "自動返信: お問い合わせ"), AutoKind::AutoReply),
            (
                message(
                    &[("list-id", "<news.example.org>")],
                    "Our November newsletter",
                ),
                AutoKind::Bulk,
            ),
            (message(&[("precedence", "bulk")], "Offers"), AutoKind::Bulk),
            (
                message(&[], "I am out of ideas, please help"),
                AutoKind::None,
            ),
        ];
        for (parsed, expected) in cases {
            assert_eq!(
                detect(&parsed, &config()).value,
                expected,
                "subject {:?}",
                parsed.subject
            );
        }
    }

    #[test]
    fn recognises_bounces_and_our_own_mail() {
        let mut report = message(&[], "Undelivered Mail Returned to Sender");
        report.content_type = "multipart/report".into();
        report.report_type = Some("delivery-status".into());
        assert_eq!(detect(&report, &config()).value, AutoKind::Bounce);

        let mut daemon = message(&[], "failure");
        daemon.from =
            Some(crate::domain::EmailAddress::parse("MAILER-DAEMON@mx.example.net").unwrap());
        assert_eq!(detect(&daemon, &config()).value, AutoKind::Bounce);

        let mut own = message(&[], "Re: [#K7Q2M] We received your message");
        own.message_id =
            Some(crate::domain::MessageId::parse("abc@concierge.example.org").unwrap());
        assert_eq!(detect(&own, &config()).value, AutoKind::Own);
    }
}
