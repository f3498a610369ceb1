"""The retrieval guard as a library: policies, replacements, missing dates, an agent's own chunks, refresh."""

from __future__ import annotations

import json

import pytest
from service_helpers import CANONICAL, SAMPLE_WIKI, STALE_COPY, sample_index

from wikicheck.guard import Guard, GuardConfig

QUERY = "restart pgbouncer with systemctl on db-01"


def _copy_section(heading: str) -> str:
    text = (SAMPLE_WIKI / STALE_COPY).read_text()
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def index(tmp_path_factory, real_embedder):
    return sample_index(tmp_path_factory, real_embedder)


@pytest.fixture
def guard(index, real_embedder):
    g = Guard(index, embedder=real_embedder, config=GuardConfig(record_events=False))
    yield g
    g.close()


def test_block_policy_replaces_the_stale_copy_with_the_current_section(guard):
    annotated = guard.search(QUERY, 10, "annotate")
    assert any(r.section["path"] == STALE_COPY and r.verdict == "block" for r in annotated)
    results = guard.search(QUERY, 5, "block")
    assert all(r.verdict != "block" for r in results)
    rep = [r for r in results if r.replaces]
    assert rep and all(r.section["path"] == CANONICAL for r in rep)
    j = rep[0].to_json()
    assert j["replaced"]["path"] == STALE_COPY and j["replaced"]["section_id"] == j["replaces"]
    assert j["reasons"][0]["kind"] == "replacement" and "superseded" in j["reasons"][0]["message"]
    ids = [r.section["id"] for r in results]
    assert len(ids) == len(set(ids))  # deduplicated


def test_annotate_keeps_raw_order_and_demote_moves_blocked_down(guard):
    annotated = guard.search(QUERY, 10, "annotate")
    scores = [r.score for r in annotated]
    assert scores == sorted(scores, reverse=True)
    demoted = guard.search(QUERY, 10, "demote")
    verdicts = [r.verdict for r in demoted]
    rank = {"ok": 0, "warn": 1, "block": 2}
    assert [rank[v] for v in verdicts] == sorted(rank[v] for v in verdicts)
    pool = {r.section["id"] for r in guard.search(QUERY, 20, "annotate")}
    assert {r.section["id"] for r in demoted} <= pool  # the same candidates, blocked ones pushed out
    assert sum(r.verdict == "block" for r in demoted) < sum(r.verdict == "block" for r in annotated)


def test_provenance_and_owner_on_every_result(guard):
    for r in guard.search("reindex opensearch", 5):
        p = r.to_json()["provenance"]
        assert p["changed_at"] and p["timestamp_source"] in ("front_matter", "html_meta", "mtime")


@pytest.mark.parametrize("policy,expected", [("ok", "ok"), ("warn", "warn"), ("block", "block")])
def test_missing_date_policy_is_explicit(guard, policy, expected):
    guard.config.missing_date = policy
    sec = dict(next(s for s in guard.by_id.values() if s["path"] == CANONICAL))
    sec["changed_at"] = None
    verdict, reasons, _ = guard.judge(sec)
    assert verdict == expected
    assert any(r["kind"] == "missing_date" for r in reasons)


def test_check_chunks_by_id_path_and_text(guard):
    copy_id = next(s["id"] for s in guard.by_id.values() if s["path"] == STALE_COPY and s["heading"] == "Restart")
    out = guard.check_chunks([
        {"section_id": copy_id},
        {"path": STALE_COPY, "heading": "Restart"},
        {"text": _copy_section("Restart"), "id": "agent-chunk-7"},
        {"text": "How to proof sourdough overnight in a cold fridge."},
    ])
    assert [o["verdict"] for o in out[:3]] == ["block", "block", "block"]
    assert all(o["newer"]["path"] == CANONICAL for o in out[:3])
    assert out[2]["chunk"]["id"] == "agent-chunk-7"
    assert out[3]["verdict"] == "ok" and out[3]["match"] == "none"
    with pytest.raises(ValueError):
        guard.check_chunks([{"metadata": {}}])


def test_a_chunk_from_an_old_version_is_named_as_such(tmp_path, real_embedder, git_repo):
    from wikicheck.check import run_checks
    from wikicheck.crawl import crawl
    from wikicheck.store import Store

    old = "# Restart\n\n## Steps\n\nRun `sudo systemctl restart pgbouncer` on db-01.acme.internal, port 6543, then check SHOW POOLS.\n"
    new = "# Restart\n\n## Steps\n\nRun `kubectl -n db rollout restart deploy/pgbouncer`, port 6432, then check SHOW POOLS in the pod.\n"
    repo = git_repo(("2022-09-12T10:00:00", {"restart.md": old}), ("2024-03-02T10:00:00", {"restart.md": new}))
    idx = tmp_path / "idx"
    crawl([str(repo)], idx, embedder=real_embedder)
    with Store.open(idx) as st:
        run_checks(st)
    g = Guard(idx, embedder=real_embedder, config=GuardConfig(record_events=False))
    try:
        old_steps = old.split("## Steps\n\n", 1)[1]
        (res,) = g.check_chunks([{"text": old_steps}])
        assert res["verdict"] == "block" and res["match"] in ("exact", "near")
        msg = res["reasons"][0]["message"]
        assert "2022-09-12 version of restart.md" in msg and "changed on 2024-03-02" in msg
        assert "kubectl" in res["reasons"][0]["evidence"]["diff"]
    finally:
        g.close()


def test_refresh_picks_up_a_new_check_run(index, real_embedder):
    from wikicheck.check import run_checks
    from wikicheck.config import load_config
    from wikicheck.store import Store

    g = Guard(index, embedder=real_embedder, config=GuardConfig(record_events=False))
    try:
        assert g.refresh() is False
        with Store.open(index) as st:
            run_checks(st, load_config(sources_from=index))
        assert g.refresh() is True and g.refresh() is False
    finally:
        g.close()


def test_exposure_is_recorded_unless_opted_out(index, real_embedder):
    from wikicheck.store import Store

    def count() -> int:
        with Store.open(index) as st:
            return st.db.execute("select count(*) from guard_events").fetchone()[0]

    before = count()
    g = Guard(index, embedder=real_embedder, config=GuardConfig(record_events=False))
    g.search(QUERY, 3)
    g.close()
    assert count() == before
    g = Guard(index, embedder=real_embedder)
    results = g.search(QUERY, 3)
    g.close()
    assert count() == before + len(results)
    with Store.open(index) as st:
        verdicts = {r[0] for r in st.db.execute("select verdict from guard_events")}
    assert "replaced" in verdicts
    assert json.dumps(sorted(verdicts))


def test_a_blocked_section_without_replacement_still_counts_as_exposure(index, real_embedder):
    from wikicheck.store import Store

    g = Guard(index, embedder=real_embedder)
    raw = g.search("build the hotfix on jenkins.acme.internal", 5, "annotate")
    blocked = [r.section["id"] for r in raw if r.verdict == "block" and not r.newer]
    assert blocked, "the retired-host page should be among the raw hits, blocked, with nothing newer"
    with Store.open(index) as st:
        before = st.db.execute("select count(*) from guard_events where verdict = 'block' and section_id = ?",
                               [blocked[0]]).fetchone()[0]
    shown = g.search("build the hotfix on jenkins.acme.internal", 5, "block")
    g.close()
    assert blocked[0] not in {r.section["id"] for r in shown}
    with Store.open(index) as st:
        after = st.db.execute("select count(*) from guard_events where verdict = 'block' and section_id = ?",
                              [blocked[0]]).fetchone()[0]
    assert after == before + 1


def _readme_search_example() -> tuple[list[str], list[str]]:
    """(the command's arguments, its output) as the README shows them."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split('$ wikicheck search "how do I restart pgbouncer" -k 3\n', 1)[1].split("```", 1)[0]
    return ["search", "how do I restart pgbouncer", "-k", "3"], block.splitlines()


def test_search_text_shows_one_date_per_result_as_the_readme_does(index, real_embedder, cli, monkeypatch):
    """Issue #12: a replacement repeated the replaced copy's reason, with that copy's date ("this copy
    2022-09-08" under a section changed 2026-06-18). Each result shows its own date once; a page-level
    finding says "(page)". The README's example is this output (the day count aside)."""
    import re

    # the CLI embeds the query with the index's ONNX export (#14): the README's output all the same
    args, shown = _readme_search_example()
    r = cli(*args, "--index", index, "--no-events")
    assert r.exit_code == 0, r.output
    def days(lines: list[str]) -> list[str]:
        return [re.sub(r"\d+ days ago", "N days ago", ln) for ln in lines]

    assert days(r.stdout.splitlines()) == days(shown)
    for block in re.split(r"^(?=\d+\. \[)", r.stdout, flags=re.MULTILINE)[1:]:
        first, *rest = block.splitlines()
        own = re.search(r"\((\d{4}-\d\d-\d\d) ", first).group(1)
        for line in rest:
            assert " (page): " in line or set(re.findall(r"\d{4}-\d\d-\d\d", line)) <= {own}, block
    assert "replaces teams/checkout/pgbouncer-restart.md §Restart (score 0.705, block)" in r.stdout
    assert "this copy" not in r.stdout
