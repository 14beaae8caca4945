//! The triage evaluation: a folder of labelled `.eml` files (`labels*.csv` with
//! `file,language,country,risk,auto`) run through triage, with accuracy per field and per
//! language, and every disagreement listed. `concierge triage --eval DIR` prints it.

use crate::domain::{AutoKind, Risk};
use crate::mail::parse_message;
use crate::triage::classifier::ClassifierUse;
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

// The crisis evaluation: a folder of labelled `.jsonl` files (`tests/fixtures/crisis/`), each
// line a message turned into real mail, parsed and triaged as if it had just arrived.

/// One labelled message of a crisis set (one line of a `.jsonl` file).
#[derive(Debug, Clone, serde::Deserialize, Serialize, PartialEq)]
pub struct CrisisItem {
    pub id: String,
    pub language: String,
    /// `crisis`, `concern` or `none`.
    pub risk: String,
    /// `dev` (look at the misses, tune) or `test` (only the counts, never the misses).
    pub split: String,
    #[serde(default)]
    pub subject: String,
    /// Plain text with `\n` line breaks; may hold quoted history and a signature.
    pub body: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub note: String,
}

/// Which items of a crisis set to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Dev,
    Test,
    All,
}

impl Split {
    pub fn parse(input: &str) -> Option<Split> {
        match input {
            "dev" => Some(Split::Dev),
            "test" => Some(Split::Test),
            "all" => Some(Split::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Dev => "dev",
            Split::Test => "test",
            Split::All => "all",
        }
    }

    fn keeps(self, split: &str) -> bool {
        self == Split::All || self.as_str() == split
    }
}

/// A proportion: `hits` out of `n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub hits: usize,
    pub n: usize,
}

impl Rate {
    fn add(&mut self, hit: bool) {
        self.n += 1;
        self.hits += usize::from(hit);
    }

    /// `None` when there is nothing to measure.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.hits as f64 / self.n as f64)
    }

    /// The 95% Wilson score interval.
    pub fn interval(&self) -> (f64, f64) {
        wilson_interval(self.hits, self.n)
    }
}

/// The 95% Wilson score interval of `successes` out of `n` (z = 1.96): unlike the normal
/// approximation it stays inside [0, 1] and means something at 0 or n successes and for the
/// small per-language counts here. With n = 0 it is the whole [0, 1].
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.96_f64;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let denominator = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denominator;
    let half_width = z / denominator * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt();
    (
        (centre - half_width).max(0.0),
        (centre + half_width).min(1.0),
    )
}

/// Crisis figures for a set of messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CrisisScores {
    pub n: usize,
    /// Labelled crisis, found as crisis.
    pub crisis_recall: Rate,
    /// Labelled crisis, found as concern or crisis by a lexicon ("risk unknown" is not counted:
    /// this measures the lexicons, not the queue).
    pub crisis_flagged: Rate,
    /// Labelled concern or none, found as crisis.
    pub false_crisis: Rate,
    /// Messages triage called "risk unknown" (a language without a lexicon).
    pub n_unknown: usize,
}

impl CrisisScores {
    fn add(&mut self, expected: Risk, got: Risk) {
        self.n += 1;
        if expected == Risk::Crisis {
            self.crisis_recall.add(got == Risk::Crisis);
            self.crisis_flagged
                .add(matches!(got, Risk::Concern | Risk::Crisis));
        } else {
            self.false_crisis.add(got == Risk::Crisis);
        }
        self.n_unknown += usize::from(got == Risk::Unknown);
    }
}

/// A message triage did not label as the set does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrisisMiss {
    pub id: String,
    pub language: String,
    pub expected: Risk,
    pub got: Risk,
    /// The risk evidence: what the lexicons matched, and how it counted.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CrisisReport {
    pub split: Split,
    pub n_files: usize,
    /// The decision triage makes (lexicons and classifier, as configured).
    pub overall: CrisisScores,
    pub per_language: BTreeMap<String, CrisisScores>,
    /// The lexicons alone (the classifier off).
    pub lexicons: DetectorScores,
    /// The learned classifier alone, at its thresholds.
    pub classifier: DetectorScores,
    /// The classifier's mean time per message (features and both heads), in microseconds.
    pub classifier_micros: f64,
    pub misses: Vec<CrisisMiss>,
}

/// One detector's figures, overall and per language.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetectorScores {
    pub overall: CrisisScores,
    pub per_language: BTreeMap<String, CrisisScores>,
}

impl DetectorScores {
    fn add(&mut self, language: &str, expected: Risk, got: Risk) {
        self.overall.add(expected, got);
        self.per_language
            .entry(language.to_string())
            .or_default()
            .add(expected, got);
    }
}

/// Reads every `.jsonl` file of a folder, in name order. Blank lines and lines starting with
/// `//` are skipped; anything else must be a well-formed item, and ids are unique.
pub fn read_crisis_items(dir: &Path) -> anyhow::Result<(usize, Vec<CrisisItem>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no .jsonl files in {}", dir.display());
    }
    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") {
                continue;
            }
            let at = || format!("{}:{}", path.display(), index + 1);
            let item: CrisisItem = serde_json::from_str(line).with_context(at)?;
            if !matches!(item.risk.as_str(), "crisis" | "concern" | "none") {
                anyhow::bail!(
                    "{}: risk {:?} is not crisis, concern or none",
                    at(),
                    item.risk
                );
            }
            if !matches!(item.split.as_str(), "dev" | "test") {
                anyhow::bail!("{}: split {:?} is not dev or test", at(), item.split);
            }
            if !seen.insert(item.id.clone()) {
                anyhow::bail!("{}: id {:?} appears twice", at(), item.id);
            }
            items.push(item);
        }
    }
    Ok((files.len(), items))
}

/// The item as the RFC 5322 message a person would have sent: a fictional sender, the subject
/// (RFC 2047 when it is not ASCII), a UTF-8 text body sent 8bit or base64 (the id decides, so
/// both decoders run), and reply headers when the subject is a reply's.
pub fn crisis_item_message(item: &CrisisItem) -> Vec<u8> {
    use base64::Engine;
    let base64 = base64::engine::general_purpose::STANDARD;
    let local_id: String = item
        .id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let subject = item.subject.replace(['\r', '\n'], " ");
    let mut headers = format!(
        "From: Sample Sender <sender-{local_id}@example.org>\r\nTo: help@concierge.localhost\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <crisis-eval-{local_id}@eval.invalid>\r\n"
    );
    if crate::triage::language::strip_reply_prefixes(&subject) != subject.trim() {
        headers.push_str(&format!(
            "In-Reply-To: <crisis-eval-{local_id}-earlier@eval.invalid>\r\nReferences: <crisis-eval-{local_id}-earlier@eval.invalid>\r\n"
        ));
    }
    headers.push_str("Subject: ");
    if subject.is_ascii() {
        headers.push_str(&subject);
    } else {
        // Encoded words of at most 45 bytes (60 in base64, 72 with the markers), split
        // between characters, folded onto lines of their own.
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in subject.chars() {
            if chunk.len() + c.len_utf8() > 45 {
                words.push(std::mem::take(&mut chunk));
            }
            chunk.push(c);
        }
        words.push(chunk);
        let encoded: Vec<String> = words
            .iter()
            .map(|word| format!("=?utf-8?B?{}?=", base64.encode(word)))
            .collect();
        headers.push_str(&encoded.join("\r\n "));
    }
    headers.push_str("\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n");
    let body = item.body.replace("\r\n", "\n").replace('\n', "\r\n");
    let odd_id = item.id.bytes().map(u32::from).sum::<u32>() % 2 == 1;
    // 8bit lines may not be longer than 998 bytes (RFC 5322): longer ones go as base64.
    let long_line = body.split("\r\n").any(|line| line.len() > 998);
    let mut raw = headers.into_bytes();
    if odd_id || long_line {
        raw.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = base64.encode(body.as_bytes());
        for line in encoded.as_bytes().chunks(76) {
            raw.extend_from_slice(line);
            raw.extend_from_slice(b"\r\n");
        }
    } else {
        raw.extend_from_slice(b"Content-Transfer-Encoding: 8bit\r\n\r\n");
        raw.extend_from_slice(body.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw
}

/// Runs the crisis evaluation over a folder of `.jsonl` files, for one split.
pub fn evaluate_crisis(
    dir: &Path,
    split: Split,
    config: &TriageConfig,
) -> anyhow::Result<CrisisReport> {
    let (n_files, items) = read_crisis_items(dir)?;
    let mut report = CrisisReport {
        split,
        n_files,
        overall: CrisisScores::default(),
        per_language: BTreeMap::new(),
        lexicons: DetectorScores::default(),
        classifier: DetectorScores::default(),
        classifier_micros: 0.0,
        misses: Vec::new(),
    };
    let mut classifier_time = std::time::Duration::ZERO;
    let lexicons_only = TriageConfig {
        classifier: ClassifierUse::Off,
        ..config.clone()
    };
    let model = triage::classifier::model();
    for item in items.iter().filter(|item| split.keeps(&item.split)) {
        let expected = Risk::parse(&item.risk).expect("checked when read");
        let raw = crisis_item_message(item);
        let parsed = parse_message(&raw)
            .map_err(|failure| anyhow::anyhow!("{}: not a message: {failure}", item.id))?;
        let triaged = triage::triage(&parsed, &SenderHistory::default(), config);
        let decision = triaged.decision;
        let got = decision.risk.value;
        let by_lexicons = triage::triage(&parsed, &SenderHistory::default(), &lexicons_only)
            .decision
            .risk
            .value;
        report.lexicons.add(&item.language, expected, by_lexicons);
        let text = format!(
            "{}\n{}",
            triage::subject_read_for_risk(&parsed),
            triaged.parts.new_text
        );
        let started = std::time::Instant::now();
        let scores = model.score(&text);
        classifier_time += started.elapsed();
        report
            .classifier
            .add(&item.language, expected, model.says(scores));
        report.overall.add(expected, got);
        report
            .per_language
            .entry(item.language.clone())
            .or_default()
            .add(expected, got);
        if got != expected {
            report.misses.push(CrisisMiss {
                id: item.id.clone(),
                language: item.language.clone(),
                expected,
                got,
                evidence: decision
                    .risk
                    .evidence
                    .iter()
                    .map(|evidence| evidence.detail.clone())
                    .collect(),
            });
        }
    }
    if report.overall.n > 0 {
        report.classifier_micros = classifier_time.as_secs_f64() * 1e6 / report.overall.n as f64;
    }
    Ok(report)
}

impl CrisisReport {
    /// The report as a text table; the misses only when asked (never look at the test split's
    /// misses while tuning a lexicon).
    pub fn render(&self, show_misses: bool) -> String {
        let rate = |rate: &Rate| match rate.value() {
            None => format!("{:>28}", "-"),
            Some(value) => {
                let (low, high) = rate.interval();
                format!(
                    "{:>5.1}% [{:>5.1}-{:>5.1}] {:>3}/{:<3}",
                    100.0 * value,
                    100.0 * low,
                    100.0 * high,
                    rate.hits,
                    rate.n
                )
            }
        };
        let row = |name: &str, scores: &CrisisScores| {
            format!(
                "{name:<6} {:>5}  {}  {}  {}  {:>7}\n",
                scores.n,
                rate(&scores.crisis_recall),
                rate(&scores.crisis_flagged),
                rate(&scores.false_crisis),
                scores.n_unknown
            )
        };
        let mut out = format!(
            "crisis evaluation, split {}: {} messages from {} files\n\
             recall: labelled crisis found as crisis; flagged: labelled crisis found as concern or crisis;\n\
             false crisis: labelled concern or none found as crisis; [95% Wilson interval]\n",
            self.split.as_str(),
            self.overall.n,
            self.n_files
        );
        let header = format!(
            "{:<6} {:>5}  {:<28}  {:<28}  {:<28}  {:>7}\n",
            "lang", "n", "crisis recall", "crisis flagged", "false crisis", "unknown"
        );
        let combined = DetectorScores {
            overall: self.overall,
            per_language: self.per_language.clone(),
        };
        for (title, detector) in [
            ("lexicons alone", &self.lexicons),
            ("classifier alone (at its thresholds)", &self.classifier),
            ("the decision: lexicons and classifier combined", &combined),
        ] {
            out.push_str(&format!("\n{title}\n"));
            out.push_str(&header);
            for (language, scores) in &detector.per_language {
                out.push_str(&row(language, scores));
            }
            out.push_str(&row("all", &detector.overall));
        }
        out.push_str(&format!(
            "\nall    {:<40} {:<28}  {:<28}  {:<28}\n",
            "", "crisis recall", "crisis flagged", "false crisis"
        ));
        for (title, scores) in [
            ("lexicons", &self.lexicons.overall),
            ("classifier", &self.classifier.overall),
            ("combined", &self.overall),
        ] {
            out.push_str(&format!(
                "       {title:<40} {}  {}  {}\n",
                rate(&scores.crisis_recall),
                rate(&scores.crisis_flagged),
                rate(&scores.false_crisis)
            ));
        }
        out.push_str(&format!(
            "classifier time per message: {:.0} µs (this build)\n",
            self.classifier_micros
        ));
        if show_misses {
            out.push_str(&format!("\nmisses ({}):\n", self.misses.len()));
            for miss in &self.misses {
                out.push_str(&format!(
                    "{} ({}): expected {}, got {}; {}\n",
                    miss.id,
                    miss.language,
                    miss.expected.as_str(),
                    miss.got.as_str(),
                    if miss.evidence.is_empty() {
                        "nothing matched".to_string()
                    } else {
                        miss.evidence.join(" | ")
                    }
                ));
            }
        } else {
            out.push_str(&format!(
                "\n{} misses (--show-misses lists them; never for the test split while tuning)\n",
                self.misses.len()
            ));
        }
        out
    }
}

/// Navigators' risk corrections as lines of the labelled set (`split` dev, `kind` correction):
/// id `corr-<message row id>`, the corrected language or else the detected one (`und` when
/// neither), the corrected risk, and the subject and new text with email addresses and phone
/// numbers replaced. No sender, no signature, no quoted history. When a thread's risk was
/// corrected more than once, the latest correction of each message is its label.
pub fn correction_items(corrections: &[crate::store::RiskCorrection]) -> Vec<CrisisItem> {
    let mut latest: BTreeMap<i64, &crate::store::RiskCorrection> = BTreeMap::new();
    for correction in corrections {
        // Unknown is triage's own word, never a navigator's label.
        if correction.corrected_risk == Risk::Unknown {
            continue;
        }
        let kept = latest.entry(correction.message_id).or_insert(correction);
        if (correction.corrected_at, correction.correction_id)
            > (kept.corrected_at, kept.correction_id)
        {
            *kept = correction;
        }
    }
    let mut chosen: Vec<&crate::store::RiskCorrection> = latest.into_values().collect();
    chosen.sort_by_key(|correction| (correction.corrected_at, correction.correction_id));
    chosen
        .into_iter()
        .map(|correction| CrisisItem {
            id: format!("corr-{}", correction.message_id),
            language: correction
                .corrected_language
                .clone()
                .or_else(|| correction.detected_language.clone())
                .unwrap_or_else(|| "und".into()),
            risk: correction.corrected_risk.as_str().to_string(),
            split: "dev".into(),
            subject: redact_contact_details(&correction.subject),
            body: redact_contact_details(&correction.new_text.replace("\r\n", "\n")),
            kind: "correction".into(),
            note: format!(
                "navigator correction on {}, triage said {}",
                &crate::web::thread::format_time(correction.corrected_at)[..10],
                correction.old_risk.as_deref().unwrap_or("nothing")
            ),
        })
        .collect()
}

/// Replaces email addresses with `[email]` and phone numbers (seven digits or more, with the
/// usual separators) with `[phone]`. It errs on the side of removing too much: a long
/// number of any kind goes.
pub fn redact_contact_details(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_local = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        // An address: the local part is already in `out`; take it back when a domain follows.
        if c == '@' {
            let mut end = index + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            let domain: String = chars[index + 1..end].iter().collect();
            let domain = domain.trim_end_matches(['.', '-']);
            let local_len = out.chars().rev().take_while(|c| is_local(*c)).count();
            if local_len > 0 && domain.contains('.') && !domain.starts_with('.') {
                let keep = out.chars().count() - local_len;
                out = out.chars().take(keep).collect();
                out.push_str("[email]");
                index += 1 + domain.chars().count();
                continue;
            }
        }
        let at_boundary = index == 0 || !chars[index - 1].is_alphanumeric();
        if at_boundary && (c == '+' || c == '(' || c.is_ascii_digit()) {
            let mut end = index;
            let mut last_digit = None;
            let mut n_digits = 0;
            while end < chars.len()
                && (chars[end].is_ascii_digit() || " -./()+".contains(chars[end]))
                && (end == index || chars[end] != '+')
            {
                if chars[end].is_ascii_digit() {
                    n_digits += 1;
                    last_digit = Some(end);
                }
                // Two spaces in a row end a number.
                if chars[end] == ' ' && chars.get(end + 1) == Some(&' ') {
                    break;
                }
                end += 1;
            }
            if let (true, Some(last)) = (n_digits >= 7, last_digit) {
                let followed_by_letter = chars.get(last + 1).is_some_and(|c| c.is_alphanumeric());
                if !followed_by_letter {
                    out.push_str("[phone]");
                    index = last + 1;
                    continue;
                }
            }
        }
        out.push(c);
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: (f64, f64), expected: (f64, f64)) -> bool {
        (actual.0 - expected.0).abs() < 5e-4 && (actual.1 - expected.1).abs() < 5e-4
    }

    #[test]
    fn wilson_intervals_match_hand_computed_values() {
        // By hand, z = 1.96, z² = 3.8416: centre = (p + z²/2n) / (1 + z²/n),
        // half width = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
        // 0/10: centre 0.19208 / 1.38416 = 0.13877, half 1.41602 * 0.09800 = 0.13877.
        assert!(close(wilson_interval(0, 10), (0.0, 0.2775)));
        // 5/10: centre 0.5, half 1.41602 * sqrt(0.025 + 0.009604) = 0.26341.
        assert!(close(wilson_interval(5, 10), (0.2366, 0.7634)));
        assert!(close(wilson_interval(10, 10), (0.7225, 1.0)));
        // 81/100: centre 0.829208 / 1.038416 = 0.79853, half 1.88749 * 0.040436 = 0.07632.
        assert!(close(wilson_interval(81, 100), (0.7222, 0.8749)));
        // 1/3: centre 0.97360 / 2.28053 = 0.42692, half 0.85945 * sqrt(0.074074 + 0.106711)
        // = 0.85945 * 0.42519 = 0.36543.
        assert!(close(wilson_interval(1, 3), (0.0615, 0.7923)));
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    fn item(id: &str, subject: &str, body: &str) -> CrisisItem {
        CrisisItem {
            id: id.into(),
            language: "xx".into(),
            risk: "none".into(),
            split: "dev".into(),
            subject: subject.into(),
            body: body.into(),
            kind: String::new(),
            note: String::new(),
        }
    }

    #[test]
    fn items_become_mail_that_parses_back_to_the_same_text() {
        let long_subject =
            "Помогите пожалуйста, мне очень плохо после тура, не знаю к кому обратиться";
        let body = "Привет.\nМне плохо.\n\nOn Mon, 1 Dec 2026, Team wrote:\n> earlier\n--\nSasha";
        // "a" and "b" differ in parity: one goes 8bit, the other base64.
        let mut encodings = Vec::new();
        for id in ["ru-a", "ru-b"] {
            let raw = crisis_item_message(&item(id, long_subject, body));
            let text = String::from_utf8_lossy(&raw);
            assert!(text.contains("=?utf-8?B?"), "{text}");
            assert!(text.lines().all(|line| line.len() <= 998));
            encodings.push(text.contains("Content-Transfer-Encoding: base64"));
            let parsed = parse_message(&raw).unwrap();
            assert_eq!(parsed.subject, long_subject);
            assert_eq!(parsed.text.replace("\r\n", "\n").trim_end(), body);
            assert!(parsed.in_reply_to.is_empty());
        }
        assert_eq!(encodings, vec![true, false]);
        let raw = crisis_item_message(&item("en-1", "Re: tour", "thanks\n"));
        let parsed = parse_message(&raw).unwrap();
        assert_eq!(parsed.subject, "Re: tour");
        assert!(
            !parsed.in_reply_to.is_empty(),
            "a reply's subject comes with reply headers"
        );
    }

    #[test]
    fn addresses_and_phone_numbers_are_replaced() {
        let cases = [
            ("write to anna.k+x@mail.example.de.", "write to [email]."),
            (
                "call +49 30 1234567 or (030) 123-4567!",
                "call [phone] or [phone]!",
            ),
            ("mobile 0049-171-1234567", "mobile [phone]"),
            ("I'm 24, on tour since 2019", "I'm 24, on tour since 2019"),
            ("room 12, @handle, a@b", "room 12, @handle, a@b"),
            ("ticket AB1234567C stays", "ticket AB1234567C stays"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_contact_details(text), expected, "{text}");
        }
    }

    #[test]
    fn splits_parse_and_keep_their_items() {
        assert_eq!(Split::parse("dev"), Some(Split::Dev));
        assert_eq!(Split::parse("everything"), None);
        assert!(Split::All.keeps("test") && Split::Test.keeps("test") && !Split::Dev.keeps("test"));
    }
}
