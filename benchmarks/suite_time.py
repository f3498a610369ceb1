"""The test suite's wall time against an earlier commit's, on the same tests, back to back.

    .venv/bin/python benchmarks/suite_time.py --base c05e997 --rounds 2 --json-out /tmp/suite.json

A suite grows with the features it tests, so its whole wall time alone cannot say whether a change
made the tests slower. This script runs, alternating, in each of `--rounds` rounds:

- `base`: the base commit's suite, from a git worktree of it, as that commit runs it (its own
  pytest configuration; the base's wikicheck comes first on PYTHONPATH, so its subprocesses run
  the base's code too);
- `same`: at the working tree, only the tests whose node ids the base also has, as this tree runs
  them (its own configuration: `python -m pytest`, the README's command);
- `whole`: the working tree's whole suite (`--no-whole` leaves it out).

Each run is one `python -m pytest` process. The table gives each run's pytest summary and wall
time, and the median of each kind. The selection is exact: a test renamed since the base is in
neither `same` nor the comparison. Progress goes to stderr; `--json-out` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
SUMMARY = re.compile(r"^=*\s*(?P<text>(?:\d+ \w+(?:, )?)+) in (?P<seconds>[\d.]+)s")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)")


def parse_summary(output: str) -> dict[str, Any]:
    """pytest's last summary line ("2 failed, 827 passed in 108.38s") as counts and seconds."""
    for line in reversed(output.splitlines()):
        m = SUMMARY.match(line.strip())
        if m:
            counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
                      for n, kind in COUNT.findall(m["text"])}
            return {"counts": counts, "pytest_seconds": float(m["seconds"])}
    raise ValueError("no pytest summary line in the output")


def node_ids(output: str) -> list[str]:
    """The node ids `pytest --collect-only -q` printed."""
    return sorted({line.strip() for line in output.splitlines() if "::" in line and not line.startswith(" ")})


def pytest(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return p.stdout + p.stderr, time.perf_counter() - t


def short_sha(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def env_for(pythonpath: list[Path], extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIKICHECK_") and k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(map(str, pythonpath))
    env.update(extra or {})
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the earlier commit (the 'before')")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-whole", action="store_true", help="leave out the working tree's whole suite")
    ap.add_argument("--json-out")
    a = ap.parse_args(argv)

    base_sha, head_sha = short_sha(a.base), short_sha("HEAD")
    with tempfile.TemporaryDirectory(prefix="suite-time-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), a.base], cwd=ROOT, check=True)
        try:
            # the base runs serially unless its own configuration says otherwise; no plugin of this tree's
            base_env = env_for([base])
            # langsmith's pytest plugin (a dependency of langchain-core) is off, as this tree's configuration
            # has it: it costs ~1.3 s per process whatever the tree, so it would only pad the base's time
            base_opts = ["-p", "no:cacheprovider", "-p", "no:langsmith_plugin"]
            out, _ = pytest(["--collect-only", "-q", *base_opts, *(["-n0"] if _has_xdist_opts(base) else [])],
                            base, base_env)
            base_ids = node_ids(out)
            out, _ = pytest(["--collect-only", "-q", "-n0", "-p", "no:cacheprovider"], ROOT, env_for([]))
            head_ids = node_ids(out)
            same = sorted(set(base_ids) & set(head_ids))
            ids_file = Path(tmp) / "same.txt"
            ids_file.write_text("\n".join(same) + "\n")
            print(f"base {base_sha}: {len(base_ids)} tests; {head_sha}: {len(head_ids)} tests; "
                  f"{len(same)} in both", file=sys.stderr)
            runs: list[dict[str, Any]] = []
            for r in range(1, a.rounds + 1):
                plan = [("base", base, base_env, base_opts),
                        ("same", ROOT, env_for([HERE], {"SUITE_TIME_IDS": str(ids_file)}),
                         ["-p", "no:cacheprovider", "-p", "_select_ids"])]
                if not a.no_whole:
                    plan.append(("whole", ROOT, env_for([]), ["-p", "no:cacheprovider"]))
                for kind, cwd, env, opts in plan:
                    print(f"round {r}: {kind} ...", file=sys.stderr, flush=True)
                    out, wall = pytest(["-q", *opts], cwd, env)
                    row = {"round": r, "kind": kind, "wall_seconds": round(wall, 2), **parse_summary(out)}
                    print(f"  {row}", file=sys.stderr, flush=True)
                    runs.append(row)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)

    medians: dict[str, float] = {k: statistics.median(x["pytest_seconds"] for x in runs if x["kind"] == k)
                                 for k in dict.fromkeys(x["kind"] for x in runs)}
    report: dict[str, Any] = {"base": base_sha, "head": head_sha, "base_tests": len(base_ids), "head_tests": len(head_ids),
                              "same_tests": len(same), "runs": runs, "median_pytest_seconds": medians}
    print("| run | tree | tests | pytest summary | pytest s | wall s |\n| --- | --- | ---: | --- | ---: | ---: |")
    for x in runs:
        tree = base_sha if x["kind"] == "base" else head_sha
        n = sum(v for k, v in x["counts"].items() if k != "deselected")
        summary = ", ".join(f"{v} {k}" for k, v in x["counts"].items())
        print(f"| {x['round']} {x['kind']} | {tree} | {n} | {summary} | {x['pytest_seconds']:.2f} | {x['wall_seconds']:.2f} |")
    print("\nmedians (pytest s): " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(report, indent=2))
    return 0


def _has_xdist_opts(tree: Path) -> bool:
    """Whether the tree's pytest configuration turns the xdist workers on (collection then needs -n0)."""
    text = (tree / "pyproject.toml").read_text(encoding="utf-8")
    return bool(re.search(r"addopts\s*=.*-n\s", text))


if __name__ == "__main__":
    raise SystemExit(main())
