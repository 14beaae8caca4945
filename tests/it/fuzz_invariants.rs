//! What must hold for any bytes that arrive as a mail, whatever they are: the raw helpers, the
//! parse, triage and the threading keys, as ingestion runs them (`ingest::build_message`), but
//! without a store.
//!
//! Shared by the fuzz target (`fuzz/fuzz_targets/parse_triage_thread.rs`, which includes this
//! file by path) and the regression test in `fuzz.rs`, so that every input the fuzzer found is
//! checked the same way by `cargo test` on stable. A broken invariant panics with its name.

use concierge::domain::ThreadToken;
use concierge::domain::{AutoKind, CountryCode, EmailAddress, LanguageCode, MessageId, Risk};
use concierge::ingest::build_message;
use concierge::mail::{parse_message, raw, ParsedMessage};
use concierge::triage::{self, text, Detected, SenderHistory, TriageConfig, TriageDecision};
use std::collections::HashSet;
use std::sync::OnceLock;

/// The triage configuration of the built-in `config/default.toml`, as the integration tests
/// use it (`harness::triage_config`).
pub fn triage_config() -> &'static TriageConfig {
    static CONFIG: OnceLock<TriageConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let settings = concierge::config::Settings::load(None).expect("default settings");
        let mut config = TriageConfig::from_settings(&settings);
        config.languages.sort();
        config
    })
}

/// Runs the bytes through everything and checks every invariant; panics on the first broken one.
pub fn check(raw_bytes: &[u8]) {
    check_raw_helpers(raw_bytes);

    let parsed = parse_message(raw_bytes);
    check_prefixed_mail_parses(raw_bytes);
    let config = triage_config();
    let history = SenderHistory::default();
    match &parsed {
        Ok(message) => {
            check_parsed(message);
            let triaged = triage::triage(message, &history, config);
            check_text_parts(&message.text, &triaged.parts);
            check_decision(&triaged.decision, config);
            let row = build_message(7, 1_700_000_000_000, Ok(message.clone()), &history, config);
            // Triage is pure: the second run inside `build_message` decides the same.
            let json = serde_json::to_string(&triaged.decision).expect("the decision serialises");
            assert_eq!(row.triage_json, json, "triage is not deterministic");
            check_json_round_trip(&triaged.decision, &json);
            assert_eq!(row.new_text, triaged.parts.new_text);
            assert_eq!(row.risk, triaged.decision.risk.value);
            assert_eq!(row.auto_kind, triaged.decision.auto_kind.value);
            assert_eq!(
                row.parse_problem.is_some(),
                !message.problems.is_empty(),
                "a parse problem is not recorded"
            );
            check_threading(message, &triaged.decision, &row.threading);
        }
        Err(failure) => {
            // Not a mail: still recorded, with its problem, as a message of its own thread.
            let row = build_message(7, 1_700_000_000_000, Err(failure.clone()), &history, config);
            assert!(
                row.parse_problem.is_some(),
                "a parse failure left no problem"
            );
            assert_eq!(row.risk, Risk::None);
            assert!(row.threading.referenced_ids.is_empty() && row.threading.token.is_none());
        }
    }
}

fn check_raw_helpers(raw_bytes: &[u8]) {
    let (headers, body) = raw::split_header_block(raw_bytes);
    // The header block is a prefix and the body a suffix, with at most the blank line between.
    assert!(raw_bytes.starts_with(headers) && raw_bytes.ends_with(body));
    let separator = raw_bytes.len() - headers.len() - body.len();
    assert!(
        matches!(separator, 0 | 2 | 4),
        "split_header_block dropped {separator} bytes"
    );
    if separator == 0 {
        assert!(body.is_empty(), "a body without a blank line before it");
    }
    // The split is at the first blank line.
    assert!(!contains(headers, b"\n\n") && !contains(headers, b"\r\n\r\n"));
    // The Message-ID is read from the header block alone.
    let message_id = raw::header_message_id(raw_bytes);
    assert_eq!(message_id, raw::header_message_id(headers));
    if let Some(id) = &message_id {
        assert!(
            !id.is_empty() && id.trim() == id,
            "Message-ID {id:?} not trimmed"
        );
    }
    let key = raw::dedupe_key(raw_bytes);
    assert_eq!(key.len(), 64);
    assert!(key
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(
        key,
        raw::dedupe_key(raw_bytes),
        "the dedupe key is not stable"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Only bytes that are not a mail at all are a `ParseFailure`: anything after a `From` header
/// line is a mail, odd as it may be, and must parse (with its problems written down).
fn check_prefixed_mail_parses(raw_bytes: &[u8]) {
    let mut prefixed = b"From: fuzz@example.org\r\n".to_vec();
    prefixed.extend_from_slice(raw_bytes);
    if let Err(failure) = parse_message(&prefixed) {
        panic!("a mail with a From header is a parse failure: {failure}");
    }
}

fn check_parsed(message: &ParsedMessage) {
    // Domain values read from a mail are what their own parse makes of them.
    if let Some(id) = &message.message_id {
        assert_eq!(MessageId::parse(id.as_str()).as_ref(), Ok(id));
    } else {
        assert!(!message.problems.is_empty(), "no Message-ID and no problem");
    }
    for id in message.in_reply_to.iter().chain(&message.references) {
        assert_eq!(MessageId::parse(id.as_str()).as_ref(), Ok(id));
    }
    match &message.from {
        Some(from) => assert_eq!(EmailAddress::parse(from.as_str()).as_ref(), Ok(from)),
        None => assert!(!message.problems.is_empty(), "no sender and no problem"),
    }
    if message.date_ms.is_none() {
        assert!(!message.problems.is_empty(), "no Date and no problem");
    }
    assert_eq!(
        message.date_ms.is_some(),
        message.date_offset_minutes.is_some()
    );
    assert_eq!(
        message.subject.trim(),
        message.subject,
        "subject not trimmed"
    );
    // Header values are unfolded: none carries a line break.
    for (name, value) in &message.headers {
        assert_eq!(
            name.to_ascii_lowercase(),
            *name,
            "header name {name:?} not lowercase"
        );
        assert!(!value.contains(['\r', '\n']), "header {name} still folded");
    }
    assert_eq!(
        message.content_type.to_ascii_lowercase(),
        message.content_type
    );
    assert!(
        message.content_type.contains('/'),
        "content type {:?}",
        message.content_type
    );
}

fn check_text_parts(body: &str, parts: &text::TextParts) {
    let body_lines: HashSet<&str> = body.split(['\r', '\n']).collect();
    for (name, part) in [
        ("new text", &parts.new_text),
        ("signature", &parts.signature),
        ("quoted", &parts.quoted),
    ] {
        assert_eq!(part.trim(), part.as_str(), "{name} not trimmed");
        assert!(!part.contains('\r'), "{name} has a carriage return");
        if !part.is_empty() {
            assert!(!body.trim().is_empty(), "{name} out of an empty body");
        }
    }
    // The new text and the signature are lines of the body, and no quoted line is new text.
    for (name, part) in [
        ("new text", &parts.new_text),
        ("signature", &parts.signature),
    ] {
        if part.is_empty() {
            continue;
        }
        for (index, line) in part.split('\n').enumerate() {
            let whole_line = body_lines.contains(line)
                // The first and last lines were trimmed.
                || body_lines.iter().any(|body_line| body_line.trim() == line.trim());
            assert!(whole_line, "{name} line {index} is not a line of the body");
        }
    }
    for line in parts.new_text.split('\n') {
        assert!(
            !line.trim_start().starts_with('>'),
            "a quoted line in the new text"
        );
    }
}

fn check_detected<T>(field: &str, detected: &Detected<T>) {
    assert!(
        detected.confidence.is_finite() && (0.0..=1.0).contains(&detected.confidence),
        "{field} confidence {}",
        detected.confidence
    );
    for evidence in &detected.evidence {
        assert!(
            evidence.weight.is_finite(),
            "{field} evidence weight {}",
            evidence.weight
        );
        assert!(
            !evidence.signal.is_empty(),
            "{field} evidence without a signal"
        );
    }
}

fn check_decision(decision: &TriageDecision, config: &TriageConfig) {
    check_detected("risk", &decision.risk);
    check_detected("auto_kind", &decision.auto_kind);
    if let Some(language) = &decision.language {
        check_detected("language", language);
        assert!(!language.evidence.is_empty(), "a language without evidence");
        // Only served languages are ever told.
        assert!(
            config.languages.contains(&language.value),
            "language {} is not served",
            language.value
        );
    }
    if let Some(country) = &decision.country {
        check_detected("country", country);
        assert!(!country.evidence.is_empty(), "a country without evidence");
    }
    // A raised risk says why; "risk unknown" says that nobody could read the message.
    if decision.risk.value > Risk::None {
        assert!(
            !decision.risk.evidence.is_empty(),
            "risk {:?} without evidence",
            decision.risk.value
        );
    }
    if decision.risk.value == Risk::Unknown {
        assert!(decision.risk.evidence.iter().any(|e| e.signal == "lexicon"));
    }
    let auto_kind = decision.auto_kind.value;
    if auto_kind != AutoKind::None {
        assert!(
            !decision.auto_kind.evidence.is_empty(),
            "auto-mail without evidence"
        );
    }
    // Bounces, bulk mail and our own mail are not read for risk; a bounce or our own mail
    // says nothing about where a person is.
    if matches!(auto_kind, AutoKind::Bounce | AutoKind::Bulk | AutoKind::Own) {
        assert_eq!(
            decision.risk.value,
            Risk::None,
            "{auto_kind:?} read for risk"
        );
    }
    if matches!(auto_kind, AutoKind::Bounce | AutoKind::Own) {
        assert!(decision.country.is_none(), "{auto_kind:?} given a country");
    }
}

/// The stored JSON reads back as the same decision (the conversation page reads it as a
/// `serde_json::Value`; the values are the domain types' own serde forms).
fn check_json_round_trip(decision: &TriageDecision, json: &str) {
    let value: serde_json::Value = serde_json::from_str(json).expect("the decision JSON parses");
    let read = |field: &str| {
        value
            .get(field)
            .unwrap_or_else(|| panic!("no {field} in the JSON"))
    };
    let risk: Risk = serde_json::from_value(read("risk")["value"].clone()).expect("risk");
    assert_eq!(risk, decision.risk.value);
    let auto_kind: AutoKind =
        serde_json::from_value(read("auto_kind")["value"].clone()).expect("auto_kind");
    assert_eq!(auto_kind, decision.auto_kind.value);
    let language: Option<LanguageCode> =
        serde_json::from_value(read("language")["value"].clone()).expect("language");
    assert_eq!(
        language,
        decision.language.as_ref().map(|d| d.value.clone())
    );
    let country: Option<CountryCode> =
        serde_json::from_value(read("country")["value"].clone()).expect("country");
    assert_eq!(country, decision.country.as_ref().map(|d| d.value));
    compare_detected("risk", read("risk"), Some(&decision.risk));
    compare_detected("auto_kind", read("auto_kind"), Some(&decision.auto_kind));
    compare_detected("language", read("language"), decision.language.as_ref());
    compare_detected("country", read("country"), decision.country.as_ref());
}

fn compare_detected<T>(field: &str, value: &serde_json::Value, detected: Option<&Detected<T>>) {
    let Some(detected) = detected else {
        assert!(value.is_null(), "{field}: {value} for nothing detected");
        return;
    };
    // serde_json does not promise to read back the last bit of a float.
    let close = |json: &serde_json::Value, expected: f64| {
        json.as_f64()
            .is_some_and(|read| (read - expected).abs() <= 1e-12 * expected.abs().max(1.0))
    };
    assert!(
        close(&value["confidence"], detected.confidence),
        "{field} confidence"
    );
    let evidence = value["evidence"].as_array().expect("evidence is a list");
    assert_eq!(evidence.len(), detected.evidence.len(), "{field} evidence");
    for (json, expected) in evidence.iter().zip(&detected.evidence) {
        assert_eq!(json["signal"].as_str(), Some(expected.signal.as_str()));
        assert_eq!(json["detail"].as_str(), Some(expected.detail.as_str()));
        assert!(
            close(&json["weight"], expected.weight),
            "{field} evidence weight"
        );
    }
}

/// The keys a message is threaded by: every Message-ID it refers to, In-Reply-To first, and
/// the `[#TOKEN]` of its subject.
fn check_threading(
    message: &ParsedMessage,
    decision: &TriageDecision,
    threading: &concierge::store::ThreadingKeys,
) {
    let referenced = &threading.referenced_ids;
    for id in message.in_reply_to.iter().chain(&message.references) {
        assert!(
            referenced.contains(id),
            "a referenced Message-ID is not a threading key"
        );
    }
    // A bounce is threaded first by the Message-ID of the mail it returns.
    if decision.auto_kind.value != AutoKind::Bounce {
        assert!(
            referenced.starts_with(&message.in_reply_to),
            "In-Reply-To does not come first"
        );
        for id in referenced {
            assert!(
                message.in_reply_to.contains(id) || message.references.contains(id),
                "a threading key that the message does not refer to"
            );
        }
    }
    let token = ThreadToken::find_in_subject(&message.subject);
    assert_eq!(threading.token, token);
    if let Some(token) = &token {
        assert_eq!(ThreadToken::parse(token.as_str()).as_ref(), Ok(token));
        assert!(message.subject.contains("[#"), "a token without [#");
    }
}
