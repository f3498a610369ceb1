"""The faiss index: derived from the store, written atomically, rebuilt when it no longer matches."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dates import now_iso
from .errors import IndexOutOfDate
from .store import Store

INDEX_NAME = "sections.faiss"
HNSW_THRESHOLD = 20000  # sections
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192
MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    model_id: str
    dim: int
    count: int
    state: str
    built_at: str
    kind: str = "IndexIDMap2(IndexFlatIP)"

    @classmethod
    def read(cls, index_dir: Path) -> "Manifest | None":
        try:
            data = json.loads((index_dir / MANIFEST_NAME).read_text())
            return cls(**{k: data[k] for k in ("model_id", "dim", "count", "state", "built_at", "kind")})
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def build_index(store: Store, index_dir: str | Path, model_id: str, force: bool = False) -> tuple[Manifest, bool]:
    """Write the faiss index of every live section for `model_id`. Returns (manifest, rebuilt?)."""
    import faiss

    index_dir = Path(index_dir)
    state = store.index_state(model_id)
    current = Manifest.read(index_dir)
    if (not force and current and current.state == state and current.model_id == model_id
            and (index_dir / INDEX_NAME).exists()):
        return current, False
    keys, vecs = store.live_vectors(model_id)
    dim = int(vecs.shape[1]) if len(vecs) else int(store.get_meta("dim") or 0)
    # exact search while it is fast enough; past HNSW_THRESHOLD a query over a flat index costs tens of
    # milliseconds on two cores, so the guard gets a graph index (rebuilt from the store like the flat one)
    if len(keys) > HNSW_THRESHOLD:
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        kind = f"IndexIDMap2(IndexHNSWFlat(M={HNSW_M}))"
    else:
        inner = faiss.IndexFlatIP(dim)
        kind = "IndexIDMap2(IndexFlatIP)"
    index = faiss.IndexIDMap2(inner)
    if len(keys):
        index.add_with_ids(np.ascontiguousarray(vecs), keys)
    data = faiss.serialize_index(index).tobytes()
    # index first, manifest last: a kill between the two leaves a manifest that no longer matches
    _atomic_write(index_dir / INDEX_NAME, data)
    manifest = Manifest(model_id, dim, int(len(keys)), state, now_iso(), kind)
    _atomic_write(index_dir / MANIFEST_NAME, json.dumps(vars(manifest), indent=2, sort_keys=True).encode())
    return manifest, True


class VectorIndex:
    """A loaded faiss index with search by vector."""

    def __init__(self, index: Any, manifest: Manifest):
        self.index = index
        self.manifest = manifest
        self._excluded: tuple[Any, ...] | None = None  # (selector, the objects it points to) or None

    @classmethod
    def load(cls, store: Store, index_dir: str | Path, model_id: str, rebuild: bool = True) -> "VectorIndex":
        import faiss

        index_dir = Path(index_dir)
        manifest = Manifest.read(index_dir)
        ok = manifest is not None and manifest.model_id == model_id and (index_dir / INDEX_NAME).exists()
        if ok and manifest is not None and manifest.state != store.index_state(model_id):
            ok = False
        if not ok:
            if not rebuild:
                raise IndexOutOfDate(f"{index_dir / INDEX_NAME}: missing or out of date; run \"wikicheck crawl\" to rebuild it")
            manifest, _ = build_index(store, index_dir, model_id, force=True)
        assert manifest is not None
        data = np.fromfile(index_dir / INDEX_NAME, dtype="uint8")
        index = faiss.deserialize_index(data)
        if "HNSW" in manifest.kind:
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index, manifest)

    def exclude(self, keys: Any) -> None:
        """Leave these section keys out of every later search (the index itself keeps them).

        The guard uses it for sections that have no text of their own (README, "What search returns"):
        the index holds every live section, so that it stays what the store says it is and the check
        can reuse it (Drift.neighbours), but retrieval never returns a heading without content."""
        import faiss

        arr = np.ascontiguousarray(np.fromiter((int(k) for k in keys), dtype="int64"))
        if not len(arr):
            self._excluded = None
            return
        batch = faiss.IDSelectorBatch(arr)
        # the selectors are read-only during a search; SWIG does not keep `batch` alive for `sel`
        self._excluded = (faiss.IDSelectorNot(batch), batch, arr)

    def _params(self) -> Any:
        """Per-call search parameters (faiss swaps the selector inside them during a search)."""
        if self._excluded is None:
            return None
        import faiss

        if "HNSW" in self.manifest.kind:
            return faiss.SearchParametersHNSW(sel=self._excluded[0], efSearch=HNSW_EF_SEARCH)
        return faiss.SearchParameters(sel=self._excluded[0])

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, keys), each of shape (len(vectors), k); missing hits have key -1."""
        total = self.index.ntotal
        if total == 0:
            n = len(vectors)
            return np.zeros((n, k), dtype="float32"), -np.ones((n, k), dtype="int64")
        x = np.ascontiguousarray(vectors, dtype="float32")
        params = self._params()
        if params is None:
            return self.index.search(x, min(k, total))
        return self.index.search(x, min(k, total), params=params)  # left-out keys: padded with -1

    def reconstruct(self, key: int) -> np.ndarray:
        return self.index.reconstruct(int(key))
