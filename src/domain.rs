//! Domain types: values are parsed once where data enters and never re-checked.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value could not become a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct DomainError {
    pub kind: &'static str,
    pub reason: &'static str,
}

fn invalid(kind: &'static str, reason: &'static str) -> DomainError {
    DomainError { kind, reason }
}

/// An email address, trimmed and with its domain lowercased.
///
/// The local part keeps its case (RFC 5321 lets servers treat it as case-sensitive),
/// but [`EmailAddress::key`] gives the lowercase form used to recognise a returning sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim().trim_start_matches('<').trim_end_matches('>');
        if trimmed.is_empty() {
            return Err(invalid("email address", "empty"));
        }
        if trimmed.len() > 320 {
            return Err(invalid("email address", "longer than 320 bytes"));
        }
        if trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
        {
            return Err(invalid("email address", "contains a forbidden character"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("email address", "no @"));
        };
        if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.')
        {
            return Err(invalid("email address", "empty local part or domain"));
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase form, used as the identity of a contact.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or_default()
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Message-ID without its angle brackets, e.g. `abc@example.org`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if trimmed.is_empty() {
            return Err(invalid("message id", "empty"));
        }
        if trimmed.len() > 998 {
            return Err(invalid("message id", "longer than 998 bytes"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("message id", "contains white space"));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used in headers: `<id>`.
    pub fn bracketed(&self) -> String {
        format!("<{}>", self.0)
    }
}

impl TryFrom<String> for MessageId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MessageId> for String {
    fn from(value: MessageId) -> Self {
        value.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 639-1 (two letters) or ISO 639-3 (three letters) language code, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let lower = input.trim().to_ascii_lowercase();
        let primary = lower.split(['-', '_']).next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(invalid("language code", "not 2 or 3 ASCII letters"));
        }
        Ok(Self(primary.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LanguageCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LanguageCode> for String {
    fn from(value: LanguageCode) -> Self {
        value.0
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code, uppercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let upper = input.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 2 || !bytes.iter().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid("country code", "not 2 ASCII letters"));
        }
        Ok(Self([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII uppercase letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for CountryCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> Self {
        value.as_str().to_string()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The short token we put in our outgoing subjects, e.g. `[#K7Q2M]`, so replies thread even
/// when a mail client drops `References`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ThreadToken(String);

/// Letters and digits that cannot be confused with each other when read aloud or typed.
const TOKEN_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const TOKEN_LENGTH: usize = 5;

impl ThreadToken {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let upper = input.trim().to_ascii_uppercase();
        if upper.len() != TOKEN_LENGTH || !upper.bytes().all(|b| TOKEN_ALPHABET.contains(&b)) {
            return Err(invalid("thread token", "not 5 token letters"));
        }
        Ok(Self(upper))
    }

    pub fn random() -> Self {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let token: String = (0..TOKEN_LENGTH)
            .map(|_| TOKEN_ALPHABET[rng.gen_range(0..TOKEN_ALPHABET.len())] as char)
            .collect();
        Self(token)
    }

    /// The n-th token of a fixed permutation of all tokens: distinct for distinct `n` below
    /// 31^5, so that generated history (demo, benchmarks) never collides with itself.
    pub fn from_index(n: u64) -> Self {
        let space = (TOKEN_ALPHABET.len() as u64).pow(TOKEN_LENGTH as u32);
        // 7,368,787 is prime and does not divide 31^5, so multiplying by it permutes the space.
        let mut value = (n % space) * 7_368_787 % space;
        let mut token = [0u8; TOKEN_LENGTH];
        for slot in token.iter_mut().rev() {
            *slot = TOKEN_ALPHABET[(value % TOKEN_ALPHABET.len() as u64) as usize];
            value /= TOKEN_ALPHABET.len() as u64;
        }
        Self(String::from_utf8_lossy(&token).into_owned())
    }

    /// Finds the first `[#XXXXX]` token in a subject line.
    pub fn find_in_subject(subject: &str) -> Option<Self> {
        let mut rest = subject;
        while let Some(start) = rest.find("[#") {
            let after = &rest[start + 2..];
            if let Some(end) = after.find(']') {
                if let Ok(token) = Self::parse(&after[..end]) {
                    return Some(token);
                }
            }
            rest = after;
        }
        None
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ThreadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How urgent a message is. Ordered: `None < Unknown < Concern < Crisis`.
///
/// `Unknown` is what triage says when no lexicon found anything in a language that has no
/// crisis lexicon: nobody could read it for risk, so it must not pass for `None`. It ranks
/// with `Concern` in the queue ([`Risk::rank`]); a concern found later replaces it, being
/// the more specific of the two.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    #[default]
    None,
    Unknown,
    Concern,
    Crisis,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Unknown => "unknown",
            Risk::Concern => "concern",
            Risk::Crisis => "crisis",
        }
    }

    /// What navigators read: "risk unknown" rather than a bare "unknown".
    pub fn label(self) -> &'static str {
        match self {
            Risk::Unknown => "risk unknown",
            other => other.as_str(),
        }
    }

    /// The number the queue sorts on, highest first. `Unknown` sorts with `Concern`.
    pub fn rank(self) -> i64 {
        match self {
            Risk::None => 0,
            Risk::Unknown | Risk::Concern => 1,
            Risk::Crisis => 2,
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "none" => Some(Risk::None),
            "unknown" => Some(Risk::Unknown),
            "concern" => Some(Risk::Concern),
            "crisis" => Some(Risk::Crisis),
            _ => None,
        }
    }
}

/// Whether a message was written by a machine rather than a person (RFC 3834).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AutoKind {
    #[default]
    None,
    AutoReply,
    Bounce,
    Bulk,
    /// A message we sent ourselves, come back to us.
    Own,
}

impl AutoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoKind::None => "none",
            AutoKind::AutoReply => "auto_reply",
            AutoKind::Bounce => "bounce",
            AutoKind::Bulk => "bulk",
            AutoKind::Own => "own",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "none" => Some(AutoKind::None),
            "auto_reply" => Some(AutoKind::AutoReply),
            "bounce" => Some(AutoKind::Bounce),
            "bulk" | "list" => Some(AutoKind::Bulk),
            "own" => Some(AutoKind::Own),
            _ => None,
        }
    }
}

/// Where a thread is in its life: `new` -> `claimed` -> `waiting` (we replied) -> `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    New,
    Claimed,
    Waiting,
    Closed,
}

impl ThreadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadStatus::New => "new",
            ThreadStatus::Claimed => "claimed",
            ThreadStatus::Waiting => "waiting",
            ThreadStatus::Closed => "closed",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "new" => Some(ThreadStatus::New),
            "claimed" => Some(ThreadStatus::Claimed),
            "waiting" => Some(ThreadStatus::Waiting),
            "closed" => Some(ThreadStatus::Closed),
            _ => None,
        }
    }
}

/// What a user of the web app may do. Ordered: `Navigator < Coordinator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the queue: claims threads, replies.
    Navigator,
    /// Also reads reports and reassigns threads.
    Coordinator,
    /// Also manages users and the resource directory.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Navigator => "navigator",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "navigator" => Some(Role::Navigator),
            "coordinator" => Some(Role::Coordinator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_parsed_once() {
        let cases = [
            ("Ana@Example.ORG", Some("Ana@example.org")),
            ("  <x@y.de> ", Some("x@y.de")),
            ("", None),
            ("no-at-sign", None),
            ("a@", None),
            ("@b.org", None),
            ("a b@c.org", None),
            ("a@b.org,c@d.org", None),
            ("a@b.org\r\nBcc: x@y", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                EmailAddress::parse(input)
                    .ok()
                    .map(|a| a.as_str().to_string()),
                expected.map(str::to_string),
                "input {input:?}"
            );
        }
        let address = EmailAddress::parse("Ana@Example.org").unwrap();
        assert_eq!(address.key(), "ana@example.org");
        assert_eq!(address.domain(), "example.org");
    }

    #[test]
    fn message_ids_lose_their_brackets() {
        assert_eq!(MessageId::parse("<a.b@c>").unwrap().as_str(), "a.b@c");
        assert_eq!(MessageId::parse("<a.b@c>").unwrap().bracketed(), "<a.b@c>");
        assert!(MessageId::parse("<>").is_err());
        assert!(MessageId::parse("a b@c").is_err());
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(LanguageCode::parse("pt-BR").unwrap().as_str(), "pt");
        assert_eq!(LanguageCode::parse("DE").unwrap().as_str(), "de");
        assert!(LanguageCode::parse("x").is_err());
        assert!(LanguageCode::parse("12").is_err());
        assert_eq!(CountryCode::parse("br").unwrap().as_str(), "BR");
        assert!(CountryCode::parse("BRA").is_err());
    }

    #[test]
    fn thread_tokens_are_found_in_subjects() {
        let token = ThreadToken::random();
        let subject = format!("Re: [#{token}] your message");
        assert_eq!(ThreadToken::find_in_subject(&subject), Some(token));
        assert_eq!(
            ThreadToken::find_in_subject("Re: [#abc] [#k7q2m]")
                .unwrap()
                .as_str(),
            "K7Q2M"
        );
        assert_eq!(ThreadToken::find_in_subject("no token [#] [#0O1IL]"), None);
    }

    #[test]
    fn risk_orders_by_urgency() {
        assert!(Risk::Crisis > Risk::Concern && Risk::Concern > Risk::None);
        assert!(Risk::Concern > Risk::Unknown && Risk::Unknown > Risk::None);
        assert_eq!(Risk::Unknown.rank(), Risk::Concern.rank());
        for risk in [Risk::None, Risk::Unknown, Risk::Concern, Risk::Crisis] {
            assert_eq!(Risk::parse(risk.as_str()), Some(risk));
        }
    }
}
