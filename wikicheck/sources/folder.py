"""A folder of pages (markdown, HTML, reStructuredText, text). Dates come from front matter, HTML
metadata, reST docinfo, or mtime."""

from __future__ import annotations

import os
import stat
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from ..errors import SourceNotFound
from ..model import Document
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

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "site-packages"}


class FolderSource:
    kind = "folder"

    def __init__(self, root: str | Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root_path = Path(root).resolve()
        if not self.root_path.exists():
            raise SourceNotFound(f"{root}: no such file or directory; check the path")
        if not self.root_path.is_dir():
            raise SourceNotFound(f"{root}: not a directory; give the folder that holds the pages")
        self.root = str(self.root_path)
        self.name = name
        self.max_bytes = max_bytes

    def scan(self) -> ScanResult:
        result = ScanResult()
        for rel, full in self._walk(result):
            try:
                data = self._read(rel, full)
            except SkipFile as e:
                result.warnings.append((rel, str(e)))
                continue
            # the bytes are read again in _load, only for pages that changed: holding every page of a
            # large wiki in memory between scan and load is what we avoid
            result.candidates.append(Candidate(rel, fingerprint_bytes(data), partial(self._load, rel, full)))
            del data
        return result

    def _read(self, rel: str, full: str) -> bytes:
        """The bytes of a regular file, at most max_bytes of them. Never blocks on a FIFO (opened
        non-blocking and checked before any read) and never trusts st_size (a link to /dev/zero says 0)."""
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as e:
            raise SkipFile(f"{rel}: skipped, cannot read it ({e.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SkipFile(f"{rel}: skipped, not a regular file (a FIFO, device or socket); remove it or "
                               "move it out of the wiki")
            if st.st_size > self.max_bytes:
                raise SkipFile(f"{rel}: skipped, {st.st_size / 1e6:.1f} MB is over the {self.max_bytes / 1e6:.0f} MB "
                               "limit (split the page, or raise crawl.max-file-bytes in wikicheck.toml)")
            chunks, n = [], 0
            while n <= self.max_bytes:
                chunk = os.read(fd, min(1 << 20, self.max_bytes + 1 - n))
                if not chunk:
                    break
                chunks.append(chunk)
                n += len(chunk)
            data = b"".join(chunks)
        except OSError as e:
            raise SkipFile(f"{rel}: skipped, cannot read it ({e.strerror})") from None
        finally:
            os.close(fd)
        if len(data) > self.max_bytes:
            raise SkipFile(f"{rel}: skipped, over the {self.max_bytes / 1e6:.0f} MB limit while reading it (split "
                           "the page, or raise crawl.max-file-bytes in wikicheck.toml)")
        return data

    def _load(self, rel: str, full: str, warn: Callable[[str], None]) -> Document:
        data = self._read(rel, full)
        try:
            mtime = os.stat(full).st_mtime
        except OSError as e:
            raise SkipFile(f"{rel}: skipped, cannot read it ({e.strerror})") from None
        text = decode_page(rel, data, self.max_bytes)
        return build_document(self.name, rel, text, fingerprint_bytes(data), mtime=mtime, size=len(data), warn=warn)

    def _walk(self, result: ScanResult) -> Iterator[tuple[str, str]]:
        """Yield (relative posix path, full path) of every page, following symlinks without looping."""
        seen_dirs: set[tuple[int, int]] = set()
        st = os.stat(self.root)
        seen_dirs.add((st.st_dev, st.st_ino))
        stack = [self.root]
        while stack:
            d = stack.pop()
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError as err:
                rel = os.path.relpath(d, self.root)
                result.warnings.append((rel, f"{rel}: skipped folder, cannot list it ({err.strerror})"))
                continue
            subdirs = []
            for e in entries:
                rel = Path(os.path.relpath(e.path, self.root)).as_posix()
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    # the name's own bytes (\xff), not the surrogate escapes (\udcff) Python decoded them to
                    shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
                    result.warnings.append((shown, f"{shown}: skipped, the file name is not valid UTF-8; rename it"))
                    continue
                if e.is_symlink() and not self._inside(e.path):
                    # never follow a link out of the crawled folder: /etc/passwd must not become a page
                    result.warnings.append((rel, f"{rel}: skipped, symlink to {os.path.realpath(e.path)}, outside "
                                                 f"the crawled folder {self.root}"))
                    continue
                try:
                    is_dir = e.is_dir(follow_symlinks=True)
                except OSError:
                    result.warnings.append((rel, f"{rel}: skipped, broken or looping symlink"))
                    continue
                if is_dir:
                    if e.name in SKIP_DIRS or e.name.startswith("."):
                        continue
                    try:
                        s = os.stat(e.path)
                    except OSError:
                        result.warnings.append((rel, f"{rel}: skipped, broken or looping symlink"))
                        continue
                    key = (s.st_dev, s.st_ino)
                    if key in seen_dirs:
                        if e.is_symlink():
                            result.warnings.append(
                                (rel, f"{rel}: skipped, symlink loop back to {os.path.realpath(e.path)}"))
                        continue
                    seen_dirs.add(key)
                    subdirs.append(e.path)
                elif kind_of(e.name):
                    if e.is_symlink() and not os.path.exists(e.path):
                        result.warnings.append((rel, f"{rel}: skipped, broken symlink"))
                        continue
                    yield rel, e.path
                else:
                    ext = os.path.splitext(e.name)[1].lower()
                    result.skipped[ext] = result.skipped.get(ext, 0) + 1
            stack.extend(reversed(subdirs))

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def history(self, since: str | None) -> tuple[Iterator[HistoryEvent], str | None]:
        return iter(()), None
