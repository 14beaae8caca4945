//! The triage evaluation: a folder of labelled `.eml` files (`labels*.csv` with
//! `file,language,country,risk,auto`) run through triage, with accuracy per field and per
//! language, and every disagreement listed. `concierge triage --eval DIR` prints it.

use crate::domain::{AutoKind, Risk};
use crate::mail::parse_message;
use crate::triage::{self, SenderHistory, TriageConfig};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Label {
    pub file: String,
    pub language: String,
    pub country: String,
    pub risk: Risk,
    pub auto: AutoKind,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FieldScore {
    pub n: usize,
    pub correct: usize,
}

impl FieldScore {
    fn add(&mut self, correct: bool) {
        self.n += 1;
        self.correct += usize::from(correct);
    }

    pub fn accuracy(&self) -> f64 {
        if self.n == 0 {
            1.0
        } else {
            self.correct as f64 / self.n as f64
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    pub n_messages: usize,
    pub language: FieldScore,
    pub country: FieldScore,
    pub risk: FieldScore,
    pub auto: FieldScore,
    /// Crisis messages found as crisis (the number that matters most).
    pub crisis_recall: FieldScore,
    /// Crisis messages found as at least concern: none reaches the queue unflagged.
    pub crisis_flagged: FieldScore,
    /// Messages labelled none that were flagged crisis.
    pub false_crisis: usize,
    /// A country given where the label is another country or unknown: a wrong crisis line.
    pub wrong_country: usize,
    /// Countries left unknown where the label has one.
    pub missed_country: usize,
    pub per_language: BTreeMap<String, [FieldScore; 4]>,
    pub disagreements: Vec<String>,
    /// Parse and triage time per message, after the first pass (tables loaded).
    pub micros_per_message: f64,
}

/// Reads every `labels*.csv` of a folder.
pub fn read_labels(dir: &Path) -> anyhow::Result<Vec<Label>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("labels"))
                && p.extension().is_some_and(|e| e == "csv")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no labels*.csv in {}", dir.display());
    }
    let mut labels = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for (line_number, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [file, language, country, risk, auto] = fields[..] else {
                anyhow::bail!("{}:{}: expected 5 fields", path.display(), line_number + 1);
            };
            labels.push(Label {
                file: file.to_string(),
                language: language.to_string(),
                country: country.to_string(),
                risk: Risk::parse(risk).with_context(|| {
                    format!("{}:{}: risk {risk:?}", path.display(), line_number + 1)
                })?,
                auto: AutoKind::parse(auto).with_context(|| {
                    format!("{}:{}: auto {auto:?}", path.display(), line_number + 1)
                })?,
            });
        }
    }
    Ok(labels)
}

/// Runs triage over a labelled folder.
pub fn evaluate(dir: &Path, config: &TriageConfig) -> anyhow::Result<EvalReport> {
    let labels = read_labels(dir)?;
    let mut report = EvalReport::default();
    for label in &labels {
        let raw = std::fs::read(dir.join(&label.file))
            .with_context(|| format!("reading {}", label.file))?;
        let parsed =
            parse_message(&raw).map_err(|failure| anyhow::anyhow!("{}: {failure}", label.file))?;
        let decision = triage::triage(&parsed, &SenderHistory::default(), config).decision;
        let language = decision
            .language
            .as_ref()
            .map(|d| d.value.to_string())
            .unwrap_or_else(|| "?".into());
        let country = decision
            .country
            .as_ref()
            .map(|d| d.value.to_string())
            .unwrap_or_else(|| "unknown".into());
        let risk = decision.risk.value;
        let auto = decision.auto_kind.value;
        report.n_messages += 1;
        let checks = [
            (
                "language",
                language == label.language,
                language.clone(),
                label.language.clone(),
            ),
            (
                "country",
                country == label.country,
                country.clone(),
                label.country.clone(),
            ),
            (
                "risk",
                risk == label.risk,
                risk.as_str().to_string(),
                label.risk.as_str().to_string(),
            ),
            (
                "auto",
                auto == label.auto,
                auto.as_str().to_string(),
                label.auto.as_str().to_string(),
            ),
        ];
        let per_language = report
            .per_language
            .entry(label.language.clone())
            .or_default();
        for (index, (field, correct, got, expected)) in checks.iter().enumerate() {
            per_language[index].add(*correct);
            if !correct {
                let why = match *field {
                    "risk" => decision
                        .risk
                        .evidence
                        .iter()
                        .map(|e| e.detail.clone())
                        .collect::<Vec<_>>()
                        .join(" | "),
                    "country" => decision
                        .country
                        .as_ref()
                        .map(|d| {
                            d.evidence
                                .iter()
                                .map(|e| e.detail.clone())
                                .collect::<Vec<_>>()
                                .join(" | ")
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                report.disagreements.push(format!(
                    "{} {field}: expected {expected}, got {got} {why}",
                    label.file
                ));
            }
        }
        report.language.add(checks[0].1);
        report.country.add(checks[1].1);
        report.risk.add(checks[2].1);
        report.auto.add(checks[3].1);
        if label.risk == Risk::Crisis {
            report.crisis_recall.add(risk == Risk::Crisis);
            report.crisis_flagged.add(risk >= Risk::Concern);
        }
        if label.risk == Risk::None && risk == Risk::Crisis {
            report.false_crisis += 1;
        }
        if country != "unknown" && country != label.country {
            report.wrong_country += 1;
        }
        if country == "unknown" && label.country != "unknown" {
            report.missed_country += 1;
        }
    }
    let raws: Vec<Vec<u8>> = labels
        .iter()
        .filter_map(|label| std::fs::read(dir.join(&label.file)).ok())
        .collect();
    let start = std::time::Instant::now();
    for raw in &raws {
        if let Ok(parsed) = parse_message(raw) {
            std::hint::black_box(triage::triage(&parsed, &SenderHistory::default(), config));
        }
    }
    report.micros_per_message = start.elapsed().as_secs_f64() * 1e6 / raws.len().max(1) as f64;
    Ok(report)
}

impl EvalReport {
    /// The report as a text table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let pct = |score: &FieldScore| {
            format!(
                "{:5.1}% ({}/{})",
                100.0 * score.accuracy(),
                score.correct,
                score.n
            )
        };
        out.push_str(&format!("messages: {}\n", self.n_messages));
        out.push_str(&format!("language:  {}\n", pct(&self.language)));
        out.push_str(&format!(
            "country:   {}  (wrong country given: {}, left unknown: {})\n",
            pct(&self.country),
            self.wrong_country,
            self.missed_country
        ));
        out.push_str(&format!("risk:      {}  (crisis found as crisis: {}, crisis flagged at least concern: {}, false crisis: {})\n", pct(&self.risk), pct(&self.crisis_recall), pct(&self.crisis_flagged), self.false_crisis));
        out.push_str(&format!("auto:      {}\n", pct(&self.auto)));
        out.push_str(&format!(
            "time:      {:.0} µs per message (parse and triage)\n\n",
            self.micros_per_message
        ));
        out.push_str("lang     n  language  country   risk      auto\n");
        for (language, scores) in &self.per_language {
            out.push_str(&format!(
                "{language:<5} {:>4}  {:>6.1}%  {:>6.1}%  {:>6.1}%  {:>6.1}%\n",
                scores[0].n,
                100.0 * scores[0].accuracy(),
                100.0 * scores[1].accuracy(),
                100.0 * scores[2].accuracy(),
                100.0 * scores[3].accuracy()
            ));
        }
        out.push_str("\ndisagreements:\n");
        for line in &self.disagreements {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Length bands of the language evaluation, in characters.
pub const BANDS: [&str; 3] = ["under 40", "40-220", "over 220"];

fn band_of(n_chars: usize) -> usize {
    match n_chars {
        0..40 => 0,
        40..=220 => 1,
        _ => 2,
    }
}

/// One detection method's accuracy per band and time on a sentence file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MethodScore {
    pub method: String,
    pub bands: [FieldScore; 3],
    /// Texts answered "unknown".
    pub unknown: usize,
    pub micros_per_text: f64,
}

/// Language detection measured on a labelled sentence file (`language<TAB>text`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LanguageReport {
    /// The default method per band: under 40, 40 to 220, over 220 characters.
    pub bands: [FieldScore; 3],
    /// Every method compared on the same texts, the default among them.
    pub methods: Vec<MethodScore>,
    pub per_language: BTreeMap<String, [FieldScore; 3]>,
    /// (expected, found) -> count, for the default method; found is "?" for unknown.
    pub confusions: BTreeMap<(String, String), usize>,
    /// Microseconds per text: the default method, and whatlang alone.
    pub micros_ours: f64,
    pub micros_whatlang: f64,
    /// Microseconds per text for the whole of `triage::triage` on a message with the text
    /// as its body (new-text split, language, country, crisis lexicons, auto-mail).
    pub micros_full_triage: f64,
    pub misses: Vec<String>,
}

impl LanguageReport {
    pub fn short(&self) -> &FieldScore {
        &self.bands[0]
    }
    pub fn mid(&self) -> &FieldScore {
        &self.bands[1]
    }
    pub fn long(&self) -> &FieldScore {
        &self.bands[2]
    }
}

/// Reads a sentence file: a header line, then `language<TAB>text` lines.
pub fn read_sentences(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('\t'))
        .map(|(language, sentence)| (language.trim().to_string(), sentence.to_string()))
        .collect())
}

/// Runs language detection over a sentence file, restricted to the served languages, with
/// every method of `triage::language::Method` on the same texts (accuracy and time), and
/// the details (per language, confusions, misses) for the default method.
pub fn evaluate_language(path: &Path, config: &TriageConfig) -> anyhow::Result<LanguageReport> {
    evaluate_language_methods(path, config, &triage::language::Method::ALL, 3)
}

/// `evaluate_language` with a choice of methods and timing rounds (0: no timing), so that
/// tests can measure the default method alone.
pub fn evaluate_language_methods(
    path: &Path,
    config: &TriageConfig,
    methods: &[triage::language::Method],
    rounds: usize,
) -> anyhow::Result<LanguageReport> {
    use triage::language::{detect_text_with, Method, DEFAULT_METHOD};
    let sentences = read_sentences(path)?;
    let mut report = LanguageReport::default();
    for &method in methods {
        let allowed = &config.languages;
        let mut score = MethodScore {
            method: method.name().to_string(),
            ..Default::default()
        };
        for (expected, sentence) in &sentences {
            let band = band_of(sentence.chars().count());
            let detected = detect_text_with(sentence, allowed, method);
            let found = detected
                .as_ref()
                .map(|d| d.value.to_string())
                .unwrap_or_else(|| "?".to_string());
            let correct = &found == expected;
            score.bands[band].add(correct);
            score.unknown += usize::from(found == "?");
            if method == DEFAULT_METHOD {
                report.bands[band].add(correct);
                report.per_language.entry(expected.clone()).or_default()[band].add(correct);
                if !correct {
                    *report
                        .confusions
                        .entry((expected.clone(), found.clone()))
                        .or_default() += 1;
                    let why = detected
                        .map(|d| {
                            d.evidence
                                .iter()
                                .map(|e| format!("{}: {}", e.signal, e.detail))
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default();
                    report
                        .misses
                        .push(format!("{expected} -> {found}: {sentence}  [{why}]"));
                }
            }
        }
        // The pass above loaded every table and model; time the same texts again.
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for (_, sentence) in &sentences {
                std::hint::black_box(detect_text_with(sentence, allowed, method));
            }
        }
        score.micros_per_text =
            start.elapsed().as_secs_f64() * 1e6 / (rounds * sentences.len()).max(1) as f64;
        if method == DEFAULT_METHOD {
            report.micros_ours = score.micros_per_text;
        }
        if method == Method::WhatlangAlone {
            report.micros_whatlang = score.micros_per_text;
        }
        report.methods.push(score);
    }
    if rounds > 0 {
        let messages: Vec<crate::mail::ParsedMessage> = sentences
            .iter()
            .map(|(_, sentence)| crate::mail::ParsedMessage {
                text: sentence.clone(),
                ..Default::default()
            })
            .collect();
        let history = SenderHistory::default();
        for message in &messages {
            std::hint::black_box(triage::triage(message, &history, config));
        }
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            for message in &messages {
                std::hint::black_box(triage::triage(message, &history, config));
            }
        }
        report.micros_full_triage =
            start.elapsed().as_secs_f64() * 1e6 / (rounds * messages.len()).max(1) as f64;
    }
    Ok(report)
}

impl LanguageReport {
    pub fn render(&self) -> String {
        let pct = |score: &FieldScore| {
            format!(
                "{:5.1}% ({}/{})",
                100.0 * score.accuracy(),
                score.correct,
                score.n
            )
        };
        let mut out = String::new();
        for (band, score) in BANDS.iter().zip(&self.bands) {
            out.push_str(&format!("{band:>9} characters: {}\n", pct(score)));
        }
        out.push_str(&format!(
            "time per text: {:.1} µs (whatlang alone {:.1} µs, ratio {:.2}); full triage {:.1} µs per message\n\nmethods compared on the same texts:\n",
            self.micros_ours,
            self.micros_whatlang,
            self.micros_ours / self.micros_whatlang.max(f64::EPSILON),
            self.micros_full_triage
        ));
        out.push_str(&format!(
            "{:<55} {:>20} {:>20} {:>20} {:>8} {:>10}\n",
            "method", BANDS[0], BANDS[1], BANDS[2], "unknown", "µs/text"
        ));
        for method in &self.methods {
            out.push_str(&format!(
                "{:<55} {:>20} {:>20} {:>20} {:>8} {:>10.1}\n",
                method.method,
                pct(&method.bands[0]),
                pct(&method.bands[1]),
                pct(&method.bands[2]),
                method.unknown,
                method.micros_per_text
            ));
        }
        out.push_str("\nlang  under 40  40-220  over 220   (n)\n");
        for (language, scores) in &self.per_language {
            let cell = |score: &FieldScore| {
                if score.n == 0 {
                    "     —".to_string()
                } else {
                    format!("{:5.1}%", 100.0 * score.accuracy())
                }
            };
            out.push_str(&format!(
                "{language:<5} {}   {}   {}   ({}/{}/{})\n",
                cell(&scores[0]),
                cell(&scores[1]),
                cell(&scores[2]),
                scores[0].n,
                scores[1].n,
                scores[2].n
            ));
        }
        let mut confusions: Vec<_> = self.confusions.iter().collect();
        confusions.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        out.push_str("\nconfusions (expected -> found, ? is unknown):\n");
        for ((expected, found), count) in confusions {
            out.push_str(&format!("{expected} -> {found}: {count}\n"));
        }
        out.push_str("\nmisses:\n");
        for miss in &self.misses {
            out.push_str(miss);
            out.push('\n');
        }
        out
    }
}
