//! Generated history: weeks or years of realistic finished conversations, written straight
//! into the store, so that `serve --demo` shows populated reports on the first start and the
//! report benchmark has a million messages to aggregate. Fixed seed: the same spec always
//! gives the same history. Addresses are on `example.invalid`; nothing is ever sent.

use crate::domain::{AutoKind, EmailAddress, Risk, Role};
use crate::store::{HistoryMessage, HistoryThread, Store, StoreResult};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Debug, Clone)]
pub struct HistorySpec {
    pub n_threads: usize,
    /// Inbound messages in all, at least one per thread.
    pub n_messages: usize,
    /// The history ends here (Unix ms) and starts `days` before.
    pub end_ms: i64,
    pub days: i64,
    pub seed: u64,
    /// Every conversation answered and closed by `end_ms`: history that leaves the queue
    /// empty (the demo), rather than a realistic backlog (the benchmarks).
    pub finished: bool,
}

/// Languages people write in, with a country each is often written from, and a weight.
const LANGUAGES: &[(&str, &[&str], u32)] = &[
    (
        "en",
        &["US", "GB", "AU", "CA", "IE", "NZ", "ZA", "NG", "KE"],
        40,
    ),
    ("es", &["ES", "MX", "AR", "CO", "CL"], 14),
    ("de", &["DE", "AT", "CH"], 9),
    ("fr", &["FR", "BE", "CA", "CH"], 8),
    ("pt", &["BR", "PT"], 8),
    ("ja", &["JP"], 4),
    ("it", &["IT"], 3),
    ("nl", &["NL", "BE"], 3),
    ("sv", &["SE"], 2),
    ("ko", &["KR"], 2),
    ("pl", &["PL"], 2),
    ("tr", &["TR"], 2),
    ("hi", &["IN"], 1),
    ("th", &["TH"], 1),
    ("vi", &["VN"], 1),
];

/// The first demo navigator: when it exists, the demo history has been written.
pub const DEMO_MARKER: &str = "ana.navigator@demo.invalid";

const NAVIGATORS: &[(&str, &str)] = &[
    ("ana.navigator@demo.invalid", "Ana (demo)"),
    ("ben.navigator@demo.invalid", "Ben (demo)"),
    ("chidi.navigator@demo.invalid", "Chidi (demo)"),
    ("dana.navigator@demo.invalid", "Dana (demo)"),
    ("emi.navigator@demo.invalid", "Emi (demo)"),
];

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A duration drawn around `median` with a long right tail (log-normal, sigma about 1).
fn around(rng: &mut StdRng, median: i64) -> i64 {
    // The sum of three uniforms is close enough to a normal for a demo.
    let z: f64 = (0..3).map(|_| rng.gen::<f64>()).sum::<f64>() - 1.5;
    ((median as f64) * (z * 2.0).exp()).max(30_000.0) as i64
}

fn pick_language(rng: &mut StdRng) -> (&'static str, &'static str) {
    let total: u32 = LANGUAGES.iter().map(|(_, _, w)| w).sum();
    let mut ticket = rng.gen_range(0..total);
    for (language, countries, weight) in LANGUAGES {
        if ticket < *weight {
            return (language, countries[rng.gen_range(0..countries.len())]);
        }
        ticket -= weight;
    }
    ("en", "US")
}

/// Makes sure the demo navigators exist (they cannot log in: their password hash is not a
/// hash) and returns their user ids.
pub async fn ensure_navigators(store: &dyn Store, now: i64) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::new();
    for (email, name) in NAVIGATORS {
        let Ok(address) = EmailAddress::parse(email) else {
            continue;
        };
        let id = match store.user_by_email(&address).await? {
            Some(user) => user.id,
            None => {
                store
                    .create_user(&address, name, Role::Navigator, "!no-login", now)
                    .await?
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// One batch of threads (batch `index` of `HistorySpec::n_threads / size`), deterministic.
pub fn generate_batch(
    spec: &HistorySpec,
    navigators: &[i64],
    index: usize,
    size: usize,
) -> Vec<HistoryThread> {
    let mut rng =
        StdRng::seed_from_u64(spec.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let first = index * size;
    let last = (first + size).min(spec.n_threads);
    let extra_per_thread =
        spec.n_messages.saturating_sub(spec.n_threads) as f64 / spec.n_threads.max(1) as f64;
    let start_ms = spec.end_ms - spec.days * DAY;
    let mut threads = Vec::with_capacity(last.saturating_sub(first));
    // Batch by batch through the span, as a real database fills: threads are created when
    // their first message arrives, so rows lie in time order, which the reports' range
    // scans depend on.
    let n_batches = spec.n_threads.div_ceil(size.max(1)).max(1) as i64;
    let days = spec.days.max(1);
    let day_from = days * index as i64 / n_batches;
    let day_to = (days * (index as i64 + 1) / n_batches).max(day_from + 1);
    for n in first..last {
        // Spread over the batch's days, busier in the day.
        let day = rng.gen_range(day_from..day_to);
        let mut first_at = start_ms + day * DAY + around(&mut rng, 14 * HOUR).min(DAY - MINUTE);
        if first_at >= spec.end_ms {
            first_at = spec.end_ms - rng.gen_range(MINUTE..12 * HOUR);
        }
        let (language, country) = pick_language(&mut rng);
        let roll: f64 = rng.gen();
        let auto_kind = if roll < 0.06 {
            AutoKind::Bulk
        } else if roll < 0.09 {
            AutoKind::AutoReply
        } else {
            AutoKind::None
        };
        let risk = match rng.gen::<f64>() {
            r if r < 0.08 && auto_kind == AutoKind::None => Risk::Crisis,
            r if r < 0.38 && auto_kind == AutoKind::None => Risk::Concern,
            _ => Risk::None,
        };
        let mut n_inbound = 1;
        while (rng.gen::<f64>()) < extra_per_thread / (1.0 + extra_per_thread) {
            n_inbound += 1;
        }
        let age = spec.end_ms - first_at;
        let mut thread = HistoryThread {
            contact_email: format!("person-{n}@example.invalid"),
            subject: format!("Conversation {n}"),
            language: (rng.gen::<f64>() > 0.03).then(|| language.to_string()),
            country: (rng.gen::<f64>() > 0.12).then(|| country.to_string()),
            risk,
            auto_kind,
            inbound: vec![HistoryMessage {
                received_at: first_at,
                auto_kind,
                text: "(generated history: no text is kept)".into(),
            }],
            acknowledged_at: None,
            replies: Vec::new(),
            closed_at: None,
            n_reopens: 0,
        };
        if auto_kind != AutoKind::None {
            if spec.finished {
                thread.closed_at =
                    Some((first_at + HOUR).min(spec.end_ms - 1_000).max(first_at + 1));
            }
            threads.push(thread);
            continue;
        }
        let ack = first_at + rng.gen_range(2_000..90_000);
        if ack < spec.end_ms {
            thread.acknowledged_at = Some(ack);
        }
        let median_reply = match risk {
            Risk::Crisis => 25 * MINUTE,
            Risk::Concern | Risk::Unknown => 4 * HOUR,
            Risk::None => 16 * HOUR,
        };
        let mut at = first_at;
        let navigator = navigators
            .get(rng.gen_range(0..navigators.len().max(1)))
            .copied();
        for message in 0..n_inbound {
            if message > 0 {
                // The person writes again after our reply.
                at += around(&mut rng, 20 * HOUR);
                if at >= spec.end_ms {
                    break;
                }
                // An out-of-office answer to our acknowledgement now and then.
                let kind = if rng.gen::<f64>() < 0.05 {
                    AutoKind::AutoReply
                } else {
                    AutoKind::None
                };
                thread.inbound.push(HistoryMessage {
                    received_at: at,
                    auto_kind: kind,
                    text: "(generated history: no text is kept)".into(),
                });
            }
            let reply_at = at + around(&mut rng, median_reply);
            if let Some(user) = navigator {
                if reply_at < spec.end_ms {
                    thread.replies.push((reply_at, user));
                    at = reply_at;
                }
            }
        }
        let last_inbound = thread
            .inbound
            .iter()
            .map(|m| m.received_at)
            .max()
            .unwrap_or(first_at);
        // Only a conversation that ended with our reply is closed; one where the person wrote
        // last waits for us.
        if let Some((last_reply, _)) = thread.replies.last().filter(|(at, _)| *at > last_inbound) {
            let close = last_reply + around(&mut rng, 2 * DAY);
            if close < spec.end_ms && age > 2 * DAY && rng.gen::<f64>() < 0.9 {
                thread.closed_at = Some(close);
                thread.n_reopens = i64::from(rng.gen::<f64>() < 0.05);
            }
        }
        if spec.finished && thread.closed_at.is_none() {
            // Answer what is unanswered and close everything before the end.
            let last = thread
                .inbound
                .iter()
                .map(|m| m.received_at)
                .max()
                .unwrap_or(first_at);
            let replied_last = thread.replies.last().is_some_and(|(at, _)| *at > last);
            if let (false, Some(user)) = (replied_last, navigator) {
                let at = (last + 30 * MINUTE)
                    .min(spec.end_ms - 2 * MINUTE)
                    .max(last + 1_000);
                thread.replies.push((at, user));
            }
            let after = thread.replies.last().map_or(last, |(at, _)| *at);
            thread.closed_at = Some((after + HOUR).min(spec.end_ms - MINUTE).max(after + 1_000));
        }
        threads.push(thread);
    }
    threads.sort_by_key(|thread| thread.inbound[0].received_at);
    threads
}

/// Generates the whole history into the store, in batches.
pub async fn insert(store: &dyn Store, spec: &HistorySpec, now: i64) -> StoreResult<usize> {
    let navigators = ensure_navigators(store, now).await?;
    const BATCH: usize = 5_000;
    let mut n_threads = 0;
    for index in 0..spec.n_threads.div_ceil(BATCH) {
        let batch = generate_batch(spec, &navigators, index, BATCH);
        n_threads += batch.len();
        store.insert_history(&batch).await?;
    }
    Ok(n_threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_spec_gives_the_same_history() {
        let spec = HistorySpec {
            n_threads: 300,
            n_messages: 1_000,
            end_ms: 1_800_000_000_000,
            days: 28,
            seed: 7,
            finished: false,
        };
        let a = generate_batch(&spec, &[1, 2], 0, 300);
        let b = generate_batch(&spec, &[1, 2], 0, 300);
        assert_eq!(a.len(), 300);
        let times = |threads: &[HistoryThread]| {
            threads
                .iter()
                .map(|t| (t.inbound[0].received_at, t.replies.len(), t.closed_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(times(&a), times(&b));
        // Everything happened inside the span, in order.
        for thread in &a {
            let first = thread.inbound[0].received_at;
            assert!(first >= spec.end_ms - 29 * DAY && first < spec.end_ms);
            assert!(thread
                .replies
                .iter()
                .all(|(at, _)| *at > first && *at < spec.end_ms));
            assert!(thread
                .closed_at
                .is_none_or(|c| c > first && c < spec.end_ms));
        }
        let crisis = a.iter().filter(|t| t.risk == Risk::Crisis).count();
        assert!(crisis > 5 && crisis < 60, "{crisis} crisis threads");
        let messages: usize = a.iter().map(|t| t.inbound.len()).sum();
        assert!(messages > 600 && messages < 1_400, "{messages} messages");
        assert!(
            a.iter().any(|t| t.closed_at.is_none()),
            "a backlog is left open"
        );
        let finished = HistorySpec {
            finished: true,
            ..spec.clone()
        };
        for thread in generate_batch(&finished, &[1, 2], 0, 300) {
            let close = thread.closed_at.expect("every thread is closed");
            assert!(close <= spec.end_ms);
            let last = thread.inbound.iter().map(|m| m.received_at).max().unwrap();
            assert!(close > last, "closed after the last message");
            if thread.auto_kind == AutoKind::None {
                assert!(
                    thread.replies.last().unwrap().0 > last,
                    "the last message was answered"
                );
            }
        }
    }
}
