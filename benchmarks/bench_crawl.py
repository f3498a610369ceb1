#!/usr/bin/env python3
"""Crawl benchmark on the wikicheck benchmark corpus, with the real embedding model, in one process.

Measures, on a fresh copy of the corpus repository (make-repo into a temporary directory):

a. a full crawl into a fresh index (`wikicheck.crawl.crawl`): wall time, live sections,
   sections/second, the crawl's own phase timings, sections embedded;
b. the model alone on exactly the texts the crawl embedded (the embedding inputs of the live
   sections, one per content hash, read back from the store), same embedder object and batch size,
   right after the crawl; the ratio crawl rate / model rate, where crawl rate = sections embedded /
   full crawl wall seconds (target >= 0.7);
c. a re-crawl with nothing changed: time, sections embedded (must be 0), full / re-crawl (target >= 20x);
d. a re-crawl after one commit that touches one file (one line inserted under its first H2 heading).

The model is loaded (and run once on a short text) before anything is timed; that load is
reported on its own, and the same loaded embedder is passed to every crawl (`crawl(embedder=...)`),
so no crawl pays for it.

    python benchmarks/bench_crawl.py                       # history variant
    python benchmarks/bench_crawl.py --variant touched --json-out results.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path("/work/shared/bench")
CORPUS = "openshift-runbooks"
VARIANTS = ("history", "touched", "flat")
RATE_TARGET = 0.7
RECRAWL_TARGET = 20.0
PHASES = ("history", "scan", "pages", "embedding", "index")


class Meter:
    """Wall time, this process's CPU time (itself and its children: git), and the CPU time every
    other process on the machine used meanwhile (from /proc/stat, steal included): a busy machine
    shows up as `others_cores` > 0 instead of as an unexplained slow run."""

    def __enter__(self) -> "Meter":
        self.t, self.self0, self.child0, self.sys0 = time.perf_counter(), _own_cpu(), _child_cpu(), _busy_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t
        self.cpu = _own_cpu() - self.self0
        self.child_cpu = _child_cpu() - self.child0
        busy = _busy_cpu()
        self.others_cores = (None if busy is None or self.sys0 is None else
                             max(0.0, (busy - self.sys0) - self.cpu - self.child_cpu) / max(self.wall, 1e-9))

    def to_json(self) -> dict[str, Any]:
        return {"wall_s": self.wall, "cpu_s": self.cpu, "child_cpu_s": self.child_cpu, "others_cores": self.others_cores}


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _busy_cpu() -> float | None:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq, steal)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = f
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_repo(variant: str, dest: Path) -> None:
    subprocess.run([str(BENCH_DIR / "make-repo"), str(BENCH_DIR / CORPUS / variant), str(dest)],
                   check=True, stdout=subprocess.DEVNULL)


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, stdout=subprocess.PIPE,
                          env={**os.environ, **(env or {})}).stdout.decode()


def embedding_inputs(index: Path) -> list[tuple[str, str]]:
    """(content_hash, text) the crawl embeds: live sections, one per content hash.

    The same query as Store.pending_embeddings, without its "has no vector yet" filter.
    """
    from wikicheck.store import Store

    with Store.open(index) as store:
        rows = store.db.execute(
            """select s.content_hash, s.heading_path, s.text from sections s
               where s.removed_at is null group by s.content_hash""").fetchall()
    return [(h, " > ".join(json.loads(hp)) + "\n\n" + t) for h, hp, t in rows]


def run_crawl(repo: Path, index: Path, config: Any, embedder: Any) -> dict[str, Any]:
    from wikicheck.crawl import crawl
    from wikicheck.store import Store

    with Meter() as m:
        s = crawl([str(repo)], index, config, embedder=embedder)
    wall = m.wall

    with Store.open(index) as store:
        live = store.counts()["sections"]
    return {
        **m.to_json(), "crawl_s": s.seconds, "sections": live,
        "sections_per_s": live / wall if wall else None, "embedded": s.sections_embedded,
        "sections_new": s.sections_new, "sections_changed": s.sections_changed,
        "sections_unchanged": s.sections_unchanged, "sections_removed": s.sections_removed,
        "documents": s.documents, "documents_changed": len(s.documents_changed),
        "history_events": s.history_events, "versions_added": s.versions_added,
        "index_rebuilt": s.index_rebuilt, "index_count": s.index_count, "warnings": len(s.warnings),
        "timings": dict(s.timings),
    }


def touch_one_file(repo: Path, rel: str | None) -> dict[str, Any]:
    """Commit one change to one page: a sentence inserted under its first H2 heading."""
    if rel is None:
        pages = sorted(p for p in git(repo, "ls-files", "alerts").splitlines() if p.endswith(".md"))
        rel = pages[0]
    path = repo / rel
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next((i for i, ln in enumerate(lines) if ln.startswith("## ")), 0)
    lines[at + 1:at + 1] = ["", "Benchmark edit: check the alert's labels before anything else."]
    path.write_text("\n".join(lines), encoding="utf-8")
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")
    who = {"GIT_AUTHOR_NAME": "Bench Editor", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "Bench Editor", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_AUTHOR_DATE": now, "GIT_COMMITTER_DATE": now}
    git(repo, "add", "--", rel)
    git(repo, "commit", "-q", "--no-verify", "-m", f"Benchmark: edit {rel}", env=who)
    return {"path": rel, "line": at + 2}


def model_alone(embedder: Any, texts: list[str]) -> dict[str, Any]:
    """The embedder over `texts` in one call (model.encode batches them by its batch size)."""
    with Meter() as m:
        vecs = embedder.embed(texts)
    assert len(vecs) == len(texts)
    return m.to_json()


def environment() -> dict[str, Any]:
    import torch

    try:
        import sentence_transformers
        st = sentence_transformers.__version__
    except Exception:  # noqa: BLE001
        st = "?"
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    top = str(Path(__file__).resolve().parents[1])
    try:  # read-only: which wikicheck was measured, and whether it had uncommitted changes
        rev = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        dirty = bool(subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "wikicheck"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip())
    except OSError:
        rev, dirty = "", None
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "cpu": cpu, "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "sentence_transformers": st,
        "platform": platform.platform(), "wikicheck_commit": rev, "wikicheck_uncommitted_changes": dirty,
    }


def fmt(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def markdown(r: dict[str, Any]) -> str:
    out = []
    e = r["env"]
    out.append(f"wikicheck crawl benchmark: corpus {CORPUS}/{r['variant']}, model {r['model']} "
               f"(batch size {r['batch_size']}), {e['cpus']} CPUs ({e['cpu'] or '?'}), torch {e['torch']} "
               f"({e['torch_threads']} threads), wikicheck {e['wikicheck_commit'] or '?'}"
               f"{' + uncommitted changes' if e.get('wikicheck_uncommitted_changes') else ''}, {e['date']}\n")
    out.append(f"Model load (and one warm-up text), not in any crawl time: {r['model_load_s']:.2f} s. "
               f"Texts: {r['texts']['count']} embedding inputs (live sections, one per content hash), "
               f"the same in the crawl's store: {'yes' if r['texts']['same_as_crawl'] else '**NO**'}.\n")
    out.append("| round | model alone before s | full crawl s | model alone after s | model rate texts/s | "
               "crawl rate sections/s | crawl rate / model rate | CPU-time ratio | other processes (cores) |")
    out.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, rd in enumerate(r["rounds"], 1):
        others = [x["others_cores"] for x in (rd["model_before"], rd["full"], rd["model_after"])]
        out.append(f"| {i} | {rd['model_before']['wall_s']:.2f} | {rd['full']['wall_s']:.2f} | "
                   f"{rd['model_after']['wall_s']:.2f} | {rd['model_rate']:.1f} | {rd['crawl_rate']:.1f} | "
                   f"{rd['rate_ratio']:.3f} | {rd['cpu_ratio']:.3f} | "
                   + " / ".join("-" if x is None else f"{x:.2f}" for x in others) + " |")
    out.append("")
    out.append("| step | wall s | sections | sections/s | embedded | history s | scan s | pages s | embedding s "
               "| index s | other processes (cores) |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rc = r["recrawls"]
    for c, label in ((r["full"], f"full crawl, fresh index (round {r['full_round']}, median of {len(r['rounds'])})"),
                     (r["recrawl"], f"re-crawl, nothing changed (median of {len(rc)})"),
                     (r["incremental"], "re-crawl, 1 commit touching 1 file")):
        t = c["timings"]
        oc = "-" if c["others_cores"] is None else f"{c['others_cores']:.2f}"
        out.append(f"| {label} | {c['wall_s']:.3f} | {fmt(c['sections'])} | {fmt(c['sections_per_s'], 1)} | "
                   f"{c['embedded']} | " + " | ".join(f"{t.get(p, 0):.3f}" for p in PHASES) + f" | {oc} |")
    out.append("")
    ok = lambda b: "yes" if b else "**NO**"  # noqa: E731
    out.append("| measure | value | target | met |")
    out.append("| --- | ---: | ---: | :---: |")
    out.append(f"| crawl rate / model rate (median of rounds) | {r['rate_ratio']:.3f} | >= {RATE_TARGET} | "
               f"{ok(r['rate_ratio'] >= RATE_TARGET)} |")
    out.append(f"| full crawl / re-crawl with nothing changed (median / median) | {r['recrawl_ratio']:,.0f}x | "
               f">= {RECRAWL_TARGET:.0f}x | {ok(r['recrawl_ratio'] >= RECRAWL_TARGET)} |")
    out.append(f"| sections embedded by the unchanged re-crawls | {max(x['embedded'] for x in rc)} | 0 | "
               f"{ok(all(x['embedded'] == 0 for x in rc))} |")
    inc = r["incremental"]
    out.append("")
    out.append(f"Incremental commit: one line inserted at {r['touched']['path']}:{r['touched']['line']}; the re-crawl "
               f"re-read {inc['documents_changed']} page(s): {inc['sections_changed']} section(s) changed, "
               f"{inc['sections_new']} new, {inc['sections_removed']} removed; {inc['embedded']} embedded; "
               f"{inc['history_events']} history event(s), {inc['versions_added']} version(s) added. "
               "Re-crawls with nothing changed: " + ", ".join(f"{x['wall_s']:.3f}" for x in rc) + " s.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="history", choices=VARIANTS)
    ap.add_argument("--model", default=None, help="embedding model (default: wikicheck's default, all-MiniLM-L6-v2)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the config default ([embedding] batch-size)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of (model alone, full crawl into a fresh index, model alone); medians are reported")
    ap.add_argument("--recrawls", type=int, default=5, help="re-crawls with nothing changed (median is reported)")
    ap.add_argument("--touch-file", default=None, help="page to edit for the incremental re-crawl "
                    "(default: the first alerts/*.md in git order)")
    ap.add_argument("--keep", default=None, help="keep the corpus repository and the indexes in this new directory")
    ap.add_argument("--json-out", default=None, help="also write all numbers as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.recrawls < 1:
        ap.error("--rounds and --recrawls must be at least 1")

    from wikicheck.config import Config
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder

    config = Config()
    model = args.model or config.model
    batch = args.batch_size or config.get("embedding", "batch-size")
    if args.keep:
        work = Path(args.keep)
        if work.exists() and any(work.iterdir()):
            ap.error(f"--keep {work}: directory exists and is not empty")
        work.mkdir(parents=True, exist_ok=True)
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="wikicheck-bench-")
        work = Path(cleanup.name)
    repo = work / "repo"
    env = environment()  # at the start: the wikicheck modules are imported from this state
    try:
        log(f"make-repo {CORPUS}/{args.variant} -> {repo}")
        make_repo(args.variant, repo)

        log(f"loading {model}")
        with Meter() as load:
            embedder = get_embedder(model, batch_size=batch)
            dim = embedder.dim  # loads the model
            embedder.embed(["warm-up"])  # first call: one-time thread pool and allocator set-up
        log(f"loaded in {load.wall:.2f}s ({dim} dims)")

        # The texts the crawl will embed, read from a store: a crawl of the same repository with the
        # fake embedder (parsing only) gives them before the first timed crawl, so that the model
        # alone can run right before and right after it; they are checked against the real store.
        pre = work / "index-texts"
        crawl([str(repo)], pre, config, embedder=get_embedder("test-hash-64"))
        pending = embedding_inputs(pre)
        pending.sort(key=lambda p: len(p[1]), reverse=True)  # the order embed_pending uses
        texts = [t for _, t in pending]
        hashes = {h for h, _ in pending}
        log(f"{len(texts)} texts to embed")

        rounds = []
        same = True
        for i in range(1, args.rounds + 1):
            index = work / f"index-{i}"
            log(f"round {i}: model alone")
            before = model_alone(embedder, texts)
            log(f"round {i}: model alone {before['wall_s']:.2f}s; full crawl")
            full = run_crawl(repo, index, config, embedder)
            log(f"round {i}: full crawl {full['wall_s']:.2f}s, {full['embedded']} embedded; model alone")
            after = model_alone(embedder, texts)
            log(f"round {i}: model alone {after['wall_s']:.2f}s")
            crawled = {h for h, _ in embedding_inputs(index)}
            same &= crawled == hashes and full["embedded"] == len(texts)
            model_s = (before["wall_s"] + after["wall_s"]) / 2
            model_cpu = (before["cpu_s"] + after["cpu_s"]) / 2
            rounds.append({
                "model_before": before, "full": full, "model_after": after, "model_s": model_s,
                "model_rate": len(texts) / model_s, "crawl_rate": full["embedded"] / full["wall_s"],
                "rate_ratio": (full["embedded"] / full["wall_s"]) / (len(texts) / model_s),
                "cpu_ratio": (full["embedded"] / (full["cpu_s"] + full["child_cpu_s"])) / (len(texts) / model_cpu),
            })
        if not same:
            log("warning: the crawl's store does not hold exactly the texts measured alone")
        by_ratio = sorted(range(len(rounds)), key=lambda k: rounds[k]["rate_ratio"])
        mid = by_ratio[len(by_ratio) // 2]
        index = work / f"index-{len(rounds)}"

        recrawls = []
        for _ in range(args.recrawls):
            recrawls.append(run_crawl(repo, index, config, embedder))
        log("re-crawls, nothing changed: " + ", ".join(f"{x['wall_s']:.3f}s" for x in recrawls))
        touched = touch_one_file(repo, args.touch_file)
        log(f"re-crawl after one commit to {touched['path']}")
        incremental = run_crawl(repo, index, config, embedder)

        full_wall = statistics.median(rd["full"]["wall_s"] for rd in rounds)
        recrawl = sorted(recrawls, key=lambda x: x["wall_s"])[len(recrawls) // 2]
        result = {
            "variant": args.variant, "model": embedder.model_id, "dim": dim, "batch_size": batch,
            "env": env, "model_load_s": load.wall,
            "texts": {"count": len(texts), "same_as_crawl": same},
            "rounds": rounds, "full_round": mid + 1, "full": rounds[mid]["full"],
            "rate_ratio": statistics.median(rd["rate_ratio"] for rd in rounds),
            "recrawls": recrawls, "recrawl": recrawl, "recrawl_ratio": full_wall / recrawl["wall_s"],
            "incremental": incremental, "touched": touched,
            "targets": {"rate_ratio": RATE_TARGET, "recrawl_ratio": RECRAWL_TARGET},
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        }
        print(markdown(result))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        if any(x["embedded"] != 0 for x in recrawls):
            print("\nerror: a re-crawl with nothing changed embedded sections", file=sys.stderr)
            return 1
        missed = result["rate_ratio"] < RATE_TARGET or result["recrawl_ratio"] < RECRAWL_TARGET
        return 1 if (args.strict and missed) else 0
    finally:
        if cleanup is not None:
            cleanup.cleanup()


if __name__ == "__main__":
    sys.exit(main())
