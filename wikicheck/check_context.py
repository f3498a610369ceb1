"""What rules may read while checking: CheckContext."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from .check_links import PageLinks
from .config import Config
from .dates import to_datetime
from .drift import Drift, DriftOptions
from .owners import OwnerResolver
from .policy import Policies, RetiredTerm
from .rules import RULES, RuleHit
from .store import Store


def drift_options(policies: Policies) -> DriftOptions:
    """The drift analysis's options, from the rules in force: a drift rule declares in DRIFT_OPTIONS
    which DriftOptions field each of its own options sets, so a new one needs no edit here."""
    values: dict[str, Any] = {}
    for code, rule in RULES.items():
        fields: dict[str, str] = getattr(rule, "DRIFT_OPTIONS", {})
        if fields:
            options = policies.rule_options(code, "")
            values.update((f, options[name]) for name, f in fields.items())
    return DriftOptions(**values)


class CheckContext(PageLinks):
    """What rules may read: the store, the drift analysis, policies, link resolution (PageLinks), dates."""

    def __init__(self, store: Store, config: Config, policies: Policies, now: dt.datetime | None = None,
                 cache_claims: bool = False, executor: Any = None):
        """`cache_claims`: write the claims the drift analysis extracted to the store's claim cache (a
        check that records does; one with record="no" writes nothing). `executor`: where the drift
        analysis runs its bulk steps (drift.core.Corpus), None for this process."""
        self.store = store
        self.executor = executor
        self.cache_claims = cache_claims
        self.config = config
        self.policies = policies
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.now_iso = self.now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        self.retired: list[RetiredTerm] = policies.retired
        self.docs = {d["id"]: d for d in store.documents()}
        self.sections = store.sections()
        self.sections_by_doc: dict[str, list[dict[str, Any]]] = {}
        for s in self.sections:
            self.sections_by_doc.setdefault(s["document_id"], []).append(s)
        self.section_by_id = {s["id"]: s for s in self.sections}
        self.doc_by_path = {(d["source"], d["path"]): d for d in self.docs.values()}
        self.doc_by_url: dict[str, dict[str, Any]] = {}
        for d in self.docs.values():
            if d.get("url"):
                self.doc_by_url.setdefault(d["url"].rstrip("/"), d)
        self.sources = {s["name"]: s for s in store.sources()}
        self.owners = OwnerResolver.for_store(store, config)  # the findings' owners, as the reports name them
        self._drift: list[Any] | None = None
        self._anchors: dict[str, set[str]] = {}
        self._links: dict[tuple[str, str], list[tuple[str, int | None]]] = {}
        self.drift_options = drift_options(policies)  # each drift rule maps its own options (DRIFT_OPTIONS)

    # dates
    def age_days(self, iso: str) -> int:
        return max(0, (self.now - to_datetime(iso)).days)

    def doc_changed_at(self, doc: dict[str, Any]) -> str | None:
        dates = [s["changed_at"] for s in self.sections_by_doc.get(doc["id"], []) if s["changed_at"]]
        return max(dates) if dates else doc.get("changed_at")

    def doc_sections(self, doc_id: str) -> list[dict[str, Any]]:
        return self.sections_by_doc.get(doc_id, [])

    def _vector_index(self, model: str) -> Any:
        """The faiss index on disk, when it matches the store: its neighbours cost no rebuild."""
        from .errors import WikicheckError
        from .index import VectorIndex

        if self.store.path is None:
            return None
        try:
            return VectorIndex.load(self.store, self.store.path.parent, model, rebuild=False)
        except (WikicheckError, RuntimeError, OSError):
            return None

    # drift
    def drift_hits(self, rule: str | None, exclude_kinds: tuple[str, ...] = (),
                   only_kinds: tuple[str, ...] = ()) -> Iterator[RuleHit]:
        if self._drift is None:
            model = self.store.model_id()
            enabled = {getattr(RULES[c], "DRIFT_RULE", None) for c in RULES if self.policies.enabled(c)}
            self._drift = []
            if model:
                drift = Drift(self.store, model, self.drift_options, self._vector_index(model), self.sections,
                              executor=self.executor)
                self._drift = drift.analyse({e for e in enabled if e})
                if self.cache_claims:
                    drift.save_claims()
        for h in self._drift:
            if rule is not None and h.rule != rule:
                continue
            if exclude_kinds and h.kind in exclude_kinds:
                continue
            if only_kinds and h.kind not in only_kinds:
                continue
            yield RuleHit(kind=h.kind, message=h.message, section_id=h.section_id, evidence=h.evidence,
                          newer_id=h.newer_id, key=h.key, level=h.level)


__all__ = ["CheckContext", "drift_options"]
