"""Who owns a section, and where that answer came from (issue 5).

Resolved in this order; the first source that names an owner wins, and every answer says which
source it used:

1. ``front_matter``: the page's ``owner`` (a handle, an email, or a list of them);
2. ``codeowners``: a CODEOWNERS file of the source, looked for where GitHub looks (``.github/``,
   the root, ``docs/``; the first one found is used). GitHub syntax and semantics: the *last*
   matching pattern wins; ``*`` and ``?`` stay within a folder, ``**`` crosses folders; a leading
   ``/`` (or any slash but a trailing one) anchors a pattern to the root, a pattern without one
   matches at any depth; a trailing ``/`` matches everything in that folder; ``docs/*`` matches
   the folder's files but not its sub-folders; ``\\ `` escapes a space; owners are ``@user``,
   ``@org/team`` or emails; a pattern with no owners leaves its files unowned here (the next
   source is asked); ``!`` negation and ``[...]`` ranges are not supported (GitHub ignores them);
3. ``config``: a folder-to-owner mapping in wikicheck.toml (same pattern syntax, last match wins)::

       [owners]
       "platform/" = "@acme/platform-team"
       "/teams/checkout/" = ["@acme/checkout-team", "oncall-lead@acme.example"]

4. ``git_author``: the last git author of the section (its newest commit), a labelled fallback:
   nobody declared that person an owner. Authors are read as git recorded them and mapped to one
   identity at report time (#12): the repository's ``.mailmap`` (``git check-mailmap``, one call per
   source) first, then identities that share an e-mail address are one owner, named as in their
   newest commit. Identities are never merged by name alone: two people can share a name.

Anything else is ``none``: the section goes into the unowned report.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .codeowners import OWNER_RE, CodeOwners, Rule, find_codeowners, pattern_regex
from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

SOURCES = ("front_matter", "codeowners", "config", "git_author", "none")
SOURCE_LABELS = {
    "front_matter": "front matter owner",
    "codeowners": "CODEOWNERS",
    "config": "[owners] in the config",
    "git_author": "last git author (fallback, not a declared owner)",
    "none": "no owner",
}


@dataclass(frozen=True)
class Ownership:
    """The owners of a section and which source named them."""

    owners: tuple[str, ...]
    source: str  # one of SOURCES
    detail: str = ""  # e.g. 'CODEOWNERS line 18: /payments/**/refund*.md'

    @property
    def owned(self) -> bool:
        return bool(self.owners)

    @property
    def label(self) -> str:
        return SOURCE_LABELS[self.source]

    def to_json(self) -> dict[str, Any]:
        return {"owners": list(self.owners), "source": self.source, "label": self.label, "detail": self.detail}

    def as_text(self) -> str | None:
        """The owners as one string, the way check output and guard provenance show them ("a, b"; None: unowned)."""
        return ", ".join(self.owners) or None


UNOWNED = Ownership((), "none", "no front matter owner, CODEOWNERS pattern, [owners] entry or git author")


# ----------------------------------------------------------------------------- config


def split_owners(value: Any) -> tuple[str, ...]:
    """Owners from a front matter or config value: a list, or a string separated by commas (or by
    spaces when every part is a handle or email: "@acme/a @acme/b"; a name like "Jane Doe" stays one)."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            words = part.split()
            toks = words if len(words) > 1 and all(OWNER_RE.match(w) for w in words) else [" ".join(words)]
            for tok in toks:
                if tok and tok not in out:
                    out.append(tok)
    return tuple(out)


def config_rules(config: Config | None) -> list[Rule]:
    rules = []
    for i, (pat, value) in enumerate(((config.data if config else {}).get("owners") or {}).items(), 1):
        rules.append(Rule(pat, split_owners(value), i, pattern_regex(pat)))
    return rules


def validate_owners(section: Any, where: str) -> None:
    """The [owners] section (registered in config.SECTIONS)."""
    if not isinstance(section, dict):
        raise ConfigError(f'{where}: [owners] should be a table of "folder/" = "@org/team" entries')
    for pat, value in section.items():
        w = f'{where}: [owners] "{pat}"'
        ok = isinstance(value, str) or (isinstance(value, list) and value and all(isinstance(v, str) for v in value))
        if not ok or not split_owners(value):
            raise ConfigError(f'{w}: should be an owner ("@org/team", "@user" or an email) or a list of them, got {value!r}')
        for o in split_owners(value):
            if not OWNER_RE.match(o):
                raise ConfigError(f'{w}: {o!r} is not an @user, @org/team or email')
        try:
            pattern_regex(pat)
        except (ValueError, re.error) as e:
            raise ConfigError(f'{w}: invalid pattern: {e}') from None



# ----------------------------------------------------------------------------- resolution


class OwnerResolver:
    """Resolves owners for the sections of one store; CODEOWNERS files are read once per source."""

    def __init__(self, sources: Iterable[dict[str, Any]], config: Config | None = None,
                 authors: Iterable[tuple[str, str, str | None]] | None = None):
        """authors: the (source, raw git author, newest changed_at) of the index, so identities that
        share an e-mail address get one name whichever section is resolved first."""
        self.sources = {s["name"]: s for s in sources}
        self.config_rules = config_rules(config)
        self._codeowners: dict[str, CodeOwners | None] = {}
        self._declared: dict[tuple[str, str, str], Ownership | None] = {}
        self._authors = list(authors or ())
        self._identities: dict[tuple[str, str], str] | None = None  # (source, raw) -> owner
        self._by_email: dict[str, str] = {}  # lower-case e-mail -> owner
        self._mailmaps: dict[tuple[str, str], str] = {}

    @classmethod
    def for_store(cls, store: Any, config: Config | None = None) -> OwnerResolver:
        return cls(store.sources(), config, store.git_authors())

    # ------------------------------------------------------------------ git identities

    def _mailmap(self, source: str, raws: Iterable[str]) -> None:
        """Map raw git identities of a source through its repository's .mailmap (cached)."""
        todo = sorted({r for r in raws if (source, r) not in self._mailmaps})
        if not todo:
            return
        src = self.sources.get(source) or {}
        mapped = git_check_mailmap(src["root"], todo) if src.get("root") else {}
        for r in todo:
            self._mailmaps[(source, r)] = mapped.get(r, r)

    def _build_identities(self) -> None:
        by_source: dict[str, list[str]] = {}
        for source, raw, _ in self._authors:
            by_source.setdefault(source, []).append(raw)
        for source, raws in by_source.items():
            self._mailmap(source, raws)
        # identities sharing an e-mail address are one owner, named as in its newest commit
        best: dict[str, tuple[str, str]] = {}
        for source, raw, changed in self._authors:
            ident = self._mailmaps.get((source, raw), raw)
            email = identity_email(ident)
            if not email:
                continue
            cand = (changed or "", ident)
            if email not in best or cand > best[email]:
                best[email] = cand
        self._by_email = {email: ident for email, (_, ident) in best.items()}
        self._identities = {}

    def identity(self, source: str, raw: str) -> str:
        """The owner a raw git author stands for: .mailmap applied, identities merged by e-mail."""
        if self._identities is None:
            self._build_identities()
        assert self._identities is not None
        key = (source, raw)
        if key not in self._identities:
            self._mailmap(source, [raw])
            ident = self._mailmaps.get(key, raw)
            email = identity_email(ident)
            if email and email not in self._by_email:
                self._by_email[email] = ident  # not in the index's list: first seen names it
            self._identities[key] = self._by_email.get(email, ident) if email else ident
        return self._identities[key]

    def codeowners(self, source: str) -> CodeOwners | None:
        if source not in self._codeowners:
            src = self.sources.get(source)
            co = None
            if src and src.get("kind") in ("folder", "git") and src.get("root"):
                co = find_codeowners(src["root"])
            self._codeowners[source] = co
        return self._codeowners[source]

    def warnings(self) -> list[str]:
        return [w for co in self._codeowners.values() if co for w in co.warnings]

    def declared(self, source: str, path: str, front_matter_owner: Any = None) -> Ownership | None:
        """Sources 1-3, which depend on the page only (cached per page: a page has many sections)."""
        key = (source, path, str(front_matter_owner))
        if key not in self._declared:
            self._declared[key] = self._declared_uncached(source, path, front_matter_owner)
        return self._declared[key]

    def _declared_uncached(self, source: str, path: str, front_matter_owner: Any) -> Ownership | None:
        owners = split_owners(front_matter_owner)
        if owners:
            return Ownership(owners, "front_matter", f"front matter of {path}")
        co = self.codeowners(source)
        if co is not None:
            rule = co.match(path)
            if rule is not None and rule.owners:
                return Ownership(rule.owners, "codeowners", f"{co.path} line {rule.line}: {rule.pattern}")
        for rule in reversed(self.config_rules):
            if rule.matches(path):
                return Ownership(rule.owners, "config", f'[owners] "{rule.pattern}" in the config')
        return None

    def resolve(self, source: str, path: str, front_matter_owner: Any = None,
                git_author: str | None = None, timestamp_source: str | None = None) -> Ownership:
        """The owners of a section (or page), in the documented order."""
        found = self.declared(source, path, front_matter_owner)
        if found is not None:
            return found
        if git_author and timestamp_source == "git" and git_author != "Not Committed Yet":
            return Ownership((self.identity(source, git_author),), "git_author",
                             "the last git author of the section (fallback: nobody declared an owner)")
        return UNOWNED

    def for_section(self, section: dict[str, Any], document: dict[str, Any] | None) -> Ownership:
        doc = document or {}
        author = section.get("author") or doc.get("author")
        ts = section.get("timestamp_source") if section.get("author") else doc.get("timestamp_source")
        return self.resolve(section["source"], section["path"], doc.get("owner"), author, ts)

    def for_document(self, document: dict[str, Any]) -> Ownership:
        return self.resolve(document["source"], document["path"], document.get("owner"), document.get("author"),
                            document.get("timestamp_source"))

    def for_finding(self, scope: str | None, section: dict[str, Any] | None, document: dict[str, Any] | None, *,
                    source: str = "", path: str = "", recorded_owner: Any = None) -> Ownership:
        """The owners of a finding: its section's (scope "section"), else its page's. The one answer that
        check output, guard provenance and the owner reports give (#13: check read front matter only).

        Without the page's row (a finding of a page no longer in the store), `source` and `path` are
        resolved, and `recorded_owner` (the owner the finding was stored with) is the last resort."""
        if scope == "section" and section is not None:
            return self.for_section(section, document)
        if document is not None:
            return self.for_document(document)
        return self.declared(source, path) or self.resolve(source, path, recorded_owner)


_IDENTITY = re.compile(r"\A(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]*)>\Z")


def identity_email(identity: str) -> str:
    """The lower-case e-mail of a git identity 'Name <email>' ('' when it has none)."""
    m = _IDENTITY.match(identity.strip())
    return m.group("email").lower() if m else ""


def git_check_mailmap(root: str | Path, identities: Iterable[str], batch: int = 200) -> dict[str, str]:
    """Identities mapped through the .mailmap of the repository holding `root` (and git's
    mailmap.file / mailmap.blob settings): one `git check-mailmap` call per `batch` identities.
    Only the identities git changed are returned; none when `root` is not in a git work tree."""
    ids = [i for i in dict.fromkeys(identities) if _IDENTITY.match(i.strip())]
    out: dict[str, str] = {}
    for n in range(0, len(ids), batch):
        chunk = ids[n:n + batch]
        try:
            proc = subprocess.run(["git", "-C", str(root), "check-mailmap", "--", *chunk], capture_output=True,
                                  timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return out
        if proc.returncode != 0:
            return out
        lines = proc.stdout.decode("utf-8", "replace").split("\n")
        if len(lines) < len(chunk):
            return out
        for raw, mapped in zip(chunk, lines):
            if mapped.strip() and mapped.strip() != raw.strip():
                out[raw] = mapped.strip()
    return out


def owner_slug(owner: str) -> str:
    """A file-name-safe slug: '@acme/platform-team' -> 'acme-platform-team', 'a@b.io' -> 'a-at-b-io'."""
    s = (owner.removeprefix("@")).lower().replace("@", "-at-")
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")[:60].strip("-") or "owner"


__all__ = [
    "UNOWNED",
    "CodeOwners",
    "OwnerResolver",
    "Ownership",
    "find_codeowners",
    "git_check_mailmap",
    "identity_email",
    "owner_slug",
    "pattern_regex",
    "split_owners",
]
