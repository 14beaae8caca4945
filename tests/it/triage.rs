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

#[test]
fn language_detection_on_sentences() {
    let report = concierge::eval::evaluate_language(
        &fixtures().join("language/sentences.tsv"),
        &triage_config(),
    )
    .unwrap();
    assert!(report.per_language.len() >= 25);
    assert!(
        report.long.accuracy() >= 0.95,
        "60-220 characters: {:.3}",
        report.long.accuracy()
    );
    assert!(
        report.short.accuracy() >= 0.65,
        "under 40 characters: {:.3}",
        report.short.accuracy()
    );
}
