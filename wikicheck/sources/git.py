"""A docs-as-code git repository. Provenance comes from `git blame`, history from `git log`.

A section's last change is the newest commit among its lines (committer time, the date the change
landed in the repository). Every past version of every page is read from the history in one
`git log --raw` pass plus one `git cat-file --batch` process, so that section versions cost one
parse per page version, not one git call each.
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from ..dates import iso
from ..errors import SourceNotFound, WikicheckError
from ..model import Document, Provenance
from .base import (
    DEFAULT_MAX_BYTES,
    Candidate,
    HistoryEvent,
    ScanResult,
    SkipFile,
    build_document,
    decode_page,
    fingerprint_bytes,
    kind_of,
)

_HEX = frozenset("0123456789abcdef")
_ID_LENGTHS = (40, 64)  # SHA-1 and SHA-256 repositories


def _git(root: str, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-c", "core.quotePath=false", "-C", root, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise WikicheckError(f"{root}: git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


def is_git_root(path: str | Path) -> bool:
    """True when `path` is the top level of a git work tree (a docs-as-code repository)."""
    p = Path(path).resolve()
    if not (p / ".git").exists():
        return False
    try:
        top = _git(str(p), "rev-parse", "--show-toplevel").strip()
    except (WikicheckError, OSError):
        return False
    return Path(top).resolve() == p


def work_tree_of(path: str | Path) -> Path | None:
    """The top level of the git work tree that holds folder `path`, or None (not in one, or no git)."""
    p = Path(path).resolve()
    if not p.is_dir():
        return None
    try:
        top = _git(str(p), "rev-parse", "--show-toplevel").strip()
    except (WikicheckError, OSError):
        return None  # not a work tree (or inside .git, or a bare repository), or git is not installed
    return Path(top).resolve() if top else None


def is_tracked_folder(path: str | Path) -> bool:
    """True when git dates the pages of folder `path`: the top level of a work tree (even one with no
    commit yet), or a sub-folder holding files git tracks (docs/ of a docs-as-code repository, #12).

    A sub-folder git ignores or does not track (build output, a copy dropped into a home-directory
    repository) is not: git knows nothing of its pages, so it is crawled as a folder.
    """
    p = Path(path).resolve()
    if is_git_root(p):
        return True
    if work_tree_of(p) is None:
        return False
    try:
        proc = subprocess.run(["git", "-C", str(p), "ls-files", "-z", "--cached", "--", "."],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return False
    return proc.returncode == 0 and bool(proc.stdout)


class GitSource:
    kind = "git"

    def __init__(self, root: str | Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES):
        p = Path(root).resolve()
        if not p.is_dir():
            raise SourceNotFound(f"{root}: no such directory; check the path")
        try:
            self.top = Path(_git(str(p), "rev-parse", "--show-toplevel").strip()).resolve()
        except WikicheckError:
            raise SourceNotFound(f"{root}: not a git repository; crawl it as a folder instead") from None
        self.root_path = p
        self.root = str(p)
        # pages below a sub-folder of the repository keep paths relative to that folder
        self.prefix = "" if p == self.top else p.relative_to(self.top).as_posix() + "/"
        self.name = name
        self.max_bytes = max_bytes
        self.head = self._head()

    def _head(self) -> str | None:
        out = subprocess.run(["git", "-C", self.root, "rev-parse", "--verify", "-q", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return out.stdout.decode().strip() or None if out.returncode == 0 else None

    # ------------------------------------------------------------------ current pages

    def scan(self) -> ScanResult:
        result = ScanResult()
        blobs: dict[str, str] = {}
        if self.head:
            out = _git(str(self.top), "ls-tree", "-r", "-z", "--full-tree", "HEAD")
            for rec in out.split("\0"):
                if not rec:
                    continue
                meta, path = rec.split("\t", 1)
                mode, typ, blob = meta.split()
                if typ == "blob" and mode != "120000" and path.startswith(self.prefix) and kind_of(path):
                    blobs[path[len(self.prefix):]] = blob
        dirty: set[str] = set()
        status = _git(str(self.top), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", self.root)
        recs = status.split("\0")
        i = 0
        while i < len(recs):
            rec = recs[i]
            i += 1
            if len(rec) < 4:
                continue
            code, path = rec[:2], rec[3:]
            if code[0] in "RC":  # renames carry the old path as the next record
                i += 1
            if not path.startswith(self.prefix) or not kind_of(path):
                continue
            rel = path[len(self.prefix):]
            if "D" in code:
                blobs.pop(rel, None)
                continue
            dirty.add(rel)
        for rel in sorted(set(blobs) | dirty):
            full = self.root_path / rel
            if rel in dirty:
                try:
                    if full.is_symlink() or not full.is_file():
                        continue
                    st_size = full.stat().st_size
                    if st_size > self.max_bytes:
                        result.warnings.append((rel, f"{rel}: skipped, {st_size / 1e6:.1f} MB is over the "
                                                f"{self.max_bytes / 1e6:.0f} MB limit (split the page, or raise "
                                                "crawl.max-file-bytes in wikicheck.toml)"))
                        continue
                    fp = "wt:" + fingerprint_bytes(full.read_bytes())
                except OSError as e:
                    result.warnings.append((rel, f"{rel}: skipped, cannot read it ({e.strerror})"))
                    continue
            else:
                fp = "git:" + blobs[rel]
            result.candidates.append(Candidate(rel, fp, partial(self._load, rel, fp)))
        return result

    def _load(self, rel: str, fp: str, warn: Callable[[str], None]) -> Document:
        full = self.root_path / rel
        try:
            data = full.read_bytes()
            mtime = full.stat().st_mtime
        except OSError as e:
            raise SkipFile(f"{rel}: skipped, cannot read it ({e.strerror})") from None
        text = decode_page(rel, data, self.max_bytes)
        lines = self._blame(rel, mtime)
        doc = build_document(self.name, rel, text, fp, mtime=mtime, size=len(data), warn=warn,
                             provenance=_newest(lines))
        n = len(text.split("\n"))
        # blame counts lines without the final newline; pad so every line has provenance
        if lines and len(lines) < n:
            lines = lines + [lines[-1]] * (n - len(lines))
        doc.line_provenance = lines
        return doc

    def _blame(self, rel: str, mtime: float) -> list[Provenance]:
        if not self.head:
            return []
        proc = subprocess.run(
            ["git", "-C", str(self.top), "blame", "--porcelain", "--", self.prefix + rel],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        if proc.returncode != 0:  # untracked file: no blame, the page falls back to mtime
            return []
        out = proc.stdout.decode("utf-8", "replace").split("\n")
        commits: dict[str, dict[str, str]] = {}
        lines: list[Provenance] = []
        cur: str | None = None
        for line in out:
            if not line:
                continue
            if line.startswith("\t"):
                info = commits.get(cur or "", {})
                if cur is not None and not cur.strip("0"):  # all-zero id: not committed yet
                    lines.append(Provenance(iso(mtime), "Not Committed Yet", None, "mtime"))
                else:
                    author = info.get("author", "")
                    mail = info.get("author-mail", "")
                    lines.append(Provenance(
                        iso(int(info.get("committer-time", "0"))),
                        f"{author} {mail}".strip() or None, cur, "git"))
                continue
            head, _, rest = line.partition(" ")
            if len(head) in _ID_LENGTHS and _HEX.issuperset(head):
                cur = head
                commits.setdefault(cur, {})
            elif cur is not None and head in ("author", "author-mail", "committer-time"):
                commits[cur][head] = rest
        return lines

    # ------------------------------------------------------------------ history

    def history(self, since: str | None) -> tuple[Iterator[HistoryEvent], str | None]:
        """Every change to every page after commit `since` (all of history when None), oldest first."""
        if not self.head:
            return iter(()), None
        if since == self.head:
            return iter(()), self.head
        return self._history_events(self._range(since)), self.head

    def history_commits(self, since: str | None) -> int:
        """How many commits history(since) reads: one `git rev-list --count`, cheap next to the
        `git log --raw` it counts, so the progress bar has a total (#12: "history 200/?")."""
        if not self.head or since == self.head:
            return 0
        return int(_git(str(self.top), "rev-list", "--count", *self._range(since), "--", self.root).strip() or 0)

    def _range(self, since: str | None) -> list[str]:
        if not since:
            return ["HEAD"]
        ok = subprocess.run(["git", "-C", self.root, "merge-base", "--is-ancestor", since, "HEAD"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            return [f"{since}..HEAD"]
        # history rewritten (rebase, force push): go on from where the two histories meet
        base = subprocess.run(["git", "-C", self.root, "merge-base", since, "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if base.returncode == 0 and base.stdout.strip():
            return [f"{base.stdout.decode().strip()}..HEAD"]
        return ["HEAD"]

    def _history_events(self, rng: list[str]) -> Iterator[HistoryEvent]:
        # -M: a renamed page (also across a directory rename) is one page under two names, as `git log
        # --follow` and `git blame` see it; the crawl records the rename instead of a removal
        out = _git(str(self.top), "log", "--reverse", "-M", "--raw", "--no-abbrev",
                   "--format=%x00%H%x1f%ct%x1f%aN <%aE>", *rng, "--", self.root)
        events: list[tuple[int, int, str, str | None, Provenance, str | None, int | None]] = []
        order = 0
        for chunk in out.split("\0"):
            if not chunk.strip():
                continue
            header, _, raw = chunk.partition("\n")
            commit, ct, author = header.split("\x1f")
            prov = Provenance(iso(int(ct)), author, commit, "git")
            for line in raw.split("\n"):
                if not line.startswith(":"):
                    continue
                meta, _, paths = line.partition("\t")
                parts = meta.split()
                new_blob, status = parts[3], parts[4]
                names = paths.split("\t")
                path, old_path = names[-1], (names[0] if len(names) == 2 else None)
                score = int(status[1:]) if status[:1] in "RC" and status[1:].isdigit() else None
                old_ok = old_path is not None and old_path.startswith(self.prefix) and bool(kind_of(old_path))
                if status.startswith("R") and old_ok:
                    # the old name ends here; the new name carries on from it (unless it is not a page)
                    order += 1
                    events.append((int(ct), order, old_path[len(self.prefix):], None, prov, None, None))  # type: ignore[index]
                if not path.startswith(self.prefix) or not kind_of(path) or parts[1] == "120000":
                    continue
                order += 1
                blob = None if status.startswith("D") else new_blob
                renamed = old_path[len(self.prefix):] if status.startswith("R") and old_ok else None  # type: ignore[index]
                events.append((int(ct), order, path[len(self.prefix):], blob, prov, renamed, score if renamed else None))
        # by date, and in git's order within a date, so each page's versions come out in sequence
        events.sort(key=lambda e: (e[0], e[1]))
        with _CatFile(str(self.top)) as cat:
            for _, _, rel, blob, prov, renamed, score in events:
                text = None
                if blob:
                    data = cat.read(blob)
                    try:
                        text = decode_page(rel, data, self.max_bytes) if data is not None else None
                    except SkipFile as e:
                        # one unreadable past version (binary, not UTF-8, too large) costs that version only
                        yield HistoryEvent(rel, None, prov, renamed, score, problem=str(e))
                        continue
                yield HistoryEvent(rel, text, prov, renamed, score)


def _newest(lines: list[Provenance]) -> Provenance | None:
    best = None
    for p in lines:
        if p.changed_at and (best is None or p.changed_at > (best.changed_at or "")):
            best = p
    return best


class _CatFile:
    """One long-running `git cat-file --batch` process: blob contents without a process per blob."""

    def __init__(self, root: str):
        self.root = root

    def __enter__(self) -> "_CatFile":
        self.proc = subprocess.Popen(["git", "-C", self.root, "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self

    def read(self, blob: str) -> bytes | None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(blob.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().decode().split()
        if len(header) < 3 or header[1] == "missing":
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
        return data

    def __exit__(self, *exc: object) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()
