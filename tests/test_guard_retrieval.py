"""Retrieval that returns content (issue 9): sections without text are never served, replacements that
point at a heading resolve to a section with text, an agent's chunk is matched to the current section
first, no section is listed twice, and the shown order follows the shown score or says why not.

Every test runs on a real crawl of a folder into a real SQLite store and faiss index. The logic tests
use the deterministic hashing embedder (256 dimensions: few collisions between words); the last ones
use the real model on the sample wiki.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from rules.helpers import crawl_check, make_wiki, md

from wikicheck.crawl import crawl
from wikicheck.embed import get_embedder
from wikicheck.guard import POLICIES, Guard, GuardConfig, Result
from wikicheck.index import Manifest, VectorIndex
from wikicheck.store import Store

MODEL = "test-hash-256"

STEPS_OLD = "Run sudo systemctl restart pgbouncer on db-01.acme.internal, port 6543, then run SHOW POOLS."
STEPS_NEW = "Run kubectl -n db rollout restart deploy/pgbouncer, port 6432, then run SHOW POOLS in the pod."
CONTACTS = "Page the database team in the db-oncall channel."
REINDEX_OLD = "Run the reindex from the bastion host with curl against port 9200."
RUN_REINDEX = "Start the reindex job with reindexctl start --alias products and wait for a green status."


ROLLBACK = "Scale the previous pooler deployment back to three replicas and repoint the service."


def _ops(steps: str, rollback: str = "Rollback plan") -> str:
    return md("updated: 2026-09-01", (f"# Restart the pooler\n\n## Steps\n\n{steps}\n\n## Contacts\n\n{CONTACTS}\n\n"
                                      f"## {rollback}\n\n{ROLLBACK}\n"))


WIKI = {
    # the replacement page: its title has no text, its content is in the subsections
    "search/opensearch-reindex.md": md("updated: 2026-10-08", (
        f"# OpenSearch reindex\n\n## Run the reindex\n\n{RUN_REINDEX}\n\n"
        "## Verify\n\nCompare the document counts of both indices before the alias swap.\n")),
    # deprecated in favour of it: its sections are blocked, and "newer" is the new page's title
    "search/elasticsearch-reindex.md": md(
        "updated: 2023-01-10; status: deprecated; superseded_by: opensearch-reindex.md",
        f"# Elasticsearch reindex\n\n## Reindex\n\n{REINDEX_OLD}\n\n## Rollback\n\nSwap the alias back to the old index.\n"),
    # a heading whose content is all in its subsections, and a section with the same text as another page's
    "oncall/handbook.md": md("updated: 2026-05-01", (
        "# On-call handbook\n\n## Paging\n\n### Primary\n\nThe primary answers pages within five minutes.\n\n"
        f"### Secondary\n\nThe secondary takes over after fifteen minutes.\n\n## Database escalation\n\n{CONTACTS}\n")),
    # a page that is a title and nothing else, and a deprecated page that points at it
    "placeholder.md": md("updated: 2026-05-01", "# Placeholder page\n"),
    "search/legacy-cluster.md": md(
        "updated: 2023-01-10; status: deprecated; superseded_by: ../placeholder.md",
        "# Legacy cluster\n\n## Drain\n\nDrain the legacy cluster nodes one by one.\n"),
    # changed between two crawls: §Steps has a past version, §Rollback plan is now §Rolling back
    "ops/restart.md": _ops(STEPS_OLD),
}


@pytest.fixture(scope="module")
def wiki_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    wiki = make_wiki(root / "wiki", WIKI)
    index = root / "index"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        crawl([str(wiki)], index, embedder=get_embedder(MODEL))
        with Store.open(index) as st:
            (gone,) = st.sections("path = 'ops/restart.md' and heading = 'Rollback plan'")
        (wiki / "ops/restart.md").write_text(_ops(STEPS_NEW, "Rolling back"), encoding="utf-8")
        res = crawl_check(wiki, index, embedder=get_embedder(MODEL), record=True)
    assert {(f.rule, f.path) for f in res.findings if f.level == "error"} == {
        ("WC205", "search/elasticsearch-reindex.md"), ("WC205", "search/legacy-cluster.md")}
    (index / "gone.json").write_text(json.dumps(gone["id"]))
    return index


@pytest.fixture
def guard(wiki_index):
    g = Guard(wiki_index, embedder=get_embedder(MODEL), config=GuardConfig(record_events=False))
    yield g
    g.close()


def sec(guard: Guard, path: str, heading: str) -> dict:
    (s,) = [s for s in guard.by_id.values() if s["path"] == path and s["heading"] == heading]
    return s


def empty_sections(guard: Guard) -> list[dict]:
    return [s for s in guard.by_id.values() if not s["text"].strip()]


# ----------------------------------------------------------------------------- sections without text


def test_sections_without_text_stay_in_store_and_index(wiki_index, guard):
    empty = {(s["path"], s["heading"]) for s in empty_sections(guard)}
    assert {("oncall/handbook.md", "On-call handbook"), ("oncall/handbook.md", "Paging"),
            ("placeholder.md", "Placeholder page"), ("search/opensearch-reindex.md", "OpenSearch reindex")} <= empty
    # the index is every live section with a vector, as the store says: the manifest matches, and the
    # check's neighbour search (Drift.neighbours) reuses it because ntotal equals the live vectors
    from wikicheck.drift import Drift

    with Store.open(wiki_index) as st:
        keys, _ = st.live_vectors(MODEL)
        vi = VectorIndex.load(st, wiki_index, MODEL, rebuild=False)
        assert Manifest.read(wiki_index).state == st.index_state(MODEL)
        assert vi.index.ntotal == len(keys) == len(Drift(st, MODEL, index=vi).keys)
        assert {s["key"] for s in empty_sections(guard)} <= {int(k) for k in keys}


@pytest.mark.parametrize("policy", POLICIES)
def test_a_query_for_a_heading_never_returns_it_empty(guard, policy):
    for empty in empty_sections(guard):
        query = " ".join(empty["heading_path"])  # the very words it was embedded from
        # without the guard's filter the empty section is the best hit: this test can fail
        vec = guard.embed([query])
        _, keys = guard.index.index.search(vec, 3)
        assert empty["key"] in {int(k) for k in keys[0]}, query
        # the guard's searches leave every section without text out, so none takes a candidate's place
        _, keys = guard.index.search(vec, 8)
        assert not {int(k) for k in keys[0]} & {s["key"] for s in empty_sections(guard)}, query
        results = guard.search(query, 5, policy)
        assert results, query
        assert all(r.section["text"].strip() for r in results), (query, [r.section["heading"] for r in results])
        assert empty["id"] not in {r.section["id"] for r in results}


def test_the_subsections_of_a_heading_are_what_a_query_for_it_finds(guard):
    results = guard.search("On-call handbook Paging", 2, "block")
    assert {(r.section["path"], r.section["heading"]) for r in results} == {
        ("oncall/handbook.md", "Primary"), ("oncall/handbook.md", "Secondary")}


def test_every_output_carries_text(wiki_index, guard, cli):
    """The HTTP API and MCP answer with serve.run_search; the CLI prints the same JSON."""
    from wikicheck.serve import run_search, run_search_batch

    queries = [" ".join(s["heading_path"]) for s in empty_sections(guard)]
    for policy in POLICIES:
        for q in queries:
            for r in run_search(guard, q, 5, policy)["results"]:
                assert r["text"].strip(), (q, policy, r["heading"])
        for run in run_search_batch(guard, queries, 5, policy)["runs"]:
            assert all(r["text"].strip() for r in run["results"]), run["query"]
    out = cli("search", "--queries-file", _queries_file(wiki_index, queries), "--index", wiki_index, "--json",
              "--no-events")
    assert out.exit_code == 0, out.output
    runs = json.loads(out.stdout)["runs"]
    assert len(runs) == len(queries) and all(r["text"].strip() for run in runs for r in run["results"])


def _queries_file(index, queries):
    p = index.parent / "queries.txt"
    p.write_text("\n".join(queries) + "\n", encoding="utf-8")
    return p


def test_langchain_retriever_documents_have_content(guard):
    pytest.importorskip("langchain_core")
    from wikicheck.adapters.langchain import WikicheckRetriever

    for empty in empty_sections(guard):
        docs = WikicheckRetriever(guard=guard, k=5).invoke(" ".join(empty["heading_path"]))
        assert docs and all(d.page_content.strip() for d in docs)


# ----------------------------------------------------------------------------- replacements


def test_a_replacement_that_points_at_a_heading_is_its_best_subsection(guard):
    reindex = sec(guard, "search/elasticsearch-reindex.md", "Reindex")
    title = sec(guard, "search/opensearch-reindex.md", "OpenSearch reindex")
    verdict, _, newer = guard.judge(reindex)
    assert verdict == "block" and newer["section_id"] == title["id"] and not title["text"]  # the case at hand
    results = guard.search(REINDEX_OLD, 5, "block")
    assert all(r.section["path"] != "search/elasticsearch-reindex.md" for r in results)
    (rep,) = [r for r in results if r.replaces == reindex["id"]]
    assert (rep.section["path"], rep.section["heading"]) == ("search/opensearch-reindex.md", "Run the reindex")
    assert rep.section["text"] == RUN_REINDEX
    assert rep.reasons[0]["kind"] == "replacement"
    assert rep.reasons[0]["resolved_from"] == {"section_id": title["id"], "path": title["path"], "heading": title["heading"]}
    # without a query (an agent's own chunks), the first subsection with text
    assert guard.follow_newer(newer).section["heading"] == "Run the reindex"


def test_a_replacement_without_any_text_is_not_used(guard):
    drain = sec(guard, "search/legacy-cluster.md", "Drain")
    verdict, _, newer = guard.judge(drain)
    assert verdict == "block" and newer["path"] == "placeholder.md"
    assert guard.follow_newer(newer) is None
    for policy in ("block", "demote", "annotate"):
        results = guard.search("Drain the legacy cluster nodes one by one", 10, policy)
        assert all(r.section["text"].strip() for r in results)
        assert all(r.section["path"] != "placeholder.md" for r in results)
        assert (drain["id"] in {r.section["id"] for r in results}) == (policy != "block")


def test_adapters_replace_with_content_and_hand_over_a_section_once(guard):
    from wikicheck.adapters._chunks import decide

    run_reindex = sec(guard, "search/opensearch-reindex.md", "Run the reindex")
    chunks = [{"text": REINDEX_OLD}, {"text": RUN_REINDEX}, {"section_id": run_reindex["id"]},
              {"text": "## Steps\n\n" + STEPS_NEW}]
    out = decide(guard, chunks, "block")
    assert [a for a, _, _ in out] == ["replace", "drop", "drop", "keep"]
    assert out[0][2]["id"] == run_reindex["id"] and out[0][2]["text"] == RUN_REINDEX
    assert out[2][1]["duplicate_of"] == 1
    assert [a for a, _, _ in decide(guard, chunks, "annotate")] == ["keep", "keep", "drop", "keep"]


def test_framework_adapters_never_return_a_section_twice(guard):
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode

    from wikicheck.adapters.langchain import WikicheckCompressor
    from wikicheck.adapters.llamaindex import WikicheckNodePostprocessor

    texts = [REINDEX_OLD, RUN_REINDEX, "## Run the reindex\n\n" + RUN_REINDEX]
    docs = WikicheckCompressor(guard=guard).compress_documents([Document(page_content=t) for t in texts], "reindex")
    assert [d.page_content for d in docs] == [RUN_REINDEX]
    assert docs[0].metadata["wikicheck_replaces"] == sec(guard, "search/elasticsearch-reindex.md", "Reindex")["id"]
    nodes = WikicheckNodePostprocessor(guard=guard).postprocess_nodes(
        [NodeWithScore(node=TextNode(text=t), score=0.9 - i / 10) for i, t in enumerate(texts)])
    assert [n.node.get_content() for n in nodes] == [RUN_REINDEX] and nodes[0].score == pytest.approx(0.9)
    # path and heading metadata with the text: the current section first
    steps = sec(guard, "ops/restart.md", "Steps")
    docs = WikicheckCompressor(guard=guard).compress_documents(
        [Document(page_content=STEPS_OLD, metadata={"path": "ops/restart.md", "heading": "Steps"})], "restart")
    assert [(d.page_content, d.metadata["wikicheck_replaces"]) for d in docs] == [(STEPS_NEW, steps["id"])]


# ----------------------------------------------------------------------------- agents' chunks: current first


def test_a_chunk_that_starts_with_its_heading_is_the_current_section(guard):
    steps = sec(guard, "ops/restart.md", "Steps")
    for chunk, match in [
        ({"text": "## Steps\n\n" + STEPS_NEW}, "exact"),
        ({"text": "# Restart the pooler\n\n## Steps\n\n" + STEPS_NEW}, "exact"),
        ({"text": "## Steps\n" + STEPS_NEW.replace("in the pod", "inside the pod")}, "near"),
        ({"path": "ops/restart.md", "text": "## Steps\n\n" + STEPS_NEW}, "path"),
        ({"text": "### Steps\n\n" + STEPS_NEW, "metadata": {"path": "ops/restart.md"}}, "path"),
        ({"section_id": steps["id"], "text": STEPS_NEW}, "section_id"),
    ]:
        (res,) = guard.check_chunks([chunk])
        assert (res["match"], res["section_id"], res["verdict"], res["whole_section"]) == (
            match, steps["id"], "ok", True), (chunk, res)


def test_the_heading_a_chunk_starts_with_picks_among_equal_texts(guard):
    # the same text under two headings on two pages: the chunk's heading decides
    for heading, path in [("Contacts", "ops/restart.md"), ("Database escalation", "oncall/handbook.md")]:
        (res,) = guard.check_chunks([{"text": f"## {heading}\n\n{CONTACTS}"}])
        assert (res["match"], res["path"], res["heading"]) == ("exact", path, heading)


def test_an_old_version_is_named_only_when_it_is_not_the_current_text(guard):
    steps = sec(guard, "ops/restart.md", "Steps")
    for chunk, match in [
        ({"text": STEPS_OLD}, "exact"),
        ({"text": "## Steps\n\n" + STEPS_OLD}, "exact"),
        ({"text": STEPS_OLD.replace("then run", "and then run")}, "near"),
        # metadata names the current section, but the text is its earlier version
        ({"path": "ops/restart.md", "heading": "Steps", "text": STEPS_OLD}, "path"),
        ({"section_id": steps["id"], "text": STEPS_OLD}, "section_id"),
    ]:
        (res,) = guard.check_chunks([chunk])
        assert (res["match"], res["verdict"], res["section_id"], res["whole_section"]) == (
            match, "block", steps["id"], False), (chunk, res)
        assert res["reasons"][0]["name"] == "old-version" and res["newer"]["section_id"] == steps["id"]
        assert "changed on" in res["reasons"][0]["message"]
    # a part of the current section, named by its path and heading: the section's own verdict
    (res,) = guard.check_chunks([{"path": "ops/restart.md", "heading": "Steps", "text": "Run kubectl"}])
    assert (res["match"], res["verdict"], res["whole_section"]) == ("path", "ok", False)


def test_a_gone_section_id_whose_text_lives_on_is_current(wiki_index, guard):
    gone = json.loads((wiki_index / "gone.json").read_text())
    assert gone not in guard.by_id
    (res,) = guard.check_chunks([{"section_id": gone, "text": ROLLBACK}])
    assert (res["match"], res["path"], res["verdict"], res["whole_section"]) == ("exact", "ops/restart.md", "ok", True)
    assert guard.by_id[res["section_id"]]["text"] == ROLLBACK
    # a reworded copy of the text: near the section that holds it now and just as near the gone one's last
    # version; the current section comes first
    (res,) = guard.check_chunks([{"text": ROLLBACK.replace("three", "3")}])
    assert (res["match"], res["path"], res["heading"], res["verdict"]) == ("near", "ops/restart.md", "Rolling back", "ok")
    # the id alone: its last version, which is no more
    (res,) = guard.check_chunks([{"section_id": gone}])
    assert res["match"] == "section_id" and res["verdict"] == "block"


def test_chunks_holding_the_same_section_say_so(guard):
    steps = sec(guard, "ops/restart.md", "Steps")
    out = guard.check_chunks([
        {"text": STEPS_NEW}, {"section_id": steps["id"]}, {"path": "ops/restart.md", "heading": "Steps"},
        {"section_id": steps["id"], "text": "Run kubectl"}, {"text": STEPS_OLD}, {"text": CONTACTS},
    ])
    assert [o.get("duplicate_of") for o in out] == [None, 0, 0, None, None, None]
    assert [o["section_id"] for o in out[:5]] == [steps["id"]] * 5


# ----------------------------------------------------------------------------- order


def _queries(guard: Guard) -> list[str]:
    qs = [s["text"] for s in guard.by_id.values() if s["text"].strip()]
    qs += [" ".join(s["heading_path"]) for s in guard.by_id.values()]
    return qs + ["Drain the legacy cluster nodes", "Elasticsearch reindex Rollback", REINDEX_OLD]


def assert_order_explained(results: list[Result], policy: str, what: object = None) -> None:
    """The shown order follows the shown score, except where a result says why."""
    ids = [r.section["id"] for r in results]
    assert len(ids) == len(set(ids)), what  # no section twice
    assert all(r.section["text"].strip() for r in results), what
    for a, b in itertools.pairwise(results):
        if a.score < b.score - 1e-6:
            assert a.out_of_order or b.out_of_order, (what, policy, [(r.section["heading"], r.score) for r in results])
    for r in results:
        if r.out_of_order:
            assert (r.replaces is not None) if policy == "block" else r.demoted, (what, r.out_of_order)
    if policy == "annotate":
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        assert not any(r.out_of_order or r.demoted or r.replaces for r in results)
    if policy == "block":
        # a replacement keeps the rank of the result it replaces: ranked by that one's score
        ranked_by = [r.replaced["score"] if r.replaces else round(r.score, 4) for r in results]
        assert ranked_by == sorted(ranked_by, reverse=True), (what, ranked_by)
    if policy == "demote":
        tiers = [{"ok": 0, "warn": 1, "block": 2}[r.verdict] for r in results]
        assert tiers == sorted(tiers), what
        for i, r in enumerate(results):
            assert r.demoted == (r.verdict != "ok" and any(x.score < r.score - 1e-6 for x in results[:i])), what


@pytest.mark.parametrize("policy", POLICIES)
def test_shown_order_follows_the_score_or_says_why(guard, policy):
    explained = 0
    for k in (3, 20):  # 20: every section, so the demoted ones are in the list
        queries = _queries(guard)
        for q, results in zip(queries, guard.search_many(queries, k, policy)):
            assert_order_explained(results, policy, q)
            explained += sum(bool(r.out_of_order) for r in results)
    if policy != "annotate":
        assert explained, "no query put a result out of score order: the test would not see a regression"


def _out_of_order_query(guard: Guard, k: int, policy: str) -> str:
    """A query whose guarded results are not all in score order (the library says which)."""
    queries = _queries(guard)
    for q, results in zip(queries, guard.search_many(queries, k, policy)):
        if any(r.out_of_order for r in results):
            return q
    raise AssertionError(f"no query puts a result out of score order with policy {policy}")


def test_cli_text_says_when_a_result_is_out_of_score_order(wiki_index, guard, cli):
    cases = [((_out_of_order_query(guard, 5, "block"), "-k", "5"), "takes the rank of the result it replaces"),
             ((_out_of_order_query(guard, 20, "demote"), "-k", "20", "--policy", "demote"),
              "demoted (block) below the ok and warn results")]
    for args, note in cases:
        out = cli("search", *args, "--index", wiki_index, "--no-events")
        assert out.exit_code == 0, out.output
        blocks = re.split(r"^(?=\d+\. )", out.stdout, flags=re.MULTILINE)[1:]
        scores = [float(re.search(r"  score (-?[\d.]+)  ", b).group(1)) for b in blocks]
        said = ["out of score order: " in b for b in blocks]
        assert any(note in b for b in blocks), out.stdout
        for i in range(len(blocks) - 1):
            if scores[i] < scores[i + 1]:
                assert said[i] or said[i + 1], out.stdout
        js = json.loads(cli("search", *args, "--index", wiki_index, "--no-events", "--json").stdout)
        assert [bool(r["out_of_order"]) for r in js["results"]] == said
        for b in blocks:
            if "replaces " in b:
                assert re.search(r"^   replaces \S+ §.+ \(score [\d.]+, (block|warn)\)$", b, re.MULTILINE), b


# ----------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def sample_guard(tmp_path_factory, real_embedder):
    from service_helpers import sample_guard as open_sample_guard

    g = open_sample_guard(tmp_path_factory, real_embedder)
    yield g
    g.close()


def test_real_model_title_and_heading_queries(sample_guard):
    """The issue's check: a page's title plus one of its section headings, for every page; the guarded top 5
    never holds an empty section, a section twice, or an unexplained break in the score order."""
    g = sample_guard
    titles = {}
    for s in g.by_id.values():
        if s["heading_path"]:
            titles.setdefault(s["document_id"], s["heading_path"][0])
    queries = sorted({f"{titles[s['document_id']]} {s['heading']}" for s in g.by_id.values()
                      if s["document_id"] in titles and s["level"] > 1})
    assert len(queries) > 100
    empty = {s["key"] for s in g.by_id.values() if not s["text"].strip()}
    _, raw = g.index.index.search(g.embed(queries), 5)
    assert sum(bool(empty & {int(k) for k in row}) for row in raw) > len(queries) // 4  # what the guard filters
    for policy in POLICIES:
        for q, results in zip(queries, g.search_many(queries, 5, policy)):
            assert len(results) == 5, q
            assert_order_explained(results, policy, q)


def test_real_model_restart_pgbouncer(sample_guard):
    from service_helpers import CANONICAL, STALE_COPY

    results = sample_guard.search("how do I restart pgbouncer", 3)
    assert not [r for r in results if not r.section["text"].strip()]
    first = results[0]
    assert (first.section["path"], first.section["heading"]) == (CANONICAL, "Restart")
    assert (first.replaced["path"], first.replaced["heading"]) == (STALE_COPY, "Restart")
    # an agent's chunk as markdown, heading first: the canonical section, exactly
    (res,) = sample_guard.check_chunks([{"text": "## Restart\n\n" + first.section["text"]}])
    assert (res["match"], res["path"], res["verdict"]) == ("exact", CANONICAL, "ok")


SHARED_STEP = ("Before any maintenance on a shared database, announce it in the db-oncall channel, create a "
               "change record with the expected impact, silence the replication lag alert for the window and make "
               "sure the on-call engineer of every consuming team acknowledged the announcement.")


def test_a_step_two_runbooks_share_is_not_handed_over_to_the_other_runbook(tmp_path):
    """The same paragraph on two different runbooks is a duplicate (info) for the owners, but the guard
    keeps each runbook's own section: an agent asking about the reindex must not be sent to the vacuum."""
    wiki = make_wiki(tmp_path / "wiki", {
        "db/vacuum.md": md("updated: 2025-01-10", f"# Vacuum the orders database\n\n## Before you start\n\n{SHARED_STEP}\n"),
        "db/reindex.md": md("updated: 2025-09-10", f"# Reindex the ledger tables\n\n## Before you start\n\n{SHARED_STEP}\n"),
    })
    index = tmp_path / "index"
    res = crawl_check(wiki, index, embedder=get_embedder(MODEL), record=True)
    (dup,) = [f for f in res.findings if f.rule == "WC204"]
    assert (dup.path, dup.level, dup.evidence["same_runbook"]) == ("db/reindex.md", "info", False)
    guard = Guard(index, embedder=get_embedder(MODEL), config=GuardConfig(record_events=False))
    try:
        got = [(r.section["path"], r.replaces) for r in guard.search("Reindex the ledger tables: Before you start", k=2)]
    finally:
        guard.close()
    assert ("db/reindex.md", None) in got, got


def test_a_guard_with_another_model_is_a_model_mismatch(wiki_index):
    """One model check (#13): the guard raises the ModelMismatch that crawl raises, with the fix."""
    from wikicheck.errors import ModelMismatch

    with pytest.raises(ModelMismatch, match=f'was embedded with "{MODEL}", not "test-hash-32"; use --model'):
        Guard(wiki_index, embedder=get_embedder("test-hash-32"), config=GuardConfig(record_events=False))


ESCALATE_OLD = "Page the platform on-call through the PagerDuty service and post the pool check in the db-oncall channel."
ESCALATE_NEW = ESCALATE_OLD.replace("through", "via")  # a reword, under the 15% of words a rewrite changes


def test_an_older_copys_reworded_section_gives_place_without_history(tmp_path):
    """Two copies of one runbook in a folder (no history): the commands of §Steps settle that the team
    page is the older copy. Its §Escalation says the same thing in older words: a duplicate for the
    owners (info, never a stale flag), and the guard hands the agent the platform page's wording."""
    wiki = make_wiki(tmp_path / "wiki", {
        "platform/pooler.md": md("updated: 2026-06-18", f"# Restart the pooler\n\n## Steps\n\n{STEPS_NEW}\n\n"
                                                        f"## Escalation\n\n{ESCALATE_NEW}\n"),
        "teams/checkout/pooler.md": md("updated: 2022-09-08", f"# Restart the pooler\n\n## Steps\n\n{STEPS_OLD}\n\n"
                                                              f"## Escalation\n\n{ESCALATE_OLD}\n"),
    })
    index = tmp_path / "index"
    res = crawl_check(wiki, index, embedder=get_embedder(MODEL), record=True)
    esc = [f for f in res.findings if f.heading == "Escalation"]
    assert [(f.path, f.kind, f.level, f.newer["path"]) for f in esc] == [
        ("teams/checkout/pooler.md", "duplicate", "info", "platform/pooler.md")], esc
    assert esc[0].message.startswith("older wording of platform/pooler.md §Escalation")
    guard = Guard(index, embedder=get_embedder(MODEL), config=GuardConfig(record_events=False))
    try:
        got = [(r.section["path"], r.section["heading"]) for r in guard.search(ESCALATE_OLD, k=2)]
    finally:
        guard.close()
    assert got[0] == ("platform/pooler.md", "Escalation") and ("teams/checkout/pooler.md", "Escalation") not in got, got
