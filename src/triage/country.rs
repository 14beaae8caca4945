//! The sender's likely country, from weighted evidence: what a navigator confirmed before,
//! explicit mentions of a place ("I live in Toronto", "aus Deutschland", "東京に住んでいます"),
//! international phone numbers, a country-code domain that means a country, and the `Date`
//! header's offset (recorded, never decisive).
//!
//! When signals are weak or disagree the answer is unknown: a wrong country means a wrong
//! crisis line. Place names come from `data/geo/` (see its PROVENANCE.md), embedded at build time.

use super::{Detected, Evidence, SenderHistory};
use crate::domain::CountryCode;
use crate::mail::ParsedMessage;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const COUNTRIES_TSV: &str = include_str!("../../data/geo/countries.tsv");
const CITIES_TSV: &str = include_str!("../../data/geo/cities.tsv");

/// Country-code domains sold as vanity names: they say nothing about where someone is.
const VANITY_TLDS: &[&str] = &[
    "io", "co", "fm", "tv", "me", "ly", "ai", "ws", "gg", "to", "cc", "sh", "ac", "am", "la", "nu",
    "tk", "ml", "ga", "cf", "gq", "so", "st", "vc", "gl", "im", "sx", "bz", "mu", "ms", "is", "al",
    "af", "cx", "cd", "dj", "fo", "gd", "gy", "ht", "ki", "lc", "pw", "re", "rs", "tm", "vg", "vu",
    "wf", "yt", "eu", "su", "asia",
];

/// A place named with no word around it that says "I live there" counts only when it is a
/// country or a large city: smaller places' names are too often ordinary words ("haga", "미리").
const BARE_MENTION_POPULATION: u64 = 1_000_000;

/// Minimum score for an answer, and how far ahead of the next country it must be.
const MIN_SCORE: f64 = 1.0;
const MIN_LEAD: f64 = 2.0;

/// Words just before a place that say the person lives or is there now.
const RESIDENCE_BEFORE: &[&str] = &[
    "live in",
    "living in",
    "based in",
    "i'm in",
    "im in",
    "i am in",
    "here in",
    "moved to",
    "home in",
    "staying in",
    "reside in",
    "located in",
    "currently in",
    "back in",
    "stuck in",
    "we're in",
    "live near",
    "living near",
    "vivo en",
    "vivimos en",
    "estoy en",
    "resido en",
    "aquí en",
    "aqui en",
    "me mudé a",
    "me mude a",
    "radico en",
    "moro em",
    "moro no",
    "moro na",
    "moramos em",
    "vivo em",
    "vivo no",
    "vivo na",
    "estou em",
    "estou no",
    "estou na",
    "aqui em",
    "aqui no",
    "aqui na",
    "j'habite à",
    "j'habite a",
    "j'habite en",
    "j'habite au",
    "je vis à",
    "je vis a",
    "je vis en",
    "je vis au",
    "je suis à",
    "basé à",
    "basée à",
    "installé à",
    "installée à",
    "ici à",
    "habite à",
    "wohne in",
    "wohne im",
    "lebe in",
    "lebe im",
    "wohnen in",
    "leben in",
    "hier in",
    "bin in",
    "seit jahren in",
    "vivo a",
    "vivo in",
    "abito a",
    "abito in",
    "sono a",
    "sto a",
    "woon in",
    "wonen in",
    "woon nu in",
    "bor i",
    "bor nu i",
    "bor på",
    "mieszkam w",
    "mieszkam we",
    "jestem w",
    "mieszkamy w",
    "живу в",
    "живу во",
    "живу у",
    "живём в",
    "живем в",
    "нахожусь в",
    "сейчас в",
    "мешкаю в",
    "мешкаю у",
    "зараз у",
    "зараз в",
    "bydlím v",
    "žiju v",
    "locuiesc în",
    "locuiesc in",
    "asunto",
    "asun",
    "أعيش في",
    "أسكن في",
    "أنا في",
    "مقيم في",
    "我在",
    "住在",
    "我住在",
    "現在住在",
    "gerade in",
    "aktuell in",
    "greetings from",
    "pozdrawiam z",
    "pozdrowienia z",
    "saludos desde",
    "grüße aus",
    "gruß aus",
    "salutations de",
    "cumprimentos de",
    "saudações de",
    "saluti da",
    "groeten uit",
    "hälsningar från",
    "привет из",
    "вітання з",
];

/// Single words shortly before a place that say the person lives there ("wohne seit Jahren in").
const RESIDENCE_WORDS: &[&str] = &[
    "live",
    "living",
    "lives",
    "wohne",
    "lebe",
    "wohnen",
    "vivo",
    "vivimos",
    "moro",
    "moramos",
    "habite",
    "habitons",
    "abito",
    "resido",
    "woon",
    "wonen",
    "mieszkam",
    "mieszkamy",
    "живу",
    "живём",
    "живем",
    "мешкаю",
    "bydlím",
    "locuiesc",
    "asun",
    "أعيش",
    "أسكن",
    "bor",
];

/// Words just before a place that say the person is going there, not living there.
const TRAVEL_BEFORE: &[&str] = &[
    "going to",
    "travel to",
    "traveling to",
    "travelling to",
    "tour in",
    "touring",
    "trip to",
    "flying to",
    "fly to",
    "visit",
    "visiting",
    "heading to",
    "will be in",
    "gig in",
    "show in",
    "shows in",
    "festival in",
    "playing in",
    "voy a",
    "viaje a",
    "gira por",
    "gira en",
    "vou para",
    "viagem para",
    "turnê",
    "turnê pela",
    "reise nach",
    "fahre nach",
    "fliege nach",
    "tour durch",
    "tournee in",
    "tournee durch",
    "konzert in",
    "je vais à",
    "en tournée",
    "vado a",
    "in tour in",
    "naar",
    "resa till",
    "jadę do",
    "еду в",
    "поеду в",
    "тур по",
    "їду до",
];

/// Words just before a place that say where the person comes from.
const ORIGIN_BEFORE: &[&str] = &[
    "from",
    "originally from",
    "born in",
    "grew up in",
    "soy de",
    "sou de",
    "je viens de",
    "ich komme aus",
    "komme aus",
    "stamme aus",
    "sono di",
    "vengo de",
    "venho de",
    "kom från",
    "jestem z",
    "pochodzę z",
    "родом из",
    "я из",
    "я з",
    "родом з",
];

/// Text right after a place that says the person lives there (languages with postpositions).
const RESIDENCE_AFTER: &[&str] = &[
    "に住",
    "在住",
    "に住んで",
    "에 살",
    "에서 살",
    "에 거주",
    "में रहता",
    "में रहती",
    "में रहते",
    "da yaşıyorum",
    "de yaşıyorum",
    "'da yaşıyorum",
    "'de yaşıyorum",
    "ta yaşıyorum",
    "te yaşıyorum",
    "にいます",
    "에 있어요",
];

struct Place {
    country: CountryCode,
    words: Vec<String>,
    population: u64,
}

struct Gazetteer {
    /// Places whose name is written with spaces between words, by first word.
    by_first_word: HashMap<String, Vec<usize>>,
    /// Places in scripts without spaces (CJK, Thai), matched as substrings, by first character.
    unspaced_by_first_char: HashMap<char, Vec<(String, usize)>>,
    /// Folded stems of large places, for inflected forms ("krakowa", "москве").
    stems: HashMap<String, usize>,
    places: Vec<Place>,
    known_codes: HashSet<CountryCode>,
}

fn gazetteer() -> &'static Gazetteer {
    static GAZETTEER: OnceLock<Gazetteer> = OnceLock::new();
    GAZETTEER.get_or_init(|| {
        let mut places = Vec::new();
        for line in COUNTRIES_TSV.lines().skip(1) {
            let mut fields = line.split('\t');
            let (Some(code), Some(name)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(country) = CountryCode::parse(code) else {
                continue;
            };
            places.push((country, name.to_string(), u64::MAX, true));
        }
        for line in CITIES_TSV.lines().skip(1) {
            let mut fields = line.split('\t');
            let (Some(code), Some(population), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(country) = CountryCode::parse(code) else {
                continue;
            };
            places.push((
                country,
                name.to_string(),
                population.parse().unwrap_or(0),
                false,
            ));
        }
        let mut gazetteer = Gazetteer {
            by_first_word: HashMap::new(),
            unspaced_by_first_char: HashMap::new(),
            stems: HashMap::new(),
            places: Vec::new(),
            known_codes: HashSet::new(),
        };
        let mut ambiguous_stems = HashSet::new();
        for (country, name, population, is_country) in places {
            gazetteer.known_codes.insert(country);
            let normalised = super::risk::normalise(&name);
            if normalised.chars().count() < 2 {
                continue;
            }
            let index = gazetteer.places.len();
            if normalised.chars().any(is_unspaced_script) {
                let name = normalised.replace(' ', "");
                let first = name.chars().next().expect("names are not empty");
                gazetteer
                    .unspaced_by_first_char
                    .entry(first)
                    .or_default()
                    .push((name, index));
            } else {
                let words: Vec<String> = normalised.split(' ').map(str::to_string).collect();
                gazetteer
                    .by_first_word
                    .entry(words[0].clone())
                    .or_default()
                    .push(index);
                if words.len() == 1
                    && stem(&words[0]).chars().count() >= 5
                    && (is_country || population >= 500_000)
                {
                    let stem = stem(&words[0]);
                    if let Some(previous) = gazetteer.stems.insert(stem.clone(), index) {
                        if gazetteer.places[previous].country != country {
                            ambiguous_stems.insert(stem);
                        }
                    }
                }
                gazetteer.places.push(Place {
                    country,
                    words,
                    population,
                });
                continue;
            }
            gazetteer.places.push(Place {
                country,
                words: vec![normalised],
                population,
            });
        }
        for stem in ambiguous_stems {
            gazetteer.stems.remove(&stem);
        }
        gazetteer
    })
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xAC00..=0xD7AF | 0x0E00..=0x0E7F)
}

/// Folds diacritics and drops a final vowel, so that "kraków" and "krakowa", "москва" and
/// "москве" share a stem.
fn stem(word: &str) -> String {
    let folded: String = word
        .chars()
        .map(|c| match c {
            'ó' => 'o',
            'ą' => 'a',
            'ę' => 'e',
            'ł' => 'l',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            'ć' => 'c',
            'ń' => 'n',
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'ě' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ú' | 'ù' | 'û' | 'ü' | 'ů' => 'u',
            'ý' => 'y',
            'č' => 'c',
            'ř' => 'r',
            'š' => 's',
            'ž' => 'z',
            'ç' => 'c',
            'ö' | 'ô' | 'õ' => 'o',
            other => other,
        })
        .collect();
    let vowels = [
        'a', 'e', 'i', 'o', 'u', 'y', 'а', 'е', 'и', 'о', 'у', 'ы', 'я', 'ю', 'і', 'є', 'ь', 'ї',
        'й',
    ];
    let mut chars: Vec<char> = folded.chars().collect();
    while chars.len() > 4 && vowels.contains(chars.last().unwrap()) {
        chars.pop();
    }
    chars.into_iter().collect()
}

#[derive(Debug, Clone)]
struct Mention {
    country: CountryCode,
    name: String,
    weight: f64,
    cue: &'static str,
}

fn cue_weight(before: &str, after: &str) -> (f64, &'static str) {
    // A cue anywhere in the few words before the place, on word boundaries.
    let padded = format!(" {before} ");
    let ends_with = |cues: &[&str]| {
        cues.iter().any(|cue| {
            if cue.chars().any(is_unspaced_script)
                || !cue.is_ascii() && before.chars().any(is_unspaced_script)
            {
                before.ends_with(cue)
            } else {
                padded.contains(&format!(" {cue} "))
            }
        })
    };
    if RESIDENCE_AFTER.iter().any(|cue| after.starts_with(cue))
        || ends_with(RESIDENCE_BEFORE)
        || ends_with(RESIDENCE_WORDS)
    {
        (2.5, "lives there")
    } else if ends_with(TRAVEL_BEFORE) {
        (0.3, "travelling there")
    } else if ends_with(ORIGIN_BEFORE) {
        (0.6, "comes from there")
    } else {
        (1.0, "mentioned")
    }
}

/// Places named in a text, with how much each mention counts.
fn mentions(text: &str) -> Vec<Mention> {
    let gazetteer = gazetteer();
    let normalised = super::risk::normalise(text);
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let mut best: Option<(usize, usize)> = None;
        for &place_index in gazetteer
            .by_first_word
            .get(words[index])
            .into_iter()
            .flatten()
        {
            let place = &gazetteer.places[place_index];
            let n = place.words.len();
            if index + n <= words.len()
                && words[index..index + n]
                    .iter()
                    .zip(&place.words)
                    .all(|(a, b)| a == b)
            {
                let better = best.is_none_or(|(len, previous)| {
                    n > len
                        || (n == len && gazetteer.places[previous].population < place.population)
                });
                if better {
                    best = Some((n, place_index));
                }
            }
        }
        if best.is_none()
            && words[index].chars().count() >= 6
            && words[index].chars().all(char::is_alphabetic)
        {
            // Inflected forms in languages with cases ("z krakowa", "в москве"): the word is
            // the place's stem (at least five letters) plus at most two letters of ending.
            let token = words[index];
            let folded = stem(token);
            let n_token = token.chars().count();
            for cut in 0..=2 {
                let candidate: String = folded
                    .chars()
                    .take(folded.chars().count().saturating_sub(cut))
                    .collect();
                if candidate.chars().count() < 5 {
                    break;
                }
                if let Some(&place_index) = gazetteer.stems.get(&candidate) {
                    let name = &gazetteer.places[place_index].words[0];
                    if token != name
                        && n_token <= name.chars().count() + 2
                        && n_token + 1 >= name.chars().count()
                    {
                        best = Some((1, place_index));
                        break;
                    }
                }
            }
        }
        match best {
            Some((n, place_index)) => {
                let place = &gazetteer.places[place_index];
                let before = words[index.saturating_sub(5)..index].join(" ");
                let after = words[index + n..(index + n + 3).min(words.len())].join(" ");
                let (weight, cue) = cue_weight(&before, &after);
                if cue != "mentioned" || place.population >= BARE_MENTION_POPULATION {
                    found.push(Mention {
                        country: place.country,
                        name: words[index..index + n].join(" "),
                        weight,
                        cue,
                    });
                }
                index += n;
            }
            None => index += 1,
        }
    }
    // Scripts without spaces: at each position, the longest name that starts there.
    let compact = normalised.replace(' ', "");
    if compact.chars().any(is_unspaced_script) {
        let mut at = 0;
        while at < compact.len() {
            let rest = &compact[at..];
            let first = rest.chars().next().expect("not at the end");
            let mut best: Option<(usize, usize)> = None;
            for &(ref name, place_index) in gazetteer
                .unspaced_by_first_char
                .get(&first)
                .into_iter()
                .flatten()
            {
                if rest.starts_with(name.as_str()) && best.is_none_or(|(len, _)| name.len() > len) {
                    best = Some((name.len(), place_index));
                }
            }
            match best {
                Some((len, place_index)) => {
                    let before: String = compact[..at]
                        .chars()
                        .rev()
                        .take(8)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    let (weight, cue) = cue_weight(&before, &compact[at + len..]);
                    let place = &gazetteer.places[place_index];
                    if cue != "mentioned" || place.population >= BARE_MENTION_POPULATION {
                        found.push(Mention {
                            country: place.country,
                            name: rest[..len].to_string(),
                            weight,
                            cue,
                        });
                    }
                    at += len;
                }
                None => at += first.len_utf8(),
            }
        }
    }
    found
}

/// International phone numbers (`+49 30 ...`, `0049 30 ...`) and the countries they belong to.
fn phone_countries(text: &str) -> Vec<(CountryCode, String)> {
    let mut found = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        let starts = chars[index] == '+'
            || (chars[index] == '0'
                && chars.get(index + 1) == Some(&'0')
                && chars.get(index + 2).is_some_and(|c| c.is_ascii_digit()));
        let after_boundary = index == 0 || !chars[index - 1].is_alphanumeric();
        if !(starts && after_boundary) {
            index += 1;
            continue;
        }
        let mut end = index + 1;
        let mut n_digits = 0;
        while end < chars.len()
            && (chars[end].is_ascii_digit()
                || matches!(chars[end], ' ' | '-' | '.' | '(' | ')' | '/'))
            && end - index < 25
        {
            n_digits += usize::from(chars[end].is_ascii_digit());
            end += 1;
        }
        let candidate: String = chars[index..end].iter().collect();
        let candidate = candidate
            .trim_end_matches([' ', '-', '.', '(', '/'])
            .to_string();
        if (8..=15).contains(&n_digits) {
            let international = match candidate.strip_prefix("00") {
                Some(rest) => format!("+{rest}"),
                None => candidate.clone(),
            };
            if let Ok(number) = phonenumber::parse(None, &international) {
                // Full validation compiles each country's number patterns (slow, and a cache
                // that thrashes on mixed traffic); a plausible national length is enough here.
                let national_digits = number.national().value().to_string().len();
                if (6..=13).contains(&national_digits) {
                    if let Some(id) = number.country().id() {
                        if let Ok(country) = CountryCode::parse(&format!("{id:?}")) {
                            found.push((country, candidate.clone()));
                        }
                    }
                }
            }
        }
        index = end.max(index + 1);
    }
    found
}

/// The country a sender's domain stands for, when its top-level domain means one.
pub fn domain_country(domain: &str) -> Option<CountryCode> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let tld = *labels.last()?;
    if tld.len() != 2 {
        return None;
    }
    // `.co` is vanity, but `.com.co`, `.net.co` and `.org.co` are Colombian.
    let colombian = tld == "co"
        && labels.len() >= 3
        && matches!(
            labels[labels.len() - 2],
            "com" | "net" | "org" | "edu" | "gov"
        );
    if VANITY_TLDS.contains(&tld) && !colombian {
        return None;
    }
    let code = if tld == "uk" { "GB" } else { tld };
    CountryCode::parse(code)
        .ok()
        .filter(|c| gazetteer().known_codes.contains(c))
}

/// Detects the sender's country, or `None` (unknown) when the evidence is not clear.
pub fn detect(
    message: &ParsedMessage,
    new_text: &str,
    signature: &str,
    history: &SenderHistory,
) -> Option<Detected<CountryCode>> {
    let mut scores: HashMap<CountryCode, f64> = HashMap::new();
    let mut evidence = Vec::new();
    let mut add = |country: CountryCode,
                   weight: f64,
                   signal: &str,
                   detail: String,
                   evidence: &mut Vec<Evidence>| {
        *scores.entry(country).or_default() += weight;
        evidence.push(Evidence::new(
            signal,
            format!("{country}: {detail}"),
            weight,
        ));
    };

    if let Some(country) = history.known_country {
        add(
            country,
            3.0,
            "history",
            "confirmed by a navigator before".into(),
            &mut evidence,
        );
    }
    let subject = super::language::strip_reply_prefixes(&message.subject);
    for mention in mentions(&format!("{subject}\n{new_text}\n{signature}")) {
        add(
            mention.country,
            mention.weight,
            "mention",
            format!("\"{}\" ({})", mention.name, mention.cue),
            &mut evidence,
        );
    }
    let mut seen_numbers = HashSet::new();
    for (country, number) in phone_countries(&format!("{new_text}\n{signature}")) {
        if seen_numbers.insert(country) {
            add(
                country,
                1.5,
                "phone",
                format!("international number {}", mask_number(&number)),
                &mut evidence,
            );
        }
    }
    if let Some(from) = &message.from {
        if let Some(country) = domain_country(from.domain()) {
            add(
                country,
                1.0,
                "domain",
                format!(
                    "country-code domain .{}",
                    from.domain().rsplit('.').next().unwrap_or("")
                ),
                &mut evidence,
            );
        }
    }
    if let Some(offset) = message.date_offset_minutes {
        // Many countries share an offset and travellers keep theirs: recorded, never counted.
        evidence.push(Evidence::new(
            "date-offset",
            format!("UTC{:+03}:{:02}", offset / 60, (offset % 60).abs()),
            0.0,
        ));
    }

    let mut ranked: Vec<(CountryCode, f64)> = scores.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, best_score) = *ranked.first()?;
    let runner_up = ranked.get(1).map(|(_, score)| *score).unwrap_or(0.0);
    if best_score < MIN_SCORE || best_score < MIN_LEAD * runner_up {
        return None;
    }
    Some(Detected {
        value: best,
        confidence: (best_score / (best_score + runner_up + 1.0)).min(0.99),
        evidence,
    })
}

/// Shows a phone number's country code and last digits only, for evidence.
fn mask_number(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let prefix: String = number
        .chars()
        .take_while(|c| *c == '+' || *c == '0')
        .collect();
    let shown: String = digits
        .iter()
        .skip(if prefix.starts_with("00") { 2 } else { 0 })
        .take(3)
        .collect();
    format!("{}{shown}…", if prefix.is_empty() { "+" } else { &prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_text(text: &str, from: &str) -> Option<String> {
        let message = ParsedMessage {
            from: crate::domain::EmailAddress::parse(from).ok(),
            ..ParsedMessage::default()
        };
        detect(&message, text, "", &SenderHistory::default()).map(|d| d.value.to_string())
    }

    #[test]
    fn finds_the_country_or_says_unknown() {
        let cases = [
            (
                "Hi, I live in Toronto and work at a venue.",
                "a@gmail.com",
                Some("CA"),
            ),
            (
                "Ich wohne seit zwei Jahren in Barcelona.",
                "a@gmx.de",
                Some("ES"),
            ),
            ("Hallo, ich suche Hilfe.", "a@gmx.de", Some("DE")),
            ("Hola, necesito ayuda.", "a@gmail.com", None),
            (
                "We are going to tour in Mexico next month.",
                "a@gmail.com",
                None,
            ),
            ("Pozdrawiam z Krakowa", "a@gmail.com", Some("PL")),
            ("Я живу в Москве", "a@gmail.com", Some("RU")),
            ("東京に住んでいます。", "a@gmail.com", Some("JP")),
            ("Call me: +55 11 91234-5678", "a@band.io", Some("BR")),
            ("Hello", "a@band.fm", None),
        ];
        for (text, from, expected) in cases {
            assert_eq!(
                detect_text(text, from).as_deref(),
                expected,
                "{text:?} from {from}"
            );
        }
    }

    #[test]
    fn vanity_domains_mean_nothing() {
        assert_eq!(
            domain_country("example.co.uk")
                .map(|c| c.to_string())
                .as_deref(),
            Some("GB")
        );
        assert_eq!(
            domain_country("example.com.br")
                .map(|c| c.to_string())
                .as_deref(),
            Some("BR")
        );
        assert_eq!(domain_country("band.io"), None);
        assert_eq!(domain_country("radio.fm"), None);
        assert_eq!(domain_country("example.com"), None);
        assert_eq!(
            domain_country("empresa.com.co")
                .map(|c| c.to_string())
                .as_deref(),
            Some("CO")
        );
    }

    #[test]
    fn phone_numbers_are_masked_in_evidence() {
        assert_eq!(mask_number("+49 30 1234567"), "+493…");
        assert_eq!(mask_number("0049 30 1234567"), "00493…");
    }
}
