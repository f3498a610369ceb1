"""ONNX Runtime against sentence-transformers on the texts a crawl embeds (issue #14).

On a fresh copy of the benchmark corpus (make-repo into a temporary directory, crawled with the
fake test-hash-64 embedder to get the texts: live sections, one per content hash, exactly what
Store.pending_embeddings gives a crawl), in one process and one run:

* sentence-transformers (SentenceTransformerEmbedder, the crawl's embedder, batch size 32) and
  ONNX Runtime (OnnxEmbedder on the model exported as a crawl exports it, same batch size) over the
  same texts, alternating which goes first in each round; sections/s of each and their ratio;
* the cosine between the two engines' vectors of every text: min, max;
* one text at a time (the query path): median milliseconds over --single texts.

    .venv/bin/python benchmarks/bench_embed_engines.py [--variant history] [--rounds 2] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_crawl import VARIANTS, Meter, embedding_inputs, environment, log, make_repo  # noqa: E402


def onnx_embedder(st: Any, workdir: Path) -> Any:
    """The model exported as a crawl exports it (onnx_engine.export: from the export cache when it has it)."""
    from wikicheck.embed import _resolve_model_path
    from wikicheck.onnx_engine import OnnxEmbedder, read_pipeline, source_fingerprint
    from wikicheck.onnx_engine.export import cached_export

    path = _resolve_model_path(st.model_id)
    pipeline, why = read_pipeline(path)
    if pipeline is None:
        raise SystemExit(f"the ONNX engine does not reproduce {st.model_id}: {why}")
    dest = workdir / "model.onnx"
    t = time.perf_counter()
    how = cached_export(st._load(), source_fingerprint(path), dest)
    log(f"export: {how}, {time.perf_counter() - t:.1f} s")
    return OnnxEmbedder(st.model_id, dest, Path(path) / "tokenizer.json", pipeline, batch_size=st.batch_size)


def crawl_texts(variant: str, work: Path, limit: int = 0) -> list[str]:
    """The texts a full crawl of the corpus `variant` embeds (made in `work`, read with the test
    embedder), or `limit` of them (the longest quarter and the rest evenly spaced: verification_sample)."""
    from wikicheck.config import Config
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder
    from wikicheck.onnx_engine import verification_sample

    log(f"make-repo {variant}")
    make_repo(variant, work / "repo")
    crawl([str(work / "repo")], work / "pre", Config(), embedder=get_embedder("test-hash-64"))
    pairs = sorted(embedding_inputs(work / "pre"))
    if limit:
        pairs = verification_sample(pairs, limit)
    texts = [t for _, t in pairs]
    log(f"{len(texts)} texts, {sum(map(len, texts)):,} characters")
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=VARIANTS, default="history")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="at most this many texts (evenly spaced; 0: all)")
    ap.add_argument("--batch-size", type=int, default=32, help="the crawl's default")
    ap.add_argument("--single", type=int, default=50, help="texts embedded one at a time for the query latency")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)

    from wikicheck.embed import get_embedder

    with tempfile.TemporaryDirectory(prefix="wikicheck-engines-") as tmp:
        work = Path(tmp)
        texts = crawl_texts(args.variant, work, args.limit)
        st = get_embedder(batch_size=args.batch_size)
        with Meter() as load:
            st.embed(["warm up"])
        ox = onnx_embedder(st, work)
        ox.embed(["warm up"])
        rounds: list[dict[str, Any]] = []
        vecs: dict[str, Any] = {}
        for r in range(args.rounds):
            order = ("sentence-transformers", "onnx") if r % 2 == 0 else ("onnx", "sentence-transformers")
            row: dict[str, Any] = {"round": r + 1, "first": order[0]}
            for name in order:
                emb = st if name == "sentence-transformers" else ox
                log(f"round {r + 1}: {name}")
                with Meter() as m:
                    vecs[name] = emb.embed(texts)
                row[name] = {**m.to_json(), "rate": len(texts) / m.wall}
            row["ratio"] = row["onnx"]["rate"] / row["sentence-transformers"]["rate"]
            rounds.append(row)
        cos = (vecs["onnx"] * vecs["sentence-transformers"]).sum(1)
        single: dict[str, float] = {}
        probe = texts[:: max(1, len(texts) // args.single)][: args.single]
        for name, emb in (("sentence-transformers", st), ("onnx", ox)):
            ms = []
            for t in probe:
                t0 = time.perf_counter()
                emb.embed([t])
                ms.append((time.perf_counter() - t0) * 1000)
            single[name] = statistics.median(ms)
    out = {
        "environment": environment(), "variant": args.variant, "texts": len(texts), "batch_size": args.batch_size,
        "model_load_s": load.wall, "rounds": rounds,
        "median": {"sentence-transformers": statistics.median(r["sentence-transformers"]["rate"] for r in rounds),
                   "onnx": statistics.median(r["onnx"]["rate"] for r in rounds),
                   "ratio": statistics.median(r["ratio"] for r in rounds)},
        "cosine": {"min": float(cos.min()), "max": float(cos.max()), "below_0.9999": int((cos < 0.9999).sum())},
        "single_text_median_ms": single, "single_texts": len(probe),
    }
    print(markdown(out))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"{r['texts']} texts ({r['variant']}), batch size {r['batch_size']}",
             "",
             "| round | first | sentence-transformers s | texts/s | ONNX Runtime s | texts/s | ONNX / s-t | other processes (cores) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in r["rounds"]:
        a, b = row["sentence-transformers"], row["onnx"]
        lines.append(f"| {row['round']} | {row['first']} | {a['wall_s']:.2f} | {a['rate']:.1f} | {b['wall_s']:.2f} | "
                     f"{b['rate']:.1f} | {row['ratio']:.2f}x | {a.get('others_cores', 0) or 0:.2f} / "
                     f"{b.get('others_cores', 0) or 0:.2f} |")
    m, c, s = r["median"], r["cosine"], r["single_text_median_ms"]
    lines += ["",
              f"median: sentence-transformers {m['sentence-transformers']:.1f} texts/s, ONNX Runtime {m['onnx']:.1f} "
              f"texts/s, ratio {m['ratio']:.2f}x",
              f"cosine between the engines' vectors: min {c['min']:.7f}, max {c['max']:.7f}, "
              f"{c['below_0.9999']} below 0.9999",
              f"one text at a time (median of {r['single_texts']}): sentence-transformers {s['sentence-transformers']:.1f} ms, "
              f"ONNX Runtime {s['onnx']:.1f} ms"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
