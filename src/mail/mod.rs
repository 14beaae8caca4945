//! Mail formats: parsing RFC 5322 bytes into [`ParsedMessage`] (mail-parser), and the
//! helpers that look at raw bytes before anything is parsed.

pub mod parse;
pub mod raw;

pub use parse::{parse_message, AttachmentInfo, ParseFailure, ParsedMessage};
