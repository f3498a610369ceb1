"""Builders shared by the crawl tests: git repos with backdated commits, a large generated repo,
and a snapshot of a store that two crawls can be compared by."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wikicheck.index import Manifest, VectorIndex
from wikicheck.store import Store, db_path_for

ANN = ("Ann Author", "ann@example.com")
BOB = ("Bob Builder", "bob@example.com")

# Dates the tests backdate commits to, and what the store should record for them (UTC, seconds).
D2022 = "2022-09-12T10:00:00+00:00"
D2023 = "2023-05-20T08:30:00+00:00"
D2024 = "2024-03-02T16:45:00+00:00"


def iso_z(date: str) -> str:
    """'2022-09-12T10:00:00+00:00' -> '2022-09-12T10:00:00Z', the form the store uses."""
    return date.replace("+00:00", "Z")


def git_env(date: str | None = None, author: tuple[str, str] = ANN, committer_date: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1],
        GIT_COMMITTER_NAME=author[0], GIT_COMMITTER_EMAIL=author[1],
        GIT_CONFIG_NOSYSTEM="1",
    )
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=committer_date or date)
    return env


def git(repo: Path, *args: str, date: str | None = None, author: tuple[str, str] = ANN,
        input: bytes | None = None, committer_date: str | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], env=git_env(date, author, committer_date), input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def write_files(root: Path, files: dict[str, str | bytes | None]) -> None:
    """Write (str or bytes) or delete (None) files under root."""
    for rel, content in files.items():
        p = root / rel
        if content is None:
            p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")


def commit(repo: Path, files: dict[str, str | bytes | None], date: str, message: str = "edit",
           author: tuple[str, str] = ANN, committer_date: str | None = None) -> str:
    """Write the files, commit everything dated `date` (committer date too, unless given); return the commit id."""
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message, date=date, author=author, committer_date=committer_date)
    return git(repo, "rev-parse", "HEAD").strip()


# --------------------------------------------------------------------------- a large generated repo

BIG_BASE_TS = 1662976800  # 2022-09-12T10:00:00Z


def big_page(i: int, rev: int, n_sections: int) -> str:
    out = [f"# Runbook {i}\n", f"\nOwner team-{i % 7}. Service svc{i}.\n"]
    for s in range(n_sections):
        body = f"Step {s} for svc{i}: run `deploy --svc {i} --step {s}` and watch the dashboards."
        if s < rev:
            body += f" Changed in revision {rev}: pass --rev{rev}."
        out.append(f"\n## Step {s}\n\n{body}\n\n```sh\n# comment {s}\nkubectl get pods -n ns{i}\n```\n")
    return "".join(out)


def make_big_repo(path: Path, n_files: int = 300, n_sections: int = 6, n_commits: int = 3) -> Path:
    """A repo of n_files pages with n_commits commits 200 days apart, written with one git fast-import.

    Commit c rewrites every page whose number is divisible by c + 1, so pages have 1 to n_commits versions.
    """
    init_repo(path)
    stream = []
    for c in range(n_commits):
        ts = BIG_BASE_TS + c * 86400 * 200
        msg = f"revision {c}\n".encode()
        stream.append(
            b"commit refs/heads/main\n"
            + f"author {ANN[0]} <{ANN[1]}> {ts} +0000\ncommitter {ANN[0]} <{ANN[1]}> {ts} +0000\n".encode()
            + b"data %d\n%s" % (len(msg), msg))
        for i in range(n_files):
            if c == 0 or i % (c + 1) == 0:
                data = big_page(i, c, n_sections).encode()
                stream.append(f"M 100644 inline pages/p{i:03d}.md\n".encode() + b"data %d\n%s\n" % (len(data), data))
        stream.append(b"\n")
    git(path, "fast-import", "--quiet", input=b"".join(stream))
    git(path, "checkout", "-q", "-f", "main")
    return path


# --------------------------------------------------------------------------- store snapshots


@dataclass
class Snapshot:
    live: dict[str, str]  # section id -> content hash
    removed: set[str]
    documents: dict[str, tuple[str, bool]]  # path -> (fingerprint, live?)
    versions: list[tuple]  # (section_id, content_hash, valid_from, valid_to, commit, author)
    last_commit: dict[str, str | None]


def snapshot(index_dir: Path) -> Snapshot:
    with Store.open(index_dir) as st:
        q = st.db.execute
        return Snapshot(
            live=dict(q("select id, content_hash from sections where removed_at is null").fetchall()),
            removed={r[0] for r in q("select id from sections where removed_at is not null")},
            documents={p: (f, r is None) for p, f, r in q("select path, fingerprint, removed_at from documents")},
            versions=[tuple(r) for r in q(
                "select section_id, content_hash, valid_from, valid_to, \"commit\", author from section_versions")],
            last_commit=dict(q("select name, last_commit from sources").fetchall()),
        )


def assert_index_consistent(index_dir: Path, model_id: str) -> int:
    """Every live section has a vector, the manifest matches the store, and the index loads and searches."""
    with Store.open(index_dir) as st:
        live = st.db.execute("select count(*) from sections where removed_at is null").fetchone()[0]
        missing = st.db.execute(
            """select count(*) from sections s where s.removed_at is null and not exists (
                 select 1 from embeddings e where e.content_hash = s.content_hash and e.model_id = ?)""",
            [model_id]).fetchone()[0]
        assert missing == 0, f"{missing} live sections have no {model_id} vector"
        manifest = Manifest.read(index_dir)
        assert manifest is not None
        assert (manifest.model_id, manifest.count) == (model_id, live)
        assert manifest.state == st.index_state(model_id)
        vi = VectorIndex.load(st, index_dir, model_id, rebuild=False)
        assert vi.index.ntotal == live
        keys, vecs = st.live_vectors(model_id)
        if live:
            _, hits = vi.search(vecs[:3], 1)
            # identical vectors can tie, so the hit's vector must equal the query's
            for row, k in enumerate(hits[:, 0]):
                assert k in set(keys.tolist())
                assert np.allclose(vi.reconstruct(k), vecs[row])
        return live


def read_count(db: Path, sql: str) -> int:
    """A count from a store another process is writing; 0 while it does not exist yet."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def store_db(index_dir: Path) -> Path:
    return db_path_for(index_dir)
