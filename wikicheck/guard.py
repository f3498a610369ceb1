"""The retrieval guard: vector search whose results carry verdicts, reasons and provenance.

Verdicts come from the findings of the last `wikicheck check` run, looked up per section (and per
page for page-level findings): guarding a result costs a dictionary lookup, never a model call or
a pairwise comparison. The policies (block, demote, annotate) and the order of results are
described in wikicheck.guard_policy.

Sections without text of their own (a page title, or a heading whose content is all in its
subsections) stay in the store and in the faiss index, but retrieval leaves them out: their heading
is part of every subsection's embedded text, so a query for it finds the subsections. A newer
section that has no text resolves to its first subsection with text (the best-scoring one, when
there is a query).

Guard holds what it loaded and delegates by job (#13): guard_policy (verdicts, policies and the walk
to a newer section), guard_search (search and exposure) and guard_chunks (an agent's own chunks).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import load_config
from .embed import Embedder, check_model, get_embedder
from .errors import WikicheckError
from .guard_chunks import ChunkMatcher
from .guard_policy import POLICIES, GuardConfig, Result, Verdicts, shown_level
from .guard_rows import GuardSections, SectionsById, SectionsByKey
from .guard_search import Search
from .index_pg import PgVectorIndex, load_vector_index
from .owners import OwnerResolver
from .readers import crawl_state, require_complete
from .store import Store, local_dir


class _Loading:
    """A call run in a thread now, its result (or its exception) taken later."""

    def __init__(self, fn: Any, *args: Any):
        import threading

        self._out: tuple[bool, Any] = (False, None)

        def run() -> None:
            try:
                self._out = (True, fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the caller by result()
                self._out = (False, e)

        self._thread = threading.Thread(target=run, name="wikicheck-embedder-load", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        ok, value = self._out
        if not ok:
            raise value
        return value


# A PostgreSQL store: the oldest a guard's read snapshot may get while nothing changes (seconds). An
# open snapshot holds back the database's cleanup of dead rows (vacuum) for every table; on a store
# that is not being crawled, refresh() takes a new one after this long (a reload). While a crawl writes,
# the snapshot of the completed crawl stays, however old.
PG_SNAPSHOT_MAX_AGE = 600.0


class Guard:
    """A search index opened once, for many queries (CLI batch mode, HTTP and MCP services)."""

    def __init__(self, index_dir: str | Path, *, embedder: Embedder | None = None, config: GuardConfig | None = None,
                 wait: float = 0.0):
        """`wait`: seconds to wait for a crawl that is writing the index now (default: refuse at
        once with IndexBusy); a store whose last crawl was killed is refused (CrawlUnfinished)."""
        self.location = index_dir  # what Store.open takes: an index directory or a PostgreSQL URL
        self.index_dir = local_dir(index_dir)  # this machine's files of the store (ONNX export, faiss index)
        self.store = Store.open(index_dir)
        self._loaded_state: tuple[Any, Any] | None = None
        require_complete(self.store, wait=wait, what="search")  # never load a half-crawled wiki
        self.config = config or GuardConfig()
        model = self.store.model_id()
        if not model:
            raise WikicheckError(f"index {self.store.where} has no embeddings yet; run \"wikicheck crawl\" first")
        from .onnx_engine import EngineInfo, query_embedder

        loading = None
        if embedder is not None:
            self.embedder: Embedder = embedder
            self.engine = EngineInfo(getattr(embedder, "engine", "given"), "the embedder given to the Guard")
            check_model(model, self.embedder.model_id, self.store.where)  # ModelMismatch, as crawl and embed raise it
        else:
            # ONNX Runtime when the index has a verified export of its model (no torch import), else
            # sentence-transformers (onnx_engine.query_embedder). Loaded (checksum, session) in a thread
            # while the index and the sections load: ~0.3 s less for a one-shot `wikicheck search`.
            loading = _Loading(query_embedder, self.index_dir, model, 32,
                               lambda name, batch_size=32: get_embedder(name, batch_size=batch_size))
        try:
            self.index = load_vector_index(self.store, self.index_dir, model)
            # owners as `wikicheck check` and the owner reports name them: the config they discover ([owners])
            self._wiki_config = load_config(None, sources_from=self.location)
            self.reload()
        except BaseException:
            if loading is not None:
                loading.wait()  # its own outcome does not matter any more
            raise
        if loading is not None:
            self.embedder, self.engine = loading.result()

    def _state(self) -> tuple[Any, Any]:
        return self.store.last_ok_ids()

    def refresh(self) -> bool:
        """Reload when a crawl or a check finished since the last load (for long-running services).

        Costs two indexed queries when nothing changed. Returns True when it reloaded (a new read
        snapshot of an unchanged PostgreSQL store, PG_SNAPSHOT_MAX_AGE, is not counted as one)."""
        state = self._state()
        if state == self._loaded_state:
            if self.store.url and time.monotonic() > self._renew_at:
                self.reload()  # the same state in a new snapshot; kept as it is while a crawl writes
            return False
        if crawl_state(self.store).partial:
            return False  # a crawl is writing (or died half way): keep serving the completed one loaded
        assert self._loaded_state is not None
        if state[1] != self._loaded_state[1]:
            self.index = load_vector_index(self.store, self.index_dir, self.embedder.model_id)
        self.reload()
        return True

    def reload(self) -> None:
        """Re-read what the guard serves (after a crawl or check), and only from a completed crawl:
        while a crawl writes, the state loaded last stays (wikicheck.readers).

        The reads happen in a read snapshot of a second connection, which stays open until the next
        reload: the sections, pages and findings of the results are read from it on demand (memory
        follows what is served, not the wiki's size), and a crawl that writes meanwhile changes none
        of them."""
        reader = self.store.open_reader()
        try:
            reader.begin_snapshot()  # no crawl commit lands half way through the reads, nor after them
            if crawl_state(reader).partial:
                if self._loaded_state is not None:
                    self._close_reader(reader)
                    self._renew_at = time.monotonic() + PG_SNAPSHOT_MAX_AGE  # try again later, not every query
                    return
                require_complete(reader, what="search")  # raises: nothing completed to serve
            self._load(reader)
        except BaseException:
            self._close_reader(reader)
            raise
        old, self.reader = getattr(self, "reader", None), reader
        if old is not None:
            self._close_reader(old)

    def _close_reader(self, reader: Store) -> None:
        if reader is not self.store:
            reader.close()
        else:
            reader.end_snapshot()

    def _load(self, reader: Store) -> None:
        self._loaded_state = reader.last_ok_ids()
        self._renew_at = time.monotonic() + PG_SNAPSHOT_MAX_AGE
        if isinstance(self.index, PgVectorIndex):
            self.index.store = reader  # the database's search in the same snapshot as the rows it returns
        self.rows = GuardSections(reader)
        self.sections = SectionsByKey(self.rows)  # by faiss key
        self.by_id = SectionsById(self.rows)
        # retrieval never returns a section without text (see the module docstring)
        self.index.exclude(reader.textless_live_keys())
        self.owners = OwnerResolver.for_store(reader, self._wiki_config)
        # the verdict lookups: finding ids by section and by page, in Store.latest_findings' order
        self.by_section: dict[str, list[int]] = {}
        self.by_document: dict[str, list[int]] = {}
        self.has_check = False
        for fid, scope, section_id, document_id in reader.latest_finding_refs():
            self.has_check = True
            if scope == "document":
                self.by_document.setdefault(document_id, []).append(fid)
            elif section_id:
                self.by_section.setdefault(section_id, []).append(fid)
        self.verdicts = Verdicts(self.config, self.index, self.rows, self.by_section, self.by_document, self.owners)
        self.searcher = Search(self.config, self.index, self.rows, self.verdicts, self.store)
        self.chunks = ChunkMatcher(self.store, self.index, self.rows, self.verdicts, self.embed)

    def close(self) -> None:
        reader = getattr(self, "reader", None)
        if reader is not None and reader is not self.store:
            reader.close()
        self.store.close()

    # ------------------------------------------------------------------ verdicts

    def judge(self, section: dict[str, Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
        """(verdict, reasons, newer) of one section."""
        return self.verdicts.judge(section)

    def apply_policy(self, raw: list[tuple[dict[str, Any], float]], k: int, policy: str,
                     qvec: np.ndarray | None = None) -> list[Result]:
        return self.verdicts.apply_policy(raw, k, policy, qvec)

    def follow_newer(self, newer: dict[str, Any] | None, qvec: np.ndarray | None = None,
                     score: float = 1.0) -> Result | None:
        """The section to hand over instead of a blocked one (Verdicts.follow_newer)."""
        return self.verdicts.follow_newer(newer, qvec, score)

    # ------------------------------------------------------------------ search

    def embed(self, queries: list[str]) -> np.ndarray:
        return self.embedder.embed(queries)

    def search(self, query: str, k: int = 5, policy: str = "block") -> list[Result]:
        return self.search_vectors(self.embed([query]), k, policy)[0]

    def search_many(self, queries: list[str], k: int = 5, policy: str = "block") -> list[list[Result]]:
        return self.search_vectors(self.embed(queries), k, policy) if queries else []

    def search_vectors(self, vectors: np.ndarray, k: int, policy: str = "block") -> list[list[Result]]:
        return self.searcher.search_vectors(vectors, k, policy)

    # ------------------------------------------------------------------ agents' own chunks

    def check_chunks(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdicts for chunks an agent retrieved from its own store, one per chunk, in order
        (ChunkMatcher.check_chunks says how they are matched)."""
        return self.chunks.check_chunks(chunks)


def guard_runs_json(query: str, policy: str, results: Iterable[Result]) -> dict[str, Any]:
    return {"version": 1, "query": query, "policy": policy, "results": [r.to_json() for r in results]}


__all__ = ["Guard", "GuardConfig", "POLICIES", "Result", "guard_runs_json", "shown_level"]
