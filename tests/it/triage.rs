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

// With the learned detector retrained on data/crisis-train (2026-12-03): risk 73.3% (77.6%
// before that data; the classifier raises some "none" to
// concern; it was 84.8% with the lexicons alone), crisis flagged 100% (52/52, was 88.5%),
// false crises 2 (as before).
const THRESHOLD_RISK: f64 = 0.73;
const THRESHOLD_CRISIS_FLAGGED: f64 = 0.98;

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

/// The crisis evaluation on the code sample (not evaluation data): the items are read, built
/// into mail, parsed, triaged and counted per split and per language. Only the counts that do
/// not depend on the lexicons are checked; the thresholds belong to the labelled set.
#[test]
fn the_crisis_evaluation_counts_the_sample_per_split_and_language() {
    use concierge::eval::{evaluate_crisis, Split};
    let dir = fixtures().join("crisis-sample");
    let run = |split| evaluate_crisis(&dir, split, &triage_config()).unwrap();
    let (dev, test, all) = (run(Split::Dev), run(Split::Test), run(Split::All));
    assert_eq!(all.n_files, 2);
    assert_eq!((dev.overall.n, test.overall.n, all.overall.n), (5, 3, 8));
    assert_eq!(all.overall.crisis_recall.n, 3);
    assert_eq!(all.overall.crisis_flagged.n, 3);
    assert_eq!(all.overall.false_crisis.n, 5);
    assert_eq!(dev.per_language["en"].n, 3);
    assert_eq!(dev.per_language["de"].n, 2);
    assert_eq!(test.per_language["en"].crisis_recall.n, 1);
    assert_eq!(test.per_language["de"].false_crisis.n, 1);
    for report in [&dev, &test, &all] {
        let scores = &report.overall;
        assert!(scores.crisis_recall.hits <= scores.crisis_flagged.hits);
        assert!(report.misses.len() <= scores.n);
        let (low, high) = scores.crisis_recall.interval();
        assert!(0.0 <= low && low <= high && high <= 1.0);
    }
    // English and German have lexicons: nothing there is "risk unknown".
    assert_eq!(all.overall.n_unknown, 0);
    let table = all.render(false);
    assert!(
        table.contains("split all: 8 messages from 2 files"),
        "{table}"
    );
    assert!(
        !table.contains("expected"),
        "misses only when asked: {table}"
    );
    assert_eq!(
        all.render(true).matches("expected").count(),
        all.misses.len(),
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

/// Crisis detection on the independent labelled set (tests/fixtures/crisis, 40 languages),
/// split by split. Issue 9's target is 95% recall with at most 5% false crisis; these floors are
/// the figures reached so far (docs/BENCHMARKS.md) and only stop a regression. Only the totals
/// are read here: nobody looks at the test split's misses while tuning.
#[test]
fn crisis_detection_on_the_independent_set_keeps_its_figures() {
    use concierge::eval::{evaluate_crisis, Split};
    for (split, min_recall, min_flagged, max_false_crisis) in [
        (
            Split::Dev,
            CRISIS_DEV_RECALL,
            CRISIS_DEV_FLAGGED,
            CRISIS_DEV_FALSE,
        ),
        (
            Split::Test,
            CRISIS_TEST_RECALL,
            CRISIS_TEST_FLAGGED,
            CRISIS_TEST_FALSE,
        ),
    ] {
        let report = evaluate_crisis(&fixtures().join("crisis"), split, &triage_config()).unwrap();
        let scores = &report.overall;
        let summary = format!(
            "{split:?}: recall {:?}, flagged {:?}, false crisis {:?}",
            scores.crisis_recall.value(),
            scores.crisis_flagged.value(),
            scores.false_crisis.value()
        );
        assert!(scores.n >= 500, "{summary}");
        assert!(report.per_language.len() >= 40, "{summary}");
        assert!(
            scores.crisis_recall.value().unwrap() >= min_recall,
            "{summary}"
        );
        assert!(
            scores.crisis_flagged.value().unwrap() >= min_flagged,
            "{summary}"
        );
        assert!(
            scores.false_crisis.value().unwrap() <= max_false_crisis,
            "{summary}"
        );
    }
}

// Reached on 2026-12-03 with the lexicons and the learned detector combined: dev 200/200 crisis
// found, 200/200 flagged, 32/360 false crisis (the classifier was trained on dev, so these only
// stop a regression; its cross-validated figures are in data/crisis-model/README.md); test
// 129/200, 194/200, 25/320 after retraining with data/crisis-train (was 110/200, 186/200,
// 23/320 without it). Lexicons alone: test 79/200, 95/200, 11/320.
const CRISIS_DEV_RECALL: f64 = 0.99;
const CRISIS_DEV_FLAGGED: f64 = 0.99;
const CRISIS_DEV_FALSE: f64 = 0.09;
const CRISIS_TEST_RECALL: f64 = 0.64;
const CRISIS_TEST_FLAGGED: f64 = 0.965;
const CRISIS_TEST_FALSE: f64 = 0.08;
