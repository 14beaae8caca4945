# Shared by the drill scripts and scripts/test: fails when a log holds an e-mail address or a
# display name of the mail the run used. The drills' mail comes from scripts/gen-maildir (names
# "NAME NUMBER" from its NAMES); with --fixtures, also every person's name in the From, To, Cc
# and Reply-To of tests/fixtures/**/*.eml, the "Name <address>" strings of tests/it, and the
# fixtures' subjects of 16 characters or more (message text).
# Issue 10: no address, name or message text in any log line at any level.
#
#   . scripts/lib/privacy.sh
#   check_logs_private [--fixtures] LOG...   # prints what it found and returns 1, or returns 0

check_logs_private() {
  python3 - "$@" <<'PY'
import ast, email, email.header, email.utils, glob, re, sys
paths = sys.argv[1:]
fixtures = paths[:1] == ["--fixtures"]
if fixtures:
    paths = paths[1:]
source = open("scripts/gen-maildir", encoding="utf-8").read()
generated = ast.literal_eval(re.search(r"^NAMES = (\[.*?\])", source, re.S | re.M).group(1))
generated.append("Person")  # the small mailbox: "Person N <personN@example.org>"
patterns = [r"(" + "|".join(re.escape(n) for n in generated) + r") \d+"]
if fixtures:
    # Mailer names are not people's: a bounce's "Mail Delivery System" is no personal data.
    mailers = {"Mail Delivery Subsystem", "Mail Delivery System", "Microsoft Outlook",
               "Sistema de Entrega de E-mail", "Почтовая служба"}
    names, subjects = set(), set()
    for fixture in glob.glob("tests/fixtures/**/*.eml", recursive=True):
        with open(fixture, "rb") as f:
            message = email.message_from_binary_file(f)
        for header in ("From", "To", "Cc", "Reply-To"):
            for value in message.get_all(header) or []:
                try:
                    value = str(email.header.make_header(email.header.decode_header(str(value))))
                except Exception:
                    value = str(value)
                for name, _ in email.utils.getaddresses([value]):
                    names.add(name.strip())
        try:
            subject = str(email.header.make_header(email.header.decode_header(str(message.get("Subject", "")))))
        except Exception:
            subject = ""
        subject = re.sub(r"^((re|aw|fw|fwd|sv|vs|odp|r):\s*)+", "", " ".join(subject.split()), flags=re.I)
        if len(subject) >= 16 and "\ufffd" not in subject:
            subjects.add(subject)
    for test in glob.glob("tests/it/**/*.rs", recursive=True):
        text = open(test, encoding="utf-8").read()
        names.update(re.findall(r"([^\s\"<>:,][^\"<>:,]*[^\s\"<>:,]) <[^<>@\s]+@", text))
    # A whole name with a space: a lone first name ("Lena") is also an ordinary word.
    names = {n for n in names if " " in n and "\ufffd" not in n and n not in mailers}
    patterns += [re.escape(n) for n in sorted(names | subjects, key=len, reverse=True)]
address = re.compile(r"[\w.%+-]+@[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}")
name = re.compile("|".join(patterns))
found = 0
for path in paths:
    for number, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        hit = address.search(line) or name.search(line)
        if hit:
            found += 1
            if found <= 5:
                print(f"{path}:{number}: personal data in a log line: {hit.group(0)!r}", file=sys.stderr)
print(f"privacy: {found} log lines with an address or a name in {len(paths)} logs", file=sys.stderr)
sys.exit(1 if found else 0)
PY
}
