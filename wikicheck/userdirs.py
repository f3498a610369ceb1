"""Where wikicheck keeps what it can always recompute: the user's cache directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$WIKICHECK_CACHE_DIR, else $XDG_CACHE_HOME/wikicheck, else ~/.cache/wikicheck (not created here).

    Holds the ONNX export cache (onnx_engine.export) and the list of store files found sound
    (store.files): deleting it costs time, never correctness."""
    if os.environ.get("WIKICHECK_CACHE_DIR"):
        return Path(os.environ["WIKICHECK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wikicheck"
