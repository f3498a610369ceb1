"""The faiss index: derived from the store, written atomically, verified against the store when it
is loaded, and rebuilt from the store when it is missing, out of date or damaged.

Verifying (fixes #11 point 11: a damaged file was searched as it was, scores ~1e37): the manifest
must parse and name this model and the store's current state; the file must have the size and the
SHA-256 the manifest recorded (read in blocks for the checksum, then faiss reads the same open
file: memory never holds the file's bytes besides the index; SHA-256 adds 35-55 ms at 20k
sections x 384 dims, a 31 MB file, and 0.26-0.34 s at 100k, 182 MB); faiss
must read it; its ids must be the store's live keys (checked against Store.index_state, no query);
and SAMPLE_VECTORS of its vectors must equal the store's embeddings (one query).

Whoever rebuilds writes the file only while holding the index lock (lock.py), so never while a
crawl writes the store; a reader that cannot take the lock rebuilds into memory and leaves the
file to the next crawl.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write
from .dates import now_iso
from .errors import IndexOutOfDate, WikicheckError
from .lock import lock_if_free, unusable
from .store import Store, keys_digest

INDEX_NAME = "sections.faiss"
HNSW_THRESHOLD = 20000  # sections
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192
LOCALITY_MIN = 20000  # queries in one HNSW search call from which they are searched in locality order
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX_BYTES = 1 << 20
SAMPLE_VECTORS = 32  # vectors compared with the store's embeddings on every load


@dataclass(frozen=True)
class IndexHealth:
    """What a look at the index on disk found: ok, missing, out of date or damaged, and why."""

    status: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        return f"{self.status} ({self.reason})" if self.reason else self.status


OK = IndexHealth("ok")


def _damaged(reason: str) -> IndexHealth:
    return IndexHealth("damaged", reason)


@dataclass
class Manifest:
    model_id: str
    dim: int
    count: int
    state: str
    built_at: str
    kind: str = "IndexIDMap2(IndexFlatIP)"
    sha256: str | None = None  # of sections.faiss; None: written before checksums, so rebuilt
    bytes: int | None = None
    reason: str = ""  # why it was (re)built, e.g. "damaged (checksum mismatch: ...)"

    @classmethod
    def read(cls, index_dir: Path) -> "Manifest | None":
        """The manifest, or None when it is missing or unreadable (read_checked says which)."""
        return cls.read_checked(index_dir)[0]

    @classmethod
    def read_checked(cls, index_dir: str | Path) -> "tuple[Manifest | None, IndexHealth]":
        """(manifest, OK), or (None, why not): missing, or damaged when it is there but unusable
        (a directory, a FIFO that would block the read, bad JSON, missing or mistyped fields)."""
        path = Path(index_dir) / MANIFEST_NAME
        st, why = _stat_file(path)
        if st is None:
            return None, why
        if st.st_size > MANIFEST_MAX_BYTES:
            return None, _damaged(f"{MANIFEST_NAME} is {st.st_size} bytes, not a manifest")
        try:
            data = json.loads(path.read_bytes())
            known = {f.name for f in fields(cls)}
            m = cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError, AttributeError) as e:
            return None, _damaged(f"{MANIFEST_NAME} is not a valid manifest: {type(e).__name__}")
        if not (isinstance(m.count, int) and isinstance(m.dim, int) and isinstance(m.state, str)
                and isinstance(m.model_id, str) and isinstance(m.kind, str)
                and (m.bytes is None or isinstance(m.bytes, int)) and (m.sha256 is None or isinstance(m.sha256, str))):
            return None, _damaged(f"{MANIFEST_NAME} is not a valid manifest: a field has the wrong type")
        return m, OK


@dataclass
class Inspection:
    """The index on disk as verified against the store: the loaded faiss index only when it is ok."""

    health: IndexHealth
    index: Any = None
    manifest: Manifest | None = None


def inspect_index(store: Store, index_dir: str | Path, model_id: str, sample: int = SAMPLE_VECTORS) -> Inspection:
    """Load the index of `index_dir` and verify it against the store (see the module docstring)."""
    import faiss

    index_dir = Path(index_dir)
    manifest, health = Manifest.read_checked(index_dir)
    if manifest is None:
        return Inspection(health)
    if manifest.model_id != model_id:
        return Inspection(IndexHealth("out of date", f"built for model {manifest.model_id}"), manifest=manifest)
    if manifest.state != store.index_state(model_id):
        return Inspection(IndexHealth("out of date", "the store changed since it was built"), manifest=manifest)
    if manifest.sha256 is None or manifest.bytes is None:
        return Inspection(IndexHealth("out of date", "no checksum in the manifest (an older wikicheck built it)"),
                          manifest=manifest)
    f, health = _open_checked(index_dir / INDEX_NAME, manifest)
    if f is None:
        return Inspection(health, manifest=manifest)
    try:
        with f:
            f.seek(0)
            index = faiss.read_index(faiss.PyCallbackIOReader(f.read, _READ_BLOCK))
    except (RuntimeError, OSError) as e:
        why = str(e).splitlines()[0][-120:] if str(e) else type(e).__name__
        return Inspection(_damaged(f"faiss cannot read {INDEX_NAME}: {why}"), manifest=manifest)
    health = _compare_with_store(index, manifest, store, model_id, sample)
    return Inspection(health, index if health.ok else None, manifest)


def _stat_file(path: Path) -> tuple[os.stat_result | None, IndexHealth]:
    """(stat, OK) for a regular file of the index, else (None, why not): missing, unreadable, or a
    directory or another kind of file in its place (a FIFO would block the read)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None, IndexHealth("missing", f"no {path.name}")
    except OSError as e:
        return None, _damaged(f"{path.name} unreadable: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return None, _damaged(f"{path.name} is {'a directory' if stat.S_ISDIR(st.st_mode) else 'not a regular file'}")
    return st, IndexHealth("ok", "")


_READ_BLOCK = 1 << 22  # bytes per read: the file is never held whole besides the index read from it


def _open_checked(path: Path, manifest: Manifest) -> tuple[BinaryIO | None, IndexHealth]:
    """The file, open, when its size and SHA-256 are the manifest's, else (None, why not). It is
    read in blocks for the checksum, and faiss reads the same open file (the same bytes: the index
    is only ever replaced whole, os.replace) after it: memory holds one index, not the file besides."""
    st, why = _stat_file(path)
    if st is None:
        return None, why
    if st.st_size < (manifest.bytes or 0):
        return None, _damaged(f"truncated: {INDEX_NAME} is {st.st_size} of {manifest.bytes} bytes")
    if st.st_size != manifest.bytes:
        return None, _damaged(f"{INDEX_NAME} is {st.st_size} bytes, the manifest says {manifest.bytes}")
    try:
        f = open(path, "rb")
    except OSError as e:
        return None, _damaged(f"{INDEX_NAME} unreadable: {e.strerror}")
    try:
        digest = hashlib.sha256()
        n = 0
        while block := f.read(_READ_BLOCK):
            digest.update(block)
            n += len(block)
    except OSError as e:
        f.close()
        return None, _damaged(f"{INDEX_NAME} unreadable: {e.strerror}")
    if n != manifest.bytes or digest.hexdigest() != manifest.sha256:
        f.close()
        return None, _damaged(f"checksum mismatch: {INDEX_NAME} changed after it was built")
    return f, OK


def _compare_with_store(index: Any, manifest: Manifest, store: Store, model_id: str, sample: int) -> IndexHealth:
    """Count, ids and a sample of vectors against the store: what a checksum cannot vouch for (an
    index built wrong, or another index copied with its manifest). The ids are compared with the
    store's index_state (already read), so only the sampled vectors cost a query."""
    import faiss

    want_count = int(manifest.state.split(":", 1)[0])
    if index.ntotal != manifest.count or index.ntotal != want_count:
        return _damaged(f"{index.ntotal} vectors, the store has {want_count} live sections with vectors")
    if not hasattr(index, "id_map"):
        return _damaged(f"{INDEX_NAME} holds a {type(index).__name__}, not an id-mapped index")
    ids = faiss.vector_to_array(index.id_map)
    if not manifest.state.startswith(keys_digest(ids) + ":"):
        return _damaged("its ids are not the store's: some are not live sections of the store")
    if len(ids):
        pos = np.unique(np.linspace(0, len(ids) - 1, min(sample, len(ids))).astype("int64"))
        want = store.vectors_for_keys(model_id, [int(k) for k in ids[pos]])
        differ = sum(1 for p in pos if int(ids[p]) not in want
                     or not np.allclose(index.index.reconstruct(int(p)), want[int(ids[p])], atol=1e-6))
        if differ:
            return _damaged(f"{differ} of {len(pos)} sampled vectors differ from the store's embeddings")
    return OK


def _build(store: Store, model_id: str) -> tuple[Any, Manifest]:
    """The faiss index of every live section for `model_id`, in memory, and its manifest (not yet
    with the file's size and checksum)."""
    import faiss

    keys, vecs = store.live_vectors(model_id)
    state = store.index_state(model_id)
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
    return index, Manifest(model_id, dim, int(len(keys)), state, now_iso(), kind)


def _write(index_dir: Path, index: Any, manifest: Manifest, reason: str) -> Manifest:
    """Write the index, then its manifest with the file's size and SHA-256. A directory in the
    place of either is IndexFileUnusable (fixes #11 point 13): it is the user's, never removed; any
    other file, a symlink included, is replaced whole by os.replace."""
    import faiss

    for name, what in ((INDEX_NAME, "the faiss index file"), (MANIFEST_NAME, "the index manifest")):
        p = index_dir / name
        if p.is_dir() and not p.is_symlink():
            raise unusable(p, what)
    data = faiss.serialize_index(index)  # a uint8 array, written and hashed as it is (no second copy)
    manifest.sha256, manifest.bytes, manifest.reason = hashlib.sha256(data).hexdigest(), int(data.nbytes), reason
    # index first, manifest last: a kill between the two leaves a manifest that no longer matches
    atomic_write(index_dir / INDEX_NAME, data)
    atomic_write(index_dir / MANIFEST_NAME, json.dumps(vars(manifest), indent=2, sort_keys=True).encode())
    return manifest


def build_index(store: Store, index_dir: str | Path, model_id: str, force: bool = False) -> tuple[Manifest, bool]:
    """Write the faiss index of every live section for `model_id` unless the one on disk verifies
    against the store (a crawl so rebuilds a damaged index). Returns (manifest, rebuilt?).
    The caller holds the index lock (a crawl does)."""
    index_dir = Path(index_dir)
    reason = "forced"
    if not force:
        found = inspect_index(store, index_dir, model_id)
        if found.health.ok:
            assert found.manifest is not None
            return found.manifest, False
        reason = str(found.health)
    index, manifest = _build(store, model_id)
    return _write(index_dir, index, manifest, reason), True


@dataclass
class Rebuild:
    """A rebuild from the store: written to disk, or in memory only and why."""

    index: Any
    manifest: Manifest | None
    on_disk: bool
    why_not_on_disk: str = ""
    locked: bool = False  # another run held the index lock (the crawl among them rebuilds the file)


def rebuild_from_store(store: Store, index_dir: str | Path, model_id: str, found: IndexHealth,
                       in_memory: bool = True) -> Rebuild:
    """Rebuild the index from the store for a reader (search, status). On disk when this process
    can take the index lock now (no crawl is writing the store or the index); otherwise, or when
    the file cannot be written, in memory when `in_memory` (else not at all)."""
    index_dir = Path(index_dir)
    with lock_if_free(index_dir, "rebuilding the faiss index") as busy:
        if busy is None:
            again = inspect_index(store, index_dir, model_id)  # another reader may have rebuilt it meanwhile
            if again.health.ok:
                return Rebuild(again.index, again.manifest, True)
            index, manifest = _build(store, model_id)
            try:
                return Rebuild(index, _write(index_dir, index, manifest, str(found)), True)
            except (OSError, WikicheckError) as e:
                return Rebuild(index if in_memory else None, manifest, False, str(e))
    assert busy is not None
    if not in_memory:
        return Rebuild(None, None, False, busy.reason, busy.held)
    index, manifest = _build(store, model_id)
    return Rebuild(index, manifest, False, busy.reason, busy.held)


class VectorIndex:
    """A loaded faiss index with search by vector."""

    def __init__(self, index: Any, manifest: Manifest, found: IndexHealth = OK, rebuild: Rebuild | None = None):
        self.index = index
        self.manifest = manifest
        self.found = found  # what was on disk when it was loaded
        self.rebuild = rebuild  # how it was rebuilt from the store, when it was not ok
        self._excluded: tuple[Any, ...] | None = None  # (selector, the objects it points to) or None
        if "HNSW" in manifest.kind:
            import faiss

            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH

    @classmethod
    def load(cls, store: Store, index_dir: str | Path, model_id: str, rebuild: bool = True) -> "VectorIndex":
        """The verified index on disk; else, with `rebuild`, one rebuilt from the store (rebuild_from_store)."""
        index_dir = Path(index_dir)
        found = inspect_index(store, index_dir, model_id)
        if found.health.ok:
            assert found.manifest is not None
            return cls(found.index, found.manifest)
        if not rebuild:
            raise IndexOutOfDate(f"{index_dir / INDEX_NAME}: missing or out of date ({found.health}); "
                                 "run \"wikicheck crawl\" to rebuild it")
        r = rebuild_from_store(store, index_dir, model_id, found.health)
        assert r.manifest is not None
        return cls(r.index, r.manifest, found.health, r)

    def damage_note(self, index_dir: str | Path) -> str | None:
        """One line for stderr when the index on disk was damaged (None otherwise)."""
        if self.found.status != "damaged" or self.rebuild is None:
            return None
        where = Path(index_dir) / INDEX_NAME
        if self.rebuild.on_disk:
            return f"{where} was {self.found}; rebuilt from the store"
        return (f"{where} is {self.found}; rebuilt in memory from the store for this run, the file is left to "
                f"the next crawl ({self.rebuild.why_not_on_disk})")

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

    def _params(self, ef_search: int | None = None) -> Any:
        """Per-call search parameters (faiss swaps the selector inside them during a search)."""
        hnsw = "HNSW" in self.manifest.kind
        if self._excluded is None and not (hnsw and ef_search):
            return None
        import faiss

        sel = self._excluded[0] if self._excluded is not None else None
        if hnsw:
            return faiss.SearchParametersHNSW(sel=sel, efSearch=ef_search or HNSW_EF_SEARCH)
        return faiss.SearchParameters(sel=sel)

    def search(self, vectors: np.ndarray, k: int, ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, keys), each of shape (len(vectors), k); missing hits have key -1. `ef_search`: the
        HNSW search breadth for this call (default HNSW_EF_SEARCH; a flat index ignores it)."""
        total = self.index.ntotal
        if total == 0:
            n = len(vectors)
            return np.zeros((n, k), dtype="float32"), -np.ones((n, k), dtype="int64")
        x = np.ascontiguousarray(vectors, dtype="float32")
        params = self._params(ef_search)
        return search_batch(self.index, x, min(k, total), params, graph="HNSW" in self.manifest.kind)

    def reconstruct(self, key: int) -> np.ndarray:
        return self.index.reconstruct(int(key))


def locality_order(x: np.ndarray, seed: int = 1) -> np.ndarray:
    """A permutation of the query vectors `x` that puts similar queries next to each other: ordered by
    their nearest of about sqrt(n) spherical k-means centroids (at most 1,024, trained on a sample).

    A graph search of many queries is bound by memory: each query walks nodes scattered over the whole
    index. Consecutive queries about the same subject walk the same nodes while they are still in the
    CPU's caches (benchmarks in docs/benchmarks.md, "Neighbour search in locality order")."""
    import faiss

    n, d = x.shape
    k = int(min(1024, max(2, round(n ** 0.5))))
    rng = np.random.default_rng(seed)
    train = x if n <= 40 * k else x[np.sort(rng.choice(n, 40 * k, replace=False))]
    km = faiss.Kmeans(d, k, niter=10, seed=seed, spherical=True, verbose=False)
    km.train(np.ascontiguousarray(train, dtype="float32"))
    _, nearest = km.index.search(x, 1)
    return np.argsort(nearest[:, 0], kind="stable")


def search_order(x: np.ndarray, graph: bool) -> np.ndarray | None:
    """The order a batch of queries `x` is best searched in: locality order when the index is a graph
    (HNSW) and the batch is large (LOCALITY_MIN), else None (as given)."""
    return locality_order(x) if graph and len(x) >= LOCALITY_MIN else None


def search_batch(index: Any, x: np.ndarray, k: int, params: Any = None, graph: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`index.search(x, k)`, in search_order. The hits are the same: each query's graph search depends
    on that query alone."""
    def run(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return index.search(q, k) if params is None else index.search(q, k, params=params)

    order = search_order(x, graph)
    if order is None:
        return run(x)
    sims, found = run(np.ascontiguousarray(x[order]))
    out_s, out_f = np.empty_like(sims), np.empty_like(found)
    out_s[order], out_f[order] = sims, found
    return out_s, out_f
