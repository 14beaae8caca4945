//! Replies: templates in the sender's language, the acknowledgement of new conversations,
//! and the outbox worker that sends everything over SMTP (or writes `.eml` files).

pub mod ack;
pub mod context;
pub mod outbox;
pub mod templates;
