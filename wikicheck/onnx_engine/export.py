"""Exporting a sentence-transformers model to ONNX (torch.onnx, dynamo), through the user's export
cache. Crawl time only: the one module that imports torch (inside its functions)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..userdirs import cache_dir
from .manifest import read_whole
from .pipeline import INPUTS


class ExportFailed(Exception):
    """The exporter cannot handle this model: recorded in the manifest, not tried again."""




def _exporter_id() -> str:
    import torch

    try:
        from importlib.metadata import version

        script = version("onnxscript")
    except Exception:  # noqa: BLE001
        script = "?"
    return f"torch.onnx.export(dynamo=True) torch {torch.__version__} onnxscript {script}"


def _export_to(st_model: Any, dest: Path) -> None:
    """Export the transformer of a sentence-transformers model (its last hidden state, batch and
    sequence length dynamic). The dynamo exporter: the TorchScript one (dynamo=False) traces the
    attention mask of transformers 5 as a constant, and its vectors were wrong (cosine 0.63-0.87)."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    transformer = st_model[0].auto_model
    tokenizer = st_model[0].tokenizer
    enc = tokenizer(["a short text", "a longer text, with more words, so that the first one is padded"],
                    padding=True, return_tensors="pt")
    names = [n for n in INPUTS if n in enc]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise ExportFailed(f"the tokenizer gives {', '.join(names)}, not input_ids and attention_mask")

    class _Hidden(torch.nn.Module):
        def __init__(self, t: Any):
            super().__init__()
            self.t = t

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.t(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(_Hidden(transformer).eval(), tuple(enc[n] for n in names), input_names=names,
                                        output_names=["last_hidden_state"],
                                        dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                                        dynamo=True, external_data=False, verbose=False)
            if program is None:
                raise RuntimeError("torch.onnx.export returned no program")
            program.save(str(dest))
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def cached_export(st_model: Any, fingerprint: str, dest: Path) -> str:
    """Write the ONNX export of the model to `dest`: from the user's cache when an export of these
    model files by this exporter is there (exporting takes ~20 s), else exported and cached. Processes
    that need the same export at once (two crawls, replicas starting together) export it once: the
    others wait for it and copy it from the cache."""
    exporter = _exporter_id()
    key = hashlib.sha256(f"{fingerprint}\0{exporter}".encode()).hexdigest()[:32]
    cache = cache_dir() / "onnx"
    cached, meta_path = cache / f"{key}.onnx", cache / f"{key}.json"
    with _one_at_a_time(cache / f"{key}.lock"):
        try:
            meta = json.loads(meta_path.read_text())
            data, _ = read_whole(cached, meta)
            if data is not None:
                with open(dest, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                return exporter + " (cached)"
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        try:
            _export_to(st_model, dest)
        except (ImportError, ExportFailed):
            raise
        except Exception as e:  # noqa: BLE001 - the exporter's many errors: this model is not exported
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            raise ExportFailed(f"torch.onnx.export failed ({type(e).__name__}: {first})") from None
        try:
            data = dest.read_bytes()
            atomic_write(cached, data)
            atomic_write(meta_path, json.dumps({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                                 "exporter": exporter}).encode())
        except OSError:
            pass  # no cache: the next index exports again
        return exporter


@contextmanager
def _one_at_a_time(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` for the block (released by the kernel if the holder dies). A cache
    folder that cannot hold the lock file only means no waiting: each process exports on its own."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
