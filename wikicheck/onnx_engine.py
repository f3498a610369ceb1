"""The embedding model run by ONNX Runtime: a query path that never imports torch (issue #14).

At crawl time (crawl.py, under the index lock) the sentence-transformers model the index is
embedded with is exported to ONNX (fp32) into the index directory, with the model's own fast
tokenizer and a manifest (EXPORT_MANIFEST): model id, SHA-256 and size of both files, dimensions,
pooling and normalisation, max_seq_length, how it was exported and how it was verified. It is
used only when it reproduces the model on the corpus's own sections: every section (up to
VERIFY_MAX, else a deterministic sample, which the manifest says) must tokenize to the same ids as
the sentence-transformers tokenizer and give a vector with cosine >= MIN_COSINE to the one the
store holds. Otherwise, and for pipelines this module does not reproduce (read_pipeline), the
manifest records why and every reader keeps using sentence-transformers.

At query time (guard.Guard, so `search`, `filter`, `serve`, `mcp` and the adapters),
`query_embedder` returns an OnnxEmbedder when the export is there, whole (size and SHA-256 of its
manifest) and made from the index's model; else the SentenceTransformerEmbedder and the reason.
WIKICHECK_ENGINE=sentence-transformers forces the torch path (benchmarks, comparisons).

Only numpy, tokenizers and onnxruntime are imported at module level or on the query path; torch,
transformers and sentence_transformers only by the export (crawl time).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .embed import (
    EMBEDDERS,
    Embedder,
    SentenceTransformerEmbedder,
    _resolve_model_path,
    get_embedder,
    head_of,
)
from .index import _atomic_write

ONNX_NAME = "embed.onnx"
TOKENIZER_NAME = "embed-tokenizer.json"
EXPORT_MANIFEST = "embed-onnx.json"
EXPORT_VERSION = 1
VERIFY_MAX = 256  # sections compared at export; more than that: an evenly spaced sample by content hash
MIN_COSINE = 0.9999
ENGINE_ENV = "WIKICHECK_ENGINE"
ENGINES = ("auto", "onnx", "sentence-transformers")
TORCH_ENGINE = "sentence-transformers"
MANIFEST_MAX_BYTES = 1 << 20
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def engine_choice(configured: str | None = None) -> str:
    """auto, onnx or sentence-transformers: WIKICHECK_ENGINE, else the configured value, else auto."""
    value = (os.environ.get(ENGINE_ENV) or configured or "auto").strip().lower()
    if value == "torch":
        value = TORCH_ENGINE
    return value if value in ENGINES else "auto"


# ---------------------------------------------------------------------------------------- pipeline


@dataclass
class Pipeline:
    """What sentence-transformers does with a text, as read from the model folder's own config."""

    max_seq_length: int
    dim: int
    normalize_module: bool  # a Normalize module (the vectors are normalised either way: encode(normalize_embeddings=True))
    pad_id: int
    pad_token: str
    pooling: str = "mean"


def read_pipeline(model_path: str | Path) -> tuple[Pipeline | None, str]:
    """(pipeline, "") when the folder's model is Transformer -> mean Pooling [-> Normalize] with a fast
    tokenizer and no default prompt, the pipeline this module reproduces; else (None, why not)."""
    root = Path(model_path)
    if not root.is_dir():
        return None, f"{model_path} is not a local model folder"
    try:
        modules = json.loads((root / "modules.json").read_text())
        kinds = [str(m.get("type", "")) for m in modules]
        short = [k.rsplit(".", 1)[-1] for k in kinds]
        if short not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or not all(
                k.startswith("sentence_transformers.") for k in kinds):
            return None, (f"pipeline {' -> '.join(short) or '(none)'}: the ONNX engine reproduces "
                          "Transformer -> Pooling (mean) [-> Normalize] only")
        if str(modules[0].get("path", "")) not in ("", "."):
            return None, "the transformer is not at the model folder's root"
        pooling = json.loads((root / str(modules[1].get("path", "")) / "config.json").read_text())
        modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
        others = sorted(k for k, v in modes.items() if v and k != "pooling_mode_mean_tokens")
        if not modes.get("pooling_mode_mean_tokens") or others:
            return None, f"pooling {', '.join(others) or 'without mean tokens'}: the ONNX engine reproduces mean pooling only"
        sbert_path = root / "sentence_bert_config.json"
        if not sbert_path.is_file():
            return None, "no sentence_bert_config.json (max_seq_length unknown)"
        sbert = json.loads(sbert_path.read_text())
        if sbert.get("do_lower_case"):
            return None, "do_lower_case is set in sentence_bert_config.json"
        extra = sorted(k for k, v in sbert.items() if k not in ("max_seq_length", "do_lower_case") and v)
        if extra:
            return None, f"sentence_bert_config.json sets {', '.join(extra)}"
        max_len = sbert.get("max_seq_length")
        if not isinstance(max_len, int) or max_len < 1:
            return None, "sentence_bert_config.json has no max_seq_length"
        config = json.loads((root / "config.json").read_text())
        pos = config.get("max_position_embeddings")
        if isinstance(pos, int) and pos > 0:
            max_len = min(max_len, pos)  # sentence-transformers caps it the same way
        cst_path = root / "config_sentence_transformers.json"
        if cst_path.is_file():
            cst = json.loads(cst_path.read_text())
            default = cst.get("default_prompt_name")
            if default and (cst.get("prompts") or {}).get(default):
                return None, f'a default prompt ("{default}") is prepended to every text'
        tok_path = root / "tokenizer.json"
        if not tok_path.is_file():
            return None, "no tokenizer.json (fast tokenizer)"
        tok = json.loads(tok_path.read_text())
        padding = tok.get("padding") or {}
        pad_token = padding.get("pad_token")
        pad_id = padding.get("pad_id")
        if pad_token is None:
            special = root / "special_tokens_map.json"
            pad = json.loads(special.read_text()).get("pad_token") if special.is_file() else None
            pad_token = pad.get("content") if isinstance(pad, dict) else pad
            if pad_token is None:
                return None, "no padding token"
            vocab = (tok.get("model") or {}).get("vocab")
            pad_id = vocab.get(pad_token) if isinstance(vocab, dict) else None
        if not isinstance(pad_id, int):
            return None, "the padding token's id is unknown"
        dim = pooling.get("word_embedding_dimension")
        if not isinstance(dim, int) or dim < 1:
            return None, "1_Pooling/config.json has no word_embedding_dimension"
    except (OSError, ValueError, TypeError, AttributeError, IndexError) as e:
        return None, f"cannot read the model's configuration ({type(e).__name__}: {str(e)[:120]})"
    return Pipeline(max_len, dim, "Normalize" in short, pad_id, str(pad_token)), ""


def source_fingerprint(model_path: str | Path) -> str:
    """What identifies the model's files: the content of the small ones (configs, tokenizer), the
    size and modification time of the weights (hashing 90 MB on every crawl would cost more than a
    re-crawl with nothing changed)."""
    h = hashlib.sha256()
    root = Path(model_path)
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".md"):
            continue
        st = p.stat()
        h.update(rel.encode() + b"\0")
        if st.st_size <= 4 << 20:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        else:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------- embedder


class OnnxEmbedder:
    """The exported model in ONNX Runtime with the model's fast tokenizer: tokenize (truncated to
    max_seq_length, the model's special tokens), transformer, mean pooling over the attention mask,
    L2 normalisation. Same vectors as SentenceTransformerEmbedder (verified at export)."""

    engine = "onnx"

    def __init__(self, model_id: str, model: bytes | str | Path, tokenizer_file: str | Path, pipeline: Pipeline,
                 batch_size: int = 32, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = model_id
        self.batch_size = batch_size
        self.pipeline = pipeline
        tok = Tokenizer.from_file(str(tokenizer_file))
        tok.no_padding()
        tok.no_truncation()
        tok.enable_truncation(max_length=pipeline.max_seq_length)
        tok.enable_padding(pad_id=pipeline.pad_id, pad_token=pipeline.pad_token)
        self.tokenizer = tok
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        data = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = set(self.inputs) - set(INPUTS)
        if unknown:
            raise ValueError(f"the ONNX model wants inputs {sorted(unknown)}")

    @property
    def dim(self) -> int:
        return self.pipeline.dim

    def _head(self, text: str) -> str:
        return head_of(text, self.pipeline.max_seq_length)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids the model sees for each text (no padding): for comparing with the torch tokenizer."""
        return [e.ids[:sum(e.attention_mask)] for e in self.tokenizer.encode_batch([self._head(t) for t in texts])]

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype="float32")
        if not texts:
            return out
        cut = [self._head(t) for t in texts]
        order = sorted(range(len(cut)), key=lambda i: -len(cut[i]))  # batches of similar length: less padding
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            enc = self.tokenizer.encode_batch([cut[i] for i in idx])
            arrays = {
                "input_ids": np.array([e.ids for e in enc], dtype="int64"),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype="int64"),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype="int64"),
            }
            hidden = self.session.run(None, {n: arrays[n] for n in self.inputs})[0]
            mask = arrays["attention_mask"][..., None].astype(hidden.dtype)
            vec = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            out[idx] = vec
        return out


# ---------------------------------------------------------------------------------------- checking


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


def _read_whole(path: Path, want: dict[str, Any]) -> tuple[bytes | None, str]:
    from .index import _stat_file

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
    from .index import _stat_file

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
    tok, why = _read_whole(index_dir / TOKENIZER_NAME, m["tokenizer"])
    if tok is None:
        return ExportCheck("damaged", why, m)
    if not read_model:  # its size only (a status read every few seconds by `serve` must not hash 90 MB)
        from .index import _stat_file

        st, health = _stat_file(index_dir / ONNX_NAME)
        if st is None:
            return ExportCheck("damaged", health.reason, m)
        if st.st_size != m["onnx"]["bytes"]:
            return ExportCheck("damaged", f"{'truncated: ' if st.st_size < m['onnx']['bytes'] else ''}{ONNX_NAME} is "
                                          f"{st.st_size} bytes, the manifest says {m['onnx']['bytes']}", m)
        return ExportCheck("ok", "", m)
    data, why = _read_whole(index_dir / ONNX_NAME, m["onnx"])
    if data is None:
        return ExportCheck("damaged", why, m)
    return ExportCheck("ok", "", m, data)


@dataclass
class EngineInfo:
    """Which engine a reader embeds queries with, and why that one."""

    engine: str  # "onnx", "sentence-transformers" or a test embedder's name
    reason: str = ""
    warning: str | None = None  # for stderr: the export is there but damaged

    def describe(self) -> str:
        return f"{self.engine} ({self.reason})" if self.reason else self.engine

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "reason": self.reason}


def describe_export(found: ExportCheck) -> str:
    m = found.manifest or {}
    v = m.get("verified") or {}
    if found.ok and v:
        how = "all" if not v.get("sample") else "a deterministic sample of"
        return (f"{ONNX_NAME}, verified on {how} {v.get('sections')} of {v.get('of')} texts, "
                f"min cosine {v.get('min_cosine', 0):.6f}")
    return ONNX_NAME


def engine_for(index_dir: str | Path, model_id: str | None, verify: bool = True) -> tuple[EngineInfo, ExportCheck | None]:
    """Which engine the query path of this index uses (for `status`), without loading a model.
    `verify`: the model file's SHA-256 too (~0.1 s), else its size only."""
    if not model_id:
        return EngineInfo(TORCH_ENGINE, "no embeddings yet"), None
    if any(model_id.startswith(p) for p in EMBEDDERS):
        return EngineInfo(model_id, "a test embedder"), None
    choice = engine_choice()
    if choice == TORCH_ENGINE:
        return EngineInfo(TORCH_ENGINE, f"{ENGINE_ENV}={os.environ.get(ENGINE_ENV)}"), None
    found = check_export(index_dir, model_id, read_model=verify)
    if found.ok:
        return EngineInfo("onnx", describe_export(found)), found
    note = {"missing": "; the next crawl exports it", "out of date": "; the next crawl exports it again",
            "damaged": "; the next crawl exports it again"}.get(found.status, "")
    info = EngineInfo(TORCH_ENGINE, f"ONNX export {found}{note}")
    if found.status == "damaged":
        info.warning = (f"{Path(index_dir) / ONNX_NAME}: the ONNX export is {found}; queries are embedded with "
                        "sentence-transformers (slower start) until the next crawl exports it again")
    return info, found


def query_embedder(index_dir: str | Path, model_id: str, batch_size: int = 32,
                   fallback: Any = None) -> tuple[Embedder, EngineInfo]:
    """The embedder for queries on this index: ONNX when its export is usable, else
    `fallback(model_id, batch_size=...)` (default get_embedder: sentence-transformers)."""
    info, found = engine_for(index_dir, model_id)
    if found is not None and found.ok:
        assert found.manifest is not None and found.model_bytes is not None
        try:
            emb = OnnxEmbedder(model_id, found.model_bytes, Path(index_dir) / TOKENIZER_NAME,
                               Pipeline(**found.manifest["pipeline"]), batch_size=batch_size)
            return emb, info
        except Exception as e:  # noqa: BLE001 - a file ONNX Runtime cannot load: the torch path answers
            why = f"ONNX Runtime cannot load it ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})"
            info = EngineInfo(TORCH_ENGINE, f"ONNX export damaged ({why}); the next crawl exports it again",
                              f"{Path(index_dir) / ONNX_NAME}: {why}; queries are embedded with sentence-transformers "
                              "until the next crawl exports it again")
    return (fallback or get_embedder)(model_id, batch_size=batch_size), info


# ---------------------------------------------------------------------------------------- export


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


def _cache_dir() -> Path:
    if os.environ.get("WIKICHECK_CACHE_DIR"):
        return Path(os.environ["WIKICHECK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wikicheck"


def _exporter_id() -> str:
    import torch

    try:
        from importlib.metadata import version

        script = version("onnxscript")
    except Exception:  # noqa: BLE001
        script = "?"
    return f"torch.onnx.export(dynamo=True) torch {torch.__version__} onnxscript {script}"


def _export_to(st_model: Any, dest: Path) -> None:
    """Export the transformer of a sentence-transformers model (its last hidden state, batch and
    sequence length dynamic). The dynamo exporter: the TorchScript one (dynamo=False) traces the
    attention mask of transformers 5 as a constant, and its vectors were wrong (cosine 0.63-0.87)."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    transformer = st_model[0].auto_model
    tokenizer = st_model[0].tokenizer
    enc = tokenizer(["a short text", "a longer text, with more words, so that the first one is padded"],
                    padding=True, return_tensors="pt")
    names = [n for n in INPUTS if n in enc]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise _ExportFailed(f"the tokenizer gives {', '.join(names)}, not input_ids and attention_mask")

    class _Hidden(torch.nn.Module):
        def __init__(self, t: Any):
            super().__init__()
            self.t = t

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.t(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(_Hidden(transformer).eval(), tuple(enc[n] for n in names), input_names=names,
                                        output_names=["last_hidden_state"],
                                        dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                                        dynamo=True, external_data=False, verbose=False)
            if program is None:
                raise RuntimeError("torch.onnx.export returned no program")
            program.save(str(dest))
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def _cached_export(st_model: Any, fingerprint: str, dest: Path) -> str:
    """Write the ONNX export of the model to `dest`: from the user's cache when an export of these
    model files by this exporter is there (exporting takes ~20 s), else exported and cached."""
    exporter = _exporter_id()
    key = hashlib.sha256(f"{fingerprint}\0{exporter}".encode()).hexdigest()[:32]
    cache = _cache_dir() / "onnx"
    cached, meta_path = cache / f"{key}.onnx", cache / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        data, _ = _read_whole(cached, meta)
        if data is not None:
            with open(dest, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return exporter + " (cached)"
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        _export_to(st_model, dest)
    except (ImportError, _ExportFailed):
        raise
    except Exception as e:  # noqa: BLE001 - the exporter's many errors: this model is not exported
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise _ExportFailed(f"torch.onnx.export failed ({type(e).__name__}: {first})") from None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        data = dest.read_bytes()
        _atomic_write(cached, data)
        _atomic_write(meta_path, json.dumps({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                             "exporter": exporter}).encode())
    except OSError:
        pass  # no cache: the next index exports again
    return exporter


def verification_sample(texts: list[tuple[str, str]], limit: int = VERIFY_MAX) -> list[tuple[str, str]]:
    """Every text when there are at most `limit`, else `limit` evenly spaced in content-hash order."""
    if len(texts) <= limit:
        return list(texts)
    pos = np.unique(np.linspace(0, len(texts) - 1, limit).round().astype("int64"))
    return [texts[int(p)] for p in pos]


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
    except _ExportFailed as e:  # the exporter cannot handle this model: recorded, not tried again
        out = _refuse(index_dir, base, str(e), t0)
    except Exception as e:  # noqa: BLE001 - e.g. ONNX Runtime rejecting the exported file: the crawl goes on
        import sqlite3

        from .errors import WikicheckError

        if isinstance(e, (sqlite3.Error, WikicheckError)):
            raise  # the store's own trouble is the crawl's, not the export's
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        out = ExportOutcome("failed", f"{type(e).__name__}: {first}")
    out.embedded, out.seconds = embedded[0], time.perf_counter() - t0
    return out


class _ExportFailed(Exception):
    pass


def _refuse(index_dir: Path, base: dict[str, Any], why: str, t0: float, **extra: Any) -> ExportOutcome:
    """Record why this model is not run by ONNX (so no later crawl retries it), and remove the files."""
    import time

    for name in (EXPORT_MANIFEST, ONNX_NAME, TOKENIZER_NAME):
        p = index_dir / name
        if p.is_dir() and not p.is_symlink():
            return ExportOutcome("failed", f"{p} is a directory; move it away", seconds=time.perf_counter() - t0)
    _atomic_write(index_dir / EXPORT_MANIFEST, json.dumps({**base, "usable": False, "reason": why, **extra},
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

    from .dates import now_iso

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
        exporter = _cached_export(st_model, base["source_fingerprint"], tmp)
        tok_tmp = tmp.with_suffix(".tokenizer.tmp")
        tok_tmp.write_bytes(tok_data)
        try:
            onnx = OnnxEmbedder(model_id, tmp, tok_tmp, pipeline, batch_size=embedder.batch_size)
        finally:
            tok_tmp.unlink()
        # the same token ids as sentence-transformers' own tokenizer (special tokens, truncation)
        sample_texts = [t for _, t in sample]
        differ = 0
        tokenize = getattr(st_model, "preprocess", None) or st_model.tokenize  # preprocess: sentence-transformers 6
        for s in range(0, len(sample_texts), 32):
            chunk = sample_texts[s:s + 32]
            enc = tokenize([embedder._head(t) for t in chunk])
            ids, mask = enc["input_ids"].tolist(), enc["attention_mask"].tolist()
            want = [[i for i, m in zip(r, mk) if m] for r, mk in zip(ids, mask)]
            differ += sum(1 for a, b in zip(onnx.token_ids(chunk), want) if a != b)
        vecs = onnx.embed(sample_texts)
        ref = np.stack([have[h] for h, _ in sample]).astype("float32")
        cos = (vecs * ref).sum(1) / np.clip(np.linalg.norm(ref, axis=1) * np.linalg.norm(vecs, axis=1), 1e-12, None)
        verified = {"sections": len(sample), "of": len(texts), "sample": len(sample) < len(texts),
                    "min_cosine": round(float(cos.min()), 7), "tokens_differ": differ}
        if differ or float(cos.min()) < MIN_COSINE:
            why = (f"{differ} of {len(sample)} texts tokenize differently" if differ else
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
        _atomic_write(index_dir / TOKENIZER_NAME, tok_data)
        _atomic_write(index_dir / EXPORT_MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    onnx.model_id = model_id
    return ExportOutcome("exported", describe_export(ExportCheck("ok", manifest=manifest)), onnx, len(missing),
                         verified, exporter=exporter)


def load_export(index_dir: str | Path, model_id: str, batch_size: int = 32) -> OnnxEmbedder | None:
    """The index's verified export, loaded (for the crawl's own embedding), or None."""
    found = check_export(index_dir, model_id)
    if not found.ok:
        return None
    assert found.manifest is not None and found.model_bytes is not None
    return OnnxEmbedder(model_id, found.model_bytes, Path(index_dir) / TOKENIZER_NAME,
                        Pipeline(**found.manifest["pipeline"]), batch_size=batch_size)
