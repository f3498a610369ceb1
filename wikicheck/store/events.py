"""What the retrieval guard served (table `guard_events`), read back for exposure."""

from __future__ import annotations

from ._base import StorePart


class GuardEventsPart(StorePart):
    def verdict_counts(self, since: str, until: str) -> list[tuple[str, str, int]]:
        """(section_id, verdict, events) of the guard events between `since` and `until` (inclusive)."""
        return [(sid, verdict, n) for sid, verdict, n in self.db.execute(
            "select section_id, verdict, count(*) from guard_events where at >= ? and at <= ? group by section_id, verdict",
            [since, until]).fetchall()]

    def replacement_counts(self, since: str, until: str) -> list[tuple[str, int]]:
        """(section_id, events) of the sections the guard replaced with a newer one in that window."""
        return [(sid, n) for sid, n in self.db.execute(
            "select replaces, count(*) from guard_events where replaces is not null and at >= ? and at <= ? "
            "group by replaces", [since, until]).fetchall()]

    def has_guard_events(self) -> bool:
        """Whether the guard has recorded anything at all."""
        return bool(self.db.execute("select exists(select 1 from guard_events)").fetchone()[0] == 1)
