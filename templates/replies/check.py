#!/usr/bin/env python3
"""Checks the reply templates in this folder, and renders them for reading.

    python3 check.py                   # check every language, render every
                                       # template against the sample contexts
    python3 check.py --show de         # also print the rendered German mails
    python3 check.py --show de --template acknowledgement --sample unknown

Checks: every language folder has all ten files; every {{...}} uses only
the context variables and helpers the code provides (see README.md), with
the item fields allowed only inside the matching {{#each}}; blocks are
balanced; subjects are one line and contain [#{{thread_token}}]; every
template renders in strict mode against each sample context; rendered
lines are not absurdly long.

The renderer here is a small re-implementation of the subset of Handlebars
that the templates may use, with the same strict-mode and standalone-line
rules as the Rust `handlebars` crate (v6): a line holding nothing but a
block tag ({{#if}}, {{else}}, {{/each}}, ...) and spaces disappears from
the output with its newline. No third-party package is needed.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["acknowledgement", "crisis_acknowledgement", "resources", "follow_up", "closing"]
PARTS = ["subject", "txt"]

TOP = {
    "sender_name", "has_sender_name", "thread_token", "reply_window_hours",
    "navigator_name", "has_navigator_name", "service_name", "country_known",
    "country_name", "emergency", "crisis_lines", "resources", "international",
}
RESOURCE = {"name", "local_name", "organisation", "url", "contacts"}
EMERGENCY = {"name", "local_name", "contacts"}
CONTACT = {"channel", "value", "hours", "timezone", "is_24_7", "has_hours", "free", "anonymous"}
# What {{#each X}} iterates over, per scope: list name -> fields of its items.
LISTS = {
    None: {"emergency": EMERGENCY, "crisis_lines": RESOURCE, "resources": RESOURCE,
           "international": RESOURCE},
    "item": {"contacts": CONTACT},
}
LOOP_VARS = {"@first", "@last"}
MAX_LINE = 110  # rendered lines; the prose aims at 76, data (URLs, names) may be longer

TAG = re.compile(r"\{\{(.*?)\}\}", re.S)


class TemplateProblem(Exception):
    pass


# ---------------------------------------------------------------- parsing

def tokenize(src):
    """-> list of ("text", str) and ("tag", kind, arg) with standalone lines stripped."""
    tokens = []
    pos = 0
    for m in TAG.finditer(src):
        inner = m.group(1)
        if inner.startswith("{") or inner.startswith("&") or inner.startswith(">") or inner.startswith("!"):
            raise TemplateProblem(f"unsupported tag {{{{{inner}}}}} (triple-stash, partial or comment)")
        if "~" in inner:
            raise TemplateProblem(f"whitespace control ~ is not used in these templates: {{{{{inner}}}}}")
        inner = inner.strip()
        if inner.startswith("#"):
            parts = inner[1:].split()
            if len(parts) != 2:
                raise TemplateProblem(f"block needs exactly one argument: {{{{{inner}}}}}")
            kind, arg = "open", (parts[0], parts[1])
        elif inner.startswith("/"):
            kind, arg = "close", inner[1:].strip()
        elif inner == "else":
            kind, arg = "else", None
        else:
            if not re.fullmatch(r"[@A-Za-z_][\w.]*", inner):
                raise TemplateProblem(f"only plain variables may be printed: {{{{{inner}}}}}")
            kind, arg = "var", inner
        text = src[pos:m.start()]
        start, end = m.start(), m.end()
        if kind != "var":
            line_start = src.rfind("\n", 0, start) + 1
            line_end = src.find("\n", end)
            line_end_excl = len(src) if line_end == -1 else line_end + 1
            before = src[line_start:start]
            after = src[end:line_end_excl]
            if before.strip(" \t") == "" and after.strip(" \t\r\n") == "":
                # standalone: drop the indentation before and the rest of the line
                text = src[pos:line_start] if line_start >= pos else ""
                end = line_end_excl
        tokens.append(("text", text))
        tokens.append(("tag", kind, arg))
        pos = end
    tokens.append(("text", src[pos:]))
    return [t for t in tokens if not (t[0] == "text" and t[1] == "")]


def parse(tokens):
    """-> tree: list of str | ("var", name) | ("block", helper, arg, body, inverse)."""
    root = []
    stack = [(None, None, root, None)]  # (helper, arg, current list, block node)
    for t in tokens:
        if t[0] == "text":
            stack[-1][2].append(t[1])
            continue
        _, kind, arg = t
        if kind == "var":
            stack[-1][2].append(("var", arg))
        elif kind == "open":
            helper, target = arg
            if helper not in ("if", "unless", "each"):
                raise TemplateProblem(f"helper #{helper} is not allowed")
            node = ["block", helper, target, [], None]
            stack[-1][2].append(node)
            stack.append((helper, target, node[3], node))
        elif kind == "else":
            if len(stack) == 1:
                raise TemplateProblem("{{else}} outside a block")
            helper, target, _, node = stack[-1]
            if node[4] is not None:
                raise TemplateProblem("two {{else}} in one block")
            node[4] = []
            stack[-1] = (helper, target, node[4], node)
        elif kind == "close":
            if len(stack) == 1:
                raise TemplateProblem(f"{{{{/{arg}}}}} closes nothing")
            helper = stack[-1][0]
            if arg != helper:
                raise TemplateProblem(f"{{{{/{arg}}}}} closes a #{helper}")
            stack.pop()
    if len(stack) != 1:
        raise TemplateProblem(f"unclosed {{{{#{stack[-1][0]} {stack[-1][1]}}}}}")
    return root


def check_names(tree, scope=None, fields=TOP, in_each=False, where=""):
    """Every name must exist in the scope it is used in."""
    problems = []

    def ok(name):
        if name in LOOP_VARS:
            return in_each
        if name.startswith("this."):
            return in_each and name[5:] in fields
        if name == "this":
            return False
        return name in fields

    for node in tree:
        if isinstance(node, str):
            continue
        if node[0] == "var":
            if not ok(node[1]):
                problems.append(f"{where}: unknown variable {{{{{node[1]}}}}} here")
            continue
        _, helper, arg, body, inverse = node
        if not ok(arg):
            problems.append(f"{where}: unknown variable {arg!r} in #{helper}")
        if helper == "each":
            name = arg[5:] if arg.startswith("this.") else arg
            lists = LISTS[None] if scope is None else LISTS["item"]
            if scope == "contact" or name not in lists:
                problems.append(f"{where}: #each over {arg!r}, which is not a list here")
                item_fields = set()
            else:
                item_fields = lists[name]
            inner_scope = "contact" if item_fields is CONTACT else "item"
            problems += check_names(body, inner_scope, item_fields, True, where)
            if inverse:
                problems += check_names(inverse, scope, fields, in_each, where)
        else:
            problems += check_names(body, scope, fields, in_each, where)
            if inverse:
                problems += check_names(inverse, scope, fields, in_each, where)
    return problems


# -------------------------------------------------------------- rendering

def truthy(v):
    if isinstance(v, bool):
        return v
    if v is None:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def lookup(name, frame):
    ctx, loop = frame
    if name in LOOP_VARS:
        if loop is None:
            raise TemplateProblem(f"{name} outside #each")
        return loop[name]
    if name.startswith("this."):
        name = name[5:]
    if not isinstance(ctx, dict) or name not in ctx:
        raise TemplateProblem(f"strict mode: {name!r} is not in the context here")
    return ctx[name]


def render_tree(tree, frame, out):
    for node in tree:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "var":
            v = lookup(node[1], frame)
            if isinstance(v, bool):
                v = "true" if v else "false"
            if isinstance(v, (list, dict)):
                raise TemplateProblem(f"printing a list or object: {node[1]}")
            out.append(str(v))
        else:
            _, helper, arg, body, inverse = node
            v = lookup(arg, frame)
            if helper == "if" or helper == "unless":
                cond = truthy(v) if helper == "if" else not truthy(v)
                if cond:
                    render_tree(body, frame, out)
                elif inverse:
                    render_tree(inverse, frame, out)
            else:
                if not isinstance(v, list):
                    raise TemplateProblem(f"#each over a non-list {arg}")
                if v:
                    for i, item in enumerate(v):
                        render_tree(body, (item, {"@first": i == 0, "@last": i == len(v) - 1}), out)
                elif inverse:
                    render_tree(inverse, frame, out)


def render(src, ctx):
    out = []
    render_tree(parse(tokenize(src)), (ctx, None), out)
    return "".join(out)


# --------------------------------------------------------- sample contexts

def contact(channel, value, hours="24/7", free=False, anonymous=False):
    return {"channel": channel, "value": value, "hours": hours, "timezone": "", "is_24_7": hours == "24/7",
            "has_hours": hours != "", "free": free, "anonymous": anonymous}


def resource(name, local_name, organisation, url, contacts):
    return {"name": name, "local_name": local_name, "organisation": organisation,
            "url": url, "contacts": contacts}


INTERNATIONAL = [
    resource("Find A Helpline", "", "ThroughLine", "https://findahelpline.com/",
             [contact("web", "https://findahelpline.com/", "")]),
    resource("Befrienders Worldwide", "", "", "https://befrienders.org/",
             [contact("web", "https://befrienders.org/", "")]),
]

BASE = {
    "sender_name": "Lena", "has_sender_name": True, "thread_token": "K7Q2M",
    "reply_window_hours": 48, "navigator_name": "Sam", "has_navigator_name": True,
    "service_name": "concierge",
}

SAMPLES = {
    # Country known, with an emergency record, a crisis line and resources.
    "known": dict(BASE, country_known=True, country_name="Germany",
        emergency=[resource("Emergency numbers", "Notruf", "", "",
                            [contact("phone", "112", free=True), contact("phone", "110", free=True)])],
        crisis_lines=[resource("TelefonSeelsorge", "", "TelefonSeelsorge Deutschland",
                               "https://www.telefonseelsorge.de/",
                               [contact("phone", "0800 111 0 111", free=True, anonymous=True),
                                contact("phone", "116 123", free=True, anonymous=True),
                                contact("chat", "https://online.telefonseelsorge.de/", "Mon-Sun 14:00-22:00")])],
        resources=[resource("Music Minds Matter (Help Musicians)", "Music Minds Matter", "Help Musicians",
                            "https://www.musicmindsmatter.org.uk/",
                            [contact("phone", "0808 802 8008", free=True)]),
                   resource("Unison Benevolent Fund", "", "", "https://unisonfund.ca/",
                            [contact("text", "CONNECT to 686868", ""),
                             contact("email", "help@example.org", "Mon-Fri 09:00-17:00")])],
        international=INTERNATIONAL),
    # Country unknown: nothing local, no names.
    "unknown": dict(BASE, sender_name="", has_sender_name=False, navigator_name="",
        has_navigator_name=False, country_known=False, country_name="",
        emergency=[], crisis_lines=[], resources=[], international=INTERNATIONAL),
    # Country known, emergency number only (no crisis line in the directory).
    "emergency_only": dict(BASE, country_known=True, country_name="Türkiye",
        emergency=[resource("Emergency number", "Acil Çağrı", "", "", [contact("phone", "112", free=True)])],
        crisis_lines=[], resources=[], international=INTERNATIONAL),
    # Nothing at all, not even the international directories.
    "nothing": dict(BASE, country_known=False, country_name="", emergency=[], crisis_lines=[],
        resources=[], international=[]),
}


# ------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show", metavar="LANG", action="append", default=[],
                    help="print the rendered mails of this language (repeatable)")
    ap.add_argument("--template", choices=NAMES, action="append")
    ap.add_argument("--sample", choices=sorted(SAMPLES), action="append")
    args = ap.parse_args()

    languages = sorted(d for d in os.listdir(HERE)
                       if os.path.isdir(os.path.join(HERE, d)) and not d.startswith((".", "_")))
    problems = []
    for lang in languages:
        folder = os.path.join(HERE, lang)
        expected = {f"{n}.{p}.hbs" for n in NAMES for p in PARTS}
        present = set(os.listdir(folder))
        for missing in sorted(expected - present):
            problems.append(f"{lang}: missing {missing}")
        optional = {f"{n}.html.hbs" for n in NAMES}  # the code would accept an HTML part too
        for extra in sorted(present - expected - optional):
            problems.append(f"{lang}: unexpected file {extra}")
        for name in NAMES:
            for part in PARTS + ["html"]:
                path = os.path.join(folder, f"{name}.{part}.hbs")
                if not os.path.exists(path):
                    continue  # a missing required file was reported above
                where = f"{lang}/{name}.{part}.hbs"
                raw = open(path, "rb").read()
                try:
                    src = raw.decode("utf-8")
                except UnicodeDecodeError:
                    problems.append(f"{where}: not UTF-8")
                    continue
                if "\r" in src or "\t" in src or "\ufeff" in src:
                    problems.append(f"{where}: CR, tab or BOM")
                try:
                    tree = parse(tokenize(src))
                except TemplateProblem as e:
                    problems.append(f"{where}: {e}")
                    continue
                problems += check_names(tree, where=where)
                if part == "subject":
                    if "\n" in src.rstrip("\n"):
                        problems.append(f"{where}: subject is more than one line")
                    if "[#{{thread_token}}]" not in src:
                        problems.append(f"{where}: subject lacks [#{{{{thread_token}}}}]")
                for sample, ctx in SAMPLES.items():
                    try:
                        text = render(src, ctx)
                    except TemplateProblem as e:
                        problems.append(f"{where} ({sample}): {e}")
                        continue
                    if part == "subject":
                        if "[#K7Q2M]" not in text or "\n" in text.strip():
                            problems.append(f"{where} ({sample}): rendered subject {text!r}")
                        continue
                    if "\n\n\n" in text:
                        problems.append(f"{where} ({sample}): two blank lines in a row")
                    if text.startswith("\n") or not text.endswith("\n") or text.endswith("\n\n"):
                        problems.append(f"{where} ({sample}): leading/trailing blank lines")
                    for line in text.split("\n"):
                        if len(line) > MAX_LINE:
                            problems.append(f"{where} ({sample}): long line {line[:40]!r}...")
                        if line != line.rstrip():
                            problems.append(f"{where} ({sample}): trailing space in {line!r}")
                    if "{{" in text or "}}" in text:
                        problems.append(f"{where} ({sample}): braces left in the output")
                    if lang in args.show and (not args.template or name in args.template) \
                            and (not args.sample or sample in args.sample):
                        subject = render(open(os.path.join(folder, f"{name}.subject.hbs"), encoding="utf-8").read(), ctx)
                        print(f"===== {lang}/{name} [{sample}]\nSubject: {subject.strip()}\n\n{text}")

    print(f"{len(languages)} languages: {' '.join(languages)}")
    if problems:
        print(f"{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print("all templates OK")


if __name__ == "__main__":
    main()
