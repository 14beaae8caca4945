//! Replies: templates in the sender's language, the acknowledgement of new conversations,
//! and the outbox worker that sends everything over SMTP (or writes `.eml` files).

pub mod ack;
pub mod context;
pub mod outbox;
pub mod smtp;
pub mod templates;

/// The From header of our mail: `Name <address>`, or the address alone.
pub fn from_header(name: &str, address: &str) -> String {
    if name.is_empty() {
        address.to_string()
    } else {
        format!("{name} <{address}>")
    }
}
