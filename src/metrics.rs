//! `/metrics`: the Prometheus text exposition format 0.0.4, written by hand (no dependency).
//!
//! The values come from the database at scrape time ([`crate::store::Store::metrics_snapshot`]),
//! so every instance and web node shows the same counts, plus a few counters of this process
//! (its mail source's poll rounds). Labels are codes from fixed sets (risk levels, auto-mail
//! kinds, outbox statuses) and mailbox keys from the configuration: never an address, a name,
//! a subject or message text.

use crate::domain::{AutoKind, Risk};
use crate::health::PollWatch;
use crate::store::MetricsSnapshot;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const RISKS: [Risk; 4] = [Risk::Crisis, Risk::Concern, Risk::Unknown, Risk::None];
const AUTO_KINDS: [AutoKind; 5] = [
    AutoKind::None,
    AutoKind::AutoReply,
    AutoKind::Bounce,
    AutoKind::Bulk,
    AutoKind::Own,
];
/// The outbox statuses always shown (0 when there is none), so that series do not appear and
/// vanish.
const OUTBOX_STATUSES: [&str; 4] = ["queued", "sending", "sent", "failed"];

/// A text exposition being written: `# HELP` and `# TYPE` once per family, then its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Integers without a decimal point, other values as Rust prints them (`+Inf`, `NaN` spelled
/// the Prometheus way).
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn count_of(pairs: &[(String, i64)], key: &str) -> i64 {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, n)| *n)
        .sum()
}

/// The whole exposition for a snapshot taken at `now` (Unix milliseconds).
pub fn render(snapshot: &MetricsSnapshot, watch: &PollWatch, now: i64) -> String {
    let mut out = Exposition::default();

    out.family(
        "concierge_raw_messages_total",
        "counter",
        "Raw messages stored (each message read from any source, once).",
    );
    out.sample(
        "concierge_raw_messages_total",
        &[],
        snapshot.raw_messages as f64,
    );
    out.family(
        "concierge_raw_messages_processed_total",
        "counter",
        "Raw messages parsed, triaged and put on a thread.",
    );
    out.sample(
        "concierge_raw_messages_processed_total",
        &[],
        snapshot.raw_processed as f64,
    );
    out.family(
        "concierge_raw_messages_unprocessed",
        "gauge",
        "Raw messages stored but not yet on a thread.",
    );
    out.sample(
        "concierge_raw_messages_unprocessed",
        &[],
        (snapshot.raw_messages - snapshot.raw_processed).max(0) as f64,
    );

    out.family(
        "concierge_inbound_messages_by_risk_total",
        "counter",
        "Inbound messages by the risk level triage gave them.",
    );
    for risk in RISKS {
        out.sample(
            "concierge_inbound_messages_by_risk_total",
            &[("risk", risk.as_str())],
            count_of(&snapshot.messages_by_risk, risk.as_str()) as f64,
        );
    }
    out.family(
        "concierge_inbound_messages_by_auto_kind_total",
        "counter",
        "Inbound messages by auto-mail kind (none: written by a person).",
    );
    for kind in AUTO_KINDS {
        out.sample(
            "concierge_inbound_messages_by_auto_kind_total",
            &[("auto_kind", kind.as_str())],
            count_of(&snapshot.messages_by_auto_kind, kind.as_str()) as f64,
        );
    }

    out.family(
        "concierge_queue_depth",
        "gauge",
        "Open threads waiting for a navigator, by risk level.",
    );
    for risk in RISKS {
        let waiting = snapshot
            .queue
            .iter()
            .filter(|row| row.risk == risk.as_str())
            .map(|row| row.waiting)
            .sum::<i64>();
        out.sample(
            "concierge_queue_depth",
            &[("risk", risk.as_str())],
            waiting as f64,
        );
    }
    out.family(
        "concierge_queue_oldest_wait_seconds",
        "gauge",
        "How long the longest-waiting person at each risk level has waited (0 when nobody waits).",
    );
    for risk in RISKS {
        let oldest = snapshot
            .queue
            .iter()
            .filter(|row| row.risk == risk.as_str())
            .filter_map(|row| row.oldest_waiting_since)
            .min();
        let waited = oldest.map(|since| (now - since).max(0)).unwrap_or(0);
        out.sample(
            "concierge_queue_oldest_wait_seconds",
            &[("risk", risk.as_str())],
            seconds(waited),
        );
    }

    out.family("concierge_outbox_rows", "gauge", "Outbox rows by status.");
    let mut statuses: Vec<&str> = OUTBOX_STATUSES.to_vec();
    for (status, _) in &snapshot.outbox_by_status {
        if !statuses.contains(&status.as_str()) {
            statuses.push(status);
        }
    }
    for status in statuses {
        out.sample(
            "concierge_outbox_rows",
            &[("status", status)],
            count_of(&snapshot.outbox_by_status, status) as f64,
        );
    }
    out.family(
        "concierge_outbox_bounced_total",
        "counter",
        "Outbox rows whose mail came back as a bounce.",
    );
    out.sample(
        "concierge_outbox_bounced_total",
        &[],
        snapshot.outbox_bounced as f64,
    );

    let watched = watch.watched(&snapshot.polls, now);
    out.family(
        "concierge_mailbox_last_poll_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful poll of each mailbox (IMAP sync round, Maildir scan).",
    );
    for poll in &snapshot.polls {
        out.sample(
            "concierge_mailbox_last_poll_success_timestamp_seconds",
            &[("mailbox", &poll.mailbox)],
            seconds(poll.last_success_at),
        );
    }
    out.family(
        "concierge_mailbox_poll_lag_seconds",
        "gauge",
        "Seconds since the last successful poll of each mailbox.",
    );
    for poll in &snapshot.polls {
        out.sample(
            "concierge_mailbox_poll_lag_seconds",
            &[("mailbox", &poll.mailbox)],
            seconds((now - poll.last_success_at).max(0)),
        );
    }
    out.family(
        "concierge_mailbox_poll_stalled",
        "gauge",
        "1 when a mailbox this instance watches had no successful poll within alerts.stalled_poll_minutes.",
    );
    for watched in &watched {
        out.sample(
            "concierge_mailbox_poll_stalled",
            &[("mailbox", &watched.mailbox)],
            if watched.stalled { 1.0 } else { 0.0 },
        );
    }
    out.family(
        "concierge_mailbox_poll_stall_threshold_seconds",
        "gauge",
        "alerts.stalled_poll_minutes, in seconds.",
    );
    out.sample(
        "concierge_mailbox_poll_stall_threshold_seconds",
        &[],
        seconds(watch.stalled_after_ms),
    );

    if let Some(own) = &watch.own {
        out.family(
            "concierge_poll_rounds_total",
            "counter",
            "Poll rounds of this process's mail source since it started, by outcome.",
        );
        let ok = crate::source::POLL_ROUNDS_OK.load(Ordering::Relaxed);
        let failed = crate::source::POLL_ROUNDS_FAILED.load(Ordering::Relaxed);
        out.sample(
            "concierge_poll_rounds_total",
            &[("mailbox", own), ("outcome", "ok")],
            ok as f64,
        );
        out.sample(
            "concierge_poll_rounds_total",
            &[("mailbox", own), ("outcome", "error")],
            failed as f64,
        );
    }
    out.family(
        "concierge_start_time_seconds",
        "gauge",
        "Unix time this process started.",
    );
    out.sample(
        "concierge_start_time_seconds",
        &[],
        seconds(watch.started_at),
    );
    out.family(
        "concierge_build_info",
        "gauge",
        "The running version (always 1).",
    );
    out.sample(
        "concierge_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PollStatus, QueueDepth};

    #[test]
    fn label_values_and_numbers_are_written_as_the_format_wants() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(1_764_000_000.123), "1764000000.123");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        let mut out = Exposition::default();
        out.family("x_total", "counter", "Things.\nMore");
        out.sample("x_total", &[("a", "1"), ("b", "q\"")], 2.0);
        out.sample("x_total", &[], 0.0);
        assert_eq!(
            out.finish(),
            "# HELP x_total Things.\\nMore\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 2\nx_total 0\n"
        );
    }

    #[test]
    fn every_family_has_help_and_type_and_every_level_a_series() {
        let snapshot = MetricsSnapshot {
            raw_messages: 5,
            raw_processed: 4,
            messages_by_risk: vec![("crisis".into(), 1), ("none".into(), 3)],
            messages_by_auto_kind: vec![("none".into(), 3), ("bounce".into(), 1)],
            queue: vec![QueueDepth {
                risk: "crisis".into(),
                waiting: 1,
                oldest_waiting_since: Some(40_000),
            }],
            outbox_by_status: vec![("sent".into(), 2)],
            outbox_bounced: 0,
            polls: vec![PollStatus {
                mailbox: "imap:h/INBOX".into(),
                last_success_at: 70_000,
            }],
        };
        let watch = PollWatch {
            own: Some("imap:h/INBOX".into()),
            watch_all: false,
            started_at: 0,
            stalled_after_ms: 15 * 60_000,
        };
        let text = render(&snapshot, &watch, 100_000);
        for line in [
            "concierge_raw_messages_total 5",
            "concierge_raw_messages_unprocessed 1",
            "concierge_inbound_messages_by_risk_total{risk=\"crisis\"} 1",
            "concierge_inbound_messages_by_risk_total{risk=\"concern\"} 0",
            "concierge_inbound_messages_by_auto_kind_total{auto_kind=\"bounce\"} 1",
            "concierge_queue_depth{risk=\"crisis\"} 1",
            "concierge_queue_depth{risk=\"none\"} 0",
            "concierge_queue_oldest_wait_seconds{risk=\"crisis\"} 60",
            "concierge_outbox_rows{status=\"sent\"} 2",
            "concierge_outbox_rows{status=\"failed\"} 0",
            "concierge_mailbox_last_poll_success_timestamp_seconds{mailbox=\"imap:h/INBOX\"} 70",
            "concierge_mailbox_poll_lag_seconds{mailbox=\"imap:h/INBOX\"} 30",
            "concierge_mailbox_poll_stalled{mailbox=\"imap:h/INBOX\"} 0",
            "concierge_mailbox_poll_stall_threshold_seconds 900",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        // Every sample belongs to a family declared just before it.
        let mut declared: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last(), Some(&name), "{line}");
            }
        }
    }
}
