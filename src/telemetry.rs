//! Logging with tracing. Logs carry ids and counts, never addresses, names or message text.

use tracing_subscriber::EnvFilter;

/// Libraries that log the data they handle at debug or trace level, capped whatever
/// `RUST_LOG` says: handlebars logs every template's context (addresses, names, message text)
/// at debug; the mail protocol crates log what goes over the wire.
const PRIVATE_CAPS: &[&str] = &[
    "handlebars=warn",
    "lettre=info",
    "async_imap=info",
    "imap_proto=info",
];

/// `spec` (a `RUST_LOG` value) with [`PRIVATE_CAPS`] added, so that no level asked for
/// lets a library log personal data.
pub fn private_filter(spec: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for cap in PRIVATE_CAPS {
        filter = filter.add_directive(cap.parse().expect("a valid directive"));
    }
    filter
}

/// Logs to stderr; `RUST_LOG` overrides the default level (not the caps of
/// [`private_filter`]).
pub fn init() {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let filter = private_filter(&spec);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init()
        .ok();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_caps_hold_whatever_level_is_asked_for() {
        let filter = super::private_filter("debug,handlebars=trace").to_string();
        assert!(filter.contains("handlebars=warn"), "{filter}");
        assert!(!filter.contains("handlebars=trace"), "{filter}");
        assert!(filter.contains("lettre=info"), "{filter}");
    }
}
