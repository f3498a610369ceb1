"""pytest plugin of suite_time.py (`-p _select_ids`, with benchmarks/ on PYTHONPATH): keep only the
tests whose node ids the file named by SUITE_TIME_IDS lists, one per line; report the rest as
deselected."""

from __future__ import annotations

import os
from typing import Any


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    path = os.environ.get("SUITE_TIME_IDS")
    if not path:
        return
    with open(path, encoding="utf-8") as f:
        keep = set(f.read().splitlines())
    config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in keep])
    items[:] = [i for i in items if i.nodeid in keep]
