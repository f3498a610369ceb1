"""Embedding through Ray (wikicheck crawl --ray) against the local path, on the same texts, in one run
(issue #15).

The texts are those a crawl embeds (live sections, one per content hash) of a fresh copy of the
benchmark corpus (make-repo, crawled with the test-hash-64 embedder to read them). In one process:

* local: sentence-transformers (the crawl's embedder, batch size 32, torch on every core) and ONNX
  Runtime (the export a crawl makes, which a local crawl embeds with);
* Ray: a real two-node cluster on this machine (ray.cluster_utils.Cluster: a head and a worker node,
  one CPU each), RayEmbedder with 1 actor and with 2 actors (one CPU each, torch on one thread).
  Each Ray pass is a whole pipeline, as a crawl runs it: its wall time includes starting the actors
  and loading the model in them. `startup` is the wall time of the same pipeline over one short text
  per actor (a new pool: Ray Data starts the actors of every pipeline anew), and `after startup` the
  rate over the wall time less that.

Texts/s of each, the ratio of each to local sentence-transformers, and the cosine between the Ray
vectors and the local ones (min).

    .venv/bin/python benchmarks/bench_ray_embed.py [--limit 768] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_crawl import Meter, environment, log  # noqa: E402
from bench_embed_engines import crawl_texts, onnx_embedder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="history")
    ap.add_argument("--limit", type=int, default=768, help="at most this many texts (evenly spaced; 0: all)")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)

    import ray
    from ray.cluster_utils import Cluster

    from wikicheck.embed import get_embedder
    from wikicheck.ray_engine import RayEmbedder, connect

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wikicheck-ray-") as tmp:
        work = Path(tmp)
        texts = crawl_texts(args.variant, work, args.limit)
        st = get_embedder()
        st.embed(["warm up"])
        ox = onnx_embedder(st, work)
        ox.embed(["warm up"])
        vecs: dict[str, Any] = {}
        for name, emb in (("local sentence-transformers", st), ("local ONNX Runtime", ox)):
            log(name)
            with Meter() as m:
                vecs[name] = emb.embed(texts)
            rows.append({"engine": name, "wall_s": m.wall, "rate": len(texts) / m.wall, "startup_s": 0.0,
                         "rate_after_startup": len(texts) / m.wall,
                         "others_cores": m.to_json().get("others_cores")})
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                                "object_store_memory": 200_000_000})
        try:
            cluster.add_node(num_cpus=1, object_store_memory=200_000_000)
            cluster.wait_for_nodes()
            info = connect(cluster.address)
            for actors in (1, 2):
                name = f"Ray, {actors} actor{'s' * (actors > 1)} ({info.nodes} nodes)"
                log(name)
                emb = RayEmbedder(st.model_id, info, dim=st.dim, actors=actors)
                t = time.perf_counter()
                emb.embed([f"warm up {i}" for i in range(actors)])
                startup = time.perf_counter() - t
                with Meter() as m:
                    vecs[name] = emb.embed(texts)
                rows.append({"engine": name, "wall_s": m.wall, "rate": len(texts) / m.wall, "startup_s": startup,
                         "rate_after_startup": len(texts) / max(1e-9, m.wall - startup),
                             "texts_per_node": emb.describe()["texts_per_node"],
                             "others_cores": m.to_json().get("others_cores")})
        finally:
            ray.shutdown()
            cluster.shutdown()
    base = rows[0]["rate"]
    for r in rows:
        r["ratio"] = r["rate"] / base
        r["min_cosine_to_local"] = float((vecs[r["engine"]] * vecs["local sentence-transformers"]).sum(1).min())
    out = {"environment": environment(), "variant": args.variant, "texts": len(texts), "rows": rows}
    print(markdown(out))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"{r['texts']} texts ({r['variant']})", "",
             "| engine | wall s | texts/s | vs local s-t | startup s | texts/s after startup | vs local s-t | "
             "texts per node | min cosine to local s-t |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for row in r["rows"]:
        lines.append(f"| {row['engine']} | {row['wall_s']:.1f} | {row['rate']:.1f} | {row['ratio']:.2f}x | "
                     f"{row['startup_s']:.1f} | {row['rate_after_startup']:.1f} | "
                     f"{row['rate_after_startup'] / r['rows'][0]['rate']:.2f}x | {' / '.join(map(str, row.get('texts_per_node', []))) or '-'} | "
                     f"{row['min_cosine_to_local']:.6f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
