//! RFC 5322 bytes into a [`ParsedMessage`] with domain types.
//!
//! Parsing never loses a message: anything odd is written down in `problems` and the raw
//! bytes stay in the store. Only bytes that are not a mail at all give a [`ParseFailure`].

use crate::domain::{EmailAddress, MessageId};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

/// Mail from one person, in the shape the rest of the program needs.
#[derive(Debug, Clone, Default)]
pub struct ParsedMessage {
    pub message_id: Option<MessageId>,
    pub in_reply_to: Vec<MessageId>,
    /// Oldest first, as in the header.
    pub references: Vec<MessageId>,
    pub from: Option<EmailAddress>,
    pub from_name: Option<String>,
    /// The envelope sender from `Return-Path`; `Some("")` for the null sender `<>`.
    pub return_path: Option<String>,
    pub subject: String,
    /// The `Date` header as Unix milliseconds.
    pub date_ms: Option<i64>,
    /// The `Date` header's UTC offset in minutes (east positive).
    pub date_offset_minutes: Option<i32>,
    /// The text body: text/plain parts, or the HTML converted to text when there are none.
    pub text: String,
    pub html: Option<String>,
    pub content_language: Vec<String>,
    /// Charsets declared on the text parts.
    pub charsets: Vec<String>,
    /// Every header as (lowercase name, raw value unfolded), for auto-mail detection.
    pub headers: Vec<(String, String)>,
    /// The top-level `type/subtype`, lowercase.
    pub content_type: String,
    /// The `report-type` parameter of a `multipart/report`.
    pub report_type: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Headers of embedded messages (`message/rfc822`, `text/rfc822-headers`), e.g. the
    /// original of a bounce: (lowercase name, value).
    pub embedded_headers: Vec<(String, String)>,
    /// What was odd about the message, in words a navigator understands.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub file_name: Option<String>,
    pub content_type: String,
    pub size_bytes: usize,
}

/// The bytes are not a mail message at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a mail message: {0}")]
pub struct ParseFailure(pub String);

impl ParsedMessage {
    /// The value of the first header with this lowercase name.
    pub fn header(&self, lowercase_name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name == lowercase_name)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses raw RFC 5322 bytes.
pub fn parse_message(raw: &[u8]) -> Result<ParsedMessage, ParseFailure> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseFailure("the message is empty".into()));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| ParseFailure("no header could be read".into()))?;
    let mut problems = Vec::new();

    if message.headers().is_empty() {
        return Err(ParseFailure("no header could be read".into()));
    }
    // A mail has at least one of the headers every mailer writes; binary garbage does not.
    let known_header = message.headers().iter().any(|header| {
        let name = header.name().to_ascii_lowercase();
        matches!(
            name.as_str(),
            "from"
                | "to"
                | "subject"
                | "date"
                | "message-id"
                | "received"
                | "return-path"
                | "mime-version"
                | "content-type"
        )
    });
    if !known_header {
        return Err(ParseFailure(
            "none of the usual mail headers is present".into(),
        ));
    }

    let message_id = match message.message_id() {
        Some(id) => match MessageId::parse(id) {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push("the Message-ID cannot be read".to_string());
                None
            }
        },
        None => {
            problems.push("no Message-ID".to_string());
            None
        }
    };

    let (from, from_name) = match message.from().and_then(Address::first) {
        Some(addr) => {
            let name = addr
                .name()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string);
            match addr.address().map(EmailAddress::parse) {
                Some(Ok(address)) => (Some(address), name),
                _ => {
                    problems.push("the sender's address cannot be read".to_string());
                    (None, name)
                }
            }
        }
        None => {
            problems.push("no sender address".to_string());
            (None, None)
        }
    };

    let (date_ms, date_offset_minutes) = match message.date() {
        Some(date) if date.is_valid() => {
            let offset = i32::from(date.tz_hour) * 60 + i32::from(date.tz_minute);
            let offset = if date.tz_before_gmt { -offset } else { offset };
            (Some(date.to_timestamp().saturating_mul(1000)), Some(offset))
        }
        _ => {
            problems.push("no readable Date".to_string());
            (None, None)
        }
    };

    let text = (0..message.text_body_count().max(1))
        .filter_map(|index| message.body_text(index))
        .map(|text| text.into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let html = (message.html_body_count() > 0)
        .then(|| message.body_html(0).map(|html| html.into_owned()))
        .flatten();

    let mut charsets = Vec::new();
    let mut attachments = Vec::new();
    let mut embedded_headers = Vec::new();
    for part in &message.parts {
        if let Some(content_type) = part.content_type() {
            if let Some(charset) = content_type.attribute("charset") {
                let label = charset.trim().to_ascii_lowercase();
                if encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
                    && !charsets.contains(&label)
                {
                    problems.push(format!(
                        "unknown charset {label:?}; the text may be garbled"
                    ));
                }
                if !charsets.contains(&label) {
                    charsets.push(label);
                }
            }
            let full_type = format!(
                "{}/{}",
                content_type.ctype().to_ascii_lowercase(),
                content_type.subtype().unwrap_or("").to_ascii_lowercase()
            );
            if full_type == "text/rfc822-headers" {
                if let PartType::Text(text) = &part.body {
                    embedded_headers.extend(unfold_headers(text));
                }
            }
        }
        if let PartType::Message(inner) = &part.body {
            for header in inner.headers() {
                embedded_headers.push((
                    header.name().to_ascii_lowercase(),
                    header_text(header.value()),
                ));
            }
        }
    }
    for attachment in message.attachments() {
        let content_type = attachment
            .content_type()
            .map(|ct| {
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream"))
                    .to_ascii_lowercase()
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        attachments.push(AttachmentInfo {
            file_name: attachment.attachment_name().map(str::to_string),
            content_type,
            size_bytes: attachment.len(),
        });
    }

    let (content_type, report_type) = match message.root_part().content_type() {
        Some(ct) => (
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase(),
            ct.attribute("report-type").map(|r| r.to_ascii_lowercase()),
        ),
        None => ("text/plain".to_string(), None),
    };

    let content_language = match message.root_part().content_language() {
        HeaderValue::Text(text) => vec![text.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };

    let headers = message
        .headers_raw()
        .map(|(name, value)| (name.to_ascii_lowercase(), unfold(value)))
        .collect();

    let return_path = match message.return_path() {
        HeaderValue::Text(text) => Some(
            text.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string(),
        ),
        HeaderValue::TextList(list) => list.first().map(|t| t.trim().to_string()),
        HeaderValue::Empty => message.header_raw("Return-Path").map(|raw| {
            raw.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        }),
        _ => None,
    };

    Ok(ParsedMessage {
        message_id,
        in_reply_to: message_ids(message.in_reply_to()),
        references: message_ids(message.references()),
        from,
        from_name,
        return_path,
        subject: message.subject().unwrap_or_default().trim().to_string(),
        date_ms,
        date_offset_minutes,
        text,
        html,
        content_language,
        charsets,
        headers,
        content_type,
        report_type,
        attachments,
        embedded_headers,
        problems,
    })
}

/// The bytes of a message's `index`-th attachment, with its file name and type.
pub fn attachment_bytes(raw: &[u8], index: usize) -> Option<(AttachmentInfo, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachment(u32::try_from(index).ok()?)?;
    let content_type = part
        .content_type()
        .map(|ct| {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream"))
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/octet-stream".into());
    let bytes = part.contents().to_vec();
    Some((
        AttachmentInfo {
            file_name: part.attachment_name().map(str::to_string),
            content_type,
            size_bytes: bytes.len(),
        },
        bytes,
    ))
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<MessageId> {
    match value {
        HeaderValue::Text(text) => MessageId::parse(text).into_iter().collect(),
        HeaderValue::TextList(list) => list
            .iter()
            .filter_map(|id| MessageId::parse(id).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn header_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        HeaderValue::Address(address) => address
            .first()
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// Joins the lines of a header value into one line: folded headers are read this way, and
/// headers we write can never carry a line break (so no header can be injected).
pub fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unfold_headers(text: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_envelope_of_a_reply() {
        let raw = b"From: =?UTF-8?Q?Jos=C3=A9?= <jose@example.com.br>\r\n\
To: help@concierge.example.org\r\n\
Subject: Re: =?UTF-8?B?T2zDoQ==?=\r\n\
Date: Mon, 02 Nov 2026 10:00:00 -0300\r\n\
Message-ID: <b@example.com.br>\r\n\
In-Reply-To: <a@concierge.example.org>\r\n\
References: <root@x> <a@concierge.example.org>\r\n\
\r\n\
Oi, tudo bem?\r\n";
        let parsed = parse_message(raw).unwrap();
        assert_eq!(parsed.message_id.unwrap().as_str(), "b@example.com.br");
        assert_eq!(parsed.from.unwrap().as_str(), "jose@example.com.br");
        assert_eq!(parsed.from_name.as_deref(), Some("José"));
        assert_eq!(parsed.subject, "Re: Olá");
        assert_eq!(parsed.in_reply_to[0].as_str(), "a@concierge.example.org");
        assert_eq!(parsed.references.len(), 2);
        assert_eq!(parsed.date_offset_minutes, Some(-180));
        assert!(parsed.text.contains("tudo bem"));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    }

    #[test]
    fn garbage_and_empty_input_are_failures() {
        assert!(parse_message(b"").is_err());
        assert!(parse_message(b"\r\n\r\n").is_err());
        assert!(parse_message(&[0u8, 159, 146, 150, 1, 2, 3, 255, 0, 13, 10]).is_err());
    }

    #[test]
    fn records_problems_instead_of_failing() {
        let raw =
            b"Subject: hi\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla\xff\r\n";
        let parsed = parse_message(raw).unwrap();
        assert!(parsed.problems.iter().any(|p| p.contains("no Message-ID")));
        assert!(parsed.problems.iter().any(|p| p.contains("no sender")));
        assert!(parsed
            .problems
            .iter()
            .any(|p| p.contains("unknown charset")));
    }
}
