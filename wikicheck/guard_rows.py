"""The sections and pages a Guard serves, read on demand from the read snapshot it loaded (the store
part wikicheck.store.guard_reads): memory follows the results being returned, not the size of the
wiki. In memory: the live keys (a sorted array), the pages at each path, and a bounded cache of
page rows without their text (the owners of a result are named from them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable, Iterator

import numpy as np

from .store import Store

_DOC_CACHE = 4096


def has_text(section: dict[str, Any]) -> bool:
    """Whether a section has text of its own (a page title or a heading over subsections has none)."""
    return bool((section.get("text") or "").strip())


class GuardSections:
    """Live sections by key, id, page, text and path, from the guard's snapshot."""

    def __init__(self, reader: Store):
        self.reader = reader
        self.keys = reader.live_keys()
        self._paths: dict[str, list[str]] = {}
        for path, doc in reader.live_page_paths():
            self._paths.setdefault(path, []).append(doc)
        self._docs: dict[str, dict[str, Any] | None] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def is_live(self, key: int) -> bool:
        i = int(np.searchsorted(self.keys, key))
        return i < len(self.keys) and int(self.keys[i]) == key

    def many(self, keys: Iterable[int]) -> dict[int, dict[str, Any]]:
        """{key: row} of those keys that are live sections."""
        return self.reader.live_sections_by_keys(keys)

    def get_key(self, key: int) -> dict[str, Any] | None:
        return self.many([key]).get(int(key))

    def by_id(self, section_id: Any) -> dict[str, Any] | None:
        return self.reader.live_section_by_id(section_id) if isinstance(section_id, str) else None

    def of_document(self, document_id: str) -> list[dict[str, Any]]:
        """A page's live sections in page order."""
        return self.reader.live_sections_of_documents([document_id])

    def with_body(self, body_hash: str) -> list[dict[str, Any]]:
        """Live sections with text that hashes to `body_hash`, by path and line."""
        return [s for s in self.reader.live_sections_with_bodies([body_hash]) if has_text(s)]

    def at_path(self, path: str) -> list[dict[str, Any]]:
        """Live sections of the pages at `path` (one per source), by path and line."""
        docs = self._paths.get(path)
        return self.reader.live_sections_of_documents(docs) if docs else []

    def document(self, document_id: str) -> dict[str, Any] | None:
        """A live page's row without its text."""
        if document_id not in self._docs:
            if len(self._docs) >= _DOC_CACHE:
                self._docs.clear()
            self._docs[document_id] = self.reader.document_without_text(document_id)
        return self._docs[document_id]

    def all(self) -> list[dict[str, Any]]:
        """Every live section (Store.sections): for tools and tests, never on a query's path."""
        return self.reader.sections()


class SectionsByKey(Mapping[int, dict[str, Any]]):
    """`Guard.sections`: live sections by faiss key, read on demand."""

    def __init__(self, rows: GuardSections):
        self.rows = rows

    def __getitem__(self, key: int) -> dict[str, Any]:
        row = self.rows.get_key(int(key))
        if row is None:
            raise KeyError(key)
        return row

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (int, np.integer)) and self.rows.is_live(int(key))

    def __iter__(self) -> Iterator[int]:
        return (int(k) for k in self.rows.keys)

    def __len__(self) -> int:
        return len(self.rows)

    def values(self) -> list[dict[str, Any]]:  # type: ignore[override]  # one query, not one per key
        return self.rows.all()

    def items(self) -> list[tuple[int, dict[str, Any]]]:  # type: ignore[override]
        return [(r["key"], r) for r in self.rows.all()]


class SectionsById(Mapping[str, dict[str, Any]]):
    """`Guard.by_id`: live sections by section id, read on demand."""

    def __init__(self, rows: GuardSections):
        self.rows = rows

    def __getitem__(self, section_id: str) -> dict[str, Any]:
        row = self.rows.by_id(section_id)
        if row is None:
            raise KeyError(section_id)
        return row

    def __contains__(self, section_id: object) -> bool:
        return self.rows.by_id(section_id) is not None

    def __iter__(self) -> Iterator[str]:
        return self.rows.reader.live_section_ids()

    def __len__(self) -> int:
        return len(self.rows)

    def values(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.rows.all()

    def items(self) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[override]
        return [(r["id"], r) for r in self.rows.all()]
