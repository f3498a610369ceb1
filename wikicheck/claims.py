"""Claims: the checkable facts a runbook section states.

An engineer acts on the commands, hosts, flags, ports, paths, versions, quantities and do/don't
instructions of a runbook, not on its prose. Two sections that agree on every claim say the same
thing whatever their wording; a section whose claims differ from a newer one on the same topic is
the evidence that it is outdated. The extractor is pure text processing: no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

CLAIM_TYPES = ("code", "command", "flag", "host", "url", "port", "path", "version", "quantity", "identifier", "instruction",
               "deprecation")

# Claim types whose change between two versions of a section changes what an engineer would do.
# URLs are left out: a fixed link target is the commonest cosmetic edit.
# A deprecation notice counts: the newer text saying a feature is deprecated, retiring or going away
# changes what an engineer should do with the older text's advice, whatever else stayed the same.
SUBSTANTIVE = ("code", "command", "flag", "host", "port", "path", "version", "quantity", "identifier", "instruction",
               "deprecation")

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_URL = re.compile(r"\b(?:https?|ftp|s3|gs)://[^\s<>()\"'`\]]+", re.I)
_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{2,5})?\b")
_HOST = re.compile(r"(?<![\w./@-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){2,}[a-z][a-z0-9-]{1,62})(?::(\d{2,5}))?(?![\w/-])", re.I)
# a flag's value follows `=` or a space, but a word starting with `-` is the next flag: `psql -X -h db`
_FLAG = re.compile(r"(?<![\w-])(--[a-zA-Z][\w-]*|-[a-zA-Z])(?:(?:=| (?!-))([^\s`'\"|;&]+))?")
_PORT = re.compile(r"\bports?\s*[:=]?\s*(\d{2,5})\b|(?<=[A-Za-z\]]):(\d{2,5})\b", re.I)
_PATH = re.compile(r"(?<![\w.:/-])((?:~|\.{1,2})?/(?:[\w.@{}$-]+/)*[\w.@{}$-]+/?|(?:[\w.@-]+/)+[\w@-]+\.[a-z]{1,5})(?![\w/])")
# a version may end a sentence ("removed in v2.7."): a dot after it counts only when a word follows
_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?(?:[-+][\w.]*\w)?)(?!\w|\.\w)")
_QUANTITY = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s?(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?|"
    r"%|percent|[kmgtp]i?b|bytes|rps|qps|req/s|replicas|pods|nodes|cores?|vcpus?|threads|connections|times|retries)(?![\w])",
    re.I,
)
# a key with a DNS prefix: Kubernetes annotations and labels (app.kubernetes.io/name,
# argocd.argoproj.io/sync-wave), CRD groups with a kind; one slash only (a second one makes a path or a URL)
_PREFIXED_KEY = re.compile(
    r"(?<![\w./:@-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}/[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?)(?![\w/.-]|\.\w)")
_IDENT = re.compile(r"^[A-Za-z_][\w.-]*[A-Za-z0-9_]$")
_EXPRESSION = re.compile(r"[{}()\[\]=<>|\"~]")
_NEG = re.compile(r"\b(never|do not|don't|dont|must not|mustn't|should not|shouldn't|avoid|not allowed|prohibited|no longer)\b", re.I)
_POS = re.compile(r"\b(always|must|should|make sure|ensure|required?|only)\b", re.I)
# a statement that something is on its way out ("X is deprecated", "will be removed in v3", "retires
# March 31", "no longer supported"); a thing merely removed from a list ("the pod is removed") is not one
_DEPRECATION = re.compile(
    r"\b(?:deprecat(?:ed|es|ing|ion)|will be removed|(?:is|are|was|were|been) removed in\b|retire[sd]?\b|retiring|"
    r"end[- ]of[- ]life|no longer (?:supported|maintained|recommended|available)|obsolete)", re.I)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*", re.I)
_FILE_EXT = {
    "md", "html", "htm", "yaml", "yml", "json", "txt", "conf", "cfg", "ini", "toml", "sh", "py", "go", "js", "ts",
    "log", "xml", "csv", "sql", "tar", "gz", "tgz", "zip", "pem", "crt", "key", "rb", "java", "service", "env",
    "png", "jpg", "svg", "lock", "j2", "tpl", "tf", "hcl", "io", "k8s",
}
_STOP = set(
    "a an the and or of to in on for with by at from is are be been was were it this that these those as if then "
    "when you your we our can will may not no do does use using run check see".split()
)
_PROMPT = re.compile(r"^\s*(?:\$|#|>|%|PS>|[\w@.-]+[$#])\s+")
_COMMENT_LINE = re.compile(r"^\s*(#|//|--|;)")


@dataclass(frozen=True)
class Claim:
    type: str
    key: str  # what the claim is about: flag name, setting, command head; "" when unkeyed
    value: str

    def render(self) -> str:
        if self.type == "flag":
            return f"{self.key} {self.value}".strip()
        if self.type == "quantity" and self.key:
            return f"{self.key} {self.value}"
        if self.type == "port":
            return f"port {self.value}"
        if self.type == "deprecation":
            return f"deprecated: {self.value}"
        return self.value


@dataclass
class ClaimDiff:
    """What changed between an older and a newer section, claim by claim."""

    old_only: list[Claim] = field(default_factory=list)
    new_only: list[Claim] = field(default_factory=list)
    conflicts: list[tuple[Claim, Claim]] = field(default_factory=list)  # same key, different value

    @property
    def substantive(self) -> bool:
        return bool(self.conflicts) or any(c.type in SUBSTANTIVE for c in self.old_only + self.new_only)

    @property
    def substantive_edit(self) -> bool:
        """`substantive`, for two versions of one section: an instruction that kept its polarity and
        nearly all its words ("as well as" -> "and", a spelling fix) is the same instruction edited for
        wording, so the edit did not change what the section tells an engineer to do. (Between two
        different pages, that difference still counts: it is the wording one of them never had.)"""
        if self.conflicts:
            return True
        old = [c for c in self.old_only if c.type in SUBSTANTIVE]
        new = [c for c in self.new_only if c.type in SUBSTANTIVE]
        if any(c.type != "instruction" for c in old + new):
            return True
        for a in old:
            match = next((b for b in new if b.key == a.key and _same_words(a.value, b.value) >= 0.8), None)
            if match is None:
                return True
            new.remove(match)
        return bool(new)

    @property
    def strong(self) -> bool:
        """Changes to what an engineer runs or connects to: code, commands, hosts, ports, flags."""
        strong = ("code", "command", "host", "port", "flag", "path", "quantity", "instruction", "version")
        return bool(self.conflicts) or any(c.type in strong for c in self.old_only + self.new_only)

    def to_json(self, limit: int = 8) -> dict[str, object]:
        def pick(cs: list[Claim]) -> list[dict[str, str]]:
            order = {t: i for i, t in enumerate(CLAIM_TYPES)}
            cs = sorted(cs, key=lambda c: (order.get(c.type, 99), c.key, c.value))
            return [{"type": c.type, "value": c.render()} for c in cs[:limit]]

        return {
            "conflicts": [
                {"type": a.type, "key": a.key, "old": a.render(), "new": b.render()} for a, b in self.conflicts[:limit]
            ],
            "old_only": pick(self.old_only),
            "new_only": pick(self.new_only),
        }


def _norm_code(line: str) -> str:
    line = _PROMPT.sub("", line)
    # sentence punctuation after a command is prose, not part of the command
    return re.sub(r"\s+", " ", line).strip().rstrip(".,;:")


def split_code(raw: str) -> tuple[list[str], list[str]]:
    """(code lines, prose lines) of a markdown (or plain) section."""
    code: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in raw.split("\n"):
        m = _FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            else:
                code.append(line)
            continue
        if m:
            fence = m.group(1)
            continue
        if line.startswith("    ") and line.strip() and not line.lstrip().startswith(("-", "*", "+")) and not re.match(r"\s*\d+\.", line):
            code.append(line)
            continue
        prose.append(line)
    return code, prose


def _logical_lines(lines: list[str]) -> list[str]:
    """Join shell continuation lines (`\\` at the end), so a flag stays with its command."""
    out: list[str] = []
    buf = ""
    for line in lines:
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            buf += stripped[:-1].rstrip() + " "
            continue
        out.append((buf + line.strip()) if buf else line)
        buf = ""
    if buf:
        out.append(buf.rstrip())
    return out


def _is_host(name: str) -> bool:
    labels = name.lower().split(".")
    if labels[-1] in _FILE_EXT or any(not lab for lab in labels):
        return False
    if all(lab.isdigit() for lab in labels):
        return False
    # dotted identifiers like app.kubernetes.io/name are labels, not hosts; require a host-like tld
    return len(labels[-1]) >= 2 and not labels[-1].isdigit()


@lru_cache(maxsize=65536)
def extract_claims(raw: str) -> frozenset[Claim]:
    """Every claim of a section, from its markdown source (code fences) or plain text."""
    claims: set[Claim] = set()
    code, prose = split_code(raw)
    code = _logical_lines(code)
    code_text = "\n".join(code)
    prose_text = "\n".join(prose)
    inline = _INLINE_CODE.findall(prose_text)
    prose_plain = _INLINE_CODE.sub(" ", prose_text)

    for line in code:
        n = _norm_code(line)
        if not n or _COMMENT_LINE.match(line.strip()) or len(n) < 3:
            continue
        claims.add(Claim("code", "", n))
        words = [w for w in n.split() if not w.startswith("-")]
        if words:
            words[0] = words[0].rsplit("/", 1)[-1]
        if words and re.match(r"^[a-z][\w.-]*$", words[0]):
            head = words[0] if len(words) < 2 or not re.match(r"^[a-z][\w-]*$", words[1]) else f"{words[0]} {words[1]}"
            claims.add(Claim("command", head, n))
    for span in inline:
        s = span.strip()
        if " " in s and re.match(r"^[a-z][\w.-]*\s", s):
            n = _norm_code(s)
            claims.add(Claim("command", n.split()[0] if len(n.split()) < 2 else " ".join(n.split()[:2]), n))
        elif _IDENT.match(s) and not _VERSION.fullmatch(s):
            claims.add(Claim("identifier", "", s))
        elif len(s) >= 5 and _EXPRESSION.search(s):
            # a query or an expression quoted in prose (PromQL, LogQL, a label selector, a JSONPath):
            # what an engineer pastes, as a code line is
            claims.add(Claim("code", "", _norm_code(s)))

    technical = code_text + "\n" + "\n".join(inline) + "\n" + prose_plain
    for m in _URL.finditer(technical):
        claims.add(Claim("url", "", m.group(0).rstrip(".,;:")))
    no_urls = _URL.sub(" ", technical)
    for m in _HOST.finditer(no_urls):
        if _is_host(m.group(1)):
            claims.add(Claim("host", "", m.group(1).lower()))
            if m.group(2):
                claims.add(Claim("port", "port", m.group(2)))
    for m in _IP.finditer(no_urls):
        ip, _, port = m.group(0).partition(":")
        claims.add(Claim("host", "", ip))
        if port:
            claims.add(Claim("port", "port", port))
    # a flag belongs to the program it is passed to: `psql -h` and `curl -h` are different settings
    for line in [*code, *inline]:
        n = _norm_code(line)
        # `kubectl exec pod -- refund-batch --batch-size 50`: flags after a bare -- belong to the inner command
        for part in re.split(r"\s--\s", f" {n} "):
            prog, prog_at, wrapper = _program(part)
            for m in _FLAG.finditer(part):
                name, value = m.group(1), (m.group(2) or "").rstrip(".,;:")
                if value.startswith("-"):
                    value = ""
                owner = prog if m.start() >= prog_at else wrapper  # `sudo -u postgres psql -h db`
                claims.add(Claim("flag", f"{owner} {name}".strip(), value))
    for m in _PORT.finditer(no_urls):
        claims.add(Claim("port", "port", m.group(1) or m.group(2)))
    for m in _PREFIXED_KEY.finditer(no_urls):
        claims.add(Claim("identifier", "", m.group(1)))
    for m in _PATH.finditer(no_urls):
        p = m.group(1)
        if p.count("/") >= 2 or p.startswith(("~", ".")) or (not p.startswith("/") and re.search(r"\.[a-z]{1,5}$", p)):
            claims.add(Claim("path", "", p.rstrip("/.,")))
    for m in _VERSION.finditer(no_urls):
        before = no_urls[max(0, m.start() - 12):m.start()].lower()
        if "version" in before or m.group(0).startswith("v") or m.group(1).count(".") >= 2:
            claims.add(Claim("version", "", m.group(1)))
    for m in _QUANTITY.finditer(prose_plain + "\n" + "\n".join(inline)):
        if m.group(2) == "M":
            continue  # "4.2 M products": a capital M is a count (million), not minutes
        ctx = prose_plain[max(0, m.start() - 40):m.start()] if m.string is not None else ""
        key = _quantity_key(m.string[max(0, m.start() - 40):m.start()])
        unit = _unit(m.group(2))
        claims.add(Claim("quantity", key or unit, f"{_num(m.group(1))}{unit}"))
        del ctx
    for sent in _SENT.split(prose_plain):
        s = sent.strip()
        if len(s) < 12:
            continue
        if _NEG.search(s):
            claims.add(Claim("instruction", "dont", _content(s)))
        elif _POS.search(s):
            claims.add(Claim("instruction", "do", _content(s)))
        if _DEPRECATION.search(s):
            claims.add(Claim("deprecation", "", _content(s)))
    return frozenset(claims)


_WRAPPERS = ("sudo", "exec", "time", "env", "nohup", "watch")
# wrapper flags that take a value: `sudo -u postgres psql`, `watch -n 5 kubectl get pods`
_WRAPPER_VALUE_FLAGS = {"-u", "-g", "-h", "-p", "-C", "-D", "-U", "-n", "-d"}


def _program(part: str) -> tuple[str, int, str]:
    """(program, offset of its word, wrapper) of a command: the word after `sudo`, `env`, ..., their flags
    and VAR=value assignments; ./refund-batch and /usr/bin/psql are refund-batch and psql."""
    words = [(m.group(0), m.start()) for m in re.finditer(r"\S+", part)]
    wrapper = ""
    i = 0
    while i < len(words):
        word, at = words[i]
        name = word.rsplit("/", 1)[-1]
        if wrapper and word.startswith("-"):
            i += 2 if word in _WRAPPER_VALUE_FLAGS else 1
            continue
        if wrapper and re.match(r"^[A-Za-z_]\w*=", word):
            i += 1
            continue
        if name in _WRAPPERS and i + 1 < len(words):
            wrapper = name
            i += 1
            continue
        return (name if re.match(r"^[a-z][\w.-]*$", name) else ""), at, wrapper
    return "", len(part), wrapper


def _num(s: str) -> str:
    return s.rstrip("0").rstrip(".") if "." in s else s


_UNITS = {
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms", "s": "s", "sec": "s", "secs": "s", "second": "s",
    "seconds": "s", "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m", "h": "h", "hr": "h", "hrs": "h",
    "hour": "h", "hours": "h", "d": "d", "day": "d", "days": "d", "w": "w", "week": "w", "weeks": "w",
    "percent": "%",
}


def _unit(u: str) -> str:
    return _UNITS.get(u.lower(), u.lower())


_QUANTITY_FILLER = _STOP | {
    "than", "over", "under", "within", "every", "above", "below", "least", "most", "more", "less", "after", "before",
    "about", "around", "approximately", "up", "set", "equal", "exceeds", "exceed", "reaches", "only", "last", "next",
    "each", "per", "wait", "takes", "between", "value", "default",
}


def _quantity_key(before: str) -> str:
    """The setting a quantity belongs to: "timeout" in "timeout of 30s", "" when there is none."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][\w-]*", before)][-3:]
    words = [w for w in words if w not in _QUANTITY_FILLER and len(w) > 2]
    return words[-1] if words else ""


# contractions spelled out, so "don't" and "do not" (and "can't", "cannot", "can not") give the same
# content words: a copy edited for style says the same thing. A possessive "'s" becomes "is" too, a
# stop word either way
_CONTRACTIONS = [(re.compile(p, re.I), r) for p, r in (
    (r"\bcan['\u2019]t\b|\bcannot\b", "can not"), (r"\bwon['\u2019]t\b", "will not"), (r"n['\u2019]t\b", " not"),
    (r"['\u2019]s\b", " is"), (r"['\u2019]re\b", " are"), (r"['\u2019]ll\b", " will"), (r"['\u2019]ve\b", " have"),
    (r"['\u2019]d\b", " would"))]


def _content(sentence: str) -> str:
    for rx, rep in _CONTRACTIONS:
        sentence = rx.sub(rep, sentence)
    words = [w.lower().rstrip(".,;:") for w in _WORD.findall(sentence)]
    keep = [w for w in words if w not in _STOP and not _NEG.fullmatch(w) and not _POS.fullmatch(w)]
    return " ".join(keep[:12])


def diff_claims(old: frozenset[Claim], new: frozenset[Claim]) -> ClaimDiff:
    """Claims only in the older section, only in the newer, and keyed claims whose value changed."""
    old_only = set(old - new)
    new_only = set(new - old)
    conflicts: list[tuple[Claim, Claim]] = []
    # keyed types: a flag or a setting that takes another value is a conflict, not an add and a remove
    for t in ("flag", "port", "quantity", "command"):
        o_by = _by_key(c for c in old_only if c.type == t)
        n_by = _by_key(c for c in new_only if c.type == t)
        for key in sorted(set(o_by) & set(n_by)):
            if not key:
                continue
            if t == "flag" and (not o_by[key][0].value or not n_by[key][0].value):
                continue
            if len(o_by[key]) == 1 and len(n_by[key]) == 1:
                a, b = o_by[key][0], n_by[key][0]
                conflicts.append((a, b))
                old_only.discard(a)
                new_only.discard(b)
    # code lines that changed also show up as command claims; keep the command form only
    cmd_old = {c.value for c in old_only if c.type == "command"} | {a.value for a, _ in conflicts if a.type == "command"}
    cmd_new = {c.value for c in new_only if c.type == "command"} | {b.value for _, b in conflicts if b.type == "command"}
    old_only = {c for c in old_only if not (c.type == "code" and c.value in cmd_old)}
    new_only = {c for c in new_only if not (c.type == "code" and c.value in cmd_new)}
    # instructions: same content under opposite polarity is a conflict
    for a in [c for c in old_only if c.type == "instruction"]:
        for b in [c for c in new_only if c.type == "instruction"]:
            if a.key != b.key and _overlap(a.value, b.value) >= 0.6:
                conflicts.append((a, b))
                old_only.discard(a)
                new_only.discard(b)
                break
    # a deprecation notice reworded ("make sure" -> "ensure", a sentence split) is the same notice: only
    # one with no counterpart on the other side (added, or gone) is a change
    for a in sorted((c for c in old_only if c.type == "deprecation"), key=_sort):
        for b in sorted((c for c in new_only if c.type == "deprecation"), key=_sort):
            if _overlap(a.value, b.value) >= 0.6:
                old_only.discard(a)
                new_only.discard(b)
                break
    return ClaimDiff(sorted(old_only, key=_sort), sorted(new_only, key=_sort), conflicts)


def _by_key(cs):  # type: ignore[no-untyped-def]
    out: dict[str, list[Claim]] = {}
    for c in cs:
        out.setdefault(c.key, []).append(c)
    return out


def _sort(c: Claim) -> tuple[str, str, str]:
    return (c.type, c.key, c.value)


def _same_words(a: str, b: str) -> float:
    """Dice coefficient of two contents' words: 1.0 for the same words, lower for a longer or shorter one."""
    sa, sb = set(a.split()), set(b.split())
    if not sa or not sb:
        return 0.0
    return 2 * len(sa & sb) / (len(sa) + len(sb))


def _overlap(a: str, b: str) -> float:
    sa, sb = set(a.split()), set(b.split())
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def _extractor_id() -> str:
    """Names the extraction code: a hash of this module's source, which is all extract_claims runs
    (it imports only the standard library). Any edit here starts a new claim cache."""
    import hashlib
    from pathlib import Path

    return "claims-" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


EXTRACTOR = _extractor_id()


def text_hash(text: str) -> str:
    """The key of a text in the claim cache."""
    import hashlib

    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def claims_to_json(claims: frozenset[Claim]) -> str:
    import json

    # ASCII JSON: a lone surrogate in a text (which SQLite cannot store as UTF-8) is kept as an escape
    return json.dumps(sorted([c.type, c.key, c.value] for c in claims), separators=(",", ":"))


def claims_from_json(raw: str) -> frozenset[Claim]:
    import json

    return frozenset(Claim(t, k, v) for t, k, v in json.loads(raw))
