"""Cold start of the query path (issue #14): `wikicheck search` and `wikicheck mcp`, ONNX against torch.

Crawls a copy of sample_wiki with the real model into a temporary index (or uses --index), then,
in one run, alternating the two engines so that both see the same machine:

* `wikicheck search QUERY --index IDX --no-events` as a new process, --runs times per engine: wall
  time from spawn to exit, median; the ONNX path (the index's export) and the torch path
  (WIKICHECK_ENGINE=sentence-transformers, the embedder used before #14);
* `wikicheck status` the same way, for reference (it loads no model);
* `wikicheck mcp --index IDX` over stdio, driven by the `mcp` package's client: time from just
  before the process is spawned to the first answer of a search_runbooks call (initialize, then
  the call), median of --runs.

The "other processes (cores)" column is the CPU every other process used meanwhile (from
/proc/stat): on 2 cores anything above ~0.2 slows the run down.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 5] [--index IDX] [--json-out F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_crawl import Meter, environment, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERY = "restart pgbouncer on the primary"
TORCH = {"WIKICHECK_ENGINE": "sentence-transformers"}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WIKICHECK_ENGINE"}
    return {**env, "WIKICHECK_NO_EVENTS": "1", "TOKENIZERS_PARALLELISM": "false", **(extra or {})}


def timed_cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    with Meter() as m:
        p = subprocess.run([sys.executable, "-m", "wikicheck", *args], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"wikicheck {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return {"wall_s": m.wall, "others_cores": m.others_cores, "stdout": p.stdout}


def mcp_first_answer(index: Path, env: dict[str, str]) -> dict[str, Any]:
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "wikicheck", "mcp", "--index", str(index)],
                                   env=env)

    async def run() -> tuple[float, Any]:
        t0 = time.perf_counter()
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                res = await session.call_tool("search_runbooks", {"query": QUERY, "k": 5})
                return time.perf_counter() - t0, res

    with Meter() as m:
        seconds, res = anyio.run(run)
    if res.is_error or not res.structured_content.get("results"):
        raise SystemExit(f"mcp search_runbooks failed: {res}")
    return {"wall_s": seconds, "others_cores": m.others_cores,
            "first": res.structured_content["results"][0]["section_id"]}


def build_index(work: Path) -> Path:
    from wikicheck.crawl import crawl

    wiki = work / "sample_wiki"
    shutil.copytree(ROOT / "sample_wiki", wiki)
    index = work / "index"
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with Meter() as m:
            s = crawl([str(wiki)], index)
    finally:
        os.chdir(cwd)
    log(f"crawled sample_wiki: {s.sections_embedded} embedded, export {s.engine['export']['status']}, {m.wall:.1f} s")
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--index", type=Path, help="an index crawled with the real model (default: sample_wiki, crawled now)")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wikicheck-cold-") as tmp:
        index = args.index or build_index(Path(tmp))
        status = json.loads(timed_cli(["status", "--index", str(index), "--json"], _env())["stdout"])
        engine = status["query_engine"]
        log(f"query engine of the index: {engine}")
        if engine["engine"] != "onnx":
            raise SystemExit("the index has no usable ONNX export: crawl it with this wikicheck first")
        rows: dict[str, list[dict[str, Any]]] = {k: [] for k in
                                                 ("search onnx", "search torch", "status", "mcp onnx", "mcp torch")}
        search = ["search", QUERY, "--index", str(index), "--no-events", "--json"]
        answers: dict[str, set[str]] = {"onnx": set(), "torch": set()}
        for i in range(args.runs):
            log(f"run {i + 1}/{args.runs}")
            # alternate which engine goes first, so that neither always gets the warmer file cache
            for eng in (("onnx", "torch") if i % 2 == 0 else ("torch", "onnx")):
                env = _env(TORCH if eng == "torch" else None)
                r = timed_cli(search, env)
                answers[eng].add(json.dumps([x["section_id"] for x in json.loads(r.pop("stdout"))["results"]]))
                rows[f"search {eng}"].append(r)
                rows[f"mcp {eng}"].append(mcp_first_answer(index, env))
            r = timed_cli(["status", "--index", str(index)], _env())
            r.pop("stdout")
            rows["status"].append(r)
    out = {"environment": environment(), "runs": args.runs, "query": QUERY, "rows": rows,
           "median_s": {k: statistics.median(x["wall_s"] for x in v) for k, v in rows.items()},
           "same_results": answers["onnx"] == answers["torch"] and len(answers["onnx"]) == 1}
    print(markdown(out))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))
    return 0


def markdown(r: dict[str, Any]) -> str:
    what = {"search onnx": "`wikicheck search` cold, ONNX Runtime (the index's export)",
            "search torch": "`wikicheck search` cold, sentence-transformers (WIKICHECK_ENGINE=sentence-transformers)",
            "status": "`wikicheck status` (no model), for reference",
            "mcp onnx": "`wikicheck mcp` over stdio: spawn to first search_runbooks answer, ONNX Runtime",
            "mcp torch": "`wikicheck mcp` over stdio: spawn to first search_runbooks answer, sentence-transformers"}
    lines = [f"| measurement | median of {r['runs']} s | runs s | other processes (cores) |", "| --- | ---: | --- | --- |"]
    for k, rows in r["rows"].items():
        runs = ", ".join(f"{x['wall_s']:.2f}" for x in rows)
        others = ", ".join(f"{x['others_cores']:.2f}" if x["others_cores"] is not None else "-" for x in rows)
        lines.append(f"| {what[k]} | {r['median_s'][k]:.2f} | {runs} | {others} |")
    m = r["median_s"]
    lines += ["", f"search: torch / ONNX = {m['search torch'] / m['search onnx']:.1f}x; "
                  f"mcp first answer: torch / ONNX = {m['mcp torch'] / m['mcp onnx']:.1f}x; "
                  f"same results from both engines in every run: {'yes' if r['same_results'] else 'NO'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
