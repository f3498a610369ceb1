"""Connecting to a Ray cluster, and the actors it can hold."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from ..errors import WikicheckError

INSTALL_HINT = "install it with: pip install 'wikicheck[scale]'"


@dataclass(frozen=True)
class RayCluster:
    """A connected cluster: where it is and the slots the embedding actors take."""

    address: str  # what the user gave: auto, local or HOST:PORT / ray://HOST:PORT
    nodes: int
    cpus: float
    gpus: float

    def actors(self) -> tuple[int, float, float]:
        """(actors, CPUs per actor, GPUs per actor): one actor per GPU when there are GPUs, else one per
        CPU slot. An actor that holds one CPU runs the model on one thread (see embed._EmbedActor)."""
        if self.gpus >= 1:
            return int(self.gpus), 1.0, 1.0
        return max(1, int(self.cpus)), 1.0, 0.0


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise WikicheckError(f"--ray needs the ray package; {INSTALL_HINT}") from None
    return ray


def connect(address: str) -> RayCluster:
    """Connect this process to a Ray cluster (once; later calls reuse the connection).

    `auto`: the cluster this machine is part of (RAY_ADDRESS, or the one `ray start` started here);
    `local`: a new single-node cluster inside this process, for one machine; anything else: the address
    of a cluster's head node (HOST:PORT, or ray://HOST:PORT for Ray Client)."""
    ray = _ray()
    if not address:
        raise WikicheckError("--ray needs an address: auto, local, or the head node's HOST:PORT")
    if not ray.is_initialized():
        if address not in ("auto", "local"):
            _reachable(address)
        kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "include_dashboard": False}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

        try:
            if address == "local":
                ray.init(**kwargs)
            else:
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            hint = ("start one with `ray start --head`, or use --ray local for a cluster in this process"
                    if address == "auto" else "check the head node's address and that it is running (`ray status`)")
            raise WikicheckError(f"cannot connect to the Ray cluster at {address} ({first}); {hint}") from None
    res = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return RayCluster(address, nodes, float(res.get("CPU", 0)), float(res.get("GPU", 0)))


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse an address whose head node does not answer, at once: Ray itself retries an unreachable
    GCS for minutes, logging every attempt."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise WikicheckError(f"--ray {address}: give auto, local, or the head node's HOST:PORT (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise WikicheckError(f"cannot reach the Ray head node at {hostport} ({e.strerror or e}); "
                             "check the address and that the cluster is up (`ray status` on the head)") from None


def failure(ex: BaseException) -> str:
    """One line for an error that came back from the cluster: its innermost cause (a WikicheckError's
    own message; else its type and message), without Ray's wrapping and remote traceback. Ray keeps a
    remote exception's cause only in the traceback text it carries, so that is where it is read."""
    found = None
    for line in str(ex).splitlines():
        m = _RAISED.match(line.strip())
        if m and not m.group(1).startswith("ray."):
            found = m
            break  # a chained traceback prints the innermost cause first
    if found is None:
        first = (str(ex).strip().splitlines() or [""])[0]
        return f"{type(ex).__name__}: {first[:300]}"
    name, message = found.group(1), found.group(2).strip()
    if name.startswith("wikicheck.errors."):
        return message[:500]
    return f"{name.rsplit('.', 1)[-1]}: {message[:300]}"


_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)$")
