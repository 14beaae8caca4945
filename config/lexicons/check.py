#!/usr/bin/env python3
"""Self-check for the crisis-signal lexicons in this folder.

1. Parses every <lang>.toml with tomllib and validates the schema described in
   README.md (keys, tier and kind values, match mode, lowercase, allowed
   characters, wildcard placement, no duplicates).
2. Implements the reference matcher described in README.md (normalisation,
   words mode with `*` and `**`, substring mode, negation, idioms) and runs it
   over examples.tsv (language, expected tier, text).

Exit status is 0 only if every file is valid and every example gets its
expected tier.

Usage:
    python3 check.py                      # validate + run all examples
    python3 check.py --explain LANG TEXT  # show how one text is classified
    python3 check.py --counts             # print pattern counts per file
"""

from __future__ import annotations

import sys
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

TIERS = ("crisis", "concern")
KINDS = {
    "ideation", "intent", "plan", "means", "self_harm", "harm_others", "danger",
    "distress", "hopelessness", "anxiety", "depression", "burnout", "substance",
    "sleep", "grief", "loneliness", "abuse", "eating", "other",
}
MODES = ("words", "substring")
TOP_KEYS = {"language", "match", "negations", "idioms", "phrases"}
REQUIRED_TOP_KEYS = {"language", "match", "negations", "idioms", "phrases"}
PHRASE_KEYS = {"tier", "kind", "patterns"}
MIN_PREFIX = 3  # a `word*` pattern needs at least this many characters before the `*`

# --------------------------------------------------------------------------
# Normalisation (README.md, "Normalisation")
# --------------------------------------------------------------------------

# Typographic apostrophes and look-alikes people type instead of ' .
# Replaced *before* NFKC because NFKC turns U+00B4 (acute accent) into
# a space plus a combining mark.
APOSTROPHES = "\u2019\u2018\u201b\u02bc\u02bb\u00b4\u0060\u2032\uff07"

# Characters that end a clause. A negation never reaches across one of these
# (README.md, "Clause boundaries"). Checked after NFKC, so fullwidth forms
# (！ ？ ， ； ：) have already become their ASCII counterparts.
BOUNDARY_CHARS = set(
    ".!?;:,\n\r\u2026\u2014\u2013"  # . ! ? ; : , newline … — –
    "\u3002\u3001"                  # 。 、 (CJK full stop and comma)
    "\u061f\u060c\u061b\u06d4"      # ؟ ، ؛ ۔ (Arabic script)
    "\u0964\u0965"                  # । ॥ (Devanagari danda)
    "\u037e\u0387"                  # Greek question mark and ano teleia
    "\u05c3"                        # Hebrew sof pasuq
)


@dataclass
class Token:
    text: str
    boundary_before: bool  # a clause boundary lies between the previous token and this one


def normalise(text: str) -> list[Token]:
    """Turns text into tokens, following README.md step by step."""
    for ch in APOSTROPHES:
        text = text.replace(ch, "'")
    text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    # Turkish dotted capital I lowercases to "i" + U+0307; drop the dot.
    text = text.replace("i\u0307", "i")
    tokens: list[Token] = []
    current: list[str] = []
    boundary = False

    def flush() -> None:
        nonlocal boundary
        word = "".join(current).strip("'-")
        current.clear()
        if word:
            tokens.append(Token(word, boundary))
            boundary = False

    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf":  # zero-width joiners, soft hyphens, direction marks: deleted
            continue
        if ch in "'-" or cat[0] in "LMN":
            current.append(ch)
            continue
        flush()
        if ch in BOUNDARY_CHARS:
            boundary = True
    flush()
    return tokens


def normalised_string(text: str) -> str:
    return " ".join(t.text for t in normalise(text))


# --------------------------------------------------------------------------
# Lexicon model and validation
# --------------------------------------------------------------------------

@dataclass
class Phrase:
    tier: str
    kind: str
    pattern: str
    elems: list[str] = field(default_factory=list)  # words mode: the pattern's words


@dataclass
class Lexicon:
    language: str
    mode: str
    negations: list[str]
    idioms: list[list[str] | str]
    phrases: list[Phrase]


class Invalid(Exception):
    pass


def check_words_pattern(p: str, what: str, errors: list[str]) -> list[str]:
    if p != p.strip() or "  " in p or p == "":
        errors.append(f"{what} {p!r}: empty, or leading/trailing/double spaces")
        return []
    words = p.split(" ")
    for i, w in enumerate(words):
        if w in ("*", "**"):
            if i == 0 or i == len(words) - 1:
                errors.append(f"{what} {p!r}: a lone {w} may not be the first or last word")
            if w == "**" and i > 0 and words[i - 1] in ("*", "**"):
                errors.append(f"{what} {p!r}: ** next to another wildcard")
            continue
        stem = w[:-1] if w.endswith("*") else w
        if "*" in stem:
            errors.append(f"{what} {p!r}: '*' only allowed at the end of a word")
            continue
        if w.endswith("*") and len(stem) < MIN_PREFIX:
            errors.append(f"{what} {p!r}: prefix {stem!r} shorter than {MIN_PREFIX} characters")
        norm = normalise(stem)
        if len(norm) != 1 or norm[0].text != stem:
            errors.append(
                f"{what} {p!r}: word {stem!r} is not normalised "
                f"(normalises to {[t.text for t in norm]!r})"
            )
    if all(w in ("*", "**") for w in words):
        errors.append(f"{what} {p!r}: only wildcards")
    return words


def check_substring_pattern(p: str, what: str, errors: list[str]) -> None:
    if "*" in p:
        errors.append(f"{what} {p!r}: no wildcards in substring mode")
        return
    if normalised_string(p) != p:
        errors.append(f"{what} {p!r}: not normalised (normalises to {normalised_string(p)!r})")


def load(path: Path) -> Lexicon:
    errors: list[str] = []
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise Invalid(f"{path.name}: TOML error: {e}") from e

    missing = REQUIRED_TOP_KEYS - data.keys()
    if missing:
        errors.append(f"missing keys {sorted(missing)}")
    unknown = data.keys() - TOP_KEYS
    if unknown:
        errors.append(f"unknown keys {sorted(unknown)}")
    if errors:
        raise Invalid(f"{path.name}: " + "; ".join(errors))

    lang = data["language"]
    if not (isinstance(lang, str) and len(lang) == 2 and lang.isascii() and lang.isalpha() and lang.islower()):
        errors.append(f"language {lang!r} is not a lowercase ISO 639-1 code")
    if lang != path.stem:
        errors.append(f"language {lang!r} does not match the file name")
    mode = data["match"]
    if mode not in MODES:
        errors.append(f"match {mode!r} is not one of {MODES}")
        raise Invalid(f"{path.name}: " + "; ".join(errors))

    def str_list(key: str) -> list[str]:
        v = data[key]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            errors.append(f"{key} must be a list of strings")
            return []
        seen = set()
        for x in v:
            if x in seen:
                errors.append(f"duplicate in {key}: {x!r}")
            seen.add(x)
            if x != x.lower():
                errors.append(f"{key} entry {x!r} is not lowercase")
        return v

    negations = str_list("negations")
    idioms_raw = str_list("idioms")
    if not negations:
        errors.append("negations is empty")

    for n in negations:
        if mode == "words":
            if " " in n or "*" in n:
                errors.append(f"negation {n!r}: must be a single word without wildcards")
            norm = normalise(n)
            if len(norm) != 1 or norm[0].text != n:
                errors.append(f"negation {n!r} is not a normalised word")
        else:
            check_substring_pattern(n, "negation", errors)

    idioms: list[list[str] | str] = []
    for p in idioms_raw:
        if mode == "words":
            idioms.append(check_words_pattern(p, "idiom", errors))
        else:
            check_substring_pattern(p, "idiom", errors)
            idioms.append(p)

    phrases: list[Phrase] = []
    seen_patterns: dict[str, str] = {}
    groups = data["phrases"]
    if not isinstance(groups, list) or not groups:
        errors.append("phrases must be a non-empty array of tables ([[phrases]])")
        groups = []
    for gi, g in enumerate(groups):
        where = f"phrases[{gi}]"
        if not isinstance(g, dict):
            errors.append(f"{where} is not a table")
            continue
        if g.keys() != PHRASE_KEYS:
            errors.append(f"{where}: keys must be exactly {sorted(PHRASE_KEYS)}, got {sorted(g.keys())}")
            continue
        tier, kind, pats = g["tier"], g["kind"], g["patterns"]
        if tier not in TIERS:
            errors.append(f"{where}: tier {tier!r} not one of {TIERS}")
        if kind not in KINDS:
            errors.append(f"{where}: kind {kind!r} not one of {sorted(KINDS)}")
        if not isinstance(pats, list) or not pats or not all(isinstance(p, str) for p in pats):
            errors.append(f"{where}: patterns must be a non-empty list of strings")
            continue
        for p in pats:
            if p != p.lower():
                errors.append(f"{where}: pattern {p!r} is not lowercase")
            if p in seen_patterns:
                errors.append(f"{where}: duplicate pattern {p!r} (also in {seen_patterns[p]})")
            seen_patterns[p] = where
            if mode == "words":
                elems = check_words_pattern(p, f"{where} pattern", errors)
            else:
                check_substring_pattern(p, f"{where} pattern", errors)
                elems = []
            phrases.append(Phrase(tier, kind, p, elems))
    if not any(ph.tier == "crisis" for ph in phrases):
        errors.append("no crisis phrases")
    if not any(ph.tier == "concern" for ph in phrases):
        errors.append("no concern phrases")
    if errors:
        raise Invalid(f"{path.name}:\n  " + "\n  ".join(errors))
    return Lexicon(lang, mode, negations, idioms, phrases)


# --------------------------------------------------------------------------
# Matching (README.md, "Matching")
# --------------------------------------------------------------------------

def word_matches(elem: str, token: str) -> bool:
    if elem == "*":
        return True
    if elem.endswith("*"):
        return token.startswith(elem[:-1])
    return token == elem


def match_words_at(elems: list[str], toks: list[str], start: int,
                   negations: frozenset[str] = frozenset()) -> int | None:
    """End (exclusive) of the shortest match of elems starting at token start, or None.

    A lone `*` or `**` never matches a negation word, so "want ** to die" does not
    match "want not to die".
    """

    def rec(k: int, j: int) -> int | None:
        if k == len(elems):
            return j
        e = elems[k]
        if e == "**":
            for n in range(4):
                if j + n > len(toks):
                    break
                if n > 0 and toks[j + n - 1] in negations:
                    break
                r = rec(k + 1, j + n)
                if r is not None:
                    return r
            return None
        if e == "*" and j < len(toks) and toks[j] in negations:
            return None
        if j < len(toks) and word_matches(e, toks[j]):
            return rec(k + 1, j + 1)
        return None

    return rec(0, start)


def find_words(elems: list[str], toks: list[str],
               negations: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    out = []
    for i in range(len(toks)):
        end = match_words_at(elems, toks, i, negations)
        if end is not None:
            out.append((i, end))
    return out


def find_substring(pattern: str, text: str) -> list[tuple[int, int]]:
    out = []
    i = text.find(pattern)
    while i != -1:
        out.append((i, i + len(pattern)))
        i = text.find(pattern, i + 1)
    return out


@dataclass
class Hit:
    phrase: Phrase
    span: tuple[int, int]  # token indices (words) or character offsets (substring)
    ignored_by_idiom: bool = False
    negated_by: str | None = None

    @property
    def tier(self) -> str:
        if self.ignored_by_idiom:
            return "none"
        if self.phrase.tier == "crisis" and self.negated_by is not None:
            return "concern"
        return self.phrase.tier


def classify(lex: Lexicon, text: str) -> tuple[str, list[Hit]]:
    tokens = normalise(text)
    toks = [t.text for t in tokens]
    hits: list[Hit] = []

    if lex.mode == "words":
        negs = frozenset(lex.negations)
        idiom_spans = [s for elems in lex.idioms for s in find_words(elems, toks, negs)]  # type: ignore[arg-type]
        for ph in lex.phrases:
            for span in find_words(ph.elems, toks, negs):
                hits.append(Hit(ph, span))
        # clause start for each token index: the latest index <= i with a boundary before it
        clause_start = []
        last = 0
        for i, t in enumerate(tokens):
            if t.boundary_before:
                last = i
            clause_start.append(last)
    else:
        joined = " ".join(toks)
        # character offset where each clause starts
        starts = []
        pos = 0
        boundary_positions = [0]
        for t in tokens:
            starts.append(pos)
            if t.boundary_before:
                boundary_positions.append(pos)
            pos += len(t.text) + 1
        idiom_spans = [s for idiom in lex.idioms for s in find_substring(idiom, joined)]  # type: ignore[arg-type]
        for ph in lex.phrases:
            for span in find_substring(ph.pattern, joined):
                hits.append(Hit(ph, span))

    # 1. idioms: a hit lying entirely inside an idiom match is ignored
    for h in hits:
        if any(a <= h.span[0] and h.span[1] <= b for a, b in idiom_spans):
            h.ignored_by_idiom = True
    live = [h for h in hits if not h.ignored_by_idiom]

    # positions covered by live hits: a negator inside another risk phrase does not negate
    def covered_by_other(pos_from: int, pos_to: int, me: Hit) -> bool:
        return any(
            o is not me and o.span[0] < pos_to and pos_from < o.span[1]
            for o in live
        )

    # 2. negation (only crisis phrases are affected)
    for h in live:
        if h.phrase.tier != "crisis":
            continue
        s = h.span[0]
        if lex.mode == "words":
            lo = max(s - 3, clause_start[s] if s < len(clause_start) else 0)
            for k in range(lo, s):
                if toks[k] in lex.negations and not covered_by_other(k, k + 1, h):
                    h.negated_by = toks[k]
                    break
        else:
            clause_lo = max([p for p in boundary_positions if p <= s], default=0)
            lo = max(s - 6, clause_lo)
            window = joined[lo:s]
            for neg in lex.negations:
                for a, b in find_substring(neg, window):
                    if not covered_by_other(lo + a, lo + b, h):
                        h.negated_by = neg
                        break
                if h.negated_by:
                    break

    order = {"none": 0, "concern": 1, "crisis": 2}
    tier = max((h.tier for h in hits), key=lambda t: order[t], default="none")
    return tier, hits


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def load_all() -> tuple[dict[str, Lexicon], list[str]]:
    lexicons: dict[str, Lexicon] = {}
    errors: list[str] = []
    for path in sorted(HERE.glob("*.toml")):
        try:
            lex = load(path)
            lexicons[lex.language] = lex
        except Invalid as e:
            errors.append(str(e))
    return lexicons, errors


def describe(hits: list[Hit], lex: Lexicon, text: str) -> str:
    toks = [t.text for t in normalise(text)]
    joined = " ".join(toks)
    lines = []
    for h in hits:
        a, b = h.span
        frag = " ".join(toks[a:b]) if lex.mode == "words" else joined[a:b]
        state = "IGNORED (idiom)" if h.ignored_by_idiom else (
            f"negated by {h.negated_by!r}" if h.negated_by else "live")
        lines.append(f"    {h.phrase.tier:7} {h.phrase.kind:12} {h.phrase.pattern!r} on {frag!r}: {state} -> {h.tier}")
    return "\n".join(lines) if lines else "    (no matches)"


def main(argv: list[str]) -> int:
    lexicons, errors = load_all()
    if len(argv) >= 3 and argv[0] == "--explain":
        lang, text = argv[1], " ".join(argv[2:])
        lex = lexicons[lang]
        tier, hits = classify(lex, text)
        print(f"normalised: {normalised_string(text)!r}")
        print(f"tier: {tier}")
        print(describe(hits, lex, text))
        return 0
    if argv and argv[0] == "--counts":
        for lang, lex in sorted(lexicons.items()):
            c = sum(p.tier == "crisis" for p in lex.phrases)
            n = sum(p.tier == "concern" for p in lex.phrases)
            print(f"{lang}\t{lex.mode}\tcrisis={c}\tconcern={n}\tnegations={len(lex.negations)}\tidioms={len(lex.idioms)}")
        return 0

    for e in errors:
        print("SCHEMA ERROR", e)

    # examples.tsv, plus one file per language (or batch) under examples/.
    example_paths = [HERE / "examples.tsv"] + sorted((HERE / "examples").glob("*.tsv"))
    failures = 0
    mismatches = 0
    per_lang: dict[str, dict[str, int]] = {}
    negated_seen: set[str] = set()
    for examples_path in example_paths:
      name = examples_path.relative_to(HERE).as_posix()
      with examples_path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or (lineno == 1 and line.startswith("language\t")):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                print(f"{name}:{lineno}: expected 3 tab-separated columns")
                failures += 1
                continue
            lang, expected, text = parts
            if expected not in ("crisis", "concern", "none"):
                print(f"{name}:{lineno}: bad expected tier {expected!r}")
                failures += 1
                continue
            if lang not in lexicons:
                print(f"{name}:{lineno}: no valid lexicon for {lang!r}")
                failures += 1
                continue
            lex = lexicons[lang]
            tier, hits = classify(lex, text)
            stats = per_lang.setdefault(lang, {"crisis": 0, "concern": 0, "none": 0})
            stats[expected] += 1
            if expected == "concern" and tier == "concern" and any(
                h.negated_by and not h.ignored_by_idiom for h in hits
            ):
                negated_seen.add(lang)
            if tier != expected:
                failures += 1
                mismatches += 1
                print(f"MISMATCH {name}:{lineno} [{lang}] expected {expected}, got {tier}: {text}")
                print(f"    normalised: {normalised_string(text)!r}")
                print(describe(hits, lex, text))

    # every lexicon needs enough examples of each kind, including a negated crisis phrase
    for lang in sorted(lexicons):
        s = per_lang.get(lang, {"crisis": 0, "concern": 0, "none": 0})
        problems = []
        if s["crisis"] < 3:
            problems.append(f"{s['crisis']} crisis examples (need 3)")
        if s["concern"] < 2:
            problems.append(f"{s['concern']} concern examples (need 2)")
        if s["none"] < 3:
            problems.append(f"{s['none']} none examples (need 3)")
        if lang not in negated_seen:
            problems.append("no passing example of a negated crisis phrase giving concern")
        if problems:
            failures += 1
            print(f"EXAMPLES [{lang}]: " + "; ".join(problems))

    total = sum(sum(s.values()) for s in per_lang.values())
    print(f"lexicons: {len(lexicons)} valid, {len(errors)} invalid; examples: {total}, mismatched: {mismatches}")
    print(f"{total - mismatches} passed, {failures + len(errors)} failed")
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
