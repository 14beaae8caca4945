//! Triage: a pure function from a parsed message (and the sender's history) to a decision
//! with evidence. No IO happens here: no database, no network, no files, no clock.
//!
//! Every field carries a confidence and the evidence behind it, so that a navigator can see
//! why and override it.

pub mod auto;
pub mod classifier;
pub mod country;
pub mod language;
pub mod risk;
pub mod text;

use crate::domain::{AutoKind, CountryCode, LanguageCode, Risk};
use crate::mail::ParsedMessage;
use serde::Serialize;

/// What triage needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    /// The languages the deployment serves; short texts are only classified as one of them.
    pub languages: Vec<LanguageCode>,
    /// The domain of our own Message-IDs: mail carrying it came from us.
    pub message_id_domain: String,
    /// Whether the learned crisis detector may raise the risk, only shows its scores, or is off.
    pub classifier: classifier::ClassifierUse,
}

impl TriageConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> TriageConfig {
        TriageConfig {
            languages: settings
                .triage
                .languages
                .iter()
                .filter_map(|code| LanguageCode::parse(code).ok())
                .collect(),
            message_id_domain: settings.mail.message_id_domain.to_ascii_lowercase(),
            classifier: settings.triage.classifier,
        }
    }
}

/// What we already know about the sender, from the store.
#[derive(Debug, Clone, Default)]
pub struct SenderHistory {
    /// Confirmed by a navigator.
    pub known_country: Option<CountryCode>,
    /// Confirmed by a navigator.
    pub known_language: Option<LanguageCode>,
    /// Languages of the sender's latest messages, newest first.
    pub recent_languages: Vec<LanguageCode>,
}

/// One reason behind a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// What kind of signal, e.g. `whatlang`, `script`, `header`, `phrase`.
    pub signal: String,
    /// What exactly was seen.
    pub detail: String,
    /// How much it counted, 0 to 1.
    pub weight: f64,
}

impl Evidence {
    pub fn new(signal: &str, detail: impl Into<String>, weight: f64) -> Evidence {
        Evidence {
            signal: signal.to_string(),
            detail: detail.into(),
            weight,
        }
    }
}

/// A value with how sure we are and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected<T> {
    pub value: T,
    pub confidence: f64,
    pub evidence: Vec<Evidence>,
}

/// Everything triage decided about one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriageDecision {
    /// `None` when the text gives no usable signal.
    pub language: Option<Detected<LanguageCode>>,
    /// `None` means unknown: a wrong country means a wrong crisis line, so we do not guess.
    pub country: Option<Detected<CountryCode>>,
    pub risk: Detected<Risk>,
    pub auto_kind: Detected<AutoKind>,
}

/// The decision and the text it was made on.
#[derive(Debug, Clone)]
pub struct Triaged {
    pub parts: text::TextParts,
    pub decision: TriageDecision,
}

/// Triage one message. Pure: the same input always gives the same decision.
pub fn triage(message: &ParsedMessage, history: &SenderHistory, config: &TriageConfig) -> Triaged {
    let parts = text::split_new_text(&message.text);
    let language = language::detect(message, &parts.new_text, history, config);
    let auto_kind = auto::detect(message, config);
    // Bounces, newsletters and our own mail are written by machines or organisations (a
    // bounce carries our own reply, a newsletter talks about suicide prevention): they say
    // nothing about a person. Everything else, auto-replies included, is read for crisis signals.
    let risk = if matches!(
        auto_kind.value,
        AutoKind::Bounce | AutoKind::Bulk | AutoKind::Own
    ) {
        Detected {
            value: Risk::None,
            confidence: 0.8,
            evidence: vec![Evidence::new(
                "auto",
                format!("{}: not read for crisis signals", auto_kind.value.as_str()),
                0.0,
            )],
        }
    } else {
        let subject = subject_read_for_risk(message);
        // A language without a lexicon of its own was not really read for risk. The learned
        // detector reads the same text as the lexicons and can only raise their risk; on
        // "risk unknown" only its crisis score counts (see `classifier::combine`).
        classifier::combine(
            risk::unknown_when_uncovered(
                risk::assess(subject, &parts.new_text),
                language.as_ref().map(|detected| &detected.value),
                &parts.new_text,
            ),
            subject,
            &parts.new_text,
            config.classifier,
        )
    };
    let decision = TriageDecision {
        language,
        // A bounce or our own mail says where a server is, not a person.
        country: if matches!(auto_kind.value, AutoKind::Bounce | AutoKind::Own) {
            None
        } else {
            country::detect(message, &parts.new_text, &parts.signature, history)
        },
        risk,
        auto_kind,
    };
    Triaged { parts, decision }
}

/// The subject as the risk detectors read it: none for a reply's subject, which repeats the
/// conversation's first subject, read then.
pub fn subject_read_for_risk(message: &ParsedMessage) -> &str {
    let is_reply = !message.in_reply_to.is_empty() || !message.references.is_empty();
    if is_reply && language::strip_reply_prefixes(&message.subject) != message.subject.trim() {
        ""
    } else {
        message.subject.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &str, body: &str) -> ParsedMessage {
        let raw = format!(
            "From: Test Sender <sender@example.org>\r\nTo: help@concierge.localhost\r\nMessage-ID: <t1@example.org>\r\n{headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        crate::mail::parse_message(raw.as_bytes()).expect("a test message")
    }

    #[test]
    fn a_language_without_a_lexicon_is_risk_unknown_unless_a_lexicon_found_something() {
        // Georgian and Amharic: no lexicon, and no served language is written in their scripts.
        let config = TriageConfig {
            languages: Vec::new(),
            message_id_domain: "concierge.localhost".into(),
            classifier: classifier::ClassifierUse::Decide,
        };
        let georgian =
            "გამარჯობა, მე ვარ მუსიკოსი და ვეძებ ფსიქოლოგს ჩემს ქალაქში. ძალიან მიჭირს ბოლო დროს.";
        let amharic = "ሰላም፣ እኔ ሙዚቀኛ ነኝ እና በከተማዬ ውስጥ የሥነ ልቦና ባለሙያ እፈልጋለሁ። በቅርቡ በጣም ከብዶኛል።";
        let cases = [
            ("Subject: გამარჯობა\r\n", georgian.to_string(), Risk::Unknown),
            ("Subject: ሰላም\r\n", amharic.to_string(), Risk::Unknown),
            // Whatever the language, a phrase any lexicon finds wins.
            (
                "Subject: გამარჯობა\r\n",
                format!("{georgian} {georgian}\nI want to die"),
                Risk::Crisis,
            ),
            // A covered language with nothing found is plain none.
            (
                "Subject: Hello\r\n",
                "Hi, could you send me a list of therapists in Berlin? Thanks a lot.".to_string(),
                Risk::None,
            ),
            // Bulk mail is not read for risk, so it is not unknown either.
            (
                "Subject: გამარჯობა\r\nPrecedence: bulk\r\nList-Unsubscribe: <mailto:u@example.org>\r\n",
                georgian.to_string(),
                Risk::None,
            ),
        ];
        for (headers, body, expected) in cases {
            let decision =
                triage(&message(headers, &body), &SenderHistory::default(), &config).decision;
            assert_eq!(
                decision.risk.value,
                expected,
                "{body:?}: language {:?}, evidence {:?}",
                decision.language.map(|l| l.value),
                decision.risk.evidence
            );
            if expected == Risk::Unknown {
                assert!(decision
                    .risk
                    .evidence
                    .iter()
                    .any(|e| e.signal == "lexicon" && e.detail.contains("risk unknown")));
                // Georgian and Amharic are not served: the language is not told.
                assert!(decision.language.is_none());
            }
        }
    }

    #[test]
    fn no_language_found_leaves_the_risk_as_assessed() {
        let assessed = risk::assess("", "");
        assert_eq!(
            risk::unknown_when_uncovered(assessed, None, "").value,
            Risk::None
        );
        let english = LanguageCode::parse("en").unwrap();
        let found = risk::assess("", "I want to die");
        assert_eq!(
            risk::unknown_when_uncovered(found, Some(&english), "I want to die").value,
            Risk::Crisis
        );
    }
}
