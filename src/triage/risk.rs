//! Crisis signals: multilingual phrase lexicons (`config/lexicons/*.toml`, embedded at build
//! time) matched against the new text and the subject, with negation, idioms and quotes.
//!
//! Erring on the side of caution is the rule: every lexicon runs on every message (a wrong
//! language guess must not hide a crisis), a negated crisis phrase still counts as concern,
//! and a phrase in quotation marks counts in full (people quote their own thoughts, and
//! family members quote what they were told) unless it is plainly a song or a title.

use super::{Detected, Evidence};
use crate::domain::Risk;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

include!(concat!(env!("OUT_DIR"), "/lexicon_files.rs"));

/// Words that, next to a quotation, say it is a song, a title or lyrics.
const MUSIC_CONTEXT: &[&str] = &[
    "song",
    "songs",
    "track",
    "tracks",
    "cover",
    "covered",
    "covering",
    "album",
    "lyrics",
    "lyric",
    "single",
    "title",
    "titled",
    "played",
    "play",
    "sang",
    "sing",
    "singing",
    "setlist",
    "encore",
    "band",
    "tune",
    "record",
    "ep",
    "canción",
    "cancion",
    "canciones",
    "tema",
    "letra",
    "disco",
    "música",
    "musica",
    "chanson",
    "titre",
    "morceau",
    "paroles",
    "reprise",
    "lied",
    "songtext",
    "titel",
    "canzone",
    "brano",
    "testo",
    "faixa",
    "música",
    "nummer",
    "låt",
    "låten",
    "sang",
    "sangen",
    "piosenka",
    "piosenkę",
    "utwór",
    "песня",
    "песню",
    "трек",
    "пісня",
    "пісню",
    "şarkı",
    "şarkıyı",
    "歌",
    "曲",
    "노래",
    "곡",
    "أغنية",
    "שיר",
    "गाना",
    "गीत",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    language: String,
    #[serde(rename = "match", default = "default_mode")]
    mode: String,
    #[serde(default)]
    negations: Vec<String>,
    #[serde(default)]
    idioms: Vec<String>,
    #[serde(default)]
    phrases: Vec<PhraseGroup>,
}

fn default_mode() -> String {
    "words".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhraseGroup {
    tier: String,
    kind: String,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Prefix(String),
    /// Exactly one word.
    One,
    /// Zero to three words.
    UpToThree,
}

#[derive(Debug, Clone)]
enum Pattern {
    Words(Vec<Token>),
    Substring(String),
}

#[derive(Debug, Clone)]
struct Phrase {
    tier: Risk,
    kind: String,
    source: String,
    pattern: Pattern,
}

/// One language's lexicon, compiled.
#[derive(Debug)]
pub struct Lexicon {
    pub language: String,
    substring: bool,
    negations: HashSet<String>,
    idioms: Vec<Pattern>,
    phrases: Vec<Phrase>,
    /// Substring mode: every phrase's and idiom's needle in one automaton each.
    phrase_needles: Option<Needles>,
    idiom_needles: Option<Needles>,
}

/// The distinct needles of substring patterns in one Aho-Corasick automaton, and which
/// needle each pattern is.
#[derive(Debug)]
struct Needles {
    automaton: aho_corasick::AhoCorasick,
    n_needles: usize,
    /// The needle of each pattern (phrase or idiom, by index); `None` for a word pattern.
    needle_of: Vec<Option<usize>>,
}

impl Needles {
    fn new<'a>(patterns: impl Iterator<Item = &'a Pattern>) -> Option<Needles> {
        let mut needles: Vec<&str> = Vec::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let needle_of: Vec<Option<usize>> = patterns
            .map(|pattern| match pattern {
                Pattern::Substring(needle) => {
                    Some(*ids.entry(needle.as_str()).or_insert_with(|| {
                        needles.push(needle.as_str());
                        needles.len() - 1
                    }))
                }
                Pattern::Words(_) => None,
            })
            .collect();
        if needles.is_empty() {
            return None;
        }
        let automaton = aho_corasick::AhoCorasick::new(&needles).expect("lexicon needles");
        Some(Needles {
            automaton,
            n_needles: needles.len(),
            needle_of,
        })
    }

    /// Byte spans of every occurrence of each needle, as `str::match_indices` finds them
    /// needle by needle (left to right, never overlapping an occurrence of the same needle),
    /// in one pass over the text.
    fn occurrences(&self, haystack: &str) -> Vec<Vec<(usize, usize)>> {
        let mut by_needle: Vec<Vec<(usize, usize)>> = Vec::new();
        by_needle.resize_with(self.n_needles, Vec::new);
        let mut all: Vec<(usize, usize, usize)> = self
            .automaton
            .find_overlapping_iter(haystack)
            .map(|found| (found.pattern().as_usize(), found.start(), found.end()))
            .collect();
        all.sort_unstable();
        for (needle, start, end) in all {
            let spans = &mut by_needle[needle];
            if spans.last().is_none_or(|(_, last_end)| *last_end <= start) {
                spans.push((start, end));
            }
        }
        by_needle
    }
}

/// Word-mode patterns by what their first token needs, so that a word position tries only
/// the patterns that can start there: a literal word (by the word), a prefix (`suicid*`, by
/// its first two letters); the rest (a wildcard or a one-letter prefix first) is tried
/// everywhere.
#[derive(Debug)]
struct PatternIndex<T> {
    by_word: HashMap<String, Vec<T>>,
    by_prefix_start: HashMap<String, Vec<T>>,
    anywhere: Vec<T>,
}

impl<T: Copy> PatternIndex<T> {
    fn new() -> PatternIndex<T> {
        PatternIndex {
            by_word: HashMap::new(),
            by_prefix_start: HashMap::new(),
            anywhere: Vec::new(),
        }
    }

    fn add(&mut self, tokens: &[Token], item: T) {
        match tokens.first() {
            Some(Token::Word(word)) => self.by_word.entry(word.clone()).or_default().push(item),
            Some(Token::Prefix(prefix)) if prefix.chars().count() >= 2 => self
                .by_prefix_start
                .entry(first_two_chars(prefix).to_string())
                .or_default()
                .push(item),
            _ => self.anywhere.push(item),
        }
    }

    /// The patterns that may start at a word, in a fixed order: by word, by prefix, the rest.
    fn candidates<'a>(&'a self, word: &str) -> impl Iterator<Item = T> + 'a {
        let by_word = self.by_word.get(word);
        let by_prefix = self.by_prefix_start.get(first_two_chars(word));
        by_word
            .into_iter()
            .flatten()
            .chain(by_prefix.into_iter().flatten())
            .chain(self.anywhere.iter())
            .copied()
    }
}

/// The first two characters of a word (all of it when shorter).
fn first_two_chars(word: &str) -> &str {
    let end = word
        .char_indices()
        .nth(2)
        .map(|(at, _)| at)
        .unwrap_or(word.len());
    &word[..end]
}

/// Every lexicon, and one index over the word-mode phrases and idioms of all of them: a word
/// position costs one lookup, whatever the number of lexicons.
struct LexiconSet {
    lexicons: Vec<Lexicon>,
    /// (lexicon, phrase) pairs.
    phrases: PatternIndex<(u16, u32)>,
    /// (lexicon, idiom) pairs.
    idioms: PatternIndex<(u16, u32)>,
}

impl LexiconSet {
    fn new(lexicons: Vec<Lexicon>) -> LexiconSet {
        let mut phrases = PatternIndex::new();
        let mut idioms = PatternIndex::new();
        for (l, lexicon) in lexicons.iter().enumerate() {
            for (p, phrase) in lexicon.phrases.iter().enumerate() {
                if let Pattern::Words(tokens) = &phrase.pattern {
                    phrases.add(tokens, (l as u16, p as u32));
                }
            }
            for (i, idiom) in lexicon.idioms.iter().enumerate() {
                if let Pattern::Words(tokens) = idiom {
                    idioms.add(tokens, (l as u16, i as u32));
                }
            }
        }
        LexiconSet {
            lexicons,
            phrases,
            idioms,
        }
    }

    /// Every phrase match of every lexicon in a text, each lexicon's own idioms removed and
    /// its negation applied within the clause, in lexicon order; and the byte spans of every
    /// lexicon's idioms in the text (only computed when something matched, else empty).
    fn find(&self, text: &ClauseText) -> (Vec<Match>, Vec<(usize, usize)>) {
        let words: Vec<&str> = text
            .words
            .iter()
            .map(|(s, e)| &text.normalised[*s..*e])
            .collect();
        let mut found: Vec<Vec<(usize, usize, &Phrase)>> = Vec::new();
        found.resize_with(self.lexicons.len(), Vec::new);
        let mut any = false;
        for start in 0..words.len() {
            for (l, p) in self.phrases.candidates(words[start]) {
                let lexicon = &self.lexicons[l as usize];
                let phrase = &lexicon.phrases[p as usize];
                let Pattern::Words(tokens) = &phrase.pattern else {
                    continue;
                };
                if let Some(end) = match_tokens(tokens, &words, start, &lexicon.negations) {
                    if end > start {
                        found[l as usize].push((start, end, phrase));
                        any = true;
                    }
                }
            }
        }
        let substring_matches: Vec<Vec<Match>> = self
            .lexicons
            .iter()
            .map(|lexicon| {
                if lexicon.substring {
                    lexicon.find_substrings(text)
                } else {
                    Vec::new()
                }
            })
            .collect();
        if !any && substring_matches.iter().all(Vec::is_empty) {
            return (Vec::new(), Vec::new());
        }
        // Idioms only matter where a phrase matched.
        let mut idiom_words: Vec<Vec<(usize, usize)>> = Vec::new();
        idiom_words.resize_with(self.lexicons.len(), Vec::new);
        for start in 0..words.len() {
            for (l, i) in self.idioms.candidates(words[start]) {
                let lexicon = &self.lexicons[l as usize];
                let Pattern::Words(tokens) = &lexicon.idioms[i as usize] else {
                    continue;
                };
                if let Some(end) = match_tokens(tokens, &words, start, &lexicon.negations) {
                    idiom_words[l as usize].push((start, end));
                }
            }
        }
        let mut idiom_spans: Vec<(usize, usize)> = Vec::new();
        let mut matches = Vec::new();
        for ((lexicon, (found, own_idioms)), substring) in self
            .lexicons
            .iter()
            .zip(found.into_iter().zip(&idiom_words))
            .zip(substring_matches)
        {
            idiom_spans.extend(
                own_idioms
                    .iter()
                    .filter(|(start, end)| end > start)
                    .map(|(start, end)| (text.words[*start].0, text.words[*end - 1].1)),
            );
            if lexicon.substring {
                idiom_spans.extend(lexicon.substring_idiom_spans(text));
                matches.extend(substring);
            } else if !found.is_empty() {
                matches.extend(lexicon.word_matches(text, &words, found, own_idioms));
            }
        }
        (matches, idiom_spans)
    }
}

/// A lexicon file that does not follow the format.
#[derive(Debug, thiserror::Error)]
#[error("lexicon {file}: {message}")]
pub struct LexiconError {
    pub file: String,
    pub message: String,
}

impl Lexicon {
    pub fn parse(file: &str, text: &str) -> Result<Lexicon, LexiconError> {
        let fail = |message: String| LexiconError {
            file: file.to_string(),
            message,
        };
        let parsed: LexiconFile = toml::from_str(text).map_err(|error| fail(error.to_string()))?;
        let substring = match parsed.mode.as_str() {
            "words" => false,
            "substring" => true,
            other => return Err(fail(format!("unknown match mode {other:?}"))),
        };
        let compile = |source: &str| -> Result<Pattern, LexiconError> {
            let normalised = normalise(source);
            if normalised.is_empty() {
                return Err(fail(format!("empty pattern {source:?}")));
            }
            if substring {
                return Ok(Pattern::Substring(normalised));
            }
            let tokens: Vec<Token> = normalised
                .split(' ')
                .map(|word| match word {
                    "*" => Token::One,
                    "**" => Token::UpToThree,
                    _ => match word.strip_suffix('*') {
                        Some(prefix) if !prefix.is_empty() => Token::Prefix(prefix.to_string()),
                        _ => Token::Word(word.to_string()),
                    },
                })
                .collect();
            Ok(Pattern::Words(tokens))
        };
        let mut phrases = Vec::new();
        for group in &parsed.phrases {
            let tier = match group.tier.as_str() {
                "crisis" => Risk::Crisis,
                "concern" => Risk::Concern,
                other => return Err(fail(format!("unknown tier {other:?}"))),
            };
            for source in &group.patterns {
                phrases.push(Phrase {
                    tier,
                    kind: group.kind.clone(),
                    source: source.clone(),
                    pattern: compile(source)?,
                });
            }
        }
        let idioms = parsed
            .idioms
            .iter()
            .map(|idiom| compile(idiom))
            .collect::<Result<Vec<_>, _>>()?;
        let phrase_needles = Needles::new(phrases.iter().map(|phrase| &phrase.pattern));
        let idiom_needles = Needles::new(idioms.iter());
        Ok(Lexicon {
            language: parsed.language,
            substring,
            negations: parsed.negations.iter().map(|n| normalise(n)).collect(),
            idioms,
            phrases,
            phrase_needles,
            idiom_needles,
        })
    }

    /// The byte spans of a substring lexicon's idioms in a text.
    fn substring_idiom_spans(&self, text: &ClauseText) -> Vec<(usize, usize)> {
        match &self.idiom_needles {
            Some(needles) => needles
                .occurrences(&text.normalised)
                .into_iter()
                .flatten()
                .collect(),
            None => Vec::new(),
        }
    }

    /// This word lexicon's phrase matches (word ranges, in the order found) as `Match`es:
    /// those inside one of its own idioms dropped, negation applied within the clause.
    fn word_matches(
        &self,
        text: &ClauseText,
        words: &[&str],
        mut found: Vec<(usize, usize, &Phrase)>,
        idiom_spans: &[(usize, usize)],
    ) -> Vec<Match> {
        found.retain(|(start, end, _)| !idiom_spans.iter().any(|(s, e)| s <= start && end <= e));
        found
            .iter()
            .map(|(start, end, phrase)| {
                // A negator inside another match ("i'm not okay") negates nothing, and none
                // reaches across a clause boundary ("No. I want to die" stays crisis).
                let clause = text.word_clause[*start];
                let negated = (start.saturating_sub(3)..*start).any(|position| {
                    text.word_clause[position] == clause
                        && self.negations.contains(words[position])
                        && !found.iter().any(|(s, e, other)| {
                            !std::ptr::eq(*other, *phrase) && *s <= position && position < *e
                        })
                });
                Match {
                    start: *start,
                    span: (text.words[*start].0, text.words[*end - 1].1),
                    substring: false,
                    tier: phrase.tier,
                    kind: phrase.kind.clone(),
                    pattern: phrase.source.clone(),
                    text: words[*start..*end].join(" "),
                    negated,
                    language: self.language.clone(),
                }
            })
            .collect()
    }

    fn find_substrings(&self, text: &ClauseText) -> Vec<Match> {
        let normalised = text.normalised.as_str();
        let Some(needles) = &self.phrase_needles else {
            return Vec::new();
        };
        let occurrences = needles.occurrences(normalised);
        if occurrences.iter().all(Vec::is_empty) {
            return Vec::new();
        }
        let idiom_spans = self.substring_idiom_spans(text);
        let mut spans: Vec<(usize, usize, &Phrase)> = Vec::new();
        for (phrase, needle) in self.phrases.iter().zip(&needles.needle_of) {
            let Some(needle) = needle else {
                continue;
            };
            for (at, end) in &occurrences[*needle] {
                if !idiom_spans.iter().any(|(s, e)| s <= at && end <= e) {
                    spans.push((*at, *end, phrase));
                }
            }
        }
        let mut matches = Vec::new();
        for (at, end, phrase) in &spans {
            // A negator in the few characters before the phrase, unless it belongs to another
            // phrase ("受不了" holds a 不 that negates nothing).
            let window_start = normalised[..*at]
                .char_indices()
                .rev()
                .nth(5)
                .map(|(i, _)| i)
                .unwrap_or(0)
                .max(text.clause_start_before(*at));
            let negated = self.negations.iter().any(|negation| {
                normalised[window_start..*at]
                    .match_indices(negation.as_str())
                    .any(|(offset, _)| {
                        let position = window_start + offset;
                        !spans.iter().any(|(s, e, other)| {
                            !std::ptr::eq(*other, *phrase) && *s <= position && position < *e
                        })
                    })
            });
            matches.push(Match {
                start: *at,
                span: (*at, *end),
                substring: true,
                tier: phrase.tier,
                kind: phrase.kind.clone(),
                pattern: phrase.source.clone(),
                text: normalised[*at..*end].to_string(),
                negated,
                language: self.language.clone(),
            });
        }
        matches
    }
}

/// A segment's normalised text, clause by clause joined with spaces, with where its words and
/// clauses start: phrases match across clauses, negations stay inside their clause.
struct ClauseText {
    normalised: String,
    /// Byte span of each word.
    words: Vec<(usize, usize)>,
    /// The clause of each word.
    word_clause: Vec<usize>,
    /// Byte offset where each clause starts.
    clause_starts: Vec<usize>,
}

impl ClauseText {
    fn new(text: &str) -> ClauseText {
        let mut clause_text = ClauseText {
            normalised: String::new(),
            words: Vec::new(),
            word_clause: Vec::new(),
            clause_starts: Vec::new(),
        };
        for clause in text.split(|c: char| CLAUSE_BOUNDARIES.contains(&c)) {
            let normalised = normalise(clause);
            if normalised.is_empty() {
                continue;
            }
            if !clause_text.normalised.is_empty() {
                clause_text.normalised.push(' ');
            }
            let clause_index = clause_text.clause_starts.len();
            let offset = clause_text.normalised.len();
            clause_text.clause_starts.push(offset);
            let mut position = offset;
            for word in normalised.split(' ') {
                clause_text.words.push((position, position + word.len()));
                clause_text.word_clause.push(clause_index);
                position += word.len() + 1;
            }
            clause_text.normalised.push_str(&normalised);
        }
        clause_text
    }

    /// The start of the clause that holds byte `at`.
    fn clause_start_before(&self, at: usize) -> usize {
        self.clause_starts
            .iter()
            .rev()
            .find(|start| **start <= at)
            .copied()
            .unwrap_or(0)
    }
}

/// Tries a token sequence at a word position; returns the end position of the match.
fn match_tokens(
    tokens: &[Token],
    words: &[&str],
    position: usize,
    negations: &HashSet<String>,
) -> Option<usize> {
    let Some(first) = tokens.first() else {
        return Some(position);
    };
    match first {
        Token::Word(word) => (words.get(position) == Some(&word.as_str()))
            .then(|| match_tokens(&tokens[1..], words, position + 1, negations))
            .flatten(),
        Token::Prefix(prefix) => words
            .get(position)
            .filter(|w| w.starts_with(prefix.as_str()))
            .and_then(|_| match_tokens(&tokens[1..], words, position + 1, negations)),
        // Wildcards never swallow a negation: "want ** to die" must not match "want not to die".
        Token::One => words
            .get(position)
            .filter(|w| !negations.contains(**w))
            .and_then(|_| match_tokens(&tokens[1..], words, position + 1, negations)),
        Token::UpToThree => (0..=3)
            .take_while(|skip| {
                position + skip <= words.len()
                    && (*skip == 0 || !negations.contains(words[position + skip - 1]))
            })
            .find_map(|skip| match_tokens(&tokens[1..], words, position + skip, negations)),
    }
}

/// A phrase found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Where the match starts: a word index (word lexicons) or a byte offset (substring ones).
    pub start: usize,
    /// Where the match is in the normalised text, in bytes.
    pub span: (usize, usize),
    pub substring: bool,
    pub tier: Risk,
    pub kind: String,
    pub pattern: String,
    pub text: String,
    pub negated: bool,
    pub language: String,
}

/// NFKC, lowercase, typographic apostrophes as `'`, everything but letters, digits, `'` and
/// `-` as single spaces. Lexicon patterns go through the same function.
pub fn normalise(text: &str) -> String {
    let apostrophes_first: String = text
        .chars()
        .map(|c| if APOSTROPHES.contains(&c) { '\'' } else { c })
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let trimmed = word.trim_matches(|c| c == '\'' || c == '-');
        if !trimmed.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(trimmed);
        }
        word.clear();
    };
    let mut previous = ' ';
    for c in apostrophes_first.nfkc().flat_map(char::to_lowercase) {
        // Turkish İ lowercases to i with a combining dot above: drop the dot.
        if c == '\u{0307}' && previous == 'i' {
            continue;
        }
        previous = c;
        if is_invisible_format(c) {
            continue;
        }
        // `*` survives so that patterns keep their wildcards; text rarely has one in a word.
        if c.is_alphanumeric() || c == '\'' || c == '-' || c == '*' || is_combining_mark(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Apostrophe look-alikes, turned into `'` before NFKC (which would split `´` into a space
/// and an accent).
const APOSTROPHES: &[char] = &[
    '\u{2019}', '\u{2018}', '\u{201B}', '\u{02BC}', '\u{02BB}', '\u{00B4}', '`', '\u{2032}',
    '\u{FF07}',
];

/// Characters that end a clause: a negation never reaches across one.
const CLAUSE_BOUNDARIES: &[char] = &[
    '.', '!', '?', ';', ':', ',', '\n', '\r', '\u{2026}', '\u{2014}', '\u{2013}', '\u{3002}',
    '\u{3001}', '\u{061F}', '\u{060C}', '\u{061B}', '\u{06D4}', '\u{0964}', '\u{0965}', '\u{FF01}',
    '\u{FF1F}', '\u{FF0C}', '\u{FF1B}', '\u{FF1A}', '\u{FF0E}', '\u{037E}', '\u{0387}', '\u{05C3}',
];

/// Zero-width characters, soft hyphens and direction marks (Unicode category Cf): deleted.
fn is_invisible_format(c: char) -> bool {
    matches!(c as u32, 0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF)
}

/// Marks that belong to the letter before them (Devanagari, Thai, Arabic vowels...).
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0E31 | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E | 0x05B0..=0x05C7)
}

/// Every lexicon, compiled once.
pub fn lexicons() -> &'static [Lexicon] {
    &lexicon_set().lexicons
}

fn lexicon_set() -> &'static LexiconSet {
    static LEXICONS: OnceLock<LexiconSet> = OnceLock::new();
    LEXICONS.get_or_init(|| {
        LexiconSet::new(
            LEXICON_FILES
                .iter()
                .map(|(file, text)| {
                    Lexicon::parse(file, text).unwrap_or_else(|error| panic!("{error}"))
                })
                .collect(),
        )
    })
}

/// Whether a crisis lexicon exists for a language (by the `language` its file declares, which
/// is the file name).
pub fn has_lexicon(language: &str) -> bool {
    lexicons()
        .iter()
        .any(|lexicon| lexicon.language == language)
}

/// "Risk unknown": when no lexicon found anything in a message whose language has no crisis
/// lexicon of its own, or whose language could not be told at all (a real text in a writing
/// system no lexicon covers), nobody has really read it for risk, and `None` would be a silent
/// guess. Anything a lexicon found (crisis, concern, or a quote set aside) is kept as it is.
pub fn unknown_when_uncovered(
    assessed: Detected<Risk>,
    language: Option<&crate::domain::LanguageCode>,
    text: &str,
) -> Detected<Risk> {
    if assessed.value != Risk::None {
        return assessed;
    }
    let why = match language {
        Some(language) if has_lexicon(language.as_str()) => return assessed,
        Some(language) => format!(
            "no crisis lexicon for {language}, and no other lexicon found anything: risk unknown, a navigator must read it"
        ),
        // A few words ("ok, thanks") say nothing; a text of some length that no detector
        // could place was not read by any lexicon either.
        None if text.chars().filter(|c| c.is_alphabetic()).count() >= UNREAD_LETTERS => {
            "the language could not be told and no lexicon found anything: risk unknown, a navigator must read it".to_string()
        }
        None => return assessed,
    };
    let mut evidence = assessed.evidence;
    evidence.push(Evidence::new("lexicon", why, 0.5));
    Detected {
        value: Risk::Unknown,
        confidence: 0.3,
        evidence,
    }
}

/// From this many letters on, a text whose language could not be told is "risk unknown".
const UNREAD_LETTERS: usize = 20;

/// Checks every embedded lexicon; for start-up and tests.
pub fn check_lexicons() -> Result<usize, LexiconError> {
    let mut n = 0;
    for (file, text) in LEXICON_FILES {
        Lexicon::parse(file, text)?;
        n += 1;
    }
    Ok(n)
}

/// A piece of the text, in quotation marks or not.
struct Segment<'a> {
    text: &'a str,
    quoted: bool,
    /// Whether a word next to the quotation says it is a song or a title.
    music_context: bool,
}

/// Splits text at quotation marks: “…” „…“ «…» 「…」 『…』 "…" and '…' around words.
fn segments(text: &str) -> Vec<Segment<'_>> {
    let pairs: &[(char, char)] = &[
        ('“', '”'),
        ('„', '“'),
        ('«', '»'),
        ('「', '」'),
        ('『', '』'),
        ('"', '"'),
        ('‘', '’'),
        ('\'', '\''),
    ];
    let mut segments = Vec::new();
    let mut plain_start = 0;
    let mut index = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    while index < chars.len() {
        let (at, c) = chars[index];
        let pair = pairs.iter().find(|(open, _)| *open == c);
        let opens_here = pair.is_some_and(|(open, _)| {
            // A straight single quote opens only at a word start, so that "don't" is no quote.
            *open != '\'' || index == 0 || !chars[index - 1].1.is_alphanumeric()
        });
        if let (Some((_, close)), true) = (pair, opens_here) {
            let close_at = chars[index + 1..]
                .iter()
                .take(120)
                .take_while(|(_, ch)| *ch != '\n')
                .find(|(position, ch)| {
                    *ch == *close
                        && (*close != '\''
                            || text[*position + 1..]
                                .chars()
                                .next()
                                .is_none_or(|next| !next.is_alphanumeric()))
                })
                .map(|(position, _)| *position);
            if let Some(close_at) = close_at {
                if plain_start < at {
                    segments.push(Segment {
                        text: &text[plain_start..at],
                        quoted: false,
                        music_context: false,
                    });
                }
                let inner = &text[at + c.len_utf8()..close_at];
                let before: String = text[..at]
                    .chars()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let after: String = text[close_at..].chars().take(40).collect();
                let context = normalise(&format!("{before} {after}"));
                let music_context = context.split(' ').any(|word| MUSIC_CONTEXT.contains(&word))
                    || MUSIC_CONTEXT
                        .iter()
                        .any(|word| !word.is_ascii() && context.contains(word));
                segments.push(Segment {
                    text: inner,
                    quoted: true,
                    music_context,
                });
                plain_start = close_at + close.len_utf8();
                index = chars
                    .iter()
                    .position(|(position, _)| *position >= plain_start)
                    .unwrap_or(chars.len());
                continue;
            }
        }
        index += 1;
    }
    if plain_start < text.len() {
        segments.push(Segment {
            text: &text[plain_start..],
            quoted: false,
            music_context: false,
        });
    }
    segments
}

/// The risk of a message, from its subject and new text.
pub fn assess(subject: &str, new_text: &str) -> Detected<Risk> {
    let text = format!("{subject}\n{new_text}");
    let mut evidence = Vec::new();
    let mut risk = Risk::None;
    let mut n_signals = 0usize;
    for segment in segments(&text) {
        // Phrases match across commas ("when you read this, i'll be gone"); negations stay
        // inside their clause (see `ClauseText`).
        let clause_text = ClauseText::new(segment.text);
        if clause_text.normalised.is_empty() {
            continue;
        }
        let (mut found_all, idioms) = lexicon_set().find(&clause_text);
        if found_all.is_empty() {
            continue;
        }
        // An idiom of any language covers the words whatever lexicon matched them: a song
        // title that one lexicon knows ("suicide blonde") is not a crisis in another's loanword,
        // nor is a neighbour language's everyday phrase.
        found_all.retain(|m| !idioms.iter().any(|(s, e)| *s <= m.span.0 && m.span.1 <= *e));
        // Loanwords cross languages ("suicidal" is in several lexicons): a phrase is negated
        // when any lexicon that found it there, with its own negators, finds it negated.
        let negated_at: HashSet<usize> = found_all
            .iter()
            .filter(|m| m.negated)
            .map(|m| m.span.0)
            .collect();
        for found in &mut found_all {
            found.negated |= negated_at.contains(&found.span.0);
        }
        let mut seen = HashSet::new();
        {
            for found in found_all {
                if !seen.insert((found.text.clone(), found.tier)) {
                    continue;
                }
                let (counted, note) = match (
                    found.tier,
                    found.negated,
                    segment.quoted,
                    segment.music_context,
                ) {
                    (_, _, true, true) => (
                        Risk::None,
                        "in quotation marks next to a song or title: not counted",
                    ),
                    (Risk::Crisis, true, _, _) => (Risk::Concern, "negated: counted as concern"),
                    (tier, _, _, _) => (tier, ""),
                };
                let detail = format!(
                    "{}/{} \"{}\" ({}){}{}",
                    found.tier.as_str(),
                    found.kind,
                    found.text,
                    found.language,
                    if note.is_empty() { "" } else { "; " },
                    note
                );
                let weight = match counted {
                    Risk::Crisis => 0.9,
                    Risk::Concern => 0.6,
                    // Lexicons count crisis, concern or nothing; unknown comes later.
                    Risk::None | Risk::Unknown => 0.0,
                };
                evidence.push(Evidence::new("phrase", detail, weight));
                if counted > Risk::None {
                    n_signals += 1;
                }
                risk = risk.max(counted);
            }
        }
    }
    let confidence = match risk {
        Risk::None | Risk::Unknown => 0.7,
        Risk::Concern => (0.6 + 0.05 * n_signals as f64).min(0.9),
        Risk::Crisis => (0.8 + 0.05 * n_signals as f64).min(0.99),
    };
    Detected {
        value: risk,
        confidence,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lexicon_parses() {
        let n = check_lexicons().unwrap();
        assert!(n >= 6, "only {n} lexicons");
    }

    #[test]
    fn wildcards_negation_idioms_and_quotes() {
        let cases = [
            ("", "I want to die, I can't do this anymore", Risk::Crisis),
            (
                "",
                "this tour is killing me haha, but we killed it last night",
                Risk::None,
            ),
            (
                "",
                "I'm not suicidal, but I can't sleep and I'm scared",
                Risk::Concern,
            ),
            (
                "",
                "We covered \"Suicide Is Painless\" as an encore last night, what a show",
                Risk::None,
            ),
            ("I want to end my life", "", Risk::Crisis),
            ("", "Ich will nicht mehr leben.", Risk::Crisis),
            ("", "No quiero seguir viviendo", Risk::Crisis),
            (
                "",
                "Thanks for the list, I called a therapist today.",
                Risk::None,
            ),
        ];
        for (subject, text, expected) in cases {
            let assessed = assess(subject, text);
            assert_eq!(
                assessed.value, expected,
                "{subject:?} {text:?}: {:?}",
                assessed.evidence
            );
        }
    }

    #[test]
    fn the_lexicon_examples_hold() {
        let mut failures = Vec::new();
        for line in super::LEXICON_EXAMPLE_FILES
            .iter()
            .flat_map(|(_, examples)| examples.lines().skip(1))
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let fields: Vec<&str> = line.splitn(3, '\t').collect();
            let [language, expected, text] = fields[..] else {
                continue;
            };
            let assessed = assess("", text);
            if assessed.value.as_str() != expected {
                failures.push(format!(
                    "{language} {expected} got {}: {text}",
                    assessed.value.as_str()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn normalises_like_the_lexicon_format_says() {
        assert_eq!(normalise("I’M  NOT okay!!"), "i'm not okay");
        assert_eq!(normalise("self-harm, again…"), "self-harm again");
        assert_eq!(normalise("ｆｕｌｌ width"), "full width");
    }
}
