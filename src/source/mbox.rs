//! Reading an mbox file, for `concierge ingest FILE.mbox`.

use crate::ingest::IncomingRaw;
use std::path::Path;

/// Every message of an mbox file, keyed by the file and the message's position in it.
pub fn read_mbox(path: &Path) -> std::io::Result<Vec<IncomingRaw>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let canonical = path.canonicalize()?;
    let messages = mail_parser::mailbox::mbox::MessageIterator::new(file)
        .enumerate()
        .filter_map(|(index, message)| {
            message.ok().map(|message| IncomingRaw {
                source_key: format!("mbox:{}#{index}", canonical.display()),
                raw: message.unwrap_contents(),
            })
        })
        .collect();
    Ok(messages)
}

/// Whether a file looks like an mbox (starts with a `From ` line) rather than one message.
pub fn looks_like_mbox(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(b"From ")
}
