"""SQLite + faiss against PostgreSQL + pgvector (#15), on the same store, in the same run.

    python benchmarks/bench_store_backends.py SQLITE_INDEX [--pg-dir DIR] [--queries 300] [--check]
    python benchmarks/bench_store_backends.py --crawl-repo REPO [--rounds 2]

SQLITE_INDEX is a crawled or synthetic index (benchmarks/synth.py makes 100k sections from a crawl).
Its store is copied row by row into a fresh PostgreSQL database (a pgserver one in --pg-dir, started
here), and then, alternating the two backends:
- store writes: the copy's rows per second (PostgreSQL) against SQLite's own copy of the same rows;
- guard vector search: p50 / p99 of one query's search (VectorIndex.search on the faiss file, and
  PgVectorIndex.search in the database: HNSW past HNSW_THRESHOLD sections), over the same queries
  (stored vectors with noise, normalised);
- recall@10 of each against exact search (numpy over every live vector);
- with --check: `run_checks` on each store (the check reads the vectors into an in-memory faiss
  index for PostgreSQL), seconds and findings fingerprints compared; then the guard's search
  (`Guard.search_vectors`, k = 5, policy block: vector search, the rows of the hits, verdicts and
  the newer section of a blocked one, no exposure recorded) p50 / p99 on each, over the same queries.
With --crawl-repo (a git repository, e.g. `../shared/bench/make-repo real/openshift-runbooks.bundle`):
a full crawl of it (history import, pages, vectors from the deterministic test embedder, so that the
store's work is what is measured, not the model's) into a fresh store of each backend, then a
re-crawl with nothing changed, alternating the backends for --rounds rounds.
Prints one JSON object; docs/benchmarks.md has the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wikicheck.index import VectorIndex  # noqa: E402
from wikicheck.index_pg import PgVectorIndex, build_pg_index  # noqa: E402
from wikicheck.store import Store, db_path_for  # noqa: E402

TABLES = ["meta", "sources", "documents", "sections", "section_versions", "embeddings", "crawls", "warnings",
          "check_runs", "http_cache", "renames", "claim_cache"]


def copy_rows(src: Path, url: str) -> dict[str, float]:
    """Every row of the SQLite store at `src` into the (migrated, empty) PostgreSQL store at `url`,
    with COPY; {table: seconds}."""
    import psycopg
    from pgvector.psycopg import register_vector

    lite = sqlite3.connect(str(src))
    out: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as pg:
        register_vector(pg)
        for table in TABLES:
            cur = lite.execute(f"select * from [{table}]")
            cols = [d[0] for d in cur.description]
            vec = cols.index("vector") if "vector" in cols else None
            t = time.perf_counter()
            with pg.cursor() as c, c.copy(f'copy "{table}" ({", ".join(chr(34) + x + chr(34) for x in cols)}) from stdin') as cp:
                for row in cur:
                    if vec is not None:
                        row = list(row)
                        row[vec] = "[" + ",".join(repr(float(x)) for x in np.frombuffer(row[vec], dtype="<f4")) + "]"
                    cp.write_row(row)
            out[table] = time.perf_counter() - t
        pg.execute("select setval('sections_key_seq', (select coalesce(max(key), 1) from sections))")
        for table in ("crawls", "warnings", "check_runs", "renames", "section_versions", "findings", "guard_events"):
            pg.execute(f"select setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(select coalesce(max(id), 1) from \"{table}\"))")
        pg.execute("analyze")
    return out


def latency(fn, queries: np.ndarray) -> dict[str, float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q[None, :])
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}


def new_database(admin: str) -> str:
    import psycopg

    name = "bench_" + hashlib.sha1(str(time.perf_counter_ns()).encode()).hexdigest()[:8]
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f"create database {name}")
    return admin.replace("/postgres?", f"/{name}?", 1)


def make_folder_wiki(root: Path, sections: int, seed: int = 5) -> Path:
    """A folder of markdown pages with `sections` sections in all (ten a page), varied words,
    commands and hosts, for a crawl of that size."""
    import random

    rnd = random.Random(seed)
    words = ("restart drain rotate check verify replica primary pooler cache queue consumer lag shard index node pod "
             "deploy rollback token secret certificate volume snapshot backup restore failover alert page").split()
    for p in range(max(1, sections // 10)):
        folder = root / f"team{p % 40}"
        folder.mkdir(parents=True, exist_ok=True)
        body = [f"# Runbook {p}: {rnd.choice(words)} {rnd.choice(words)}\n"]
        for s in range(9):
            text = " ".join(rnd.choice(words) for _ in range(rnd.randint(12, 40)))
            body.append(f"## Step {s}: {rnd.choice(words)}\n\n{text}.\n\n```\nkubectl -n ns{p % 13} "
                        f"{rnd.choice(words)} deploy/app{rnd.randint(0, 999)} --host db-{rnd.randint(0, 99)}.acme.internal\n```\n")
        (folder / f"runbook-{p}.md").write_text("\n".join(body), encoding="utf-8")
    return root


def crawl_rounds(repo: str, admin: str, rounds: int) -> dict[str, list[dict[str, float]]]:
    """Full crawl and nothing-changed re-crawl of `repo` into a fresh store of each backend, alternating."""
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder

    emb = get_embedder("test-hash-384")
    out: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    for _ in range(rounds):
        for backend in ("sqlite", "postgresql"):
            where = new_database(admin) if backend == "postgresql" else str(Path(tempfile.mkdtemp()) / "idx")
            t = time.perf_counter()
            s = crawl([repo], where, embedder=emb)
            full = time.perf_counter() - t
            t = time.perf_counter()
            again = crawl([repo], where, embedder=emb)
            out[backend].append({"full_s": round(full, 2), "recrawl_s": round(time.perf_counter() - t, 2),
                                 "sections": s.sections_new, "versions": s.versions_added,
                                 "timings": {k: round(v, 2) for k, v in s.timings.items()},
                                 "recrawl_embedded": again.sections_embedded})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("index", nargs="?")
    ap.add_argument("--pg-dir", default=None)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--crawl-repo", default=None)
    ap.add_argument("--crawl-folder-sections", type=int, default=0,
                    help="crawl a generated folder wiki of this many sections instead of --crawl-repo")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import pgserver
    import psycopg

    pg_dir = args.pg_dir or tempfile.mkdtemp(prefix="wc-pg-")
    srv = pgserver.get_server(pg_dir, cleanup_mode="stop")
    admin = srv.get_uri()
    if args.crawl_folder_sections:
        args.crawl_repo = str(make_folder_wiki(Path(tempfile.mkdtemp()) / "wiki", args.crawl_folder_sections))
    if args.crawl_repo:
        try:
            print(json.dumps({"crawl": crawl_rounds(args.crawl_repo, admin, args.rounds)}, indent=2))
        finally:
            srv.cleanup()
        if not args.index:
            return
        srv = pgserver.get_server(pg_dir, cleanup_mode="stop")
    url = new_database(admin)
    name = url.split("/")[-1].split("?")[0]
    result: dict[str, object] = {"index": args.index}
    try:
        Store.open(url, create=True).close()
        t = time.perf_counter()
        copied = copy_rows(db_path_for(args.index), url)
        result["copy_seconds"] = {k: round(v, 2) for k, v in copied.items()}
        result["copy_total_seconds"] = round(time.perf_counter() - t, 2)
        lite, pg = Store.open(args.index), Store.open(url)
        model = lite.model_id()
        assert model
        t = time.perf_counter()
        manifest, _ = build_pg_index(pg, model)
        result["pg_index"] = {"kind": manifest.kind, "count": manifest.count,
                              "build_seconds": round(time.perf_counter() - t, 2)}
        keys, vecs = lite.live_vectors(model)
        rng = np.random.default_rng(3)
        picks = vecs[rng.choice(len(vecs), args.queries, replace=False)]
        queries = picks + rng.normal(0, 0.05, picks.shape).astype("float32")
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        faiss_index = VectorIndex.load(lite, args.index, model, rebuild=False)
        pg_index = PgVectorIndex(pg, model)
        result["sections"] = int(len(keys))
        result["faiss_kind"] = faiss_index.manifest.kind
        # exact neighbours (numpy over every live vector), for recall@10
        exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
        truth = [set(keys[row].tolist()) for row in exact]
        got_f = faiss_index.search(queries, 10)[1]
        got_p = pg_index.search(queries, 10)[1]
        result["recall_at_10"] = {
            "faiss": round(float(np.mean([len(truth[i] & set(got_f[i].tolist())) / 10 for i in range(len(queries))])), 4),
            "pgvector": round(float(np.mean([len(truth[i] & set(got_p[i].tolist())) / 10 for i in range(len(queries))])), 4),
        }
        # latency, alternating halves so that drift in machine speed hits both alike
        half = len(queries) // 2
        lat: dict[str, list[dict[str, float]]] = {"faiss": [], "pgvector": []}
        for part in (queries[:half], queries[half:]):
            lat["faiss"].append(latency(lambda q: faiss_index.search(q, 10), part))
            lat["pgvector"].append(latency(lambda q: pg_index.search(q, 10), part))
        result["search_latency"] = lat
        if args.check:
            from wikicheck.check import run_checks

            checks = {}
            for label, st in (("sqlite", lite), ("postgresql", pg)):
                t = time.perf_counter()
                res = run_checks(st, record="verdicts")
                fps = sorted(f.fingerprint for f in res.findings)
                checks[label] = {"seconds": round(time.perf_counter() - t, 2), "findings": len(fps),
                                 "fingerprints": hashlib.sha1("".join(fps).encode()).hexdigest()[:16]}
            result["check"] = checks
            from wikicheck.embed import get_embedder
            from wikicheck.guard import Guard, GuardConfig

            emb = get_embedder(model)
            guards = {label: Guard(where, embedder=emb, config=GuardConfig(record_events=False))
                      for label, where in (("sqlite", args.index), ("postgresql", url))}
            glat: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
            for part in (queries[:half], queries[half:]):
                for label, g in guards.items():
                    glat[label].append(latency(lambda q, g=g: g.search_vectors(q, 5), part))  # type: ignore[misc]
            same = sum(
                [r.section["id"] for r in a] == [r.section["id"] for r in b]
                for a, b in zip(guards["sqlite"].search_vectors(queries, 5), guards["postgresql"].search_vectors(queries, 5)))
            result["guard_latency"] = glat
            result["guard_same_results"] = f"{same} of {len(queries)}"
            for g in guards.values():
                g.close()
        lite.close()
        pg.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"drop database if exists {name} with (force)")
        srv.cleanup()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
