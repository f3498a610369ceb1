"""Ray for the heavy batch work of a big wiki (issue #15): `wikicheck crawl|check --ray auto|local|ADDRESS`.

The crawl's embedding runs as a Ray Data pipeline, `map_batches` over the texts that need a vector,
with the model in a pool of actors: one per GPU when the cluster has GPUs, else one per CPU slot
(each actor runs the model on that one CPU). The vectors stream back to the crawl, which commits them
batch by batch as the local path does, so a crawl killed midway keeps what was embedded and the next
one embeds only the rest. The model the actors load is the one the index is embedded with, by name or
path: every node needs wikicheck and the model installed (the default model is a PyPI package).

Nothing imports Ray unless --ray is given: this package imports it inside its functions, and nothing
else in wikicheck imports this package at module level.

`wikicheck check --ray` hands the check's two bulk steps to the cluster: the neighbour search of
every section, and claim extraction of the texts the claim cache lacks (check.py); the rest of the
check reads the whole corpus at once and stays in its process.

cluster.py connects to (or starts) a cluster and says how many actors it holds; embed.py is the
embedder (RayEmbedder) and its actor; check.py the check's work (RayCheckWork).
"""

from __future__ import annotations

from .check import RayCheckWork
from .cluster import RayCluster, connect
from .embed import RayEmbedder

__all__ = ["RayCheckWork", "RayCluster", "RayEmbedder", "connect"]
