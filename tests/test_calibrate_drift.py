"""benchmarks/calibrate_drift.py: the sweep's grid and corpus arguments (the sweep itself runs on the
benchmark corpora, outside the test suite; its figures are in docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.calibrate_drift import parse_corpus, parse_grid


def test_grid_is_the_product_of_the_axes_with_the_fields_types():
    grid = parse_grid(["prose_changed_share=0.1,0.15", "lineage_min_tokens=8,12"])
    assert grid == [{"prose_changed_share": 0.1, "lineage_min_tokens": 8},
                    {"prose_changed_share": 0.1, "lineage_min_tokens": 12},
                    {"prose_changed_share": 0.15, "lineage_min_tokens": 8},
                    {"prose_changed_share": 0.15, "lineage_min_tokens": 12}]
    assert all(isinstance(g["lineage_min_tokens"], int) for g in grid)
    assert parse_grid([]) == [{}]  # the defaults alone


def test_unknown_field_and_bad_corpus_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="'prose' is not a DriftOptions field"):
        parse_grid(["prose=0.1"])
    with pytest.raises(SystemExit, match="expected NAME=REPO:INDEX"):
        parse_corpus("flat=/repo", tmp_path)
    with pytest.raises(SystemExit, match="no labels.json"):
        parse_corpus("x/flat=/repo:/idx", tmp_path)
    (tmp_path / "x" / "flat").mkdir(parents=True)
    (tmp_path / "x" / "flat" / "labels.json").write_text("{}")
    name, labels, repo, index = parse_corpus("x/flat=/repo:/idx", tmp_path)
    assert (name, labels, repo, index) == ("x/flat", tmp_path / "x" / "flat", Path("/repo"), Path("/idx"))
