"""The LangChain and LlamaIndex adapters, driven through the frameworks' own classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_helpers import CANONICAL, SAMPLE_WIKI, STALE_COPY, sample_guard

langchain_core = pytest.importorskip("langchain_core")
llama_index = pytest.importorskip("llama_index.core")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

from wikicheck.adapters.langchain import WikicheckCompressor, WikicheckRetriever  # noqa: E402
from wikicheck.adapters.llamaindex import WikicheckNodePostprocessor  # noqa: E402


def _stale_restart_text() -> str:
    text = (SAMPLE_WIKI / STALE_COPY).read_text()
    return text.split("## Restart\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def guard(tmp_path_factory, real_embedder):
    g = sample_guard(tmp_path_factory, real_embedder)
    yield g
    g.close()


def test_retriever_is_a_langchain_retriever_and_replaces_the_stale_copy(guard):
    retriever = WikicheckRetriever(guard=guard, k=4)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("restart pgbouncer with systemctl on the database host")
    paths = [d.metadata["path"] for d in docs]
    assert CANONICAL in paths
    replacing = [d for d in docs if d.metadata["replaces"]]
    assert replacing and all(d.metadata["path"] == CANONICAL for d in replacing)
    assert all(d.metadata["verdict"] != "block" for d in docs)
    assert docs[0].metadata["provenance"]["timestamp_source"] == "front_matter"


def test_compressor_replaces_an_agents_own_stale_chunk(guard):
    compressor = WikicheckCompressor(guard=guard)
    fresh = Document(page_content="Completely unrelated: how to bake sourdough bread at home.")
    out = compressor.compress_documents([Document(page_content=_stale_restart_text()), fresh], "restart pgbouncer")
    assert out[0].metadata["path"] == CANONICAL
    assert out[0].metadata["wikicheck_replaces"]
    assert "pgbouncer.db.svc.cluster.local" in out[0].page_content
    assert any("superseded" in r for r in out[0].metadata["wikicheck_replaced_reasons"])
    assert out[1].page_content == fresh.page_content and out[1].metadata["wikicheck_verdict"] == "ok"


def test_compressor_annotate_policy_keeps_the_stale_chunk(guard):
    out = WikicheckCompressor(guard=guard, policy="annotate").compress_documents(
        [Document(page_content=_stale_restart_text())], "q")
    assert len(out) == 1 and out[0].metadata["wikicheck_verdict"] == "block"
    assert out[0].metadata["wikicheck_newer"]["path"] == CANONICAL


def test_llamaindex_postprocessor_replaces_stale_nodes(guard):
    post = WikicheckNodePostprocessor(guard=guard)
    nodes = [NodeWithScore(node=TextNode(text=_stale_restart_text()), score=0.91),
             NodeWithScore(node=TextNode(text="Sourdough needs a mature starter."), score=0.2)]
    out = post.postprocess_nodes(nodes, QueryBundle("restart pgbouncer"))
    assert out[0].node.metadata["path"] == CANONICAL and out[0].score == pytest.approx(0.91)
    assert out[0].node.metadata["wikicheck_replaces"]
    assert out[1].node.metadata["wikicheck_verdict"] == "ok"


def test_llamaindex_postprocessor_drops_a_duplicate_replacement(guard):
    text = _stale_restart_text()
    out = WikicheckNodePostprocessor(guard=guard).postprocess_nodes(
        [NodeWithScore(node=TextNode(text=text), score=0.9), NodeWithScore(node=TextNode(text=text + " "), score=0.8)])
    assert [n.node.metadata["path"] for n in out] == [CANONICAL]


def test_adapters_do_not_import_frameworks_into_wikicheck():
    import subprocess
    import sys

    code = "import sys, wikicheck.guard, wikicheck.cli; print('langchain_core' in sys.modules, 'llama_index' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["False", "False"]


def test_compressor_replacement_keeps_the_documents_own_metadata(guard):
    """#12: a replaced document lost the caller's `source` (and every other key of its own)."""
    own = {"source": "s3://agent-store/checkout/pgbouncer-restart.md", "tenant": "checkout", "chunk": 3,
           "path": STALE_COPY, "wikicheck_verdict": "block"}  # the last one from an earlier annotate pass
    [out] = WikicheckCompressor(guard=guard).compress_documents(
        [Document(page_content=_stale_restart_text(), metadata=dict(own))], "restart pgbouncer")
    m = out.metadata
    assert (m["source"], m["tenant"], m["chunk"]) == (own["source"], "checkout", 3)
    # wikicheck's keys name the current section; the original's overwritten ones are kept apart
    assert (m["path"], m["heading"], m["wikicheck_verdict"], m["wikicheck_replaced"]) == (CANONICAL, "Restart", "ok", True)
    assert m["wikicheck_replaces"] and m["section_id"] != m["wikicheck_replaces"]
    assert m["wikicheck_original_keys"] == ["chunk", "source", "tenant"]
    assert m["wikicheck_original_metadata"] == own


def test_llamaindex_replacement_keeps_the_nodes_own_metadata(guard):
    node = TextNode(text=_stale_restart_text(), metadata={"file_name": "pgbouncer-restart.md", "source": "drive"},
                    excluded_llm_metadata_keys=["file_name"])
    [out] = WikicheckNodePostprocessor(guard=guard).postprocess_nodes([NodeWithScore(node=node, score=0.8)])
    m = out.node.metadata
    assert (m["file_name"], m["source"], m["path"], m["wikicheck_replaced"]) == (
        "pgbouncer-restart.md", "drive", CANONICAL, True)
    assert m["wikicheck_original_keys"] == ["file_name", "source"]
    assert {"file_name", "wikicheck_original_metadata"} <= set(out.node.excluded_llm_metadata_keys)
