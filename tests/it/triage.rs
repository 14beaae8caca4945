//! The triage evaluation on the labelled sets, with thresholds at the figures reached
//! (see docs/BENCHMARKS.md). A drop below them fails the build.

use crate::harness::{fixtures, triage_config};

#[test]
fn the_labelled_set_keeps_its_accuracy() {
    let report = concierge::eval::evaluate(&fixtures().join("triage"), &triage_config()).unwrap();
    let summary = format!(
        "language {:.3}, country {:.3} (wrong {}), risk {:.3}, crisis recall {:.3}, crisis flagged {:.3}, false crisis {}, auto {:.3}",
        report.language.accuracy(),
        report.country.accuracy(),
        report.wrong_country,
        report.risk.accuracy(),
        report.crisis_recall.accuracy(),
        report.crisis_flagged.accuracy(),
        report.false_crisis,
        report.auto.accuracy()
    );
    assert!(report.n_messages >= 200, "{summary}");
    assert!(report.per_language.len() >= 15, "{summary}");
    assert!(report.language.accuracy() >= 0.97, "{summary}");
    assert!(report.auto.accuracy() >= 0.97, "{summary}");
    assert!(report.country.accuracy() >= 0.84, "{summary}");
    assert!(
        report.wrong_country <= 8,
        "a wrong country means a wrong crisis line: {summary}"
    );
    assert!(report.risk.accuracy() >= THRESHOLD_RISK, "{summary}");
    assert!(
        report.crisis_flagged.accuracy() >= THRESHOLD_CRISIS_FLAGGED,
        "{summary}"
    );
    assert!(report.false_crisis <= 3, "{summary}");
}

const THRESHOLD_RISK: f64 = 0.80;
const THRESHOLD_CRISIS_FLAGGED: f64 = 0.78;

fn language_report(file: &str) -> concierge::eval::LanguageReport {
    concierge::eval::evaluate_language_methods(
        &fixtures().join("language").join(file),
        &triage_config(),
        &[concierge::triage::language::DEFAULT_METHOD],
        0,
    )
    .unwrap()
}

#[test]
fn language_detection_on_sentences() {
    let report = language_report("sentences.tsv");
    assert!(report.per_language.len() >= 25);
    assert!(
        report.mid().accuracy() >= 0.99,
        "60-220 characters: {:.3}",
        report.mid().accuracy()
    );
    assert!(
        report.short().accuracy() >= 0.92,
        "under 40 characters: {:.3}",
        report.short().accuracy()
    );
}

/// Text written by people outside this project (translators of VLC, apt and dpkg), on the
/// half never tuned on; see tests/fixtures/language/README.md.
#[test]
fn language_detection_on_independent_text() {
    let report = language_report("independent-holdout.tsv");
    let summary = format!(
        "under 40 {:.3}, 40-220 {:.3}, over 220 {:.3}",
        report.short().accuracy(),
        report.mid().accuracy(),
        report.long().accuracy()
    );
    assert!(report.per_language.len() >= 40, "{summary}");
    assert!(
        report.mid().accuracy() >= THRESHOLD_INDEPENDENT_MID,
        "{summary}"
    );
    assert!(
        report.short().accuracy() >= THRESHOLD_INDEPENDENT_SHORT,
        "{summary}"
    );
    assert!(
        report.long().accuracy() >= THRESHOLD_INDEPENDENT_LONG,
        "{summary}"
    );
}

const THRESHOLD_INDEPENDENT_MID: f64 = 0.975;
const THRESHOLD_INDEPENDENT_SHORT: f64 = 0.90;
const THRESHOLD_INDEPENDENT_LONG: f64 = 0.98;
