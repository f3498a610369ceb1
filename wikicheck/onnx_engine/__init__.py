"""The embedding model run by ONNX Runtime: a query path that never imports torch (issue #14).

At crawl time (crawl.py, under the index lock) the sentence-transformers model the index is
embedded with is exported to ONNX (fp32) into the index directory, with the model's own fast
tokenizer and a manifest (EXPORT_MANIFEST): model id, SHA-256 and size of both files, dimensions,
pooling and normalisation, max_seq_length, how it was exported and how it was verified. It is
used only when it reproduces the model on the corpus's own sections: every section (up to
VERIFY_MAX, else a deterministic sample, which the manifest says) must tokenize to the same ids as
the sentence-transformers tokenizer and give a vector with cosine >= MIN_COSINE to the one the
store holds. Otherwise, and for pipelines this module does not reproduce (read_pipeline), the
manifest records why and every reader keeps using sentence-transformers.

At query time (guard.Guard, so `search`, `filter`, `serve`, `mcp` and the adapters),
`query_embedder` returns an OnnxEmbedder when the export is there, whole (size and SHA-256 of its
manifest) and made from the index's model; else the SentenceTransformerEmbedder and the reason.
WIKICHECK_ENGINE=sentence-transformers forces the torch path (benchmarks, comparisons).

Only numpy, tokenizers and onnxruntime are imported at module level or on the query path; torch,
transformers and sentence_transformers only by the export (export.py, crawl time).

One job per module: pipeline.py (what the model does, and whether ONNX reproduces it), runtime.py
(OnnxEmbedder, the query side), manifest.py (the export's files and their check), choice.py (which
engine answers queries, and loading the export), export.py (torch.onnx and the export cache) and
ensure.py (the crawl's keep / export and verify / refuse). This package re-exports their public names.
"""

from __future__ import annotations

from .choice import (
    ENGINE_ENV,
    ENGINES,
    TORCH_ENGINE,
    EngineInfo,
    engine_choice,
    engine_for,
    load_export,
    query_embedder,
)
from .ensure import MIN_COSINE, VERIFY_MAX, ExportOutcome, ensure_export, verification_sample
from .manifest import (
    EXPORT_MANIFEST,
    EXPORT_VERSION,
    MANIFEST_MAX_BYTES,
    ONNX_NAME,
    TOKENIZER_NAME,
    ExportCheck,
    check_export,
    describe_export,
    read_manifest,
)
from .pipeline import INPUTS, Pipeline, read_pipeline, source_fingerprint
from .runtime import OnnxEmbedder

__all__ = [
    "ENGINES", "ENGINE_ENV", "EXPORT_MANIFEST", "EXPORT_VERSION", "INPUTS", "MANIFEST_MAX_BYTES", "MIN_COSINE",
    "ONNX_NAME", "TOKENIZER_NAME", "TORCH_ENGINE", "VERIFY_MAX", "EngineInfo", "ExportCheck", "ExportOutcome",
    "OnnxEmbedder", "Pipeline", "check_export", "describe_export", "engine_choice", "engine_for", "ensure_export",
    "load_export", "query_embedder", "read_manifest", "read_pipeline", "source_fingerprint", "verification_sample",
]
