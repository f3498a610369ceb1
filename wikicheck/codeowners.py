"""CODEOWNERS files: GitHub's pattern syntax and semantics, the file parsed into rules, and where a
source's file is found (``.github/``, the root, ``docs/``, of the folder then of its repository).

The last matching pattern wins; ``*`` and ``?`` stay within a folder, ``**`` crosses folders; a
leading ``/`` (or any slash but a trailing one) anchors a pattern to the root, a pattern without one
matches at any depth; a trailing ``/`` matches everything in that folder; ``\\ `` escapes a space;
owners are ``@user``, ``@org/team`` or emails; ``!`` negation and ``[...]`` ranges are not supported.
wikicheck.owners resolves owners with it (and with the same patterns in the [owners] config).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's search order

# an owner: @user, @org/team or an email
OWNER_RE = re.compile(r"^(@[A-Za-z0-9](?:[A-Za-z0-9_.-]*)(?:/[A-Za-z0-9_.-]+)?|[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+)$")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, path: str) -> bool:
        return self.regex.match(path.lstrip("/")) is not None


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regex of a CODEOWNERS pattern, matched against a root-relative path without leading slash.

    Same construction as GitHub's own semantics (and hmarr/codeowners): a pattern of one segment
    (``*.md``, ``docs/``) matches at any depth; a final literal segment also matches everything
    below it; a final ``*`` matches one level only.
    """
    if not pattern or pattern == "/":
        raise ValueError("empty pattern")
    segs = pattern.split("/")
    if segs[0] == "":
        segs = segs[1:]  # leading slash: anchored to the root
    elif len(segs) == 1 or (len(segs) == 2 and segs[1] == ""):
        if segs[0] != "**":
            segs = ["**", *segs]  # no slash but a trailing one: at any depth
    if len(segs) > 1 and segs[-1] == "":
        segs[-1] = "**"  # trailing slash: everything inside the folder
    out = [r"\A"]
    last = len(segs) - 1
    need_slash = False
    for i, seg in enumerate(segs):
        if seg == "**":
            if i == 0 and i == last:
                out.append(r".+")
            elif i == 0:
                out.append(r"(?:.+/)?")
                need_slash = False
            elif i == last:
                out.append(r"/.+")
            else:
                out.append(r"(?:/.+)?")
                need_slash = True
        elif seg == "*":
            if need_slash:
                out.append("/")
            out.append(r"[^/]+" + (r"\Z" if i == last else ""))
            need_slash = True
        else:
            if need_slash:
                out.append("/")
            escaped = False
            for ch in seg:
                if escaped:
                    out.append(re.escape(ch))
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == "*":
                    out.append(r"[^/]*")
                elif ch == "?":
                    out.append(r"[^/]")
                else:
                    out.append(re.escape(ch))
            if i == last:
                out.append(r"(?:/.*)?\Z")  # the file itself, or everything below a folder of that name
            need_slash = True
    if segs and segs[-1] == "**" and len(segs) > 1:
        out.append(r"\Z")
    return re.compile("".join(out))


def _split_unescaped(line: str) -> list[str]:
    """Split on white space that is not escaped with a backslash; stop at an unescaped '#' token."""
    tokens: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(line[i:i + 2])
            i += 2
            continue
        if ch.isspace():
            if cur:
                tokens.append("".join(cur))
                cur = []
        elif ch == "#" and not cur:
            break  # a comment: at the start of the line, or after the owners
        else:
            cur.append(ch)
        i += 1
    if cur:
        tokens.append("".join(cur))
    return tokens


def _unescape(pattern: str) -> str:
    """Escaped spaces are part of the pattern; other escapes stay for pattern_regex."""
    return pattern.replace("\\ ", " ")


@dataclass
class CodeOwners:
    """A parsed CODEOWNERS file."""

    path: str  # where it was read from, for the "source" detail
    rules: list[Rule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    prefix: str = ""  # the source's folder inside the repository, when the file is at the repo root

    @classmethod
    def parse(cls, text: str, path: str = "CODEOWNERS", prefix: str = "") -> CodeOwners:
        co = cls(path, prefix=prefix.strip("/"))
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tokens = _split_unescaped(line)
            if not tokens:
                continue
            pat, owners = tokens[0], tokens[1:]
            if pat.startswith("!"):
                co.warnings.append(f"{path}:{n}: negated pattern {pat!r} is not supported by CODEOWNERS; skipped")
                continue
            bad = [o for o in owners if not OWNER_RE.match(o)]
            if bad:
                co.warnings.append(f"{path}:{n}: {bad[0]!r} is not an @user, @org/team or email; line skipped")
                continue
            try:
                rx = pattern_regex(_unescape(pat))
            except (ValueError, re.error) as e:
                co.warnings.append(f"{path}:{n}: invalid pattern {pat!r}: {e}; skipped")
                continue
            co.rules.append(Rule(_unescape(pat), tuple(owners), n, rx))
        return co

    def match(self, path: str) -> Rule | None:
        """The last rule matching a source-relative path (None: no pattern matches)."""
        full = f"{self.prefix}/{path}" if self.prefix else path
        for rule in reversed(self.rules):
            if rule.matches(full):
                return rule
        return None


def find_codeowners(root: str | Path) -> CodeOwners | None:
    """The CODEOWNERS of a source folder: .github/, root, docs/ of the folder, then of its git repository."""
    root = Path(root)
    bases: list[tuple[Path, str]] = [(root, "")]
    top = _git_toplevel(root)
    if top is not None and top != root.resolve():
        try:
            bases.append((top, root.resolve().relative_to(top).as_posix()))
        except ValueError:
            pass
    for base, prefix in bases:
        for loc in CODEOWNERS_LOCATIONS:
            p = base / loc
            if p.is_file():
                try:
                    text = p.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                return CodeOwners.parse(text, str(PurePosixPath(prefix, loc)) if prefix else loc, prefix)
    return None


def _git_toplevel(root: Path) -> Path | None:
    if not any((d / ".git").exists() for d in (root, *root.resolve().parents)):
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None
