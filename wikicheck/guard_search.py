"""The retrieval guard's search: vector hits, a policy applied to them, and the exposure recorded."""

from __future__ import annotations

import numpy as np

from .guard_policy import POLICIES, GuardConfig, Result, Verdicts, has_text
from .guard_rows import GuardSections
from .index import VectorIndex
from .store import Store


class Search:
    """Queries (as vectors) to guarded results, over the sections a Guard loaded."""

    def __init__(self, config: GuardConfig, index: VectorIndex, rows: GuardSections, verdicts: Verdicts, store: Store):
        self.config, self.index, self.rows, self.verdicts, self.store = config, index, rows, verdicts, store

    def search_vectors(self, vectors: np.ndarray, k: int, policy: str = "block") -> list[list[Result]]:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
        n = max(self.config.candidates, k * 4)
        scores, keys = self.index.search(vectors, n)
        out = []
        withheld: list[list[str]] = []
        for qi in range(len(vectors)):
            got = self.rows.many(int(key) for key in keys[qi] if int(key) >= 0)
            raw = [(got[int(key)], float(sc)) for key, sc in zip(keys[qi], scores[qi])
                   if int(key) in got and has_text(got[int(key)])]
            final = self.verdicts.apply_policy(raw, k, policy, vectors[qi])
            out.append(final)
            if self.config.record_events:
                # blocked sections that would have been in the top k but were kept from the agent:
                # exposure too, even when no replacement took their place
                shown = {r.section["id"] for r in final} | {r.replaces for r in final if r.replaces}
                withheld.append([s["id"] for s, _ in raw[:k]
                                 if s["id"] not in shown and self.verdicts.judge(s)[0] == "block"])
        if self.config.record_events:
            self._record(out, withheld)
        return out

    # ------------------------------------------------------------------ exposure

    def _record(self, runs: list[list[Result]], withheld: list[list[str]] | None = None) -> None:
        from .dates import now_iso

        ts = now_iso()
        rows: list[tuple[str, str, str, str | None]] = []
        for results in runs:
            for r in results:
                rows.append((ts, r.section["id"], "replaced" if r.replaces else r.verdict, r.replaces))
        for ids in withheld or []:
            rows.extend((ts, sid, "block", None) for sid in ids)
        try:
            self.store.record_guard_events(rows)
        except self.store.errors:  # exposure is best effort: a read-only or locked store must still serve
            pass
