#!/usr/bin/env python3
"""Check wikicheck's per-section git provenance and section history against git itself.

For every live section of every git source in an index:

* `changed_at`, `author`, `commit` and `timestamp_source` are set (and `timestamp_source` is "git");
* `changed_at` is the newest committer time of `git blame --line-porcelain` over the section's
  line span [line_start, line_end], and `commit` is a commit of a line with that time; `author`
  is that commit's author ("Name <mail>");
* the span itself is sane: it lies inside the file, and the section's heading is on `line_start`
  (or on the next line, for a setext heading).

Blame is parsed here, independently of wikicheck's parser (`--line-porcelain`, every line carries
its full commit header). For the section history (`section_versions`): sections with more than one
version are counted, and for every older version of the changed sections (or `--sample N` of
them) the text is checked against `git cat-file` of its commit:

* `words`: the version text's words appear, in order, in the page at `commit` (independent of
  wikicheck's parser: markdown and its rendering both reduce to the same word sequence);
* `reparse`: wikicheck's own section splitter, run on the page at `commit`, gives a section with
  the same id and body hash (so the version is attributed to a commit that really has that text);
* `introduced`: the page at the commit's first parent does not have that section text (so `commit`
  is where the text appeared, not merely a commit where it still existed);
* `ended`: the page at `ended_by_commit` no longer has that section text;
* `dates`: `valid_from` / `valid_to` are the committer times of `commit` / `ended_by_commit`.

Exit status: 0 when everything agrees, 1 on any disagreement, 2 on a usage error.

    python benchmarks/check_blame.py                          # history variant: make-repo + crawl
    python benchmarks/check_blame.py --variant all            # history, touched and flat
    python benchmarks/check_blame.py --repo R --index IDX     # an index already crawled from R

Without `--index`, the corpus is crawled into a temporary index with the fake embedder
`test-hash-64` (provenance and history do not depend on the model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path("/work/shared/bench")
CORPUS = "openshift-runbooks"
VARIANTS = ("history", "touched", "flat")
MAX_EXAMPLES = 8  # disagreements printed per kind


# --------------------------------------------------------------------------- git, independently


def git(root: str, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "core.quotePath=false", "-C", root, *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} in {root}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8", "replace")


def iso_utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def blame_lines(root: str, path: str) -> list[dict[str, Any]]:
    """One dict per line of the working-tree file: commit, committer_time (epoch), author."""
    out = git(root, "blame", "--line-porcelain", "--", path)
    lines: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    for line in out.split("\n"):
        if line.startswith("\t"):
            lines.append(cur)
            cur = {}
            continue
        if not line:
            continue
        key, _, rest = line.partition(" ")
        if not cur:  # the first header line of a group: "<sha> <orig line> <final line> [<count>]"
            cur = {"commit": key, "final_line": int(rest.split()[1])}
        elif key == "committer-time":
            cur["committer_time"] = int(rest)
        elif key == "author":
            cur["author"] = rest
        elif key == "author-mail":
            cur["author_mail"] = rest
    for i, d in enumerate(lines, 1):
        assert d["final_line"] == i, f"{path}: blame out of order at line {i}"
    return lines


class CatFile:
    """`git cat-file --batch`: blobs by `<rev>:<path>` without a process per read."""

    def __init__(self, root: str):
        self.proc = subprocess.Popen(["git", "-C", root, "cat-file", "--batch"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, name: str) -> bytes | None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(name.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().decode().split()
        if len(header) < 3 or header[-1] == "missing":
            return None
        data = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)
        return data

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


_LIST_MARKER = re.compile(r"^(\s*(?:> )?)(?:\d+\.|-) ", re.M)


def rendered_words(text: str) -> list[str]:
    """Words of a section's plain text, without the list markers wikicheck writes (it renumbers
    ordered lists: markdown "1. 1. 1." becomes "1. 2. 3.")."""
    return words(_LIST_MARKER.sub(r"\1", text))


def is_subsequence(needle: list[str], hay: list[str]) -> tuple[bool, int]:
    """(all of needle in order in hay?, how many of needle matched before the first miss)."""
    it = iter(hay)
    for n, w in enumerate(needle):
        if not any(w == h for h in it):
            return False, n
    return True, len(needle)


# --------------------------------------------------------------------------- the check


class Report:
    def __init__(self) -> None:
        self.agree: Counter[str] = Counter()
        self.disagree: Counter[str] = Counter()
        self.info: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def check(self, kind: str, ok: bool, example: str = "") -> bool:
        if ok:
            self.agree[kind] += 1
        else:
            self.disagree[kind] += 1
            if len(self.examples[kind]) < MAX_EXAMPLES:
                self.examples[kind].append(example)
        return ok

    @property
    def failed(self) -> bool:
        return sum(self.disagree.values()) > 0

    def to_json(self) -> dict[str, Any]:
        kinds = sorted(set(self.agree) | set(self.disagree))
        return {"checks": {k: {"agree": self.agree[k], "disagree": self.disagree[k]} for k in kinds},
                "info": dict(self.info), "examples": dict(self.examples), "ok": not self.failed}


def _heading_on_line(heading: str, lines: list[str], line_start: int) -> bool:
    want = words(heading)
    for ln in (line_start, line_start + 1):  # ATX on the line itself, setext: text then underline
        if 1 <= ln <= len(lines) and is_subsequence(want, words(lines[ln - 1]))[0]:
            return True
    # a heading whose text wraps over lines or comes from HTML: its words over the next few lines
    return is_subsequence(want, words(" ".join(lines[line_start - 1:line_start + 2])))[0]


def check_index(index: Path, repo: str | None, sample: int, seed: int) -> tuple[Report, dict[str, Any]]:
    import wikicheck.parse as wparse
    from wikicheck.model import Document

    db = sqlite3.connect(f"file:{index / 'wikicheck.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    rep = Report()
    stats: dict[str, Any] = {}
    sources = [dict(r) for r in db.execute("select * from sources where kind = 'git'")]
    if not sources:
        raise SystemExit(f"{index}: no git source in this index")
    for src in sources:
        root = repo or src["root"]
        prefix = git(root, "rev-parse", "--show-prefix").strip()
        top = git(root, "rev-parse", "--show-toplevel").strip()
        head = git(root, "rev-parse", "HEAD").strip()
        if src["last_commit"] != head:
            rep.check("index_at_head", False, f"{src['name']}: index at {src['last_commit']}, repo HEAD {head}")
        else:
            rep.check("index_at_head", True)
        dirty = git(root, "status", "--porcelain", "--untracked-files=no", "--", ".").strip()
        if dirty:
            print(f"note: {root} has uncommitted changes; their lines are 'Not Committed Yet'", file=sys.stderr)
        ctime: dict[str, int] = {}
        parent: dict[str, str | None] = {}
        for line in git(top, "log", "--format=%H %ct %P", "HEAD").splitlines():
            parts = line.split()
            ctime[parts[0]] = int(parts[1])
            parent[parts[0]] = parts[2] if len(parts) > 2 else None

        # ---------------------------------------------------------------- blame, every live section
        secs = [dict(r) for r in db.execute(
            "select * from sections where source = ? and removed_at is null order by path, line_start", [src["name"]])]
        by_path: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in secs:
            by_path[s["path"]].append(s)
        n_ties = 0
        t0 = time.perf_counter()
        for path, ss in sorted(by_path.items()):
            bl = blame_lines(root, path)
            text = (Path(root) / path).read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
            file_lines = text.split("\n")
            for s in ss:
                where = f"{path}:{s['line_start']}-{s['line_end']} [{' > '.join(json.loads(s['heading_path']))}]"
                missing = [k for k in ("changed_at", "author", "commit", "timestamp_source") if not s[k]]
                rep.check("fields_set", not missing, f"{where}: null {missing}")
                rep.check("timestamp_source_git", s["timestamp_source"] == "git",
                          f"{where}: timestamp_source={s['timestamp_source']!r}")
                lo, hi = s["line_start"], s["line_end"]
                # wikicheck's text has one more line than blame when the file ends with a newline;
                # that last line is empty and belongs to no section, so a span must lie within blame
                in_file = 1 <= lo <= hi <= len(bl)
                rep.check("span_in_file", in_file, f"{where}: span outside the {len(bl)} blamed lines")
                if s["level"] > 0:
                    rep.check("heading_at_line_start", _heading_on_line(s["heading"], file_lines, lo),
                              f"{where}: heading {s['heading']!r} not at line {lo}: {file_lines[lo - 1][:80]!r}")
                span = bl[lo - 1:min(hi, len(bl))]
                if not span:
                    continue
                newest = max(b["committer_time"] for b in span)
                commits = {b["commit"] for b in span if b["committer_time"] == newest}
                n_ties += len(commits) > 1
                rep.check("changed_at", s["changed_at"] == iso_utc(newest),
                          f"{where}: wikicheck {s['changed_at']}, git blame {iso_utc(newest)} ({sorted(commits)[0][:10]})")
                rep.check("commit", s["commit"] in commits,
                          f"{where}: wikicheck {str(s['commit'])[:10]}, git blame {[c[:10] for c in sorted(commits)]}")
                line = next(b for b in span if b["committer_time"] == newest and
                            (b["commit"] == s["commit"] or s["commit"] not in commits))
                rep.check("author", s["author"] == f"{line['author']} {line['author_mail']}",
                          f"{where}: wikicheck {s['author']!r}, git blame {line['author']} {line['author_mail']}")
        stats["blame_seconds"] = round(time.perf_counter() - t0, 2)
        rep.info["live_sections"] += len(secs)
        rep.info["pages"] += len(by_path)
        rep.info["spans_with_tied_newest_commits"] += n_ties

        # ---------------------------------------------------------------- section history
        vers = [dict(r) for r in db.execute(
            "select * from section_versions where source = ? order by section_id, valid_from, id", [src["name"]])]
        by_sec: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for v in vers:
            by_sec[v["section_id"]].append(v)
        live = {s["id"]: s for s in secs}
        rep.info["section_versions"] += len(vers)
        rep.info["sections_with_gt1_version"] += sum(1 for sid in live if len(by_sec.get(sid, [])) > 1)
        rep.info["sections_with_gt1_version_incl_removed"] += sum(1 for vs in by_sec.values() if len(vs) > 1)
        for o, n in Counter(v["origin"] for v in vers).items():
            rep.info[f"versions_origin_{o}"] += n
        for sid, s in live.items():
            open_ = [v for v in by_sec.get(sid, []) if v["valid_to"] is None]
            rep.check("one_open_version_per_live_section", len(open_) == 1 and open_[0]["content_hash"] == s["content_hash"],
                      f"{s['path']} [{s['heading']}]: {len(open_)} open versions")
        changed = sorted(sid for sid in live if len(by_sec.get(sid, [])) > 1)
        if sample and sample < len(changed):
            changed = sorted(random.Random(seed).sample(changed, sample))
        rep.info["changed_sections_checked"] += len(changed)
        cat = CatFile(top)
        parsed: dict[tuple[str, str], dict[str, Any] | None] = {}

        def sections_at(commit: str | None, path: str) -> dict[str, Any] | None:
            """{section id: body_hash} of the page at `commit` (None: no such page), by wikicheck's parser."""
            if commit is None:
                return None
            key = (commit, path)
            if key not in parsed:
                data = cat.read(f"{commit}:{prefix}{path}")
                if data is None:
                    parsed[key] = None
                else:
                    text = data.decode("utf-8-sig", "replace").replace("\r\n", "\n").replace("\r", "\n")
                    doc = Document(source=src["name"], path=path, text=text, fingerprint="",
                                   kind="html" if path.lower().endswith((".html", ".htm")) else "markdown")
                    parsed[key] = {"text": text, "bodies": {x.id: x.body_hash for x in wparse.iter_sections(doc)}}
            return parsed[key]

        try:
            for sid in changed:
                for v in by_sec[sid][:-1]:  # every version but the newest
                    where = f"{v['path']} [{' > '.join(json.loads(v['heading_path']))}] version {str(v['commit'])[:10]}"
                    rep.info["older_versions_checked"] += 1
                    if not rep.check("version_has_commit", bool(v["commit"]) and v["commit"] in ctime,
                                     f"{where}: commit {v['commit']!r} not in the history"):
                        continue
                    page = sections_at(v["commit"], v["path"])
                    if not rep.check("version_page_at_commit", page is not None, f"{where}: no such page at commit"):
                        continue
                    want = rendered_words(v["text"])
                    ok, n = is_subsequence(want, words(page["text"]))
                    rep.check("version_words_at_commit", ok,
                              f"{where}: word {n} of {len(want)} ({want[n] if not ok else ''!r}) "
                              "not found in order in git show")
                    rep.check("version_reparse_at_commit", page["bodies"].get(sid) == v["body_hash"],
                              f"{where}: section not at commit with this body")
                    before = sections_at(parent.get(v["commit"]), v["path"])
                    rep.check("version_introduced_by_commit",
                              before is None or before["bodies"].get(sid) != v["body_hash"],
                              f"{where}: the parent commit already has this text")
                    rep.check("version_valid_from", v["valid_from"] == iso_utc(ctime[v["commit"]]),
                              f"{where}: valid_from {v['valid_from']}, commit time {iso_utc(ctime[v['commit']])}")
                    end = v["ended_by_commit"]
                    if rep.check("version_has_end_commit", bool(end) and end in ctime, f"{where}: ended_by_commit {end!r}"):
                        after = sections_at(end, v["path"])
                        rep.check("version_ended_by_commit",
                                  after is None or after["bodies"].get(sid) != v["body_hash"],
                                  f"{where}: the page at ended_by_commit {end[:10]} still has this text")
                        rep.check("version_valid_to", v["valid_to"] == iso_utc(ctime[end]),
                                  f"{where}: valid_to {v['valid_to']}, commit time {iso_utc(ctime[end])}")
        finally:
            cat.close()
    return rep, stats


# --------------------------------------------------------------------------- driver


def make_repo(variant: str, dest: Path) -> None:
    subprocess.run([str(BENCH_DIR / "make-repo"), str(BENCH_DIR / CORPUS / variant), str(dest)],
                   check=True, stdout=subprocess.DEVNULL)


def crawl_fake(repo: Path, index: Path) -> float:
    from wikicheck.crawl import crawl
    from wikicheck.embed import get_embedder

    t = time.perf_counter()
    crawl([str(repo)], index, embedder=get_embedder("test-hash-64"))
    return time.perf_counter() - t


def print_report(name: str, rep: Report) -> None:
    print(f"\n### {name}\n")
    print("| check | agree | disagree |\n| --- | ---: | ---: |")
    for k in sorted(set(rep.agree) | set(rep.disagree)):
        print(f"| {k} | {rep.agree[k]} | {rep.disagree[k]} |")
    print()
    for k, v in sorted(rep.info.items()):
        print(f"* {k}: {v}")
    for k, ex in sorted(rep.examples.items()):
        print(f"\ndisagreements ({k}), first {len(ex)}:")
        for e in ex:
            print(f"  - {e}")
    print(f"\n{name}: {'OK' if not rep.failed else 'DISAGREEMENTS: ' + str(sum(rep.disagree.values()))}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="history", help=f"corpus variant: {', '.join(VARIANTS)} or all")
    ap.add_argument("--repo", help="an existing git repository (default: make-repo of --variant into a temp dir)")
    ap.add_argument("--index", help="an index crawled from --repo (default: crawl it with test-hash-64)")
    ap.add_argument("--sample", type=int, default=0,
                    help="check the older versions of N random changed sections (default 0: all of them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", help="write the results as JSON")
    args = ap.parse_args(argv)
    variants = list(VARIANTS) if args.variant == "all" else [args.variant]
    if (args.repo or args.index) and len(variants) > 1:
        ap.error("--repo/--index check one index; use --variant NAME or none")
    if any(v not in VARIANTS for v in variants):
        ap.error(f"unknown variant {args.variant!r}")
    results: dict[str, Any] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="wikicheck-blame-") as tmp:
        for variant in variants:
            name = variant if not (args.repo or args.index) else (args.index or args.repo)
            repo = Path(args.repo) if args.repo else None
            index = Path(args.index) if args.index else None
            crawl_s = None
            if repo is None and index is None:
                repo = Path(tmp) / f"repo-{variant}"
                make_repo(variant, repo)
            if index is None:
                index = Path(tmp) / f"index-{variant}"
                crawl_s = crawl_fake(repo, index)  # type: ignore[arg-type]
            t = time.perf_counter()
            rep, stats = check_index(index, str(repo) if repo else None, args.sample, args.seed)
            stats["check_seconds"] = round(time.perf_counter() - t, 2)
            if crawl_s is not None:
                stats["crawl_seconds"] = round(crawl_s, 2)
            print_report(name, rep)
            print(f"({', '.join(f'{k} {v}' for k, v in stats.items())})")
            results[name] = {**rep.to_json(), **stats}
            failed |= rep.failed
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
