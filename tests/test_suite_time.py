"""benchmarks/suite_time.py: reading pytest's output, and its selection plugin on a real pytest run (the
comparison itself runs whole suites, outside the test suite; its figures are in docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.suite_time import _has_xdist_opts, node_ids, parse_summary

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("line, counts, seconds", [
    ("2 failed, 827 passed in 108.38s (0:01:48)", {"failed": 2, "passed": 827}, 108.38),
    ("815 passed, 521 deselected in 124.31s (0:02:04)", {"passed": 815, "deselected": 521}, 124.31),
    ("=========== 1 passed, 1 skipped, 2 errors in 0.51s ===========", {"passed": 1, "skipped": 1, "error": 2}, 0.51),
])
def test_the_last_summary_line_is_read(line, counts, seconds):
    out = f"....F\n[100%]\n=== short test summary info ===\nFAILED tests/x.py::t - 3 passed in 9.9s\n{line}\n"
    assert parse_summary(out) == {"counts": counts, "pytest_seconds": seconds}
    with pytest.raises(ValueError, match="no pytest summary"):
        parse_summary("collected 0 items\n")


def test_node_ids_are_the_collected_lines():
    out = "tests/a.py::t1\ntests/a.py::t2[x y-1]\n  <Function t3>\n\n2 tests collected in 0.1s\n"
    assert node_ids(out) == ["tests/a.py::t1", "tests/a.py::t2[x y-1]"]


def test_a_tree_turns_the_workers_on_in_its_addopts(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-ra -n auto"\n')
    assert _has_xdist_opts(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-ra"\n')
    assert not _has_xdist_opts(tmp_path)


def test_the_plugin_runs_only_the_listed_tests(tmp_path):
    (tmp_path / "test_some.py").write_text("import pytest\n\ndef test_a():\n    pass\n\ndef test_b():\n    assert False\n\n"
                                           "@pytest.mark.parametrize('x', ['one two', 'three'])\ndef test_c(x):\n    pass\n")
    ids = tmp_path / "ids.txt"
    ids.write_text("test_some.py::test_a\ntest_some.py::test_c[one two]\n")
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS), "SUITE_TIME_IDS": str(ids)}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "-p", "no:langsmith_plugin", "-p", "_select_ids", "-c", os.devnull, str(tmp_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert parse_summary(p.stdout)["counts"] == {"passed": 2, "deselected": 2}
