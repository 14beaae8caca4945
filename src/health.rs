//! The stalled-inbox alert: which mailboxes this instance watches, when one counts as stalled
//! (pure, from the stored last successful polls), and the serve loop's watcher that logs each
//! stall once. `/healthz`, the web app's banner and `/metrics` ask the same [`PollWatch`].
//!
//! [`Dependencies`] is what this process knows right now about the servers it talks to: the
//! IMAP source and the SMTP client report a connection that fails and one that works again,
//! and `/healthz` says `degraded` while one is unreachable.
//!
//! Alerts name mailbox keys, servers and durations only, never anything from a message.

use crate::clock::human_duration;
use crate::store::{PollStatus, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Which mailboxes an instance watches, and for how long a silence is tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollWatch {
    /// The mailbox this instance reads (`crate::source::poll_key`), if it reads one. It is
    /// watched from `started_at` on, so that a fresh instance is not stalled before its first poll.
    pub own: Option<String>,
    /// A web-only node watches every mailbox any instance has polled.
    pub watch_all: bool,
    /// Unix milliseconds.
    pub started_at: i64,
    pub stalled_after_ms: i64,
}

/// One watched mailbox at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub mailbox: String,
    /// Unix milliseconds of the last successful poll, when there has been one.
    pub last_success_at: Option<i64>,
    /// How long it has been quiet, counted from this instance's start for its own mailbox
    /// when that is later than the last poll.
    pub quiet_ms: i64,
    pub stalled: bool,
}

impl Watched {
    /// `no successful poll of imap:mail.example.org/INBOX for 20 min`.
    pub fn reason(&self) -> String {
        format!(
            "no successful poll of {} for {}",
            self.mailbox,
            human_duration(self.quiet_ms)
        )
    }
}

impl PollWatch {
    pub fn from_settings(settings: &crate::config::Settings, started_at: i64) -> PollWatch {
        let own = crate::source::poll_key(settings);
        PollWatch {
            watch_all: own.is_none(),
            own,
            started_at,
            stalled_after_ms: i64::from(settings.alerts.stalled_poll_minutes) * 60_000,
        }
    }

    /// Every watched mailbox, by key: this instance's own one (polled or not yet), and, on a
    /// web-only node, every mailbox with a stored poll.
    pub fn watched(&self, polls: &[PollStatus], now: i64) -> Vec<Watched> {
        let mut keys: BTreeSet<&str> = BTreeSet::new();
        if let Some(own) = &self.own {
            keys.insert(own);
        }
        if self.watch_all {
            keys.extend(polls.iter().map(|poll| poll.mailbox.as_str()));
        }
        keys.into_iter()
            .map(|key| {
                let last_success_at = polls
                    .iter()
                    .find(|poll| poll.mailbox == key)
                    .map(|poll| poll.last_success_at);
                let since = if self.own.as_deref() == Some(key) {
                    last_success_at.unwrap_or(i64::MIN).max(self.started_at)
                } else {
                    last_success_at.unwrap_or(self.started_at)
                };
                let quiet_ms = now.saturating_sub(since).max(0);
                Watched {
                    mailbox: key.to_string(),
                    last_success_at,
                    quiet_ms,
                    stalled: quiet_ms > self.stalled_after_ms,
                }
            })
            .collect()
    }

    /// The stalled mailboxes only.
    pub fn stalls(&self, polls: &[PollStatus], now: i64) -> Vec<Watched> {
        self.watched(polls, now)
            .into_iter()
            .filter(|watched| watched.stalled)
            .collect()
    }
}

/// A server this process depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    Imap,
    Smtp,
}

impl Dependency {
    pub fn label(self) -> &'static str {
        match self {
            Dependency::Imap => "imap",
            Dependency::Smtp => "smtp",
        }
    }
}

/// The servers this process could not reach on its last attempt, and since when.
///
/// One per process in `serve`, shared by the IMAP source, the outbox's SMTP client and the
/// web app; a component built without one (tests, one-off commands) reports to its own.
#[derive(Debug, Default)]
pub struct Dependencies {
    down: Mutex<BTreeMap<Dependency, i64>>,
}

impl Dependencies {
    /// The dependency could not be reached at `now` (Unix ms); the first failure is kept.
    pub fn report_down(&self, dependency: Dependency, now: i64) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if let std::collections::btree_map::Entry::Vacant(entry) = down.entry(dependency) {
            entry.insert(now);
            warn!(
                dependency = dependency.label(),
                "a server is unreachable: /healthz reports degraded"
            );
        }
    }

    /// The dependency answered.
    pub fn report_up(&self, dependency: Dependency, now: i64) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = down.remove(&dependency) {
            info!(
                dependency = dependency.label(),
                down_ms = now - since,
                "the server is reachable again"
            );
        }
    }

    /// Every unreachable dependency with the time it was first found so.
    pub fn down(&self) -> Vec<(Dependency, i64)> {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.iter().map(|(d, since)| (*d, *since)).collect()
    }

    pub fn is_down(&self, dependency: Dependency) -> bool {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.contains_key(&dependency)
    }
}

/// `/healthz`'s body when something is wrong: `degraded: REASON; REASON`, the unreachable
/// servers first, then the stalled mailboxes.
pub fn degraded_body(down: &[(Dependency, i64)], stalls: &[Watched], now: i64) -> String {
    let reasons: Vec<String> = down
        .iter()
        .map(|(dependency, since)| {
            format!(
                "{} server unreachable for {}",
                dependency.label(),
                if now - since < 60_000 {
                    format!("{} s", (now - since).max(0) / 1000)
                } else {
                    human_duration(now - since)
                }
            )
        })
        .chain(stalls.iter().map(Watched::reason))
        .collect();
    format!("degraded: {}", reasons.join("; "))
}

/// Remembers which mailboxes are stalled, so that each stall is logged once.
#[derive(Debug, Default)]
pub struct StallTracker {
    stalled: BTreeSet<String>,
}

impl StallTracker {
    /// The stalls that began since the last update, and the mailboxes that recovered.
    pub fn update(&mut self, stalls: &[Watched]) -> (Vec<Watched>, Vec<String>) {
        let now_stalled: BTreeSet<String> = stalls.iter().map(|s| s.mailbox.clone()).collect();
        let began = stalls
            .iter()
            .filter(|stall| !self.stalled.contains(&stall.mailbox))
            .cloned()
            .collect();
        let recovered = self.stalled.difference(&now_stalled).cloned().collect();
        self.stalled = now_stalled;
        (began, recovered)
    }
}

/// How often the serve loop checks for stalls: a quarter of the threshold, at most a minute.
pub fn check_interval(watch: &PollWatch) -> Duration {
    let ms = (watch.stalled_after_ms / 4).clamp(1_000, 60_000);
    Duration::from_millis(ms as u64)
}

/// The serve loop's watcher: logs an error when a watched mailbox stalls (once per stall) and
/// a line when it recovers, until shutdown.
pub async fn watch_polls(
    store: Arc<dyn Store>,
    watch: PollWatch,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tracker = StallTracker::default();
    let every = check_interval(&watch);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
        match store.poll_statuses().await {
            Ok(polls) => {
                let stalls = watch.stalls(&polls, crate::clock::now_ms());
                let (began, recovered) = tracker.update(&stalls);
                for stall in began {
                    error!(
                        mailbox = %stall.mailbox,
                        quiet_minutes = stall.quiet_ms / 60_000,
                        threshold_minutes = watch.stalled_after_ms / 60_000,
                        "inbox stalled: no successful poll within the threshold"
                    );
                }
                for mailbox in recovered {
                    info!(mailbox = %mailbox, "inbox polled again; the stall is over");
                }
            }
            Err(error) => warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "checking the inbox polls failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn watch(own: Option<&str>) -> PollWatch {
        PollWatch {
            own: own.map(str::to_string),
            watch_all: own.is_none(),
            started_at: 1_000 * MIN,
            stalled_after_ms: 15 * MIN,
        }
    }

    fn poll(mailbox: &str, at: i64) -> PollStatus {
        PollStatus {
            mailbox: mailbox.into(),
            last_success_at: at,
        }
    }

    #[test]
    fn a_fresh_instance_is_not_stalled_before_the_threshold_has_passed_since_its_start() {
        let watch = watch(Some("imap:h/INBOX"));
        // Never polled, and an old poll from before this start: both count from the start.
        for polls in [vec![], vec![poll("imap:h/INBOX", 10 * MIN)]] {
            assert!(watch.stalls(&polls, 1_010 * MIN).is_empty());
            let stalls = watch.stalls(&polls, 1_020 * MIN);
            assert_eq!(stalls.len(), 1);
            assert_eq!(
                degraded_body(&[], &stalls, 0),
                "degraded: no successful poll of imap:h/INBOX for 20 min"
            );
        }
        // A recent poll is fine; one older than the threshold is a stall.
        assert!(watch
            .stalls(&[poll("imap:h/INBOX", 1_100 * MIN)], 1_110 * MIN)
            .is_empty());
        let stalls = watch.stalls(&[poll("imap:h/INBOX", 1_100 * MIN)], 1_116 * MIN);
        assert_eq!(stalls[0].quiet_ms, 16 * MIN);
        assert_eq!(stalls[0].last_success_at, Some(1_100 * MIN));
    }

    #[test]
    fn an_instance_that_reads_mail_watches_only_its_own_mailbox() {
        let watch = watch(Some("imap:h/INBOX"));
        let polls = [
            poll("maildir:var/inbox", 10 * MIN),
            poll("imap:h/INBOX", 1_100 * MIN),
        ];
        let watched = watch.watched(&polls, 1_101 * MIN);
        assert_eq!(watched.len(), 1);
        assert_eq!(watched[0].mailbox, "imap:h/INBOX");
        assert!(!watched[0].stalled);
    }

    #[test]
    fn a_web_only_node_watches_every_polled_mailbox() {
        let watch = watch(None);
        assert!(watch.watched(&[], 5_000 * MIN).is_empty());
        let polls = [
            poll("imap:a/INBOX", 1_100 * MIN),
            poll("imap:b/INBOX", 1_000 * MIN),
        ];
        let stalls = watch.stalls(&polls, 1_110 * MIN);
        assert_eq!(
            degraded_body(&[], &stalls, 0),
            "degraded: no successful poll of imap:b/INBOX for 1 h 50 min"
        );
    }

    #[test]
    fn each_stall_is_reported_once_and_its_end_once() {
        let watch = watch(Some("imap:h/INBOX"));
        let mut tracker = StallTracker::default();
        let stalled = watch.stalls(&[], 1_020 * MIN);
        let (began, recovered) = tracker.update(&stalled);
        assert_eq!((began.len(), recovered.len()), (1, 0));
        let (began, recovered) = tracker.update(&watch.stalls(&[], 1_030 * MIN));
        assert_eq!(
            (began.len(), recovered.len()),
            (0, 0),
            "still the same stall"
        );
        let fresh = [poll("imap:h/INBOX", 1_030 * MIN)];
        let (began, recovered) = tracker.update(&watch.stalls(&fresh, 1_031 * MIN));
        assert_eq!(began.len(), 0);
        assert_eq!(recovered, vec!["imap:h/INBOX".to_string()]);
        let (began, _) = tracker.update(&watch.stalls(&fresh, 1_050 * MIN));
        assert_eq!(began.len(), 1, "a new stall is reported again");
    }

    #[test]
    fn checks_run_often_enough_for_the_threshold() {
        assert_eq!(check_interval(&watch(None)), Duration::from_secs(60));
        let mut short = watch(None);
        short.stalled_after_ms = MIN;
        assert_eq!(check_interval(&short), Duration::from_secs(15));
    }

    #[test]
    fn an_unreachable_server_is_degraded_from_its_first_failure_until_it_answers() {
        let dependencies = Dependencies::default();
        assert!(dependencies.down().is_empty());
        dependencies.report_down(Dependency::Smtp, 1_000);
        dependencies.report_down(Dependency::Smtp, 9_000);
        dependencies.report_down(Dependency::Imap, 5_000);
        let down = dependencies.down();
        assert_eq!(
            down,
            vec![(Dependency::Imap, 5_000), (Dependency::Smtp, 1_000)]
        );
        let stalls = watch(Some("imap:h/INBOX")).stalls(&[], 1_020 * MIN);
        assert_eq!(
            degraded_body(&down, &stalls[..0], 13_000),
            "degraded: imap server unreachable for 8 s; smtp server unreachable for 12 s"
        );
        assert_eq!(
            degraded_body(&down[1..], &stalls, 1_000 + 3 * MIN),
            "degraded: smtp server unreachable for 3 min; no successful poll of imap:h/INBOX for 20 min"
        );
        dependencies.report_up(Dependency::Smtp, 20_000);
        assert!(!dependencies.is_down(Dependency::Smtp));
        assert!(dependencies.is_down(Dependency::Imap));
    }
}
