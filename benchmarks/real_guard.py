#!/usr/bin/env python3
"""What the retrieval guard does on a real repository, page by page.

For every live page of an index and every section heading on it, ask the guard "<page title>:
<heading>" (top k, default policy block) and report:

* empty: results whose text is empty (a heading with nothing under it: never acceptable);
* blocked or replaced: results that took the place of a blocked section, with the finding that
  justified it (rule, kind, level, message), so that each can be judged by a reader;
* duplicates given way: results that replaced a word-for-word copy (WC204, info).

    python benchmarks/real_guard.py INDEX_DIR [--wikicheck CMD] [-k 5] [--json-out F]

Runs `wikicheck search --queries-file ... --json` once (batch mode), so the model loads once.
Exit status 1 when any result has empty text.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path


def queries(index: Path) -> list[str]:
    db = sqlite3.connect(next(index.glob("*.db")))
    rows = db.execute(
        "select d.path, coalesce(d.title, ''), s.heading, s.level from sections s join documents d "
        "on d.id = s.document_id where s.removed_at is null order by d.path, s.line_start").fetchall()
    titles: dict[str, str] = {}
    for path, title, heading, level in rows:
        if path not in titles:
            titles[path] = title
        if not titles[path] and level == 1:
            titles[path] = heading
    out: list[str] = []
    for path, _, heading, _level in rows:
        title = titles[path] or Path(path).stem
        if heading and heading != title:
            out.append(f"{title}: {heading}")
    return sorted(set(out))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("index", type=Path)
    ap.add_argument("--wikicheck", default="wikicheck")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--show", type=int, default=30)
    a = ap.parse_args()
    qs = queries(a.index)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(qs) + "\n")
    proc = subprocess.run([*a.wikicheck.split(), "search", "--queries-file", f.name, "--index", str(a.index),
                           "-k", str(a.k), "--json", "--no-events"], stdout=subprocess.PIPE, text=True, check=True)
    runs = json.loads(proc.stdout)["runs"]
    empty: list[tuple[str, dict]] = []
    replaced: Counter[tuple[str, str, str, str, str]] = Counter()
    served = 0
    for q, run in zip(qs, runs):
        for r in run["results"]:
            served += 1
            if not (r.get("text") or "").strip():
                empty.append((q, r))
            if r.get("replaces") or r.get("replaced"):
                rep = r.get("replaced") or {}
                why = next((x for x in r.get("reasons", []) if x.get("kind") == "replacement"), {})
                inner = (why.get("replaced_reasons") or [{}])[0]
                replaced[(rep.get("path", "?"), rep.get("heading", "?"), inner.get("rule") or "?",
                          inner.get("kind") or "?", (inner.get("message") or "")[:160])] += 1
    print(f"queries={len(qs)} results={served} empty_text={len(empty)} replacement_results={sum(replaced.values())} "
          f"distinct_replaced_sections={len(replaced)}")
    for q, r in empty[: a.show]:
        print(f"  EMPTY  {q!r}: {r['path']} §{r['heading']}")
    for (path, heading, rule, kind, msg), n in sorted(replaced.items(), key=lambda kv: -kv[1])[: a.show]:
        print(f"  REPLACED x{n}  {path} §{heading}  [{rule} {kind}] {msg}")
    if a.json_out:
        a.json_out.write_text(json.dumps({"queries": qs, "runs": runs}, indent=1))
    return 1 if empty else 0


if __name__ == "__main__":
    sys.exit(main())
