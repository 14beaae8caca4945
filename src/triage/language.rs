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

/// Letters of each writing system in a text.
#[derive(Debug, Default, Clone, Copy)]
struct ScriptCounts {
    latin: usize,
    cyrillic: usize,
    arabic: usize,
    hebrew: usize,
    han: usize,
    kana: usize,
    hangul: usize,
    devanagari: usize,
    thai: usize,
    greek: usize,
    other: usize,
}

impl ScriptCounts {
    fn of(text: &str) -> ScriptCounts {
        let mut counts = ScriptCounts::default();
        for c in text.chars().filter(|c| c.is_alphabetic()) {
            match c as u32 {
                0x0041..=0x024F | 0x1E00..=0x1EFF => counts.latin += 1,
                0x0370..=0x03FF | 0x1F00..=0x1FFF => counts.greek += 1,
                0x0400..=0x052F => counts.cyrillic += 1,
                0x0590..=0x05FF => counts.hebrew += 1,
                0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
                    counts.arabic += 1
                }
                0x0900..=0x097F => counts.devanagari += 1,
                0x0E00..=0x0E7F => counts.thai += 1,
                0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => counts.kana += 1,
                0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => counts.hangul += 1,
                0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF => counts.han += 1,
                _ => counts.other += 1,
            }
        }
        counts
    }

    fn total(&self) -> usize {
        self.latin
            + self.cyrillic
            + self.arabic
            + self.hebrew
            + self.han
            + self.kana
            + self.hangul
            + self.devanagari
            + self.thai
            + self.greek
            + self.other
    }
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
    // Whatlang needs no more than a few paragraphs; a huge body would only cost time.
    let body: String = body.chars().take(4000).collect();
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

/// Detects the language of a text alone, among the allowed languages (all when empty).
pub fn detect_text(text: &str, allowed: &[LanguageCode]) -> Option<Detected<LanguageCode>> {
    let counts = ScriptCounts::of(text);
    let total = counts.total();
    if total == 0 {
        return None;
    }
    let allowed_or_all =
        |code: &str| allowed.is_empty() || allowed.iter().any(|a| a.as_str() == code);
    let share = |n: usize| n as f64 / total as f64;

    // Writing systems used by one language among those we serve decide on their own, even
    // when Latin-script words (band names, "OK", "Spotify") are mixed in.
    let cjk = counts.kana + counts.han + counts.hangul;
    let single_script = if counts.kana > 0 && share(counts.kana + counts.han) >= 0.2 {
        Some(("ja", "kana", counts.kana + counts.han))
    } else if counts.hangul > 0 && share(counts.hangul) >= 0.2 {
        Some(("ko", "hangul", counts.hangul))
    } else if counts.han > 0 && share(cjk) >= 0.2 {
        Some(("zh", "han", counts.han))
    } else if share(counts.hebrew) >= 0.3 {
        Some(("he", "hebrew", counts.hebrew))
    } else if share(counts.thai) >= 0.3 {
        Some(("th", "thai", counts.thai))
    } else if share(counts.greek) >= 0.3 {
        Some(("el", "greek", counts.greek))
    } else {
        None
    };
    if let Some((code, script, n)) = single_script {
        if allowed_or_all(code) {
            return Some(Detected {
                value: LanguageCode::parse(code).ok()?,
                confidence: if n >= 10 { 0.95 } else { 0.7 },
                evidence: vec![Evidence::new(
                    "script",
                    format!("{n} {script} letters"),
                    0.9,
                )],
            });
        }
    }

    // Otherwise whatlang decides among the served languages of the dominant script.
    let script_languages: &[&str] = if share(counts.cyrillic) >= 0.3 {
        &["ru", "uk", "bg", "be", "sr", "mk"]
    } else if share(counts.arabic) >= 0.3 {
        &["ar", "fa", "ur"]
    } else if share(counts.devanagari) >= 0.3 {
        &["hi", "mr", "ne"]
    } else {
        &[]
    };
    let candidates: Vec<Lang> = Lang::all()
        .iter()
        .copied()
        .filter(|lang| {
            let code = iso639_1(*lang);
            allowed_or_all(code)
                && (script_languages.is_empty() || script_languages.contains(&code))
        })
        .collect();
    let detector = if candidates.is_empty() {
        Detector::new()
    } else {
        Detector::with_allowlist(candidates)
    };
    let info = detector.detect(text)?;
    let mut code = iso639_1(info.lang());
    let mut evidence = vec![Evidence::new(
        "whatlang",
        format!("{} ({:.2})", info.lang().code(), info.confidence()),
        info.confidence(),
    )];
    // Letters only one of them uses settle Russian against Ukrainian.
    if matches!(code, "ru" | "uk") {
        let ukrainian = text
            .chars()
            .any(|c| matches!(c, 'і' | 'ї' | 'є' | 'ґ' | 'І' | 'Ї' | 'Є' | 'Ґ'));
        let russian = text
            .chars()
            .any(|c| matches!(c, 'ы' | 'э' | 'ё' | 'Ы' | 'Э' | 'Ё'));
        if ukrainian && !russian && code == "ru" && allowed_or_all("uk") {
            code = "uk";
            evidence.push(Evidence::new("letters", "і ї є ґ are Ukrainian only", 0.8));
        } else if !ukrainian
            && code == "uk"
            && allowed_or_all("ru")
            && (russian || counts.cyrillic >= 20)
        {
            // Ukrainian text of any length uses і or ї; without them it is Russian.
            code = "ru";
            evidence.push(Evidence::new("letters", "no і ї є ґ: not Ukrainian", 0.8));
        }
    }
    let mut code = code.to_string();
    let mut confidence = info.confidence();
    if let Some((better, seen)) = settle_neighbours(text, &code, &allowed_or_all) {
        evidence.push(Evidence::new(
            "marker words",
            format!("{better}: {seen}"),
            0.8,
        ));
        code = better;
        confidence = confidence.max(0.8);
    }
    let n_letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if n_letters < SHORT_TEXT_CHARS && counts.latin == n_letters {
        if let Some((better, score)) = settle_short(text, &allowed_or_all) {
            if better != code {
                evidence.push(Evidence::new(
                    "short-text words",
                    format!("{better} ({score:.1})"),
                    0.6,
                ));
                code = better;
                confidence = 0.6;
            }
        }
    }
    Some(Detected {
        value: LanguageCode::parse(&code).ok()?,
        confidence,
        evidence,
    })
}

fn same_script_family(a: &str, b: &str) -> bool {
    let family = |code: &str| match code {
        "ru" | "uk" | "bg" | "be" | "sr" | "mk" => "cyrillic",
        "ar" | "fa" | "ur" => "arabic",
        "ja" | "zh" | "ko" => "cjk",
        "he" | "yi" => "hebrew",
        "hi" | "mr" | "ne" => "devanagari",
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
    fn strips_reply_prefixes_in_many_languages() {
        assert_eq!(strip_reply_prefixes("Re: AW: Fwd: Hilfe"), "Hilfe");
        assert_eq!(strip_reply_prefixes("回复: 你好"), "你好");
        assert_eq!(strip_reply_prefixes("Note: hello"), "Note: hello");
    }
}
