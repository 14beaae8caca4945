//! Looking at raw message bytes without parsing them: enough to deduplicate before storing.

use sha2::{Digest, Sha256};

/// Splits raw bytes at the blank line that ends the header block.
pub fn split_header_block(raw: &[u8]) -> (&[u8], &[u8]) {
    let crlf = find(raw, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(raw, b"\n\n").map(|at| (at, at + 2));
    let split = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match split {
        Some((end, body_start)) => (&raw[..end], &raw[body_start..]),
        None => (raw, &[]),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The first `Message-ID` header's value, unfolded and without angle brackets.
pub fn header_message_id(raw: &[u8]) -> Option<String> {
    let (headers, _) = split_header_block(raw);
    let text = String::from_utf8_lossy(headers);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if let Some(current) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                current.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((name, rest)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("message-id") {
                value = Some(rest.trim().to_string());
            }
        }
    }
    let value = value?;
    let cleaned = value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The key that says two raw messages are the same message.
///
/// With a Message-ID: a hash of the Message-ID and of the body, so that the same message
/// fetched again (a new UIDVALIDITY, a second source) is recognised, while a different message
/// that reuses a Message-ID (some broken mailers do) is still kept. Without one: a hash of
/// all the bytes.
pub fn dedupe_key(raw: &[u8]) -> String {
    let mut hasher = Sha256::new();
    match header_message_id(raw) {
        Some(message_id) => {
            let (_, body) = split_header_block(raw);
            hasher.update(b"mid\0");
            hasher.update(message_id.as_bytes());
            hasher.update(b"\0");
            hasher.update(Sha256::digest(body));
        }
        None => {
            hasher.update(b"raw\0");
            hasher.update(raw);
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_folded_message_ids() {
        let raw = b"Subject: x\r\nMessage-ID:\r\n <abc@example.org>\r\nFrom: a@b\r\n\r\nbody";
        assert_eq!(header_message_id(raw).as_deref(), Some("abc@example.org"));
        assert_eq!(
            header_message_id(b"Subject: x\n\nMessage-ID: <in@body>"),
            None
        );
    }

    #[test]
    fn same_message_same_key_and_reused_ids_differ() {
        let a = b"Message-ID: <m@x>\r\nReceived: one\r\n\r\nHello";
        let b = b"Received: two\r\nMessage-ID: <m@x>\r\n\r\nHello";
        let c = b"Message-ID: <m@x>\r\n\r\nA different message";
        assert_eq!(dedupe_key(a), dedupe_key(b));
        assert_ne!(dedupe_key(a), dedupe_key(c));
        assert_ne!(
            dedupe_key(b"no id\r\n\r\none"),
            dedupe_key(b"no id\r\n\r\ntwo")
        );
        assert_eq!(dedupe_key(b""), dedupe_key(b""));
    }
}
