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

