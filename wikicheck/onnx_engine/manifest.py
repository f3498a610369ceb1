"""The export in an index directory: its files, its manifest, and the check that they are whole
(size and SHA-256 the manifest recorded) and made from the index's model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .pipeline import Pipeline

ONNX_NAME = "embed.onnx"
TOKENIZER_NAME = "embed-tokenizer.json"
EXPORT_MANIFEST = "embed-onnx.json"
EXPORT_VERSION = 1
MANIFEST_MAX_BYTES = 1 << 20


@dataclass
class ExportCheck:
    """What a look at the export in an index directory found: ok, missing, out of date, refused
    (the crawl found the ONNX engine does not reproduce the model) or damaged, and why."""

    status: str
    reason: str = ""
    manifest: dict[str, Any] | None = None
    model_bytes: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        return f"{self.status} ({self.reason})" if self.reason else self.status


def read_whole(path: Path, want: dict[str, Any]) -> tuple[bytes | None, str]:
    from ..index import _stat_file

    st, why = _stat_file(path)
    if st is None:
        return None, why.reason
    size = want.get("bytes")
    if not isinstance(size, int):
        return None, f"the manifest gives no size for {path.name}"
    if st.st_size < size:
        return None, f"truncated: {path.name} is {st.st_size} of {size} bytes"
    if st.st_size != size:
        return None, f"{path.name} is {st.st_size} bytes, the manifest says {size}"
    try:
        data = path.read_bytes()
    except OSError as e:
        return None, f"{path.name} unreadable: {e.strerror}"
    if hashlib.sha256(data).hexdigest() != want.get("sha256"):
        return None, f"checksum mismatch: {path.name} changed after it was exported"
    return data, ""


def read_manifest(index_dir: str | Path) -> tuple[dict[str, Any] | None, ExportCheck]:
    from ..index import _stat_file

    path = Path(index_dir) / EXPORT_MANIFEST
    st, why = _stat_file(path)
    if st is None:
        status = "missing" if why.status == "missing" else "damaged"
        return None, ExportCheck(status, "no ONNX export" if status == "missing" else why.reason)
    if st.st_size > MANIFEST_MAX_BYTES:
        return None, ExportCheck("damaged", f"{EXPORT_MANIFEST} is {st.st_size} bytes, not a manifest")
    try:
        m = json.loads(path.read_bytes())
        ok = (isinstance(m, dict) and m.get("version") == EXPORT_VERSION and isinstance(m.get("model_id"), str)
              and isinstance(m.get("usable"), bool))
        if ok and m["usable"]:
            ok = all(isinstance(m.get(k), dict) and isinstance(m[k].get("bytes"), int) and isinstance(m[k].get("sha256"), str)
                     for k in ("onnx", "tokenizer")) and isinstance(m.get("pipeline"), dict)
            Pipeline(**m["pipeline"]) if ok else None
    except (OSError, ValueError, TypeError) as e:
        return None, ExportCheck("damaged", f"{EXPORT_MANIFEST} is not a valid manifest: {type(e).__name__}")
    if not ok:
        return None, ExportCheck("damaged", f"{EXPORT_MANIFEST} is not a valid manifest")
    return m, ExportCheck("ok", manifest=m)


def check_export(index_dir: str | Path, model_id: str, fingerprint: str | None = None,
                 read_model: bool = True) -> ExportCheck:
    """The export of `index_dir` verified: its manifest names `model_id` (and `fingerprint`, when
    given), was usable when written, and both files have the size and SHA-256 it recorded. With
    `read_model`, an ok check carries the model's bytes (read once, for the checksum and the session)."""
    index_dir = Path(index_dir)
    m, found = read_manifest(index_dir)
    if m is None:
        return found
    if m["model_id"] != model_id:
        return ExportCheck("out of date", f'exported from model "{m["model_id"]}", the index is embedded with "{model_id}"', m)
    if fingerprint is not None and m.get("source_fingerprint") != fingerprint:
        return ExportCheck("out of date", "the model's files changed since the export", m)
    if not m["usable"]:
        return ExportCheck("refused", str(m.get("reason") or "not usable"), m)
    tok, why = read_whole(index_dir / TOKENIZER_NAME, m["tokenizer"])
    if tok is None:
        return ExportCheck("damaged", why, m)
    if not read_model:  # its size only (a status read every few seconds by `serve` must not hash 90 MB)
        from ..index import _stat_file

        st, health = _stat_file(index_dir / ONNX_NAME)
        if st is None:
            return ExportCheck("damaged", health.reason, m)
        if st.st_size != m["onnx"]["bytes"]:
            return ExportCheck("damaged", f"{'truncated: ' if st.st_size < m['onnx']['bytes'] else ''}{ONNX_NAME} is "
                                          f"{st.st_size} bytes, the manifest says {m['onnx']['bytes']}", m)
        return ExportCheck("ok", "", m)
    data, why = read_whole(index_dir / ONNX_NAME, m["onnx"])
    if data is None:
        return ExportCheck("damaged", why, m)
    return ExportCheck("ok", "", m, data)


def describe_export(found: ExportCheck) -> str:
    m = found.manifest or {}
    v = m.get("verified") or {}
    if found.ok and v:
        how = "all" if not v.get("sample") else "a deterministic sample of"
        tokens = f"token ids of {v['tokens_checked']}, " if v.get("tokens_checked") else ""
        return (f"{ONNX_NAME}, verified on {how} {v.get('sections')} of {v.get('of')} texts "
                f"({tokens}min cosine {v.get('min_cosine', 0):.6f})")
    return ONNX_NAME
