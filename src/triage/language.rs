//! Language of the new text: whatlang, helped by the writing system, the headers and the
//! sender's history where whatlang is weak (mixed scripts, close neighbours, short texts).

use super::{Detected, Evidence, SenderHistory, TriageConfig};
use crate::domain::LanguageCode;
use crate::mail::ParsedMessage;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use whatlang::{Detector, Lang};

/// Marker words of close neighbours and of very short texts (`data/language/markers.toml`).
const MARKERS_TOML: &str = include_str!("../../data/language/markers.toml");

#[derive(Debug, Deserialize)]
struct Markers {
    family: Vec<Family>,
    short: Short,
}

#[derive(Debug, Deserialize)]
struct Family {
    languages: Vec<String>,
    #[serde(default)]
    letters: HashMap<String, Vec<String>>,
    words: HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Short {
    words: HashMap<String, Vec<String>>,
}

fn markers() -> &'static Markers {
    static MARKERS: OnceLock<Markers> = OnceLock::new();
    MARKERS
        .get_or_init(|| toml::from_str(MARKERS_TOML).expect("data/language/markers.toml is valid"))
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('ş', "ș").replace('ţ', "ț"))
        .collect()
}

/// Settles close neighbours (Danish / Norwegian / Swedish, Czech / Slovak, Russian /
/// Ukrainian / Bulgarian, Spanish / Catalan / Portuguese, Indonesian / Malay...) by marker
/// words and letters. Returns a better answer only with a clear margin.
fn settle_neighbours(
    text: &str,
    code: &str,
    allowed: &dyn Fn(&str) -> bool,
) -> Option<(String, String)> {
    let family = markers()
        .family
        .iter()
        .find(|f| f.languages.iter().any(|l| l == code))?;
    let words = words_of(text);
    let mut scores: Vec<(String, f64, String)> = Vec::new();
    for language in family.languages.iter().filter(|l| allowed(l)) {
        let mut score = 0.0;
        let mut seen = Vec::new();
        if let Some(markers) = family.words.get(language) {
            for word in &words {
                if markers.iter().any(|m| m == word) {
                    score += 1.0;
                    if seen.len() < 4 && !seen.contains(word) {
                        seen.push(word.clone());
                    }
                }
            }
        }
        if let Some(letters) = family.letters.get(language) {
            for letter in letters {
                if text.to_lowercase().contains(letter.as_str()) {
                    score += 2.0;
                    seen.push(letter.clone());
                }
            }
        }
        scores.push((language.clone(), score, seen.join(" ")));
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (best, best_score, seen) = scores.first()?.clone();
    let runner_up = scores.get(1).map(|s| s.1).unwrap_or(0.0);
    (best != code && best_score >= 2.0 && best_score > runner_up).then_some((best, seen))
}

/// Settles very short texts by frequent function and greeting words.
fn settle_short(text: &str, allowed: &dyn Fn(&str) -> bool) -> Option<(String, f64)> {
    let words = words_of(text);
    let short = &markers().short.words;
    let mut scores: HashMap<&str, f64> = HashMap::new();
    for word in &words {
        let owners: Vec<&str> = short
            .iter()
            .filter(|(language, list)| allowed(language) && list.iter().any(|w| w == word))
            .map(|(language, _)| language.as_str())
            .collect();
        for owner in &owners {
            *scores.entry(owner).or_default() += 1.0 / owners.len() as f64;
        }
    }
    let mut ranked: Vec<(&str, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let (best, score) = *ranked.first()?;
    let runner_up = ranked.get(1).map(|r| r.1).unwrap_or(0.0);
    (score >= 1.0 && score > runner_up).then(|| (best.to_string(), score))
}

/// Below this many letters a text is "short": other signals count for more.
pub const SHORT_TEXT_CHARS: usize = 40;

/// ISO 639-1 (or 639-3 where there is none) for each whatlang language.
pub fn iso639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "no",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    }
}

/// A writing system, as far as language detection cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Script {
    Latin,
    Cyrillic,
    Greek,
    Arabic,
    Hebrew,
    Devanagari,
    Bengali,
    Tamil,
    Thai,
    /// Han characters and kana: Chinese and Japanese write in one run of them.
    Cjk,
    Hangul,
    Other,
}

impl Script {
    fn of(c: char) -> Option<Script> {
        if !c.is_alphabetic() {
            return None;
        }
        Some(match c as u32 {
            0x0041..=0x024F | 0x1E00..=0x1EFF => Script::Latin,
            0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
            0x0400..=0x052F => Script::Cyrillic,
            0x0590..=0x05FF | 0xFB1D..=0xFB4F => Script::Hebrew,
            0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => Script::Arabic,
            0x0900..=0x097F => Script::Devanagari,
            0x0980..=0x09FF => Script::Bengali,
            0x0B80..=0x0BFF => Script::Tamil,
            0x0E00..=0x0E7F => Script::Thai,
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Cjk,
            0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF => Script::Cjk,
            0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
            _ => Script::Other,
        })
    }

    /// One character of a syllabic or logographic script carries about as much as two
    /// letters of an alphabet.
    fn weight(self) -> usize {
        match self {
            Script::Cjk | Script::Hangul => 2,
            _ => 1,
        }
    }

    /// The served-language candidates written in this script (whatlang's and lingua's codes).
    fn languages(self) -> &'static [&'static str] {
        match self {
            Script::Latin => LATIN_LANGUAGES,
            Script::Cyrillic => &["ru", "uk", "bg", "be", "sr", "mk", "kk"],
            Script::Greek => &["el"],
            Script::Arabic => &["ar", "fa", "ur"],
            Script::Hebrew => &["he", "yi"],
            Script::Devanagari => &["hi", "mr", "ne"],
            Script::Bengali => &["bn"],
            Script::Tamil => &["ta"],
            Script::Thai => &["th"],
            Script::Cjk => &["zh", "ja"],
            Script::Hangul => &["ko"],
            Script::Other => &[],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Script::Latin => "latin",
            Script::Cyrillic => "cyrillic",
            Script::Greek => "greek",
            Script::Arabic => "arabic",
            Script::Hebrew => "hebrew",
            Script::Devanagari => "devanagari",
            Script::Bengali => "bengali",
            Script::Tamil => "tamil",
            Script::Thai => "thai",
            Script::Cjk => "han/kana",
            Script::Hangul => "hangul",
            Script::Other => "other",
        }
    }
}

const LATIN_LANGUAGES: &[&str] = &[
    "en", "es", "pt", "fr", "de", "it", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk", "ro", "hu",
    "tr", "vi", "id", "ms", "hr", "sl", "ca", "sr", "lt", "lv", "et", "sw", "tl", "af", "sq", "eu",
    "gl", "is", "ga", "cy", "eo", "la", "az", "uz", "tk", "so", "zu", "sn", "jv", "bs", "mt", "nn",
];

/// The writing system that carries a text, and the text in that script alone.
#[derive(Debug)]
struct Carrier {
    script: Script,
    /// Letters of the carrier script.
    n_letters: usize,
    /// All letters of the text.
    n_all_letters: usize,
    /// Kana among the carrier letters (Japanese, not Chinese).
    n_kana: usize,
    /// The text with letters of every other script blanked out.
    text: String,
}

impl Carrier {
    /// Picks the script of the longest run of letters (spaces, digits and punctuation do
    /// not break a run), weighted so that a Japanese or Chinese sentence with a Latin
    /// product name in it is still carried by its own script. Every run of a script that is
    /// not Latin counts one and a half times: names, commands and brands are embedded in
    /// Latin letters, hardly ever the other way round.
    fn of(text: &str) -> Option<Carrier> {
        let mut letters: HashMap<Script, usize> = HashMap::new();
        let mut longest: HashMap<Script, usize> = HashMap::new();
        let mut current: Option<(Script, usize)> = None;
        let mut n_kana = 0;
        for c in text.chars() {
            let Some(script) = Script::of(c) else {
                continue;
            };
            if matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F) {
                n_kana += 1;
            }
            *letters.entry(script).or_default() += 1;
            current = match current {
                Some((run_script, n)) if run_script == script => Some((script, n + 1)),
                _ => Some((script, 1)),
            };
            let (run_script, n) = current.expect("set above");
            let best = longest.entry(run_script).or_default();
            *best = (*best).max(n);
        }
        let n_all_letters: usize = letters.values().sum();
        let score = |script: Script| {
            let run = longest.get(&script).copied().unwrap_or(0) * script.weight();
            if script == Script::Latin || script == Script::Other {
                2 * run
            } else {
                3 * run
            }
        };
        let script = letters
            .keys()
            .copied()
            .max_by_key(|script| (score(*script), letters[script], std::cmp::Reverse(*script)))?;
        let carrier_text: String = text
            .chars()
            .map(|c| match Script::of(c) {
                Some(s) if s != script => ' ',
                _ => c,
            })
            .collect();
        Some(Carrier {
            script,
            n_letters: letters[&script],
            n_all_letters,
            n_kana: if script == Script::Cjk { n_kana } else { 0 },
            text: carrier_text,
        })
    }
}

/// How the detector decides, once the writing system has narrowed the candidates.
/// `concierge triage --eval-language` compares them in one run; `DEFAULT_METHOD` is the best.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Plain `whatlang::detect`: no writing-system rules, no allow-list.
    WhatlangAlone,
    /// Writing system, whatlang among the served languages, letters and marker words.
    Rules,
    /// `Rules`, with lingua (low-accuracy mode, trigrams) as the second opinion within the
    /// close-neighbour families, for the languages whatlang lacks and where whatlang is unsure.
    RulesWithLinguaLow,
    /// The same with lingua's high-accuracy mode (1- to 5-grams) within the families.
    RulesWithLinguaHigh,
    /// Writing system, then lingua (low-accuracy mode) among the served languages of that
    /// script, then letters and marker words.
    LinguaLow,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::WhatlangAlone,
        Method::Rules,
        Method::RulesWithLinguaLow,
        Method::RulesWithLinguaHigh,
        Method::LinguaLow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::WhatlangAlone => "whatlang alone",
            Method::Rules => "script + whatlang + markers",
            Method::RulesWithLinguaLow => "script + whatlang + markers + lingua-low neighbours",
            Method::RulesWithLinguaHigh => "script + whatlang + markers + lingua-high neighbours",
            Method::LinguaLow => "script + lingua-low + markers",
        }
    }
}

/// The method `detect_text` uses.
pub const DEFAULT_METHOD: Method = Method::RulesWithLinguaHigh;

/// Languages whatlang 0.18 does not know: only lingua or marker words can find them.
const NOT_IN_WHATLANG: &[&str] = &[
    "ms", "sw", "bs", "sq", "eu", "gl", "is", "ga", "so", "mt", "nn",
];

/// Groups whose members whatlang confuses with each other; lingua decides among them.
const NEIGHBOURS: &[&[&str]] = &[
    &["da", "no", "sv"],
    &["cs", "sk"],
    &["hr", "sr", "bs", "sl"],
    &["es", "gl", "ca", "pt"],
    &["id", "ms", "tl", "sw"],
    &["ru", "uk", "bg", "be", "sr", "mk"],
    &["ar", "fa", "ur"],
    &["lt", "lv"],
];

/// lingua's code for ours (Norwegian Bokmål is `nb` there).
fn lingua_language(code: &str) -> Option<lingua::Language> {
    let iso = if code == "no" { "nb" } else { code };
    let iso: lingua::IsoCode639_1 = iso.parse().ok()?;
    lingua::Language::all()
        .into_iter()
        .find(|language| language.iso_code_639_1() == iso)
}

fn our_code(language: lingua::Language) -> String {
    let code = language.iso_code_639_1().to_string();
    if code == "nb" {
        "no".to_string()
    } else {
        code
    }
}

/// A lingua detector per set of candidates, built once. Low-accuracy mode (trigrams only)
/// keeps memory and time down; its models are compiled into the binary.
fn lingua_detector(
    codes: &[&str],
    high_accuracy: bool,
) -> Option<std::sync::Arc<lingua::LanguageDetector>> {
    use std::sync::{Arc, Mutex};
    type Detectors = Mutex<HashMap<(Vec<String>, bool), Option<Arc<lingua::LanguageDetector>>>>;
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    let mut codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    codes.sort();
    codes.dedup();
    let key = (codes, high_accuracy);
    let detectors = DETECTORS.get_or_init(Default::default);
    let mut detectors = detectors
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    detectors
        .entry(key)
        .or_insert_with_key(|(codes, high_accuracy)| {
            let languages: Vec<lingua::Language> =
                codes.iter().filter_map(|c| lingua_language(c)).collect();
            (languages.len() >= 2).then(|| {
                let mut builder = lingua::LanguageDetectorBuilder::from_languages(&languages);
                if !high_accuracy {
                    builder.with_low_accuracy_mode();
                }
                Arc::new(builder.build())
            })
        })
        .clone()
}

/// lingua's best guess among the candidates and its confidence (0 to 1).
fn lingua_best(text: &str, candidates: &[&str], high_accuracy: bool) -> Option<(String, f64)> {
    let detector = lingua_detector(candidates, high_accuracy)?;
    // Its n-gram lookups are the slowest part of triage: a few sentences are enough for it.
    let values =
        detector.compute_language_confidence_values(first_chars_at_word(text, LINGUA_TEXT_CHARS));
    // lingua sums its probabilities in hash-map order, so the same text can get confidences
    // that differ in the last bits from one run to the next: rounded to six places, with ties
    // broken by the code, the answer is the same every time (triage is pure).
    let round = |confidence: f64| (confidence * 1e6).round() / 1e6;
    let (code, confidence) = values
        .iter()
        .map(|(language, confidence)| (our_code(*language), round(*confidence)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
    (confidence > 0.0).then_some((code, confidence))
}

/// Detects the language of a text alone, among the allowed languages (all when empty).
pub fn detect_text(text: &str, allowed: &[LanguageCode]) -> Option<Detected<LanguageCode>> {
    detect_text_with(text, allowed, DEFAULT_METHOD)
}

/// Detects the language of a text alone with a given method (for the comparison in
/// `--eval-language`).
pub fn detect_text_with(
    text: &str,
    allowed: &[LanguageCode],
    method: Method,
) -> Option<Detected<LanguageCode>> {
    if method == Method::WhatlangAlone {
        let info = whatlang::detect(text)?;
        return Some(Detected {
            value: LanguageCode::parse(iso639_1(info.lang())).ok()?,
            confidence: info.confidence(),
            evidence: vec![Evidence::new(
                "whatlang",
                info.lang().code(),
                info.confidence(),
            )],
        });
    }
    let carrier = Carrier::of(text)?;
    let allowed_or_all =
        |code: &str| allowed.is_empty() || allowed.iter().any(|a| a.as_str() == code);
    let script_evidence = Evidence::new(
        "script",
        format!(
            "{} {} letters of {}",
            carrier.n_letters,
            carrier.script.name(),
            carrier.n_all_letters
        ),
        0.9,
    );
    let mut candidates: Vec<&str> = carrier
        .script
        .languages()
        .iter()
        .copied()
        .filter(|code| allowed_or_all(code))
        .collect();
    if carrier.script == Script::Cjk {
        // Kana is Japanese; han alone is Chinese (or a very short Japanese text).
        candidates.retain(|code| (*code == "ja") == (carrier.n_kana > 0));
    }
    let (code, mut confidence, mut evidence) = match candidates[..] {
        [] => return None,
        [only] => (
            only.to_string(),
            if carrier.n_letters >= 10 { 0.95 } else { 0.7 },
            vec![script_evidence],
        ),
        _ => decide_within_script(&carrier, &candidates, method, script_evidence)?,
    };
    // Very short texts: low confidence, and "unknown" rather than a guess on a word or two.
    if carrier.n_letters < SHORT_TEXT_CHARS && candidates.len() > 1 {
        confidence = confidence.min(0.5);
        if carrier.n_letters < VERY_SHORT_LETTERS
            && !evidence
                .iter()
                .any(|e| e.signal == "short-text words" || e.signal == "marker words")
        {
            return None;
        }
    }
    evidence.truncate(6);
    Some(Detected {
        value: LanguageCode::parse(&code).ok()?,
        confidence,
        evidence,
    })
}

/// Below this many letters of a script with several candidates, only a marker word can
/// name a language; otherwise the answer is unknown.
const VERY_SHORT_LETTERS: usize = 8;

fn decide_within_script(
    carrier: &Carrier,
    candidates: &[&str],
    method: Method,
    script_evidence: Evidence,
) -> Option<(String, f64, Vec<Evidence>)> {
    let text = carrier.text.as_str();
    let allowed = |code: &str| candidates.contains(&code);
    let mut evidence = vec![script_evidence];
    let (mut code, mut confidence) = if method == Method::LinguaLow {
        let (code, confidence) = lingua_best(text, candidates, false)?;
        evidence.push(Evidence::new(
            "lingua",
            format!("{code} ({confidence:.2})"),
            confidence,
        ));
        (code, confidence)
    } else {
        let whatlang_candidates: Vec<Lang> = Lang::all()
            .iter()
            .copied()
            .filter(|lang| allowed(iso639_1(*lang)))
            .collect();
        let info = Detector::with_allowlist(whatlang_candidates).detect(text)?;
        evidence.push(Evidence::new(
            "whatlang",
            format!("{} ({:.2})", info.lang().code(), info.confidence()),
            info.confidence(),
        ));
        (iso639_1(info.lang()).to_string(), info.confidence())
    };
    if matches!(
        method,
        Method::RulesWithLinguaLow | Method::RulesWithLinguaHigh
    ) {
        // A second opinion where whatlang is weak: within a family of close neighbours, for
        // the languages it does not know, and when it is unsure.
        let mut family: Vec<&str> = NEIGHBOURS
            .iter()
            .filter(|family| family.contains(&code.as_str()))
            .flat_map(|family| family.iter().copied())
            .filter(|c| allowed(c))
            .collect();
        if !family.is_empty() {
            family.extend(NOT_IN_WHATLANG.iter().copied().filter(|c| allowed(c)));
        }
        // Where whatlang is unsure, lingua looks at every candidate of the script.
        let ask = if confidence < 0.5 {
            candidates.to_vec()
        } else {
            family
        };
        let high_accuracy = method == Method::RulesWithLinguaHigh;
        if ask.len() >= 2 {
            if let Some((better, lingua_confidence)) = lingua_best(text, &ask, high_accuracy) {
                if better != code {
                    evidence.push(Evidence::new(
                        "lingua",
                        format!("{better} ({lingua_confidence:.2})"),
                        lingua_confidence,
                    ));
                    code = better;
                    confidence = lingua_confidence.clamp(0.5, 0.9);
                } else {
                    confidence = confidence.max(lingua_confidence.min(0.9));
                }
            }
        }
    }
    // Letters only one of them uses settle the Cyrillic neighbours.
    if carrier.script == Script::Cyrillic {
        if let Some((better, why)) = cyrillic_letters(text, &code, &allowed) {
            evidence.push(Evidence::new("letters", why, 0.8));
            code = better.to_string();
        }
    }
    if let Some((better, seen)) = settle_neighbours(text, &code, &allowed) {
        evidence.push(Evidence::new(
            "marker words",
            format!("{better}: {seen}"),
            0.8,
        ));
        code = better;
        confidence = confidence.max(0.8);
    }
    if carrier.n_letters < SHORT_TEXT_CHARS && carrier.script == Script::Latin && confidence < 0.5 {
        if let Some((better, score)) = settle_short(text, &allowed) {
            if better != code {
                code = better.clone();
                confidence = 0.6;
            }
            evidence.push(Evidence::new(
                "short-text words",
                format!("{better} ({score:.1})"),
                0.6,
            ));
        }
    }
    Some((code, confidence, evidence))
}

/// Letters that only one of the served Cyrillic languages uses.
fn cyrillic_letters(
    text: &str,
    code: &str,
    allowed: &dyn Fn(&str) -> bool,
) -> Option<(&'static str, &'static str)> {
    let has = |letters: &[char]| {
        text.chars()
            .flat_map(char::to_lowercase)
            .any(|c| letters.contains(&c))
    };
    let serbian = has(&['ђ', 'ћ', 'џ', 'љ', 'њ', 'ј']);
    let ukrainian = has(&['і', 'ї', 'є', 'ґ']);
    let russian = has(&['ы', 'э', 'ё']);
    let n_letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if serbian && code != "sr" && allowed("sr") && !allowed("mk") {
        return Some(("sr", "ђ ћ џ љ њ ј are Serbian"));
    }
    if ukrainian && !russian && code == "ru" && allowed("uk") {
        return Some(("uk", "і ї є ґ are Ukrainian only"));
    }
    if !ukrainian && code == "uk" && allowed("ru") && (russian || n_letters >= 20) {
        // Ukrainian text of any length uses і or ї; without them it is Russian.
        return Some(("ru", "no і ї є ґ: not Ukrainian"));
    }
    None
}

/// Detects the language of a message's new text (with the subject).
pub fn detect(
    message: &ParsedMessage,
    new_text: &str,
    history: &SenderHistory,
    config: &TriageConfig,
) -> Option<Detected<LanguageCode>> {
    let body = if new_text.trim().is_empty() {
        message.text.as_str()
    } else {
        new_text
    };
    let subject = strip_reply_prefixes(&message.subject);
    // A paragraph or two settles the language (the detectors' cost grows with the text, and
    // lingua's is most of the triage time on a long letter); cut at a word boundary.
    let body = first_chars_at_word(body, LANGUAGE_TEXT_CHARS);
    let text = format!("{subject}\n{body}");
    let mut detected = detect_text(&text, &config.languages);

    let n_letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let header_language = message
        .content_language
        .iter()
        .find_map(|value| LanguageCode::parse(value).ok())
        .filter(|code| config.languages.is_empty() || config.languages.contains(code));
    let history_language = history
        .known_language
        .clone()
        .or_else(|| history.recent_languages.first().cloned());
    let charset_language = message
        .charsets
        .iter()
        .find_map(|charset| charset_language(charset))
        .and_then(|code| LanguageCode::parse(code).ok())
        .filter(|code| config.languages.is_empty() || config.languages.contains(code));

    if n_letters < SHORT_TEXT_CHARS || detected.as_ref().is_none_or(|d| d.confidence < 0.5) {
        // A short or unsure text: a declared or known language of the same writing system wins.
        for (signal, candidate) in [
            ("content-language", header_language),
            ("sender history", history_language),
            ("charset", charset_language),
        ] {
            let Some(candidate) = candidate else { continue };
            let agrees_with_script = detected
                .as_ref()
                .is_none_or(|d| same_script_family(d.value.as_str(), candidate.as_str()));
            if agrees_with_script {
                let mut evidence = detected.map(|d| d.evidence).unwrap_or_default();
                evidence.push(Evidence::new(signal, candidate.as_str(), 0.6));
                return Some(Detected {
                    value: candidate,
                    confidence: 0.6,
                    evidence,
                });
            }
        }
    }
    if let Some(found) = detected.as_mut() {
        if n_letters < SHORT_TEXT_CHARS {
            found.confidence = found.confidence.min(0.5);
        }
    }
    detected
}

/// How much of a body the language is told from, in characters.
const LANGUAGE_TEXT_CHARS: usize = 1200;

/// How much of that lingua reads, in characters (of the carrier script's letters and spaces).
const LINGUA_TEXT_CHARS: usize = 500;

/// The text up to about `limit` characters, ended at the last whitespace before the limit
/// when there is one.
fn first_chars_at_word(text: &str, limit: usize) -> &str {
    let Some((cut, _)) = text.char_indices().nth(limit) else {
        return text;
    };
    let head = &text[..cut];
    match head.rfind(char::is_whitespace) {
        Some(at) if at > cut / 2 => &head[..at],
        _ => head,
    }
}

fn same_script_family(a: &str, b: &str) -> bool {
    let family = |code: &str| match code {
        "ru" | "uk" | "bg" | "be" | "sr" | "mk" => "cyrillic",
        "ar" | "fa" | "ur" => "arabic",
        "ja" | "zh" | "ko" => "cjk",
        "he" | "yi" => "hebrew",
        "hi" | "mr" | "ne" => "devanagari",
        "bn" => "bengali",
        "ta" => "tamil",
        "el" => "greek",
        "th" => "thai",
        _ => "latin",
    };
    family(a) == family(b)
}

/// The language a legacy charset was made for, where it was made for one.
pub fn charset_language(charset: &str) -> Option<&'static str> {
    Some(match charset.trim().to_ascii_lowercase().as_str() {
        "iso-2022-jp" | "shift_jis" | "shift-jis" | "sjis" | "euc-jp" | "cp932" | "windows-31j" => {
            "ja"
        }
        "euc-kr" | "ks_c_5601-1987" | "cp949" | "iso-2022-kr" => "ko",
        "gb2312" | "gbk" | "gb18030" | "big5" | "big5-hkscs" | "hz-gb-2312" => "zh",
        "koi8-r" => "ru",
        "koi8-u" => "uk",
        "iso-8859-7" | "windows-1253" => "el",
        "iso-8859-8" | "iso-8859-8-i" | "windows-1255" => "he",
        "tis-620" | "windows-874" | "iso-8859-11" => "th",
        "iso-8859-9" | "windows-1254" => "tr",
        "windows-1258" => "vi",
        _ => return None,
    })
}

/// "Re: Fwd: AW: subject" -> "subject", so that the prefixes do not vote for English.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_lowercase();
        let Some(colon) = lower.find(':') else {
            return rest;
        };
        let prefix = lower[..colon].trim();
        let is_prefix = matches!(
            prefix,
            "re" | "fw"
                | "fwd"
                | "aw"
                | "wg"
                | "tr"
                | "rv"
                | "res"
                | "enc"
                | "r"
                | "i"
                | "sv"
                | "vs"
                | "antw"
                | "odp"
                | "pd"
                | "ynt"
                | "ilt"
                | "回复"
                | "答复"
                | "转发"
                | "回覆"
                | "답장"
                | "전달"
                | "отв"
                | "пересл"
        );
        if !is_prefix {
            return rest;
        }
        rest = rest[colon + 1..].trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Vec<LanguageCode> {
        [
            "en", "es", "pt", "fr", "de", "it", "nl", "ru", "uk", "ja", "zh", "ko", "ar", "he",
        ]
        .iter()
        .map(|c| LanguageCode::parse(c).unwrap())
        .collect()
    }

    #[test]
    fn detects_sentences_and_mixed_scripts() {
        let cases = [
            ("I have been touring for months and I can't sleep anymore, I need someone to talk to.", "en"),
            ("Llevo meses de gira y ya no puedo dormir, necesito hablar con alguien de confianza.", "es"),
            ("Estou em turnê há meses e não consigo mais dormir, preciso falar com alguém.", "pt"),
            ("Ich bin seit Monaten auf Tour und kann nicht mehr schlafen, ich brauche Hilfe.", "de"),
            ("ツアーが続いていて、最近ぜんぜん眠れません。Spotifyの仕事もあって疲れました。", "ja"),
            ("我们的tour已经三个月了，我每天晚上都睡不着，需要有人聊聊。", "zh"),
            ("투어 중인데 요즘 잠을 전혀 못 자요. setlist 준비도 너무 힘들어요.", "ko"),
            ("Я вже три місяці в турі і не можу спати, мені потрібна допомога.", "uk"),
            ("Я уже три месяца в туре и не могу спать, мне нужна помощь.", "ru"),
            ("أنا في جولة منذ ثلاثة أشهر ولا أستطيع النوم، أحتاج إلى مساعدة.", "ar"),
            ("אני בסיבוב הופעות כבר שלושה חודשים ולא מצליח לישון.", "he"),
        ];
        for (text, expected) in cases {
            let found = detect_text(text, &served()).map(|d| d.value.as_str().to_string());
            assert_eq!(found.as_deref(), Some(expected), "text {text:?}");
        }
    }

    #[test]
    fn the_longest_run_carries_a_line_with_latin_names() {
        let cases = [
            ("VLC media playerの設定を変更します", "ja"),
            ("HTTP/TLS server için VLC ayarları", "tr"),
            ("קובץ ההגדרות של VLC media player לא נמצא", "he"),
            ("تعذر فتح ملف DVD في VLC media player", "ar"),
        ];
        for (text, expected) in cases {
            let found = detect_text(text, &[]).map(|d| d.value.as_str().to_string());
            assert_eq!(found.as_deref(), Some(expected), "text {text:?}");
        }
    }

    #[test]
    fn very_short_texts_are_unknown_or_unsure() {
        assert!(detect_text("OK", &served()).is_none());
        assert!(detect_text("Hej!", &[]).is_none());
        if let Some(found) = detect_text("Thank you so much", &served()) {
            assert!(found.confidence <= 0.5, "{found:?}");
        }
    }

    #[test]
    fn strips_reply_prefixes_in_many_languages() {
        assert_eq!(strip_reply_prefixes("Re: AW: Fwd: Hilfe"), "Hilfe");
        assert_eq!(strip_reply_prefixes("回复: 你好"), "你好");
        assert_eq!(strip_reply_prefixes("Note: hello"), "Note: hello");
    }
}
