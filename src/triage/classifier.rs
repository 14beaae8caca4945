//! The learned crisis detector beside the lexicons: two logistic-regression heads (`crisis`:
//! labelled crisis against the rest; `flag`: crisis or concern against none) over hashed
//! character n-grams, words and word pairs of the normalised text.
//!
//! `scripts/train-crisis` trains it and writes `data/crisis-model/` (see its README.md); the
//! weights are compiled in and read once. The feature extraction here must stay exactly the
//! script's: `data/crisis-model/parity.jsonl` holds scores the script computed, and the unit
//! test below reproduces them.

use super::{Detected, Evidence};
use crate::domain::Risk;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

const WEIGHTS: &[u8] = include_bytes!("../../data/crisis-model/weights.bin");
const META: &str = include_str!("../../data/crisis-model/model.json");

/// The two scores of a text, each a probability from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// That the message is a crisis.
    pub crisis: f64,
    /// That it is at least a concern (crisis or concern).
    pub flag: f64,
}

/// How triage uses the classifier (`triage.classifier` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassifierUse {
    /// Its scores can raise the risk the lexicons found (never lower it).
    #[default]
    Decide,
    /// Its scores are shown as evidence only; the lexicons decide.
    Evidence,
    /// Not run.
    Off,
}

/// The decision thresholds chosen by cross-validation (`model.json`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct Thresholds {
    /// From this crisis score on, a message is a crisis.
    pub crisis: f64,
    /// From this flag score on, a message is at least a concern.
    pub flag: f64,
}

#[derive(Debug, serde::Deserialize)]
struct Meta {
    bucket_bits: u32,
    char_ngrams: Vec<usize>,
    biases: Vec<f64>,
    scales: Vec<f64>,
    thresholds: Thresholds,
}

/// The compiled-in model.
#[derive(Debug)]
pub struct Model {
    bucket_mask: u32,
    char_ngrams: Vec<usize>,
    biases: [f64; 2],
    scales: [f64; 2],
    /// Both heads' dense weights, the crisis head first.
    weights: Vec<i16>,
    pub thresholds: Thresholds,
}

impl Model {
    fn parse(meta: &str, weights: &[u8]) -> Result<Model, String> {
        let meta: Meta = serde_json::from_str(meta).map_err(|error| error.to_string())?;
        if weights.len() < 12 || &weights[..4] != b"CCLF" {
            return Err("weights.bin does not start with CCLF".into());
        }
        let word = |at: usize| {
            u32::from_le_bytes([
                weights[at],
                weights[at + 1],
                weights[at + 2],
                weights[at + 3],
            ])
        };
        let (bits, n_heads) = (word(4), word(8));
        let size = 1usize << bits;
        if bits != meta.bucket_bits || n_heads != 2 || weights.len() != 12 + 2 * size * 2 {
            return Err(format!(
                "weights.bin: {bits} bucket bits and {n_heads} heads in {} bytes do not match model.json",
                weights.len()
            ));
        }
        if meta.biases.len() != 2 || meta.scales.len() != 2 {
            return Err("model.json: two biases and two scales expected".into());
        }
        if meta.char_ngrams.iter().any(|n| !(1..16).contains(n)) {
            return Err("model.json: character n-grams of 1 to 15 expected".into());
        }
        Ok(Model {
            bucket_mask: (size - 1) as u32,
            char_ngrams: meta.char_ngrams,
            biases: [meta.biases[0], meta.biases[1]],
            scales: [meta.scales[0], meta.scales[1]],
            weights: weights[12..]
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect(),
            thresholds: meta.thresholds,
        })
    }

    /// The scores of a text (the subject, a newline and the new text, as the lexicons read it).
    /// A text without a single word says nothing: both scores are 0.
    pub fn score(&self, text: &str) -> Scores {
        let features = self.features(text);
        if features.is_empty() {
            return Scores {
                crisis: 0.0,
                flag: 0.0,
            };
        }
        let size = self.bucket_mask as usize + 1;
        let head = |index: usize| {
            let weights = &self.weights[index * size..(index + 1) * size];
            let sum: f64 = features
                .iter()
                .map(|(bucket, value)| {
                    f64::from(weights[*bucket as usize]) * self.scales[index] * value
                })
                .sum();
            sigmoid(self.biases[index] + sum)
        };
        Scores {
            crisis: head(0),
            flag: head(1),
        }
    }

    /// The risk the scores say on their own: crisis from the crisis threshold on, else concern
    /// from the flag threshold on, else none.
    pub fn says(&self, scores: Scores) -> Risk {
        if scores.crisis >= self.thresholds.crisis {
            Risk::Crisis
        } else if scores.flag >= self.thresholds.flag {
            Risk::Concern
        } else {
            Risk::None
        }
    }

    /// Sorted (bucket, value): counts of `c` + each character n-gram of the words joined by
    /// single spaces and padded with a space, `w` + each word, `b` + each pair of neighbouring
    /// words, hashed with FNV-1a (32 bits) into the buckets; the vector scaled to length 1.
    fn features(&self, text: &str) -> Vec<(u32, f64)> {
        let words = normalise(text);
        if words.is_empty() {
            return Vec::new();
        }
        let padded: Vec<char> = format!(" {} ", words.join(" ")).chars().collect();
        let mut buckets: Vec<u32> = Vec::with_capacity(padded.len() * self.char_ngrams.len());
        // FNV-1a runs left to right, so the hashes of every n-gram starting at one position
        // are the steps of one pass over its longest.
        let longest = self.char_ngrams.iter().copied().max().unwrap_or(0);
        let mut wanted = [false; 16];
        for &n in &self.char_ngrams {
            if let Some(slot) = wanted.get_mut(n) {
                *slot = true;
            }
        }
        let mut buffer = [0u8; 4];
        let start_hash = fnv1a(FNV_OFFSET, b"c");
        for start in 0..padded.len() {
            let mut hash = start_hash;
            for (n, c) in (1..=longest).zip(&padded[start..]) {
                hash = fnv1a(hash, c.encode_utf8(&mut buffer).as_bytes());
                if wanted.get(n).copied().unwrap_or(false) {
                    buckets.push(hash & self.bucket_mask);
                }
            }
        }
        for word in &words {
            buckets.push(fnv1a(fnv1a(FNV_OFFSET, b"w"), word.as_bytes()) & self.bucket_mask);
        }
        for pair in words.windows(2) {
            let hash = fnv1a(fnv1a(FNV_OFFSET, b"b"), pair[0].as_bytes());
            let hash = fnv1a(fnv1a(hash, b" "), pair[1].as_bytes());
            buckets.push(hash & self.bucket_mask);
        }
        buckets.sort_unstable();
        let mut counts: Vec<(u32, f64)> = Vec::new();
        for bucket in buckets {
            match counts.last_mut() {
                Some((last, count)) if *last == bucket => *count += 1.0,
                _ => counts.push((bucket, 1.0)),
            }
        }
        let norm = counts
            .iter()
            .map(|(_, count)| count * count)
            .sum::<f64>()
            .sqrt();
        for (_, value) in &mut counts {
            *value /= norm;
        }
        counts
    }
}

const FNV_OFFSET: u32 = 0x811C_9DC5;

fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Deleted before NFKC: apostrophes and their look-alikes (so "don't" and "dont" are one
/// word), soft hyphens, zero-width characters and the byte-order mark.
fn is_deleted(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}'
            | '\u{2018}'
            | '\u{201B}'
            | '\u{02BC}'
            | '\u{02BB}'
            | '\u{00B4}'
            | '`'
            | '\u{2032}'
            | '\u{FF07}'
            | '\u{00AD}'
            | '\u{FEFF}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
    )
}

/// The words of a text: NFKC, each character lowercased on its own, and every character that
/// is not a letter, mark or number a separator (format characters are dropped). Not the
/// lexicons' `risk::normalise`: this one is defined by general categories only, so that the
/// training script computes exactly the same words.
pub fn normalise(text: &str) -> Vec<String> {
    let mut joined = String::with_capacity(text.len());
    for c in text
        .chars()
        .filter(|c| !is_deleted(*c))
        .nfkc()
        .flat_map(char::to_lowercase)
    {
        match c.general_category_group() {
            GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Mark
            | GeneralCategoryGroup::Number => joined.push(c),
            _ if c.general_category() == GeneralCategory::Format => {}
            _ => joined.push(' '),
        }
    }
    joined
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// The compiled-in model, read once.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Model::parse(META, WEIGHTS).unwrap_or_else(|error| panic!("crisis model: {error}"))
    })
}

/// The lexicons' risk with the classifier's scores: its evidence always added, and with
/// `ClassifierUse::Decide` the risk raised to crisis from the crisis threshold on and from none
/// to concern from the flag threshold on ("risk unknown" is left as it is unless the crisis
/// score decides). It never lowers what a lexicon found.
pub fn combine(
    lexicons: Detected<Risk>,
    subject: &str,
    new_text: &str,
    usage: ClassifierUse,
) -> Detected<Risk> {
    if usage == ClassifierUse::Off {
        return lexicons;
    }
    let model = model();
    let scores = model.score(&format!("{subject}\n{new_text}"));
    let thresholds = model.thresholds;
    let says = model.says(scores);
    // "Risk unknown" (a language without a lexicon) already ranks with concern, and the model
    // saw few or no messages of such a language: there only a crisis score decides.
    let raises = usage == ClassifierUse::Decide
        && says > lexicons.value
        && !(lexicons.value == Risk::Unknown && says == Risk::Concern);
    let detail = format!(
        "crisis score {:.2} (threshold {:.2}), concern-or-crisis score {:.2} (threshold {:.2}): {}{}",
        scores.crisis,
        thresholds.crisis,
        scores.flag,
        thresholds.flag,
        says.as_str(),
        match (raises, usage) {
            (true, _) => "; raised the risk",
            (false, ClassifierUse::Evidence) => "; evidence only",
            (false, _) => "",
        }
    );
    let weight = match says {
        Risk::Crisis => scores.crisis,
        _ => scores.flag,
    };
    let mut combined = lexicons;
    combined
        .evidence
        .push(Evidence::new("classifier", detail, weight));
    if raises {
        combined.value = says;
        combined.confidence = match says {
            Risk::Crisis => 0.6 + 0.3 * scores.crisis,
            _ => 0.5 + 0.3 * scores.flag,
        };
    }
    combined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_training_scripts_scores() {
        let parity = include_str!("../../data/crisis-model/parity.jsonl");
        let mut n = 0;
        for line in parity.lines().filter(|line| !line.trim().is_empty()) {
            let item: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = item["text"].as_str().unwrap();
            let scores = model().score(text);
            let expected_crisis = item["crisis"].as_f64().unwrap();
            let expected_flag = item["flag"].as_f64().unwrap();
            assert!(
                (scores.crisis - expected_crisis).abs() < 1e-4
                    && (scores.flag - expected_flag).abs() < 1e-4,
                "{text:?}: {scores:?}, the script says {expected_crisis} and {expected_flag}"
            );
            n += 1;
        }
        assert!(n >= 30, "only {n} parity texts");
    }

    #[test]
    fn a_crisis_and_an_everyday_message_score_on_their_sides() {
        let thresholds = model().thresholds;
        let crisis = model().score(
            "\nthank you for everything. i have given my guitars away and written to my mum. i want to die tonight, i have the pills ready",
        );
        assert!(crisis.crisis >= thresholds.crisis, "{crisis:?}");
        let everyday = model().score(
            "Rescheduling\nHi, can we move Tuesday's session to 3pm? Our band has a soundcheck. Thanks!",
        );
        assert!(everyday.crisis < thresholds.crisis, "{everyday:?}");
        assert!(everyday.flag < thresholds.flag, "{everyday:?}");
    }

    #[test]
    fn empty_text_scores_and_normalises_to_nothing() {
        assert!(normalise("").is_empty());
        assert!(normalise(" \n\t ").is_empty());
        let scores = model().score("");
        assert!(scores.crisis.is_finite() && scores.flag.is_finite());
        assert!(scores.crisis < model().thresholds.crisis, "{scores:?}");
    }

    #[test]
    fn normalises_by_general_category() {
        assert_eq!(normalise("Don’t  STOP—now!"), ["dont", "stop", "now"]);
        assert_eq!(normalise("ｆｕｌｌ width"), ["full", "width"]);
        assert_eq!(
            normalise("zero\u{200B}width soft\u{AD}hyphen"),
            ["zerowidth", "softhyphen"]
        );
        assert_eq!(normalise("می‌خواهم"), ["میخواهم"]);
    }

    #[test]
    fn raises_none_to_concern_but_leaves_risk_unknown_to_a_crisis_score() {
        let text = "I'm not suicidal, but I can't sleep and I'm scared";
        let scores = model().score(&format!("\n{text}"));
        assert_eq!(model().says(scores), Risk::Concern, "{scores:?}");
        let at = |value| Detected {
            value,
            confidence: 0.5,
            evidence: Vec::new(),
        };
        assert_eq!(
            combine(at(Risk::None), "", text, ClassifierUse::Decide).value,
            Risk::Concern
        );
        assert_eq!(
            combine(at(Risk::None), "", text, ClassifierUse::Evidence).value,
            Risk::None
        );
        assert_eq!(
            combine(at(Risk::Unknown), "", text, ClassifierUse::Decide).value,
            Risk::Unknown
        );
    }

    #[test]
    fn never_lowers_a_lexicon_crisis() {
        let lexicon_crisis = Detected {
            value: Risk::Crisis,
            confidence: 0.9,
            evidence: Vec::new(),
        };
        let combined = combine(lexicon_crisis, "", "ok thanks", ClassifierUse::Decide);
        assert_eq!(combined.value, Risk::Crisis);
        assert!(combined
            .evidence
            .iter()
            .any(|e| e.signal == "classifier" && e.detail.contains("crisis score")));
        let none = Detected {
            value: Risk::None,
            confidence: 0.7,
            evidence: Vec::new(),
        };
        assert_eq!(
            combine(none.clone(), "", "ok thanks", ClassifierUse::Off),
            none
        );
    }
}
