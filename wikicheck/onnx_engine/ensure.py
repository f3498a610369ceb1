"""The crawl's side of the export: keep the index's export when it is whole and of this model, else
export it, verify it on the corpus's own sections (same token ids, cosine >= MIN_COSINE) and write
it with its manifest, or record why this model is not run by ONNX."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..embed import Embedder, SentenceTransformerEmbedder, _resolve_model_path
from .export import ExportFailed, cached_export
from .manifest import (
    EXPORT_MANIFEST,
    EXPORT_VERSION,
    ONNX_NAME,
    TOKENIZER_NAME,
    ExportCheck,
    check_export,
    describe_export,
)
from .pipeline import Pipeline, read_pipeline, source_fingerprint
from .runtime import OnnxEmbedder

# What the export is verified on: the token ids on many texts (the tokenizers alone: milliseconds), the
# vectors on fewer (both models run on each: sentence-transformers' are the crawl's own, ONNX Runtime's only
# compared). A wrong export is wrong systematically (an operator, the pooling, the padding, a length past the
# graph's), so the vector sample covers the lengths, longest first, rather than the count.
VERIFY_MAX = 64  # texts whose vectors are compared; more texts than that: a sample (verification_sample)
TOKENS_VERIFY_MAX = 4096  # texts whose token ids are compared
MIN_COSINE = 0.9999


@dataclass
class ExportOutcome:
    """What the crawl did about the export: kept, exported, refused, failed or skipped, and why."""

    status: str
    reason: str = ""
    embedder: OnnxEmbedder | None = None  # the verified export, loaded (kept: loaded only on demand)
    embedded: int = 0  # texts the verification embedded with sentence-transformers and stored
    verified: dict[str, Any] | None = None
    seconds: float = 0.0
    exporter: str = ""

    @property
    def usable(self) -> bool:
        return self.status in ("kept", "exported")

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "verified": self.verified,
                "exporter": self.exporter or None}


def verification_sample(texts: list[tuple[str, str]], limit: int | None = None,
                        longest: float = 0.25) -> list[tuple[str, str]]:
    """Every (hash, text) when there are at most `limit` (VERIFY_MAX), else `limit` of them, in the input's
    order: the longest quarter of the sample are the longest texts (the model's full sequence length and its
    truncation), the rest evenly spaced over the others in content-hash order. Deterministic."""
    limit = VERIFY_MAX if limit is None else limit
    if len(texts) <= limit:
        return list(texts)
    n_long = int(limit * longest)
    by_len = sorted(range(len(texts)), key=lambda i: (-len(texts[i][1]), texts[i][0]))
    chosen = set(by_len[:n_long])
    rest = [i for i in range(len(texts)) if i not in chosen]
    if limit > n_long:
        pos = np.unique(np.linspace(0, len(rest) - 1, limit - n_long).round().astype("int64"))
        chosen.update(rest[int(p)] for p in pos)
    return [texts[i] for i in sorted(chosen)]


def ensure_export(store: Any, index_dir: str | Path, embedder: Embedder) -> ExportOutcome:
    """Keep the index's export when it is whole and made from this model's files, else export and
    verify it again. The caller holds the index lock (the crawl)."""
    import time

    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    if not isinstance(embedder, SentenceTransformerEmbedder):
        return ExportOutcome("skipped", "not a sentence-transformers model")
    model_path = _resolve_model_path(embedder.model_id)
    pipeline, why = read_pipeline(model_path)
    fingerprint = source_fingerprint(model_path) if pipeline is not None else None
    found = check_export(index_dir, embedder.model_id, fingerprint)  # ~0.1 s: the SHA-256 of 90 MB
    if found.ok:
        return ExportOutcome("kept", describe_export(found), verified=(found.manifest or {}).get("verified"))
    if found.status == "refused":
        return ExportOutcome("refused", found.reason)  # this model's files were refused before: not tried again
    base = {"version": EXPORT_VERSION, "model_id": embedder.model_id, "source_fingerprint": fingerprint}
    if pipeline is None:
        return _refuse(index_dir, base, why, t0)
    texts = store.live_texts()
    if not texts:
        return ExportOutcome("skipped", "no sections to verify an export on")
    embedded: list[int] = [0]  # texts of the sample embedded with sentence-transformers (stored: the crawl's own)
    try:
        out = _export_and_verify(store, index_dir, embedder, pipeline, model_path, base, texts, t0, embedded)
    except (OSError, ImportError) as e:  # a missing package, a full disk: tried again by the next crawl
        out = ExportOutcome("failed", f"{type(e).__name__}: {str(e)[:200]}")
    except ExportFailed as e:  # the exporter cannot handle this model: recorded, not tried again
        out = _refuse(index_dir, base, str(e), t0)
    except Exception as e:  # noqa: BLE001 - e.g. ONNX Runtime rejecting the exported file: the crawl goes on
        import sqlite3

        from ..errors import WikicheckError

        if isinstance(e, (sqlite3.Error, WikicheckError)):
            raise  # the store's own trouble is the crawl's, not the export's
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        out = ExportOutcome("failed", f"{type(e).__name__}: {first}")
    out.embedded, out.seconds = embedded[0], time.perf_counter() - t0
    return out


def _refuse(index_dir: Path, base: dict[str, Any], why: str, t0: float, **extra: Any) -> ExportOutcome:
    """Record why this model is not run by ONNX (so no later crawl retries it), and remove the files."""
    import time

    for name in (EXPORT_MANIFEST, ONNX_NAME, TOKENIZER_NAME):
        p = index_dir / name
        if p.is_dir() and not p.is_symlink():
            return ExportOutcome("failed", f"{p} is a directory; move it away", seconds=time.perf_counter() - t0)
    atomic_write(index_dir / EXPORT_MANIFEST, json.dumps({**base, "usable": False, "reason": why, **extra},
                                                   indent=2, sort_keys=True).encode())
    for name in (ONNX_NAME, TOKENIZER_NAME):
        try:
            (index_dir / name).unlink()
        except FileNotFoundError:
            pass
    return ExportOutcome("refused", why, verified=extra.get("verified"), seconds=time.perf_counter() - t0)


def _export_and_verify(store: Any, index_dir: Path, embedder: SentenceTransformerEmbedder, pipeline: Pipeline,
                       model_path: str, base: dict[str, Any], texts: list[tuple[str, str]], t0: float,
                       embedded: list[int]) -> ExportOutcome:
    import time

    from ..dates import now_iso

    for name in (EXPORT_MANIFEST, ONNX_NAME, TOKENIZER_NAME):
        p = index_dir / name
        if p.is_dir() and not p.is_symlink():
            return ExportOutcome("failed", f"{p} is a directory; move it away", seconds=time.perf_counter() - t0)
    st_model = embedder._load()
    kinds = [type(m).__name__ for m in st_model]
    if int(getattr(st_model, "max_seq_length", 0) or 0) != pipeline.max_seq_length or kinds[:2] != ["Transformer", "Pooling"]:
        return _refuse(index_dir, base, f"the loaded model ({' -> '.join(kinds)}, max_seq_length "
                       f"{getattr(st_model, 'max_seq_length', None)}) is not the pipeline its folder describes", t0)
    sample = verification_sample(texts)
    token_sample = verification_sample(texts, TOKENS_VERIFY_MAX)
    model_id = embedder.model_id
    have = store.vectors_for_hashes(model_id, [h for h, _ in sample])
    missing = [(h, t) for h, t in sample if h not in have]
    if missing:  # the reference vectors: sentence-transformers', stored as the crawl's own
        store.put_embeddings(model_id, [h for h, _ in missing], embedder.embed([t for _, t in missing]))
        embedded[0] = len(missing)
        have = store.vectors_for_hashes(model_id, [h for h, _ in sample])
    tok_data = (Path(model_path) / "tokenizer.json").read_bytes()
    fd, tmp_name = tempfile.mkstemp(dir=index_dir, prefix=f".{ONNX_NAME}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        exporter = cached_export(st_model, base["source_fingerprint"], tmp)
        tok_tmp = tmp.with_suffix(".tokenizer.tmp")
        tok_tmp.write_bytes(tok_data)
        try:
            onnx = OnnxEmbedder(model_id, tmp, tok_tmp, pipeline, batch_size=embedder.batch_size)
        finally:
            tok_tmp.unlink()
        # the same token ids as sentence-transformers' own tokenizer (special tokens, truncation)
        sample_texts = [t for _, t in sample]
        token_texts = [t for _, t in token_sample]
        differ = 0
        tokenize = getattr(st_model, "preprocess", None) or st_model.tokenize  # preprocess: sentence-transformers 6
        for s in range(0, len(token_texts), 256):
            chunk = token_texts[s:s + 256]
            enc = tokenize([embedder._head(t) for t in chunk])
            ids, mask = enc["input_ids"].tolist(), enc["attention_mask"].tolist()
            want = [[i for i, m in zip(r, mk) if m] for r, mk in zip(ids, mask)]
            differ += sum(1 for a, b in zip(onnx.token_ids(chunk), want) if a != b)
        vecs = onnx.embed(sample_texts)
        ref = np.stack([have[h] for h, _ in sample]).astype("float32")
        cos = (vecs * ref).sum(1) / np.clip(np.linalg.norm(ref, axis=1) * np.linalg.norm(vecs, axis=1), 1e-12, None)
        verified = {"sections": len(sample), "of": len(texts), "sample": len(sample) < len(texts),
                    "min_cosine": round(float(cos.min()), 7), "tokens_checked": len(token_sample),
                    "tokens_differ": differ}
        if differ or float(cos.min()) < MIN_COSINE:
            why = (f"{differ} of {len(token_sample)} texts tokenize differently" if differ else
                   f"cosine {float(cos.min()):.6f} < {MIN_COSINE} on {int((cos < MIN_COSINE).sum())} of {len(sample)} texts")
            return _refuse(index_dir, base, f"the export does not reproduce the model: {why}", t0, verified=verified)
        data = tmp.read_bytes()
        manifest = {**base, "usable": True, "reason": "", "built_at": now_iso(), "exporter": exporter,
                    "pipeline": vars(pipeline), "verified": verified,
                    "onnx": {"file": ONNX_NAME, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                    "tokenizer": {"file": TOKENIZER_NAME, "bytes": len(tok_data),
                                  "sha256": hashlib.sha256(tok_data).hexdigest()},
                    "dtype": "float32"}
        del data
        # the model, then the tokenizer, then the manifest: a kill in between leaves a manifest that
        # does not match the files (damaged: readers use sentence-transformers, the next crawl exports)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, index_dir / ONNX_NAME)
        atomic_write(index_dir / TOKENIZER_NAME, tok_data)
        atomic_write(index_dir / EXPORT_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    onnx.model_id = model_id
    return ExportOutcome("exported", describe_export(ExportCheck("ok", manifest=manifest)), onnx, len(missing),
                         verified, exporter=exporter)
