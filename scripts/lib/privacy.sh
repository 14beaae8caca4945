# Shared by the drill scripts: fails when a log holds an e-mail address or a display name
# of the generated mail (scripts/gen-maildir writes names as "NAME NUMBER" from its NAMES).
# Issue 10: no address, name or message text in any log line at any level.
#
#   . scripts/lib/privacy.sh
#   check_logs_private LOG...        # prints what it found and returns 1, or returns 0

check_logs_private() {
  python3 - "$@" <<'PY'
import ast, re, sys
source = open("scripts/gen-maildir", encoding="utf-8").read()
names = ast.literal_eval(re.search(r"^NAMES = (\[.*?\])", source, re.S | re.M).group(1))
names.append("Person")  # the small mailbox: "Person N <personN@example.org>"
address = re.compile(r"[\w.%+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}")
name = re.compile("(" + "|".join(re.escape(n) for n in names) + r") \d+")
found = 0
for path in sys.argv[1:]:
    for number, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        hit = address.search(line) or name.search(line)
        if hit:
            found += 1
            if found <= 5:
                print(f"{path}:{number}: personal data in a log line: {hit.group(0)!r}", file=sys.stderr)
print(f"privacy: {found} log lines with an address or a name in {len(sys.argv) - 1} logs", file=sys.stderr)
sys.exit(1 if found else 0)
PY
}

# The integration run's log (tests/it with CONCIERGE_TEST_LOG): fails when a line holds an
# e-mail address, or a display name from a From, To or Cc header of the fixtures.
#   check_test_log_private LOG
check_test_log_private() {
  python3 - "$1" <<'PY'
import email, email.policy, email.utils, pathlib, re, sys
names = set()
for path in pathlib.Path("tests/fixtures").rglob("*.eml"):
    try:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        for header in ("From", "To", "Cc", "Reply-To"):
            for name, _ in email.utils.getaddresses([str(h) for h in message.get_all(header, [])]):
                name = name.strip().strip('"')
                # Whole names only: two words or more, so that a word like "Help" is not one.
                if len(name) >= 5 and " " in name and "=?" not in name:
                    names.add(name)
    except Exception:
        pass
names.update(["Test Person", "Ana Silva"])
address = re.compile(r"[\w.%+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}")
found = 0
lines = 0
for number, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="replace"), 1):
    lines += 1
    hit = address.search(line)
    text = hit.group(0) if hit else next((n for n in names if n in line), None)
    if text:
        found += 1
        if found <= 5:
            print(f"{sys.argv[1]}:{number}: personal data in a log line: {text!r}", file=sys.stderr)
print(f"privacy: {found} of {lines} log lines of the integration run with an address or one of {len(names)} fixture names", file=sys.stderr)
sys.exit(1 if found else 0)
PY
}
