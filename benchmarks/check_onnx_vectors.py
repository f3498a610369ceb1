"""ONNX Runtime against sentence-transformers on every section of crawled indexes (issue #14).

For each index: the texts its crawl embeds (live sections, one per content hash: what
Store.pending_embeddings gives a crawl, `bench_crawl.embedding_inputs`), embedded by the query
engine the index would use (`onnx_engine.query_embedder`: its verified ONNX export) and by
sentence-transformers with the same model; prints the cosine between the two vectors of every
text (min, mean, how many below 0.9999, the crawl's own verification bar).

    .venv/bin/python benchmarks/check_onnx_vectors.py IDX [IDX ...] [--json-out F]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_crawl import embedding_inputs  # noqa: E402

BAR = 0.9999


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index", nargs="+", type=Path)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    from wikicheck.embed import get_embedder
    from wikicheck.onnx_engine import query_embedder
    from wikicheck.store import Store

    rows = []
    torch_by_model: dict[str, object] = {}
    for idx in args.index:
        with Store.open(idx) as st:
            model = st.model_id()
        if not model:
            raise SystemExit(f"{idx}: no embeddings; crawl it first")
        texts = [t for _, t in embedding_inputs(idx)]
        if model not in torch_by_model:
            torch_by_model[model] = get_embedder(model, batch_size=32)
        onnx, info = query_embedder(idx, model, 32, lambda name, batch_size=32: get_embedder(name, batch_size=batch_size))
        if info.engine != "onnx":
            raise SystemExit(f"{idx}: the index has no usable ONNX export ({info.reason})")
        a = np.asarray(torch_by_model[model].embed(texts), dtype="float64")  # type: ignore[attr-defined]
        b = np.asarray(onnx.embed(texts), dtype="float64")
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        row = {"index": str(idx), "model": model, "texts": len(texts), "min_cosine": float(cos.min()),
               "mean_cosine": float(cos.mean()), "below_bar": int((cos < BAR).sum()), "bar": BAR}
        rows.append(row)
        print(f"{idx}: {len(texts)} texts, min cosine {row['min_cosine']:.6f}, mean {row['mean_cosine']:.6f}, "
              f"below {BAR}: {row['below_bar']}", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1) + "\n")
    if any(r["below_bar"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
