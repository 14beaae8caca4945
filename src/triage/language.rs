//! Language of the new text: whatlang, helped by the writing system, the headers and the
//! sender's history where whatlang is weak (mixed scripts, close neighbours, short texts).

use super::{Detected, Evidence, SenderHistory, TriageConfig};
use crate::domain::LanguageCode;
use crate::mail::ParsedMessage;
use whatlang::{Detector, Lang};

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

    if n_letters < SHORT_TEXT_CHARS || detected.as_ref().is_none_or(|d| d.confidence < 0.5) {
        // A short or unsure text: a declared or known language of the same writing system wins.
        for (signal, candidate) in [
            ("content-language", header_language),
            ("sender history", history_language),
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
    Some(Detected {
        value: LanguageCode::parse(code).ok()?,
        confidence: info.confidence(),
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
