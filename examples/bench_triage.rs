//! Triage cost (issue 11, item 3): the time per message of the full triage against whatlang
//! alone on the same texts, and where the triage time goes by stage.
//!
//! Usage: bench_triage MAILDIR [ROUNDS]
//!
//! Every file under `MAILDIR/new` and `MAILDIR/cur` is parsed once (not timed); then, for
//! each stage, all messages are run through it `ROUNDS` times (default 3) and the best round
//! is kept, so a busy neighbour on a shared machine inflates the figures less. Stages:
//! whatlang's `detect` on the new text (the baseline), the new-text split, language, auto-mail,
//! crisis lexicons, learned crisis detector, country, and `triage::triage` as the ingester
//! calls it. Prints microseconds per message and the ratio of the full triage to whatlang.

use concierge::mail::{parse_message, ParsedMessage};
use concierge::triage::{self, SenderHistory, TriageConfig};
use std::hint::black_box;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        anyhow::bail!("usage: bench_triage MAILDIR [ROUNDS]");
    };
    let rounds: usize = args.get(2).map(|r| r.parse()).transpose()?.unwrap_or(3);
    let mut paths = Vec::new();
    for sub in ["new", "cur"] {
        let path = std::path::Path::new(dir).join(sub);
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                paths.push(entry?.path());
            }
        }
    }
    paths.sort();
    let mut messages: Vec<ParsedMessage> = Vec::with_capacity(paths.len());
    for path in &paths {
        if let Ok(message) = parse_message(&std::fs::read(path)?) {
            messages.push(message);
        }
    }
    anyhow::ensure!(
        !messages.is_empty(),
        "no messages under {dir}/new or {dir}/cur"
    );
    let settings = concierge::config::Settings::load(None)?;
    let config = TriageConfig::from_settings(&settings);
    let history = SenderHistory::default();
    let parts: Vec<triage::text::TextParts> = messages
        .iter()
        .map(|m| triage::text::split_new_text(&m.text))
        .collect();
    // Warm the lazily built lexicons, model and lingua detectors.
    black_box(triage::triage(&messages[0], &history, &config));

    let n = messages.len();
    let time = |f: &dyn Fn(usize)| -> f64 {
        (0..rounds)
            .map(|_| {
                let start = Instant::now();
                for i in 0..n {
                    f(i);
                }
                start.elapsed().as_secs_f64() * 1e6 / n as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    let whatlang = time(&|i| {
        black_box(whatlang::detect(&parts[i].new_text));
    });
    let split = time(&|i| {
        black_box(triage::text::split_new_text(&messages[i].text));
    });
    let language = time(&|i| {
        black_box(triage::language::detect(
            &messages[i],
            &parts[i].new_text,
            &history,
            &config,
        ));
    });
    let auto = time(&|i| {
        black_box(triage::auto::detect(&messages[i], &config));
    });
    let lexicons = time(&|i| {
        let subject = triage::subject_read_for_risk(&messages[i]);
        black_box(triage::risk::assess(subject, &parts[i].new_text));
    });
    let classifier = time(&|i| {
        let subject = triage::subject_read_for_risk(&messages[i]);
        black_box(triage::classifier::model().score(&format!("{subject}\n{}", parts[i].new_text)));
    });
    let country = time(&|i| {
        black_box(triage::country::detect(
            &messages[i],
            &parts[i].new_text,
            &parts[i].signature,
            &history,
        ));
    });
    let full = time(&|i| {
        black_box(triage::triage(&messages[i], &history, &config));
    });
    let words: usize = parts
        .iter()
        .map(|p| p.new_text.split_whitespace().count())
        .sum();
    println!(
        "{n} messages from {dir}, {} words of new text per message on average, best of {rounds} rounds",
        words / n
    );
    println!("| stage | µs per message |");
    println!("| --- | --- |");
    for (name, micros) in [
        ("whatlang::detect alone (baseline)", whatlang),
        ("new-text split", split),
        ("language", language),
        ("auto-mail", auto),
        ("crisis lexicons", lexicons),
        ("learned crisis detector", classifier),
        ("country", country),
        ("full triage", full),
    ] {
        println!("| {name} | {micros:.1} |");
    }
    println!("full triage / whatlang = {:.2}", full / whatlang);
    Ok(())
}
