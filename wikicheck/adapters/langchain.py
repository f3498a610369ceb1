"""LangChain: a retriever over a wikicheck index, and a document compressor for any retriever.

    from wikicheck.guard import Guard
    from wikicheck.adapters.langchain import WikicheckRetriever, WikicheckCompressor

    retriever = WikicheckRetriever(guard=Guard("indexes/default"), k=5)
    docs = retriever.invoke("how do I restart pgbouncer")

    # guard another retriever's documents (ContextualCompressionRetriever):
    compressor = WikicheckCompressor(guard=Guard("indexes/default"))
"""

from __future__ import annotations

from typing import Any, Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun, Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from ..guard import Guard
from ._chunks import chunk_of, decide, metadata, replacement_metadata


class WikicheckRetriever(BaseRetriever):
    """Guarded search of the wiki: stale sections are replaced by the current ones."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    guard: Guard
    k: int = 5
    policy: str = "block"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        docs = []
        for r in self.guard.search(query, self.k, self.policy):
            j = r.to_json()
            meta = {k: v for k, v in j.items() if k != "text"}
            docs.append(Document(page_content=j["text"], metadata=meta))
        return docs


class WikicheckCompressor(BaseDocumentCompressor):
    """Checks documents from any retriever against the wiki; blocked ones are replaced or dropped.

    A document's ``metadata["section_id"]``, ``path`` and ``heading`` are used when present (the current
    section first), and its text (a leading markdown heading is matched as the heading); a section is
    returned once (a document that holds the same section as an earlier one is dropped).

    A replacement keeps the replaced document's metadata keys (``source`` and the others) and adds
    wikicheck's: ``path``, ``heading`` and ``section_id`` of the current section, ``wikicheck_replaced``,
    ``wikicheck_replaces``, ``wikicheck_original_keys`` (which keys are the replaced document's) and
    ``wikicheck_original_metadata`` (its metadata whole).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    guard: Guard
    policy: str = "block"

    def compress_documents(self, documents: Sequence[Document], query: str, callbacks: Callbacks = None) -> Sequence[Document]:
        chunks: list[dict[str, Any]] = [chunk_of(d.page_content, d.metadata) for d in documents]
        out: list[Document] = []
        for d, (action, ann, sec) in zip(documents, decide(self.guard, chunks, self.policy)):
            if action == "keep":
                out.append(Document(page_content=d.page_content, metadata={**(d.metadata or {}), **metadata(ann)}))
            elif action == "replace" and sec is not None:
                meta = replacement_metadata(d.metadata, sec, ann, ann.get("section_id") or (d.metadata or {}).get("id"))
                out.append(Document(page_content=sec["text"], metadata=meta))
        return out
