"""The ONNX query engine (issue #14): exported at crawl time, verified, used by every reader, and
never a reason for a wrong vector or a crash when it is missing or damaged.

Real model, real crawls of a tmp copy of sample_wiki. The export itself (~20 s) is made once per
session and copied into each index (conftest._onnx_cache)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from service_helpers import copy_index, pristine_sample

from wikicheck.crawl import crawl
from wikicheck.embed import _resolve_model_path
from wikicheck.guard import Guard, GuardConfig
from wikicheck.onnx_engine import (
    EXPORT_MANIFEST,
    MIN_COSINE,
    ONNX_NAME,
    TOKENIZER_NAME,
    VERIFY_MAX,
    OnnxEmbedder,
    check_export,
    engine_for,
    query_embedder,
    read_pipeline,
    verification_sample,
)
from wikicheck.store import Store

SAMPLE_WIKI = Path(__file__).parent.parent / "sample_wiki"
HEAVY = ("torch", "transformers", "sentence_transformers")
QUERIES = [
    "restart pgbouncer", "stripe webhook failures", "how do I rotate the database credentials",
    "refund processing escalation", "ledger reconciliation mitigation", "kafka consumer lag",
    "who is on call for payments", "disk full on the primary", "deploy rollback", "certificate expiry",
]


def _crawl(wiki: Path, index: Path, embedder: Any):  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(wiki.parent)
        return crawl([str(wiki)], index, embedder=embedder)


@pytest.fixture(scope="module")
def built(tmp_path_factory, real_embedder) -> dict[str, Any]:
    """The sample wiki crawled with the real model (service_helpers.pristine_sample: the session's one such
    crawl, summary included), in a copy of the index for this module."""
    wiki, pristine, summary = pristine_sample(tmp_path_factory, real_embedder)
    root = tmp_path_factory.mktemp("onnx")
    index = copy_index(pristine, root / "index")
    return {"root": root, "wiki": wiki, "index": index, "summary": summary}


@pytest.fixture
def quick_verify(monkeypatch) -> None:
    """Tests of when a crawl exports again verify a sample of 16 sections, not 64 (~1 s of ONNX Runtime
    each); test_crawl_writes_a_verified_export checks the default verification."""
    monkeypatch.setattr("wikicheck.onnx_engine.ensure.VERIFY_MAX", 16)


@pytest.fixture
def index_copy(built, tmp_path) -> Path:
    """A copy of the built index, to damage."""
    dest = tmp_path / "index"
    shutil.copytree(built["index"], dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def _live(index: Path) -> list[tuple[str, str]]:
    with Store.open(index) as store:
        return store.live_texts()


def test_crawl_writes_a_verified_export(built):
    index, s = built["index"], built["summary"]
    assert (index / ONNX_NAME).is_file() and (index / TOKENIZER_NAME).is_file()
    m = json.loads((index / EXPORT_MANIFEST).read_text())
    assert m["usable"] and m["model_id"] == "all-MiniLM-L6-v2"
    assert m["pipeline"] == {"dim": 384, "max_seq_length": 256, "normalize_module": True, "pad_id": 0,
                             "pad_token": "[PAD]", "pooling": "mean"}
    live = _live(index)
    n = len(live)
    assert n > VERIFY_MAX  # the sample wiki has more distinct texts than the vectors are compared on
    # the vectors of a sample, the token ids of every distinct text (fewer than TOKENS_VERIFY_MAX)
    assert m["verified"] == {**m["verified"], "sections": VERIFY_MAX, "of": n, "sample": True,
                             "tokens_checked": n, "tokens_differ": 0}
    assert m["verified"]["min_cosine"] >= MIN_COSINE
    assert s.engine["export"]["status"] == "exported" and s.engine["query"] == "onnx" and s.engine["crawl"] == "onnx"
    # the sample's sentence-transformers vectors are the crawl's own; ONNX Runtime embedded the rest
    assert s.sections_embedded == n
    longest = max(live, key=lambda ht: len(ht[1]))
    assert longest in verification_sample(live)  # the full sequence length is among the texts compared
    assert check_export(index, "all-MiniLM-L6-v2").ok


def test_onnx_vectors_match_the_index_and_torch_on_every_section(built, real_embedder):
    index = built["index"]
    texts = _live(index)
    emb, info = query_embedder(index, "all-MiniLM-L6-v2")
    assert isinstance(emb, OnnxEmbedder) and info.engine == "onnx"
    got = emb.embed([t for _, t in texts])
    with Store.open(index) as store:
        stored = store.vectors_for_hashes("all-MiniLM-L6-v2", [h for h, _ in texts])
    ref = np.stack([stored[h] for h, _ in texts])
    # the index holds sentence-transformers' vectors of the verification sample and ONNX Runtime's of the
    # rest (the crawl embeds with the verified export): the query path gives the same vectors
    assert float((got * ref).sum(1).min()) >= MIN_COSINE
    # and every section outside the crawl's sample straight from torch, in this process
    sampled = set(verification_sample(texts))
    rest = [i for i, ht in enumerate(texts) if ht not in sampled]
    assert rest
    torch_vecs = real_embedder.embed([texts[i][1] for i in rest])
    assert float((got[rest] * torch_vecs).sum(1).min()) >= MIN_COSINE
    # one text at a time (the guard's path) gives the same vectors as a batch
    for i in (0, len(texts) // 2, len(texts) - 1):
        assert float(emb.embed([texts[i][1]])[0] @ got[i]) >= 0.99999
    # the same token ids as the sentence-transformers tokenizer: special tokens, truncation at 256
    model = real_embedder._load()
    long_text = "word " * 2000
    sample = [t for _, t in texts] + [long_text, "", "   ", "Über café — 日本語 🚀"]
    enc = model.preprocess([real_embedder._head(t) for t in sample])
    want = [[i for i, m in zip(r, mk) if m] for r, mk in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
    assert emb.token_ids(sample) == want
    assert len(emb.token_ids([long_text])[0]) == 256


def _ids(runs: list[list[Any]]) -> list[list[str]]:
    return [[r.section["id"] for r in rs] for rs in runs]


def test_search_results_are_those_of_the_torch_path(built, real_embedder):
    index = built["index"]
    cfg = GuardConfig(record_events=False)
    onnx_guard = Guard(index, config=cfg)
    torch_guard = Guard(index, embedder=real_embedder, config=cfg)
    try:
        assert onnx_guard.engine.engine == "onnx"
        assert isinstance(onnx_guard.embedder, OnnxEmbedder)
        for policy in ("annotate", "block"):
            a = onnx_guard.search_many(QUERIES, 10, policy)
            b = torch_guard.search_many(QUERIES, 10, policy)
            assert _ids(a) == _ids(b)
            for ra, rb in zip(a, b):
                assert [round(r.score, 3) for r in ra] == [round(r.score, 3) for r in rb]
    finally:
        onnx_guard.close()
        torch_guard.close()


_WRAPPER = textwrap.dedent("""
    import atexit, json, os, sys
    def _report():
        with open(os.environ["MODULES_OUT"], "w") as f:
            json.dump(sorted(m for m in sys.modules if m.split(".")[0] in
                             ("torch", "transformers", "sentence_transformers", "onnxruntime", "tokenizers")), f)
    atexit.register(_report)
    sys.argv = ["wikicheck", *sys.argv[1:]]
    from wikicheck.cli import main
    main()
""")


def _run_cli(tmp_path: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    wrapper = tmp_path / "wrap.py"
    wrapper.write_text(_WRAPPER)
    out = tmp_path / "modules.json"
    e = {**os.environ, "MODULES_OUT": str(out), "WIKICHECK_NO_EVENTS": "1", **(env or {})}
    p = subprocess.run([sys.executable, str(wrapper), *args], input=stdin, capture_output=True, text=True,
                       env=e, cwd=tmp_path, timeout=300)
    return p, set(json.loads(out.read_text()))


def _heavy(mods: set[str]) -> set[str]:
    return {m for m in mods if m.split(".")[0] in HEAVY}


def test_the_query_path_never_imports_torch(built, tmp_path):
    index = str(built["index"])
    p, mods = _run_cli(tmp_path, "search", "restart pgbouncer", "--index", index, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["results"]
    assert not _heavy(mods) and "onnxruntime" in mods
    chunks = json.dumps([{"text": "Restart PgBouncer with systemctl restart pgbouncer", "metadata": {}}])
    p, mods = _run_cli(tmp_path, "filter", "--index", index, stdin=chunks)
    assert p.returncode == 0, p.stderr
    assert not _heavy(mods) and "onnxruntime" in mods
    p, mods = _run_cli(tmp_path, "status", "--index", index)
    assert p.returncode == 0, p.stderr
    assert "queries    embedded with onnx (embed.onnx, verified on a deterministic sample of 64 of" in p.stdout
    assert not _heavy(mods)
    # forced to sentence-transformers, the same search imports torch (the check above can see it)
    p, mods = _run_cli(tmp_path, "search", "restart pgbouncer", "--index", index, "--json",
                       env={"WIKICHECK_ENGINE": "sentence-transformers"})
    assert p.returncode == 0, p.stderr
    assert "torch" in mods and "onnxruntime" not in mods


def test_mcp_over_stdio_never_imports_torch(built, tmp_path):
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    wrapper = tmp_path / "wrap.py"
    wrapper.write_text(_WRAPPER)
    out = tmp_path / "modules.json"
    env = {"TOKENIZERS_PARALLELISM": "false", "MODULES_OUT": str(out), "WIKICHECK_NO_EVENTS": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    params = StdioServerParameters(command=sys.executable, args=[str(wrapper), "mcp", "--index", str(built["index"])],
                                   cwd=str(tmp_path), env=env)

    async def run() -> Any:
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("search_runbooks", {"query": "restart pgbouncer", "k": 3})

    res = anyio.run(run)
    assert res.is_error is False and res.structured_content["results"]
    mods = set(json.loads(out.read_text()))
    assert not _heavy(mods) and "onnxruntime" in mods


def _torch_ids(index: Path, real_embedder: Any) -> list[list[str]]:
    g = Guard(index, embedder=real_embedder, config=GuardConfig(record_events=False))
    try:
        return _ids(g.search_many(QUERIES[:3], 5, "annotate"))
    finally:
        g.close()


@pytest.mark.parametrize("damage, why", [
    ("truncate", "truncated: embed.onnx is 1000 of"),
    ("flip", "checksum mismatch: embed.onnx changed after it was exported"),
    ("tokenizer", "truncated: embed-tokenizer.json"),
    ("manifest", "embed-onnx.json is not a valid manifest"),
    ("garbage", "ONNX Runtime cannot load it"),
])
def test_a_damaged_export_falls_back_to_torch_with_a_message(index_copy, real_embedder, cli, damage, why):
    onnx = index_copy / ONNX_NAME
    if damage == "truncate":
        with open(onnx, "r+b") as f:
            f.truncate(1000)
    elif damage == "flip":
        data = bytearray(onnx.read_bytes())
        data[len(data) // 2] ^= 0xFF
        onnx.write_bytes(bytes(data))
    elif damage == "tokenizer":
        with open(index_copy / TOKENIZER_NAME, "r+b") as f:
            f.truncate(10)
    elif damage == "manifest":
        (index_copy / EXPORT_MANIFEST).write_text("{not json")
    else:  # bytes ONNX Runtime cannot read, with a manifest that vouches for them
        import hashlib

        junk = b"\x08\x07junk" * 100
        onnx.write_bytes(junk)
        m = json.loads((index_copy / EXPORT_MANIFEST).read_text())
        m["onnx"].update(bytes=len(junk), sha256=hashlib.sha256(junk).hexdigest())
        (index_copy / EXPORT_MANIFEST).write_text(json.dumps(m))
    info, _ = engine_for(index_copy, "all-MiniLM-L6-v2")
    if damage != "garbage":
        assert info.engine == "sentence-transformers" and why in info.reason
    emb, info = query_embedder(index_copy, "all-MiniLM-L6-v2")
    assert not isinstance(emb, OnnxEmbedder) and info.engine == "sentence-transformers"
    assert why in info.reason and info.warning and "sentence-transformers" in info.warning
    r = cli("search", "restart pgbouncer", "--index", index_copy, "--json", "-k", "5", "--no-events")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.stderr and why in r.stderr
    got = [x["section_id"] for x in json.loads(r.stdout)["results"]]
    g = Guard(index_copy, embedder=real_embedder, config=GuardConfig(record_events=False))
    try:
        assert got == [x.section["id"] for x in g.search("restart pgbouncer", 5, "block")]
    finally:
        g.close()
    st = cli("status", "--index", index_copy)
    assert st.exit_code == 0
    if damage != "garbage":  # status checks the files, it does not start ONNX Runtime (a forged manifest passes)
        assert "queries    embedded with sentence-transformers (ONNX export " in st.stdout


def test_the_next_crawl_exports_a_damaged_export_again(built, index_copy, real_embedder, quick_verify):
    with open(index_copy / ONNX_NAME, "r+b") as f:
        f.truncate(1000)
    s = _crawl(built["wiki"], index_copy, real_embedder)
    assert s.engine["export"]["status"] == "exported" and s.sections_embedded == 0
    assert check_export(index_copy, "all-MiniLM-L6-v2").ok
    assert not list(index_copy.glob(".*.tmp"))  # no temporary file left behind


def test_an_index_without_export_uses_torch_and_the_next_crawl_exports(built, index_copy, real_embedder, quick_verify, cli):
    for name in (ONNX_NAME, TOKENIZER_NAME, EXPORT_MANIFEST):
        (index_copy / name).unlink()
    st = cli("status", "--index", index_copy, "--json")
    assert json.loads(st.stdout)["query_engine"] == {
        "engine": "sentence-transformers", "reason": "ONNX export missing (no ONNX export); the next crawl exports it"}
    g = Guard(index_copy, config=GuardConfig(record_events=False))
    try:
        assert g.engine.engine == "sentence-transformers" and g.engine.warning is None
        assert _ids(g.search_many(QUERIES[:3], 5, "annotate")) == _torch_ids(built["index"], real_embedder)
    finally:
        g.close()
    s = _crawl(built["wiki"], index_copy, real_embedder)
    assert s.engine["export"]["status"] == "exported" and s.sections_embedded == 0


def test_a_recrawl_with_nothing_changed_embeds_and_exports_nothing(built, index_copy, real_embedder):
    before = {n: (index_copy / n).stat() for n in (ONNX_NAME, TOKENIZER_NAME, EXPORT_MANIFEST)}
    s = _crawl(built["wiki"], index_copy, real_embedder)
    assert s.sections_embedded == 0 and s.engine["export"]["status"] == "kept"
    for n, st in before.items():
        now = (index_copy / n).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), n


def test_a_model_change_exports_again(built, index_copy, real_embedder, quick_verify):
    """Another model's export (or this model's files changed) is out of date: not used, re-exported."""
    m = json.loads((index_copy / EXPORT_MANIFEST).read_text())
    (index_copy / EXPORT_MANIFEST).write_text(json.dumps({**m, "model_id": "another-model"}))
    info, _ = engine_for(index_copy, "all-MiniLM-L6-v2")
    assert info.engine == "sentence-transformers" and "exported from model \"another-model\"" in info.reason
    s = _crawl(built["wiki"], index_copy, real_embedder)
    assert s.engine["export"]["status"] == "exported"
    (index_copy / EXPORT_MANIFEST).write_text(json.dumps({**m, "source_fingerprint": "0" * 64}))
    s = _crawl(built["wiki"], index_copy, real_embedder)
    assert s.engine["export"]["status"] == "exported" and s.sections_embedded == 0


def test_the_crawl_embeds_with_onnx_when_the_export_is_usable(built, tmp_path, real_embedder):
    """A page added to an index with a usable export is embedded by ONNX Runtime, and its vector is
    the one sentence-transformers gives."""
    wiki = built["wiki"]  # the index's source root; the page is removed again below
    index = tmp_path / "index"
    shutil.copytree(built["index"], index, ignore=shutil.ignore_patterns(".lock"))
    text = "# New runbook\n\n## Drain a node\n\nCordon the node, then drain it with kubectl drain --ignore-daemonsets.\n"
    page = wiki / "platform" / "drain.md"
    page.write_text(text)
    try:
        s = _crawl(wiki, index, real_embedder)
    finally:
        page.unlink()
    assert s.engine["crawl"] == "onnx" and s.sections_embedded >= 1
    with Store.open(index) as store:
        rows = [(h, t) for h, t in store.live_texts() if "kubectl drain" in t]
        vecs = store.vectors_for_hashes("all-MiniLM-L6-v2", [h for h, _ in rows])
    ref = real_embedder.embed([t for _, t in rows])
    assert rows and float(min(vecs[h] @ ref[i] for i, (h, _) in enumerate(rows))) >= MIN_COSINE


def test_forced_torch_engine(built, monkeypatch):
    monkeypatch.setenv("WIKICHECK_ENGINE", "sentence-transformers")
    info, _ = engine_for(built["index"], "all-MiniLM-L6-v2")
    assert info.engine == "sentence-transformers" and "WIKICHECK_ENGINE" in info.reason


# ------------------------------------------------------------------ pipelines the engine reproduces


@pytest.fixture
def model_copy(tmp_path) -> Path:
    src = Path(_resolve_model_path("all-MiniLM-L6-v2"))
    dest = tmp_path / "model"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx"))
    return dest


def _edit(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_read_pipeline_of_the_default_model():
    p, why = read_pipeline(_resolve_model_path("all-MiniLM-L6-v2"))
    assert why == "" and p is not None
    assert (p.max_seq_length, p.dim, p.normalize_module, p.pooling) == (256, 384, True, "mean")


@pytest.mark.parametrize("change, why", [
    (lambda m: _edit(m / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False, pooling_mode_cls_token=True),
     "mean pooling only"),
    (lambda m: _edit(m / "1_Pooling" / "config.json", pooling_mode_max_tokens=True), "pooling_mode_max_tokens"),
    (lambda m: (m / "modules.json").write_text(json.dumps(json.loads((m / "modules.json").read_text())
                                                          + [{"idx": 3, "name": "3", "path": "3_Dense",
                                                              "type": "sentence_transformers.models.Dense"}])),
     "Transformer -> Pooling -> Normalize -> Dense"),
    (lambda m: _edit(m / "sentence_bert_config.json", do_lower_case=True), "do_lower_case"),
    (lambda m: (m / "sentence_bert_config.json").unlink(), "max_seq_length unknown"),
    (lambda m: (m / "tokenizer.json").unlink(), "no tokenizer.json"),
    (lambda m: _edit(m / "config_sentence_transformers.json", prompts={"query": "query: "}, default_prompt_name="query"),
     "default prompt"),
])
def test_pipelines_it_does_not_reproduce_are_refused(model_copy, change, why):
    change(model_copy)
    p, reason = read_pipeline(model_copy)
    assert p is None and why in reason


def test_without_normalize_module_it_still_normalises(model_copy):
    mods = json.loads((model_copy / "modules.json").read_text())[:2]
    (model_copy / "modules.json").write_text(json.dumps(mods))
    p, why = read_pipeline(model_copy)
    assert p is not None and not p.normalize_module  # encode(normalize_embeddings=True) normalises anyway


def test_verification_sample_is_deterministic_and_covers_the_lengths():
    texts = [(f"{i:04d}", "w " * ((i * 37) % 500)) for i in range(1000)]
    a, b = verification_sample(texts, 100), verification_sample(list(texts), 100)
    assert a == b and len(a) == 100 and a == sorted(a)  # the input's order
    longest = sorted(texts, key=lambda ht: -len(ht[1]))[:25]
    assert set(longest) <= set(a)  # a quarter of the sample: the longest texts
    assert a[0] == texts[0] and a[-1] == texts[-1]  # the rest spans the hashes
    assert verification_sample(texts[:50], 100) == texts[:50]
    assert len(verification_sample(texts)) == VERIFY_MAX  # the default limit is read when called


@pytest.mark.parametrize("value, threads", [("1", 1), ("3", 3), ("", None), ("0", None), ("two", None), (None, None)])
def test_omp_num_threads_caps_onnx_runtime(monkeypatch, value, threads):
    from wikicheck.onnx_engine.runtime import _env_threads

    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _env_threads() == threads


def test_two_crawls_needing_one_export_at_once_export_it_once(tmp_path, monkeypatch):
    """Two crawls (here two threads, each with its own lock file descriptor, as two processes have)
    that need the same export at the same moment: one exports, the other waits and copies it from the
    cache. The exporter is a stand-in that takes half a second, so without the lock both would run it."""
    import threading
    import time

    from wikicheck.onnx_engine import export as ex

    monkeypatch.setenv("WIKICHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ex, "_exporter_id", lambda: "stand-in exporter")
    calls = []

    def slow_export(st_model: Any, dest: Path) -> None:
        calls.append(dest)
        time.sleep(0.5)
        dest.write_bytes(b"the exported model")

    monkeypatch.setattr(ex, "_export_to", slow_export)
    got: dict[int, str] = {}

    def run(i: int) -> None:
        got[i] = ex.cached_export(None, "model files", tmp_path / f"export-{i}.onnx")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(got.values()) == ["stand-in exporter", "stand-in exporter (cached)"]
    assert {(tmp_path / f"export-{i}.onnx").read_bytes() for i in range(2)} == {b"the exported model"}
