"""Which engine embeds an index's queries, and why: ONNX when the index's export is usable, else
sentence-transformers (WIKICHECK_ENGINE=sentence-transformers forces it); and loading the export."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..embed import EMBEDDERS, Embedder, get_embedder
from .manifest import ONNX_NAME, TOKENIZER_NAME, ExportCheck, check_export, describe_export
from .pipeline import Pipeline
from .runtime import OnnxEmbedder

ENGINE_ENV = "WIKICHECK_ENGINE"
ENGINES = ("auto", "onnx", "sentence-transformers")
TORCH_ENGINE = "sentence-transformers"


def engine_choice(configured: str | None = None) -> str:
    """auto, onnx or sentence-transformers: WIKICHECK_ENGINE, else the configured value, else auto."""
    value = (os.environ.get(ENGINE_ENV) or configured or "auto").strip().lower()
    if value == "torch":
        value = TORCH_ENGINE
    return value if value in ENGINES else "auto"


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


def load_export(index_dir: str | Path, model_id: str, batch_size: int = 32) -> OnnxEmbedder | None:
    """The index's verified export, loaded (for the crawl's own embedding), or None."""
    found = check_export(index_dir, model_id)
    if not found.ok:
        return None
    assert found.manifest is not None and found.model_bytes is not None
    return OnnxEmbedder(model_id, found.model_bytes, Path(index_dir) / TOKENIZER_NAME,
                        Pipeline(**found.manifest["pipeline"]), batch_size=batch_size)
