"""RayEmbedder: the crawl's embedding as a Ray Data pipeline with the model in actors."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import WikicheckError
from .cluster import RayCluster, _ray, failure

# texts per map_batches call: the local path commits every 256 (embed.embed_pending), and so does this one
BLOCK = 256
MIN_BLOCK = 32  # the model's batch size: a smaller block only adds overhead
# how long the actors may take to start and load the model before the crawl gives up
ACTOR_START_SECONDS = 600


class _EmbedActor:
    """One model, loaded once per actor. With one CPU, torch runs on one thread: two actors on a
    two-core node then use both cores without fighting over them. The settings are class attributes
    of a subclass made per pipeline (RayEmbedder._map), which Ray ships with the class."""

    model_id = ""
    batch_size = 32
    threads = 0
    device = "cpu"

    def __init__(self) -> None:
        from ..embed import SentenceTransformerEmbedder, get_embedder

        emb = get_embedder(self.model_id, batch_size=self.batch_size)
        if isinstance(emb, SentenceTransformerEmbedder):
            emb.device = self.device
            if self.threads and self.device == "cpu":
                import torch

                torch.set_num_threads(self.threads)
        self.embedder = emb

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ray

        vecs = self.embedder.embed([str(t) for t in batch["text"]])
        node = ray.get_runtime_context().get_node_id()
        return {"key": batch["key"], "vector": np.asarray(vecs, dtype="float32"),
                "node": np.array([node] * len(vecs), dtype=object)}


class RayEmbedder:
    """Embeds on a Ray cluster with the model `model_id` (a name or path every node can load).
    `embed_stream` yields the vectors block by block as the actors finish them (embed_pending commits
    each); `embed` returns them all in the texts' order."""

    engine = "ray"

    def __init__(self, model_id: str, cluster: RayCluster, *, dim: int, batch_size: int = 32,
                 actors: int | None = None) -> None:
        self.model_id = model_id
        self.cluster = cluster
        self.batch_size = batch_size
        self._dim = dim
        n, cpus, gpus = cluster.actors()
        self.actors = max(1, actors or n)
        self.cpus, self.gpus = cpus, gpus
        self.texts_per_node: dict[str, int] = {}  # node id -> texts its actors embedded

    @property
    def dim(self) -> int:
        return self._dim

    def describe(self) -> dict[str, Any]:
        return {"address": self.cluster.address, "nodes": self.cluster.nodes, "actors": self.actors,
                "cpus_per_actor": self.cpus, "gpus_per_actor": self.gpus,
                "texts_per_node": sorted(self.texts_per_node.values(), reverse=True)}

    def embed_stream(self, items: list[tuple[str, str]], block: int = BLOCK) -> Iterator[tuple[list[str], np.ndarray]]:
        """(keys, vectors) for every (key, text) of `items`, a block at a time, in the order the
        actors finish them (keys tie each vector to its text)."""
        if not items:
            return
        # every actor gets work, and about as much: fewer texts than 4 blocks per actor go out in
        # smaller blocks (down to MIN_BLOCK), so the last block does not keep one actor busy alone
        block = max(1, min(block, max(MIN_BLOCK, math.ceil(len(items) / (4 * self.actors))),
                           math.ceil(len(items) / self.actors)))
        self.texts_per_node = {}
        ray = _ray()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the crawl has its own
        ctx.print_on_execution_start = False
        # the whole pool loads its model before the first block goes out: blocks then spread over every
        # actor instead of queueing on the first one up; a cluster without room for the pool is an
        # error after ACTOR_START_SECONDS, not a crawl that waits forever
        ctx.wait_for_min_actors_s = ACTOR_START_SECONDS
        for name in ("ray.data", "ray.data._internal"):  # the crawl reports progress and errors itself
            logging.getLogger(name).setLevel(logging.CRITICAL)
        ds = ray.data.from_items([{"key": k, "text": t} for k, t in items],
                                 override_num_blocks=max(1, math.ceil(len(items) / block)))
        with warnings.catch_warnings():
            # max_restarts goes through **ray_remote_args, which Ray 2.60 deprecates without a named
            # replacement (pyproject pins ray below 2.64, which drops it)
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = self._map(ray, ds, block, len(items))
        try:
            for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for node in set(b["node"]):
                    self.texts_per_node[str(node)] = self.texts_per_node.get(str(node), 0) + int((b["node"] == node).sum())
                yield [str(k) for k in b["key"]], np.asarray(b["vector"], dtype="float32").reshape(len(b["key"]), -1)
        except ray.exceptions.GetTimeoutError:
            raise WikicheckError(f"the Ray cluster did not start {self.actors} embedding actors of {self.cpus:g} CPU "
                                 f"{'and 1 GPU ' if self.gpus else ''}each within {ACTOR_START_SECONDS} s; "
                                 "free room on the cluster or add nodes (`ray status` shows what it holds)") from None
        except ray.exceptions.RayError as e:
            done = sum(self.texts_per_node.values())
            raise WikicheckError(f"embedding on the Ray cluster failed: {failure(e)}; the {done} vectors embedded "
                                 "before it are kept, and the next crawl embeds the rest") from None

    def _map(self, ray: Any, ds: Any, block: int, n: int) -> Any:
        actor = type("EmbedActor", (_EmbedActor,), {
            "model_id": self.model_id, "batch_size": self.batch_size,
            "threads": int(self.cpus) if not self.gpus else 0, "device": "cuda" if self.gpus else "cpu"})
        return ds.map_batches(
            actor,
            batch_size=block, batch_format="numpy",
            # one block per actor at a time: with two in flight (Ray's default) the first actor up takes
            # the first two blocks while the next one loads its model (a block embeds for seconds, so
            # nothing is gained by queueing on an actor)
            compute=ray.data.ActorPoolStrategy(size=min(self.actors, math.ceil(n / block)),
                                               max_tasks_in_flight_per_actor=1),
            num_cpus=self.cpus, num_gpus=self.gpus or None,
            # an actor that dies fails the crawl, which a rerun resumes (the blocks before it are
            # committed); a restarted one would load the model again for the same outcome
            max_restarts=0,
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for keys, vecs in self.embed_stream([(str(i), t) for i, t in enumerate(texts)]):
            out[[int(k) for k in keys]] = vecs
        return out
