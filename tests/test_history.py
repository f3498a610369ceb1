"""wikicheck.history: which section versions continue as which, on hand-made version rows.

The end-to-end behaviour (real git repositories with renames, moves, splits, merges and reverts,
crawled and checked) is in test_history_moves.py; these pin down the linking rules themselves."""

from __future__ import annotations

import json

from wikicheck.history import HistoryOptions, SectionHistory
from wikicheck.model import text_hash

PROC = ("Drain the node with kubectl drain node-1 --ignore-daemonsets, wait for the pods to move, "
        "then restart the kubelet service and uncordon the node once it reports Ready again")
OTHER = ("Check the certificate expiry with openssl x509 -noout -enddate on the ingress secret and "
         "rotate it with the cert-manager renew command when fewer than ten days remain")


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.text: dict[int, str] = {}

    def add(self, section: str, path: str, text: str, start: str, end: str | None = None,
            commit: str | None = None, ended_by: str | None = None, heading: str = "Steps",
            source: str = "wiki") -> int:
        vid = len(self.rows) + 1
        self.rows.append({
            "id": vid, "section_id": section, "document_id": "doc:" + path, "source": source, "path": path,
            "heading_path": json.dumps(["Title", heading]), "body_hash": text_hash(text),
            "valid_from": start, "valid_to": end, "commit": commit, "ended_by_commit": ended_by,
            "seen_at": None, "closed_at": None,
        })
        self.text[vid] = text
        return vid

    def history(self, renames: list[dict] | None = None, **opts: float) -> SectionHistory:
        return SectionHistory(self.rows, renames or [], self.text.__getitem__, HistoryOptions(**opts))


def test_a_section_moved_in_one_commit_continues_at_its_new_address():
    r = Rows()
    a = r.add("A", "a.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    b = r.add("B", "b.md", PROC, "2023-01-01T00:00:00Z", None, "c9")
    h = r.history()
    assert h.link(a, b) == "same"
    assert a in h.ancestry("B")
    assert h.homes(a, {"A", "B"}) == [("B", "same")]


def test_a_move_in_two_commits_within_the_window_is_a_move_and_outside_it_is_not():
    r = Rows()
    a = r.add("A", "a.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c8")
    b = r.add("B", "b.md", PROC, "2023-01-03T00:00:00Z", None, "c9")
    assert r.history().link(a, b) == "same"
    assert r.history(window_days=1).link(a, b) is None


def test_a_copy_that_already_carried_the_text_is_not_where_the_text_went():
    # the copy existed for two years before the original section was deleted: it is a copy, not a move
    r = Rows()
    a = r.add("A", "a.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    c1 = r.add("C", "copy.md", PROC, "2021-02-01T00:00:00Z", "2023-01-02T00:00:00Z", "c2", "c10")
    c2 = r.add("C", "copy.md", PROC + " (reviewed)", "2023-01-02T00:00:00Z", None, "c10")
    h = r.history()
    assert not h.v[a].links_out and not h.v[c1].links_in and not h.v[c2].links_in
    assert h.homes(a, {"C"}) == []


def test_text_that_stays_at_home_is_not_moved_by_a_copy_made_at_the_same_time():
    # the original section only got a small edit: a copy made in that commit is a copy
    r = Rows()
    a = r.add("A", "a.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    r.add("A", "a.md", PROC + " now", "2023-01-01T00:00:00Z", None, "c9")
    r.add("B", "b.md", PROC, "2023-01-01T00:00:00Z", None, "c9")
    h = r.history()
    assert h.v[a].links_out == []
    assert h.homes(a, {"A", "B"}) == [("A", "same section")]


def test_split_and_merge_follow_the_text():
    r = Rows()
    both = PROC + ". " + OTHER
    a = r.add("A", "a.md", both, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    b1 = r.add("B1", "b1.md", PROC, "2023-01-01T00:00:00Z", None, "c9")
    b2 = r.add("B2", "b2.md", OTHER, "2023-01-01T00:00:00Z", None, "c9")
    h = r.history()
    assert h.link(a, b1) == "split" and h.link(a, b2) == "split"
    assert sorted(s for s, _ in h.homes(a, {"B1", "B2"})) == ["B1", "B2"]

    r = Rows()
    x = r.add("X", "x.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    y = r.add("Y", "y.md", OTHER, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    m = r.add("M", "m.md", both, "2023-01-01T00:00:00Z", None, "c9")
    h = r.history()
    assert h.link(x, m) == "merge" and h.link(y, m) == "merge"
    assert {x, y} <= h.ancestry("M")


def test_a_reported_rename_links_sections_by_heading_even_when_the_text_changed():
    r = Rows()
    a = r.add("A", "old/a.md", PROC, "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    b = r.add("B", "new/a.md", OTHER, "2023-01-01T00:00:00Z", None, "c9")
    assert r.history().link(a, b) is None
    h = r.history([{"source": "wiki", "old_path": "old/a.md", "new_path": "new/a.md",
                    "at": "2023-01-01T00:00:00Z", "commit": "c9"}])
    assert h.link(a, b) == "rename"
    assert h.earlier_addresses("B") == {"A"}


def test_short_texts_only_link_when_identical():
    r = Rows()
    a = r.add("A", "a.md", "See the dashboard for details now", "2021-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "c1", "c9")
    b = r.add("B", "b.md", "See the dashboard for the details", "2023-01-01T00:00:00Z", None, "c9")
    assert r.history().link(a, b) is None


def test_sources_without_commits_link_within_one_crawl():
    r = Rows()
    a = r.add("A", "a.md", PROC, "2020-01-01T00:00:00Z", "2024-05-01T00:00:00Z")
    b = r.add("B", "b.md", PROC, "2019-06-01T00:00:00Z", None)  # the page's own date, from front matter
    r.rows[a - 1]["closed_at"] = "2024-05-01T00:00:00Z"
    r.rows[b - 1]["seen_at"] = "2024-05-01T00:00:00Z"
    assert r.history().link(a, b) == "same"
