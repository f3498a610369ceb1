"""benchmarks/fuzz_crawl.py at a small size (issue 11): every kind of hostile file, a real `wikicheck crawl`
subprocess, and the valid pages all indexed. The 1,000-file run and its figures are in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "benchmarks" / "fuzz_crawl.py"


def test_small_fuzz_corpus_crawls_without_a_crash_and_indexes_every_valid_page(tmp_path):
    # seed 15 makes a front matter title with a terminal escape in it, which crashed the crawl (exit 4)
    # until split_front_matter caught PyYAML's ReaderError
    out = tmp_path / "fuzz.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, str(SCRIPT), "--count", "60", "--valid", "5", "--seed", "15",
                        "--model", "test-hash-64", "--no-search", "--timeout", "120", "--json-out", str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text(encoding="utf-8"))
    assert (res["crawl_exit_code"], res["crashes"], res["hung"], res["leaks"]) == (0, 0, 0, 0), res["stderr_tail"]
    assert (res["valid_indexed"], res["valid_missing"]) == (5, [])
    assert res["malformed_variants"] == 60 and res["malformed_entries"] >= 60
    # every kind was made at least once, and each hostile file that is not a page is a warning, never silence
    from_script = _kinds()
    assert set(res["per_kind"]) == from_script, set(res["per_kind"]) ^ from_script
    silent = {k: row["dropped silently"] for k, row in res["per_kind"].items() if row.get("dropped silently")}
    assert silent == {}
    # what can never be a page (binary, not UTF-8, a device, a link out of the folder or in a loop) is skipped,
    # each with its own warning
    for kind in ("binary", "non_utf8", "symlink_dev", "symlink_out", "symlink_loops"):
        row = res["per_kind"][kind]
        assert row.get("skipped, warned") == row["entries"], (kind, row)
    assert "| valid pages indexed (store: live, phrase, vector) | 5 of 5 |" in r.stdout


def _kinds() -> set[str]:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.fuzz_crawl import KINDS
    finally:
        sys.path.remove(str(ROOT))
    return set(KINDS)
