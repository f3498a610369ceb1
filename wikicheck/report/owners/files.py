"""The report files: written atomically, and the stale ones wikicheck wrote removed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .build import MARKER, UNOWNED
from .pages import FORMATS, render


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_reports(bundle: dict[str, Any], out_dir: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write each report and (unless the bundle holds one owner only) the index; returns the files written.

    Files are replaced atomically. Reports of owners that no longer own anything are removed, if
    wikicheck wrote them (they carry its marker).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    formats = list(formats)
    written: list[Path] = []
    single = bundle.get("owner") is not None  # --owner: that report only
    for fmt in formats:
        for r in bundle["reports"]:
            p = out / f"{r['slug']}.{fmt}"
            _write(p, render(bundle, fmt, r))
            written.append(p)
        if not single:
            p = out / f"index.{fmt}"
            _write(p, render(bundle, fmt, page="index"))
            written.append(p)
            _remove_stale(out, fmt, set(written))
    return written


def _remove_stale(out: Path, fmt: str, keep: set[Path]) -> None:
    for p in [*out.glob(f"owner-*.{fmt}"), out / f"{UNOWNED}.{fmt}"]:
        if p in keep or not p.is_file():
            continue
        try:
            with open(p, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        if MARKER in head:
            p.unlink()
