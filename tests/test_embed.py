"""Embedders: the deterministic test embedder, the real default model, model checks, resumable embedding."""

from __future__ import annotations

import numpy as np
import pytest

from wikicheck.embed import (
    DEFAULT_MODEL,
    HashEmbedder,
    SentenceTransformerEmbedder,
    check_model,
    embed_pending,
    get_embedder,
)
from wikicheck.errors import ModelMismatch, WikicheckError
from wikicheck.model import Document
from wikicheck.parse import iter_sections


@pytest.mark.parametrize("name, cls, model_id, dim", [
    ("test-hash-64", HashEmbedder, "test-hash-64", 64),
    ("test-hash-32", HashEmbedder, "test-hash-32", 32),
    ("test-hash", HashEmbedder, "test-hash-64", 64),
    (DEFAULT_MODEL, SentenceTransformerEmbedder, DEFAULT_MODEL, None),
    ("/models/my-model", SentenceTransformerEmbedder, "/models/my-model", None),
])
def test_get_embedder_by_name(name, cls, model_id, dim):
    e = get_embedder(name)
    assert isinstance(e, cls) and e.model_id == model_id
    if dim:
        assert e.dim == dim
    else:
        assert e._model is None  # nothing loaded until it is used


def test_get_embedder_default_and_environment(monkeypatch):
    assert get_embedder().model_id == DEFAULT_MODEL
    monkeypatch.setenv("WIKICHECK_MODEL", "test-hash-16")
    assert get_embedder().model_id == "test-hash-16"
    assert get_embedder("test-hash-64").model_id == "test-hash-64"


def test_hash_embedder_is_deterministic_and_normalised():
    e = HashEmbedder(64)
    a = e.embed(["restart the api pods", "Restart the API pods!", "rotate certificates", ""])
    assert a.shape == (4, 64) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a[:3], axis=1), 1)
    assert np.array_equal(a[0], a[1])  # case and punctuation do not matter
    assert not np.allclose(a[0], a[2])
    assert not a[3].any()
    assert np.array_equal(HashEmbedder(64).embed(["restart the api pods"])[0], a[0])


@pytest.mark.parametrize("stored, requested, error", [
    (None, "m1", False),
    ("m1", "m1", False),
    ("m1", "m2", True),
])
def test_check_model(stored, requested, error):
    if error:
        with pytest.raises(ModelMismatch, match=r'index idx was embedded with "m1", not "m2"; use --model "m1", '
                                                r"or re-embed everything with --reembed"):
            check_model(stored, requested, "idx")
    else:
        check_model(stored, requested, "idx")


class Flaky(HashEmbedder):
    """Dies on its n-th batch, like a crawl killed while embedding."""

    def __init__(self, die_on: int):
        super().__init__(64)
        self.batches, self.die_on = 0, die_on

    def embed(self, texts):
        self.batches += 1
        if self.batches == self.die_on:
            raise KeyboardInterrupt
        return super().embed(texts)


def test_embed_pending_commits_per_batch_and_resumes(store):
    store.ensure_source("w", "/w", "folder")
    text = "".join(f"# Section {i}\n\nbody number {i}\n\n" for i in range(7))
    doc = Document(source="w", path="p.md", kind="markdown", text=text, fingerprint="f")
    store.save_document(doc, iter_sections(doc), "t")
    with pytest.raises(KeyboardInterrupt):
        embed_pending(store, Flaky(die_on=3), batch=2)
    assert len(store.pending_embeddings("test-hash-64")) == 3  # two batches of 2 were kept
    progress = []
    assert embed_pending(store, HashEmbedder(64), batch=2, progress=lambda d, n: progress.append((d, n))) == 3
    assert progress == [(0, 3), (2, 3), (3, 3)]
    assert embed_pending(store, HashEmbedder(64)) == 0
    keys, vecs = store.live_vectors("test-hash-64")
    expected = HashEmbedder(64).embed([f"Section {i}\n\nbody number {i}" for i in range(7)])
    assert np.allclose(vecs, expected)  # sections are stored in page order, keys ascending


def test_real_model(real_embedder):
    vecs = real_embedder.embed([
        "How do I restore the database from a backup?",
        "Run pg_restore with the nightly dump to recover Postgres.",
        "Our office plants need watering on Fridays.",
    ])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2
    assert real_embedder.embed([]).shape == (0, 384)


def test_unloadable_model_is_a_clear_error(tmp_path):
    e = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(WikicheckError, match=r'cannot load embedding model ".*no-such-model" .*\[embedding\] model'):
        e.embed(["x"])


def test_single_text_fast_path_matches_encode(real_embedder):
    import numpy as np

    assert real_embedder._fast is not None  # the default model is a plain transformer + mean pooling
    texts = ["restart pgbouncer on the primary", "kubectl -n db rollout restart deploy/pgbouncer"]
    batch = real_embedder.embed(texts)
    for i, t in enumerate(texts):
        one = real_embedder.embed([t])
        assert one.shape == (1, 384) and float(np.dot(one[0], batch[i])) > 0.9999


def test_repeated_single_texts_use_the_frozen_transformer_with_the_same_vectors(real_embedder):
    import numpy as np

    texts = [f"how do I restart the service number {i} on the primary" for i in range(5)]
    batch = real_embedder.embed(texts)
    singles = [real_embedder.embed([t])[0] for t in texts]
    assert real_embedder._fast.is_frozen()  # traced after a few single-text calls
    for a, b in zip(singles, batch):
        assert float(np.dot(a, b)) > 0.9999


def test_huge_text_is_cut_before_tokenizing_with_the_same_vector(real_embedder):
    """Found by benchmarks/fuzz_crawl.py (issue 11): a 3 MB section was tokenized whole before the
    model cut it to 256 tokens (over 1 GB of memory). It is cut first, and gives the vector encode()
    gives for the whole text."""
    import numpy as np

    page = "Restart the payments worker with `systemctl restart payments-worker` and watch the queue. " * 40000
    model = real_embedder._load()
    assert len(real_embedder._head(page)) < len(page) // 100
    want = model.encode([page[:200_000]], normalize_embeddings=True, convert_to_numpy=True)
    for got in (real_embedder.embed([page]), real_embedder.embed([page, "short text"])[:1]):
        assert np.allclose(got, want, atol=1e-5)
