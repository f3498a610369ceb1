"""A description of an index, for `wikicheck status` and the service's health endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .index import Manifest
from .store import Store


def index_status(index_dir: str | Path) -> dict[str, Any]:
    with Store.open(index_dir) as store:
        model = store.model_id()
        manifest = Manifest.read(Path(index_dir))
        ts = dict(store.db.execute(
            "select coalesce(timestamp_source, 'unknown'), count(*) from sections where removed_at is null group by 1"
        ).fetchall())
        return {
            "version": 1,
            "index": str(index_dir),
            "model": model,
            "dim": int(store.get_meta("dim") or 0) or None,
            "sources": store.sources(),
            "counts": store.counts(),
            "timestamp_sources": ts,
            "manifest": vars(manifest) if manifest else None,
            "index_up_to_date": bool(manifest and model and manifest.state == store.index_state(model)),
            "last_crawl": store.last_crawl(),
        }
