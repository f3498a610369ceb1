"""Guarded search latency at 10k and 100k sections, against LlamaIndex's EmbeddingRecencyPostprocessor.

For each store size: p50/p99 of `Guard.search` (query embedding + faiss + verdict lookup + block
policy), of the guard step alone on the raw top-20, and of LlamaIndex's EmbeddingRecencyPostprocessor
on the same top-20 (it embeds every candidate again), all in the same process, one query at a time.
Also the CLI's cold start (`wikicheck search` in a new process, model load included) against a
command that never loads the model (`wikicheck status`).

    python benchmarks/bench_guard_latency.py --base /tmp/ridx-history --sizes 10000 100000 \
        --queries ../shared/bench/openshift-runbooks/history/queries.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synth import synthesise  # noqa: E402
from wikicheck.check import run_checks  # noqa: E402
from wikicheck.embed import get_embedder  # noqa: E402
from wikicheck.guard import Guard, GuardConfig  # noqa: E402
from wikicheck.store import Store  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p))


def llama_postprocessor(embedder):  # type: ignore[no-untyped-def]
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.postprocessor import EmbeddingRecencyPostprocessor

    class Local(BaseEmbedding):
        _e = PrivateAttr()

        def __init__(self, e, **kw):  # type: ignore[no-untyped-def]
            super().__init__(model_name="local", **kw)
            self._e = e

        def _get_query_embedding(self, query):  # type: ignore[no-untyped-def]
            return self._e.embed([query])[0].tolist()

        def _get_text_embedding(self, text):  # type: ignore[no-untyped-def]
            return self._e.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts):  # type: ignore[no-untyped-def]
            return [v.tolist() for v in self._e.embed(texts)]

        async def _aget_query_embedding(self, query):  # type: ignore[no-untyped-def]
            return self._get_query_embedding(query)

    return EmbeddingRecencyPostprocessor(embed_model=Local(embedder), date_key="date")


def bench_size(index: Path, queries: list[str], embedder, n_llama: int) -> dict:  # type: ignore[no-untyped-def]
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    with Store.open(index) as st:
        if not st.db.execute("select count(*) from check_runs where status = 'ok'").fetchone()[0]:
            t = time.perf_counter()
            run_checks(st)
            print(f"  check recorded in {time.perf_counter() - t:.0f}s", flush=True)
        n = st.counts()["sections"]
    guard = Guard(index, embedder=embedder, config=GuardConfig(record_events=False))
    guard.search("warm up", 5)
    full, step, llama = [], [], []
    post = llama_postprocessor(embedder)
    for i, q in enumerate(queries):
        t = time.perf_counter()
        guard.search(q, 5)
        full.append(time.perf_counter() - t)
        qv = guard.embed([q])
        scores, keys = guard.index.search(qv, 20)
        raw = [(guard.sections[int(k)], float(s)) for k, s in zip(keys[0], scores[0]) if int(k) in guard.sections]
        t = time.perf_counter()
        guard.apply_policy(raw, 5, "block", qv[0])
        step.append(time.perf_counter() - t)
        if i < n_llama:
            nodes = [NodeWithScore(node=TextNode(text=s["text"], metadata={"date": s.get("changed_at") or ""}), score=sc)
                     for s, sc in raw]
            t = time.perf_counter()
            post.postprocess_nodes(nodes, QueryBundle(q))
            llama.append(time.perf_counter() - t)
    guard.close()
    return {
        "sections": n, "queries": len(queries),
        "search_p50_ms": pct(full, 50), "search_p99_ms": pct(full, 99),
        "guard_step_p50_ms": pct(step, 50), "guard_step_p99_ms": pct(step, 99),
        "llamaindex_p50_ms": pct(llama, 50), "llamaindex_p99_ms": pct(llama, 99), "llamaindex_queries": len(llama),
        "ratio_llamaindex_vs_search_p50": statistics.median(llama) / statistics.median(full),
        "ratio_llamaindex_vs_guard_step_p50": statistics.median(llama) / statistics.median(step),
    }


def cold_start(index: Path) -> dict:
    exe = [sys.executable, "-m", "wikicheck"]
    env = {**os.environ, "WIKICHECK_INDEX": str(index)}
    out = {}
    for name, args in (("status", ["status"]), ("search", ["search", "restart the service", "--json", "--no-events"])):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(exe + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t)
        out[f"cli_{name}_s"] = statistics.median(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--queries", required=True, help="queries.json of the benchmark corpus")
    ap.add_argument("--workdir", default=None, help="reuse synthesised stores from here (s<size>/)")
    ap.add_argument("--llama-queries", type=int, default=40, help="LlamaIndex is slow: time it on this many queries")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    qs = [q["query"] for q in json.loads(Path(args.queries).read_text())["queries"]]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="wikicheck-latency-"))
    embedder = get_embedder()
    embedder.embed(["load"])
    rows = []
    for size in args.sizes:
        idx = work / f"s{size}"
        if not (idx / "wikicheck.db").exists():
            synthesise(args.base, idx, size)
        r = bench_size(idx, qs, embedder, args.llama_queries)
        rows.append(r)
        print(json.dumps(r), flush=True)
    cs = cold_start(work / f"s{args.sizes[0]}")
    print("\n| sections | guarded search p50 / p99 (ms) | guard step on top-20 p50 / p99 (ms) | LlamaIndex postprocessor p50 / p99 (ms) | LlamaIndex / guarded search (p50) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['sections']:,} | {r['search_p50_ms']:.1f} / {r['search_p99_ms']:.1f} | {r['guard_step_p50_ms']:.2f} / "
              f"{r['guard_step_p99_ms']:.2f} | {r['llamaindex_p50_ms']:.0f} / {r['llamaindex_p99_ms']:.0f} | "
              f"{r['ratio_llamaindex_vs_search_p50']:.0f}x |")
    print(f"\nCLI cold start (median of 3): `wikicheck status` {cs['cli_status_s']:.2f}s, "
          f"`wikicheck search` {cs['cli_search_s']:.2f}s")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"sizes": rows, "cold_start": cs}, indent=2))


if __name__ == "__main__":
    main()
