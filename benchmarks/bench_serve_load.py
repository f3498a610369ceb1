"""`wikicheck serve` under many concurrent clients (issue #11 point 15).

Builds an index from sample_wiki/ with the real default model (crawl + check, in a temporary
directory), starts `wikicheck serve` on it as a real process on loopback, then for a fixed duration
runs N clients (default 200), each posting /search with varied queries back to back over its own
keep-alive connection, plus one /health poller. Prints throughput, p50/p90/p99/max latency of
/search (by status) and of /health, and the count of every status code and connection error.

    .venv/bin/python benchmarks/bench_serve_load.py                          # 200 clients, 30 s
    .venv/bin/python benchmarks/bench_serve_load.py --clients 200 --duration 60 --max-queue 64
    .venv/bin/python benchmarks/bench_serve_load.py --src /tmp/old           # the server of another tree
    .venv/bin/python benchmarks/bench_serve_load.py --store auto --replicas 2  # 2 replicas, one PostgreSQL

With --store (a postgresql:// URL, or "auto" for a PostgreSQL started here with pgserver) the index is
that database, and --replicas N starts N servers on it: client i talks to replica i mod N, the /health
poller to the first, and the CPU figures add up every replica's.

A client that gets 503 waits as long as its Retry-After says (as a well-behaved client does), then
carries on; `--ignore-retry-after` makes it retry at once. The clients speak minimal HTTP/1.1 over
asyncio streams rather than through an HTTP library: they share the machine with the server, and a
heavier client would measure itself (the CPU the client process used is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_WIKI = ROOT / "sample_wiki"
WORDS = ["how", "do", "I", "restart", "rotate", "rollback", "check", "steps", "prod", "timeout", "alert", "on call",
         "safely", "when", "fails", "after a deploy", "during an incident", "for payments", "quickly", "why"]


@dataclass
class Tally:
    """What the clients saw, from the end of the warm-up to the end of the run."""

    search: dict[int, list[float]] = field(default_factory=dict)  # status -> latencies (s)
    health: dict[int, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)


def queries_from(wiki: Path, n: int, seed: int = 7) -> list[str]:
    """Varied queries: every heading of the sample wiki, each with a few words around it."""
    headings = sorted({m.group(1).strip() for p in wiki.rglob("*.md")
                       for m in re.finditer(r"^#{1,4}\s+(.+)$", p.read_text(encoding="utf-8"), re.MULTILINE)})
    rnd = random.Random(seed)
    return [" ".join([rnd.choice(WORDS), rnd.choice(headings), rnd.choice(WORDS)]) for _ in range(n)]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    if proc.returncode not in (0, 1):  # `check` exits 1: the sample wiki has planted findings
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")


def build_index(work: Path, env: dict[str, str], store: str | None = None) -> list[str]:
    """sample_wiki crawled and checked into a new index directory, or into the PostgreSQL store `store`;
    the options that name it (--index DIR or --store URL)."""
    wiki, index = work / "sample_wiki", work / "index"
    shutil.copytree(SAMPLE_WIKI, wiki)
    where = ["--store", store] if store else ["--index", str(index)]
    started = time.monotonic()
    run([sys.executable, "-m", "wikicheck", "crawl", str(wiki), *where], work, env)
    run([sys.executable, "-m", "wikicheck", "check", *where], work, env)
    print(f"index: sample_wiki crawled and checked in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return where


def start_postgresql(work: Path) -> tuple[str, object]:
    """A PostgreSQL with pgvector in `work` (pgserver) and a new database on it: (URL, server)."""
    import pgserver
    import psycopg

    srv = pgserver.get_server(str(work / "pg"), cleanup_mode="stop")
    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
        c.execute("create database bench")
    return srv.get_uri().replace("/postgres?", "/bench?", 1), srv


class Server:
    """`python -m wikicheck serve --port 0` as a child process; its stderr is kept (and drained)."""

    def __init__(self, where: list[str], cwd: Path, env: dict[str, str], max_queue: int | None):
        cmd = [sys.executable, "-m", "wikicheck", "serve", *where, "--port", "0"]
        if max_queue is not None:
            cmd += ["--max-queue", str(max_queue)]
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.append(line)

    def wait_ready(self, timeout: float = 180) -> tuple[str, int]:
        deadline = time.monotonic() + timeout
        while not any("Application startup complete" in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("wikicheck serve did not start:\n" + "".join(self.lines))
            time.sleep(0.1)
        serving = next(line for line in self.lines if line.startswith("wikicheck: serving"))
        host, port = serving.split("http://", 1)[1].split(" ", 1)[0].rsplit(":", 1)
        return host, int(port)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> tuple[float, float]:
        """(resident, peak resident) MB of the server process, from /proc (VmRSS, VmHWM)."""
        got = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    got[line.split(":")[0]] = int(line.split()[1]) / 1024
        return got.get("VmRSS", float("nan")), got.get("VmHWM", float("nan"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.join(5)


class Connection:
    """One keep-alive HTTP/1.1 connection: request, status, headers, body (the server always sends Content-Length)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        assert self.reader is not None
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def client(host: str, port: int, queries: list[str], seed: int, end: float, warm: float, tally: Tally,
                 honour_retry_after: bool) -> None:
    rnd = random.Random(seed)
    conn = Connection(host, port)
    while (now := time.monotonic()) < end:
        body = json.dumps({"query": rnd.choice(queries), "k": 5}).encode()
        fresh = conn.writer is None
        try:
            status, headers, _ = await conn.request("POST", "/search", body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            conn.close()
            if now >= warm:
                tally.errors[f"{type(e).__name__} after {now - warm:.1f} s, {'new' if fresh else 'reused'} connection"] += 1
            await asyncio.sleep(0.05)
            continue
        if now >= warm:
            tally.search.setdefault(status, []).append(time.monotonic() - now)
        if status == 503:
            if now >= warm:
                tally.retry_after[headers.get("retry-after", "(none)")] += 1
            if honour_retry_after:
                await asyncio.sleep(min(float(headers.get("retry-after", "1")), max(0.0, end - time.monotonic())))
    conn.close()


async def health_poller(host: str, port: int, interval: float, end: float, warm: float, tally: Tally) -> None:
    conn = Connection(host, port)
    while (now := time.monotonic()) < end:
        try:
            status, _, _ = await conn.request("GET", "/health")
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            conn.close()
            tally.errors[f"health {type(e).__name__}"] += 1
            status = -1
        if now >= warm and status != -1:
            tally.health.setdefault(status, []).append(time.monotonic() - now)
        await asyncio.sleep(interval)
    conn.close()


async def load(addresses: list[tuple[str, int]], args: argparse.Namespace, queries: list[str]) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    warm, end = start + args.warmup, start + args.warmup + args.duration
    await asyncio.gather(
        health_poller(*addresses[0], args.health_interval, end, warm, tally),
        *(client(*addresses[i % len(addresses)], queries, i, end, warm, tally, not args.ignore_retry_after)
          for i in range(args.clients)))
    return tally, args.duration


def ms(xs: list[float], p: float) -> str:
    return f"{np.percentile(np.array(xs) * 1000, p):,.0f}" if xs else "-"


def report(tally: Tally, seconds: float, args: argparse.Namespace, wall: float, server_cpu: float, client_cpu: float,
           others: float) -> str:
    ok = tally.search.get(200, [])
    rows = [("| requests | count | per second | p50 ms | p90 ms | p99 ms | max ms |"),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, by_status in (("/search", tally.search), ("/health", tally.health)):
        for status in sorted(by_status):
            xs = by_status[status]
            rows.append(f"| {name} {status} | {len(xs):,} | {len(xs) / seconds:,.1f} | {ms(xs, 50)} | {ms(xs, 90)} | "
                        f"{ms(xs, 99)} | {ms(xs, 100)} |")
    codes = Counter({f"/search {s}": len(v) for s, v in tally.search.items()})
    codes.update({f"/health {s}": len(v) for s, v in tally.health.items()})
    retry = "clients retry at once after a 503" if args.ignore_retry_after else "clients wait Retry-After after a 503"
    lines = [
        (f"{args.replicas} replica{'s' * (args.replicas != 1)} of `wikicheck serve` "
         f"({'PostgreSQL store' if args.store else 'index directory'}); "
         f"{args.clients} clients + 1 /health poller (every {args.health_interval * 1000:.0f} ms), {seconds:.0f} s "
         f"measured after {args.warmup:.0f} s of warm-up; max-queue {args.max_queue or 'default'}; {retry}"),
        "",
        *rows,
        "",
        f"throughput: {len(ok) / seconds:,.1f} searches answered (200) per second",
        "status codes: " + ", ".join(f"{k} × {v:,}" for k, v in sorted(codes.items())),
        "connection errors: " + (", ".join(f"{k} × {v}" for k, v in tally.errors.items()) or "none"),
        "Retry-After values: " + (", ".join(f"{k} s × {v:,}" for k, v in sorted(tally.retry_after.items())) or "-"),
        (f"CPU over the {wall:.0f} s of load: server {server_cpu:.1f} s, clients {client_cpu:.1f} s, every other "
         f"process {others:.1f} s ({others / wall:.2f} of {os.cpu_count()} cores)"),
    ]
    return "\n".join(lines)


def busy_cpu_seconds() -> float:
    """CPU time every process on the machine spent (VM steal included), from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    ap.add_argument("--health-interval", type=float, default=0.1)
    ap.add_argument("--max-queue", type=int, default=None, help="passed to `wikicheck serve` (default: its own)")
    ap.add_argument("--ignore-retry-after", action="store_true", help="retry at once after a 503")
    ap.add_argument("--index", type=Path, help="an index to serve instead of crawling sample_wiki")
    ap.add_argument("--src", type=Path, help="run the server from this source tree (e.g. `git archive` of a commit)")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--store", help="serve a PostgreSQL store: its URL, or auto (a pgserver started here)")
    ap.add_argument("--replicas", type=int, default=1, help="servers on the one store (with --store)")
    args = ap.parse_args()
    if args.replicas > 1 and not args.store:
        ap.error("--replicas needs --store: replicas share a PostgreSQL store")

    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    env.pop("WIKICHECK_TOKEN", None)
    with tempfile.TemporaryDirectory(prefix="wikicheck-bench-serve-") as tmp:
        work = Path(tmp)
        pg = None
        store = args.store
        if store == "auto":
            store, pg = start_postgresql(work)
        if args.src:
            env["PYTHONPATH"] = f"{args.src.resolve()}{os.pathsep}{env.get('PYTHONPATH', '')}"
        where = ["--index", str(args.index)] if args.index else build_index(work, env, store)
        servers = [Server(where, work, env, args.max_queue) for _ in range(args.replicas)]
        server = servers[0]
        try:
            addresses = [s.wait_ready() for s in servers]
            for (host, port), s in zip(addresses, servers):
                print(f"server: http://{host}:{port} (pid {s.proc.pid})", file=sys.stderr)
            queries = queries_from(SAMPLE_WIKI, 500)
            cpu0, self0, all0, t0 = (sum(s.cpu_seconds() for s in servers), resource.getrusage(resource.RUSAGE_SELF),
                                     busy_cpu_seconds(), time.monotonic())
            tally, seconds = asyncio.run(load(addresses, args, queries))
            self1, all1, wall = resource.getrusage(resource.RUSAGE_SELF), busy_cpu_seconds(), time.monotonic() - t0
            server_cpu = sum(s.cpu_seconds() for s in servers) - cpu0
            rss, peak = (sum(x) for x in zip(*(s.memory_mb() for s in servers)))
        finally:
            for s in servers:
                s.stop()
            if pg is not None:
                pg.cleanup()  # type: ignore[attr-defined]
    client_cpu = (self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime)
    others = max(0.0, all1 - all0 - server_cpu - client_cpu)
    print(report(tally, seconds, args, wall, server_cpu, client_cpu, others))
    print(f"server memory: {rss:,.0f} MB resident at the end, {peak:,.0f} MB peak (VmHWM)")
    trouble = [line for line in server.lines if not line.startswith(("INFO:", "wikicheck: serving"))]
    if trouble:
        print(f"server log, {len(trouble)} lines other than INFO (first 20):", *trouble[:20], sep="\n", file=sys.stderr)
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "clients": args.clients, "seconds": seconds, "max_queue": args.max_queue, "replicas": args.replicas,
            "store": "postgresql" if args.store else "sqlite",
            "search_ms": {s: sorted(x * 1000 for x in v) for s, v in tally.search.items()},
            "health_ms": {s: sorted(x * 1000 for x in v) for s, v in tally.health.items()},
            "errors": dict(tally.errors), "retry_after": dict(tally.retry_after),
            "wall_s": wall, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "other_cpu_s": others,
            "server_rss_mb": rss, "server_peak_rss_mb": peak,
        }, indent=1))


if __name__ == "__main__":
    main()
