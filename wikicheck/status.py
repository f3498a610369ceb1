"""A description of an index, for `wikicheck status` and the service's health endpoint."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .index import MANIFEST_NAME, Manifest
from .onnx_engine.choice import engine_for
from .store import Store, local_dir


def distinct_texts(store: Store) -> int:
    """How many distinct texts the live sections have. Sections with the same heading path and text
    share one embedding, so a crawl embeds this many while faiss holds one vector per live section:
    the two counts `crawl` and `status` print differ by the sections that share a text (#12)."""
    return store.distinct_texts()


def sharing_note(sections: int, texts: int, embedded: int | None = None) -> str:
    """Why the embeddings and the faiss vectors are not the same number; "" when they are."""
    if sections == texts and (embedded is None or embedded <= texts):
        return ""
    kept = f" ({embedded - texts} of earlier texts kept)" if embedded is not None and embedded > texts else ""
    return f"one per distinct text{kept}: the {sections} live sections have {texts}, and faiss holds one vector per section"


def _dim(store: Store) -> int | None:
    return int(store.get_meta("dim") or 0) or None


def read_manifest(store: Store, index_dir: str | Path, model: str | None) -> Manifest | None:
    """The index's manifest: the faiss file's (index directory), or a PostgreSQL store's vector search."""
    if store.url:
        from .index_pg import pg_manifest

        return pg_manifest(store, model)
    return Manifest.read(Path(index_dir))


def _index_up_to_date(store: Store, manifest: Manifest | None, model: str | None) -> bool:
    """Whether the faiss index holds what the store says it should (the manifest's digest)."""
    return bool(manifest and model and manifest.state == store.index_state(model))


def serving_status(index_dir: str | Path, previous: tuple[Any, dict[str, Any]] | None = None,
                   store: Store | None = None) -> tuple[Any, dict[str, Any]]:
    """(key, status) for the service's /health: model, dim, counts, whether the faiss index is up to
    date, and the last crawl. The counts and the index digest scan every section (seconds at 1M
    sections, where /health is read every few seconds), so they are read again only when the key
    changed since `previous`: the last crawl (id, status, end), the manifest file (written by every
    index build), the model and the dim. Only a crawl writes what they count, so between two keys they
    are the same; while a crawl runs, they are those of when it started (the guard serves that state
    too). One short read otherwise. `store`: an open store of this index to read with (the service keeps
    one: opening checks the whole file, which a guard writing its events changes every query)."""
    with contextlib.nullcontext(store) if store is not None else Store.open(index_dir) as store:
        last = store.last_crawl()
        try:
            st = (local_dir(index_dir) / MANIFEST_NAME).stat()
            manifest_file: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            manifest_file = None
        model, dim = store.model_id(), _dim(store)
        key = (tuple((last or {}).get(k) for k in ("id", "status", "finished_at")), manifest_file, model, dim)
        if previous is not None and previous[0] == key:
            heavy = {k: previous[1][k] for k in ("counts", "index_up_to_date")}
        else:
            heavy = {"counts": store.counts(),
                     "index_up_to_date": _index_up_to_date(store, read_manifest(store, index_dir, model), model)}
        return key, {"model": model, "dim": dim, **heavy, "last_crawl": last}


def index_status(index_dir: str | Path, verify_export: bool = False) -> dict[str, Any]:
    """Everything `wikicheck status` shows. `verify_export`: check the ONNX export's checksum too, not
    only its size."""
    with Store.open(index_dir) as store:
        model = store.model_id()
        manifest = read_manifest(store, index_dir, model)
        ts = store.timestamp_sources()
        return {
            "version": 1,
            "index": store.where if store.url else str(index_dir),
            "model": model,
            "dim": _dim(store),
            "sources": store.sources(),
            "counts": store.counts(),
            "timestamp_sources": ts,
            # distinct_texts (added, #12): why the vector count differs from counts.embeddings
            "manifest": {**vars(manifest), "distinct_texts": distinct_texts(store)} if manifest else None,
            "index_up_to_date": _index_up_to_date(store, manifest, model),
            "last_crawl": store.last_crawl(),
            # which engine embeds queries: ONNX Runtime (the index's verified export) or sentence-transformers
            "query_engine": engine_for(local_dir(index_dir), model, verify=verify_export)[0].to_json(),
        }
