"""LlamaIndex: a node postprocessor that blocks stale nodes and puts the current section in their place.

    from wikicheck.guard import Guard
    from wikicheck.adapters.llamaindex import WikicheckNodePostprocessor

    query_engine = index.as_query_engine(node_postprocessors=[WikicheckNodePostprocessor(guard=Guard("indexes/default"))])
"""

from __future__ import annotations

from typing import Any, Optional

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ..guard import Guard
from ._chunks import chunk_of, decide, metadata, replacement_metadata


class WikicheckNodePostprocessor(BaseNodePostprocessor):
    """Annotates nodes with wikicheck verdicts; with policy "block", stale nodes are replaced or dropped.

    A replacement node keeps the replaced node's metadata keys and adds wikicheck's (``path``,
    ``heading``, ``section_id`` of the current section, ``wikicheck_*``; ``wikicheck_original_keys``
    names the node's own), and the score and rank of the node it replaces.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    guard: Guard = Field(description="an open wikicheck Guard")
    policy: str = "block"

    @classmethod
    def class_name(cls) -> str:
        return "WikicheckNodePostprocessor"

    def _postprocess_nodes(self, nodes: list[NodeWithScore], query_bundle: Optional[QueryBundle] = None) -> list[NodeWithScore]:
        chunks: list[dict[str, Any]] = [chunk_of(n.node.get_content(), n.node.metadata) for n in nodes]
        out: list[NodeWithScore] = []
        for n, (action, ann, sec) in zip(nodes, decide(self.guard, chunks, self.policy)):
            if action == "keep":
                n.node.metadata.update(metadata(ann))
                out.append(n)
            elif action == "replace" and sec is not None:
                # the node's own metadata keys are kept, wikicheck's added (see replacement_metadata)
                meta = replacement_metadata(n.node.metadata, sec, ann, ann.get("section_id") or n.node.node_id)
                hidden = ["wikicheck_original_keys", "wikicheck_original_metadata"]  # not for the prompt
                node = TextNode(text=sec["text"], id_=f"wikicheck:{sec['id']}", metadata=meta,
                                excluded_embed_metadata_keys=[*n.node.excluded_embed_metadata_keys, *hidden],
                                excluded_llm_metadata_keys=[*n.node.excluded_llm_metadata_keys, *hidden])
                # the replacement keeps the rank and the score of the node it replaces (wikicheck_replaces says so)
                out.append(NodeWithScore(node=node, score=n.score))
        if self.policy == "demote":
            rank = {"ok": 0, "warn": 1, "block": 2}
            out.sort(key=lambda x: rank.get(x.node.metadata.get("wikicheck_verdict", "ok"), 0))
            lowest = float("inf")
            for x in out:  # say so where the verdict, not the score, decided the order
                moved = x.score is not None and lowest < x.score - 1e-6
                if moved:
                    x.node.metadata["wikicheck_out_of_order"] = (
                        f"demoted ({x.node.metadata.get('wikicheck_verdict')}) below nodes with a better verdict")
                if x.score is not None:
                    lowest = min(lowest, x.score)
        return out
