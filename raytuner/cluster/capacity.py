"""What the Ray cluster can hold: its nodes, the node types an autoscaler may add, whether one
trial's resources fit anywhere, and how many trials run at once.

Ray never fails a request no node can satisfy: the trial waits forever ("infeasible"). So once
Ray runs and before any trial starts, :func:`check_trial_fits` compares one trial's CPUs and GPUs
with every alive node and, on an autoscaling cluster, with every node type the autoscaler may
start. When nothing fits, it is a ConfigError naming the request and the largest node.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import yaml

from raytuner import _ray_compat
from raytuner.errors import ConfigError
from raytuner.runs import storage

log = logging.getLogger("raytuner")

# Ray's resource granularity is 1e-4: 1 // 0.1 must count 10 trials, not 9.
_EPS = 1e-6


@dataclass(frozen=True)
class NodeShape:
    """CPUs and GPUs of one node (alive) or node type (startable); ``count`` how many there
    are or may be (None: unlimited)."""

    name: str
    cpu: float
    gpu: float
    count: int | None = 1

    def fits(self, cpu: float, gpu: float) -> int:
        """How many trials of ``cpu`` CPUs and ``gpu`` GPUs one such node holds."""
        by_cpu = math.floor(self.cpu / cpu + _EPS) if cpu > 0 else 1_000_000
        by_gpu = math.floor(self.gpu / gpu + _EPS) if gpu > 0 else 1_000_000
        return max(0, min(by_cpu, by_gpu))

    def describe(self) -> str:
        return f"{self.name} ({_num(self.cpu)} CPU, {_num(self.gpu)} GPU)"


@dataclass(frozen=True)
class Autoscaling:
    """What an autoscaler may add. ``known`` False: an autoscaler may exist but its node types
    could not be read (then nothing is refused, only warned about)."""

    known: bool
    node_types: tuple[NodeShape, ...] = ()
    max_workers: int | None = None


STATIC = Autoscaling(known=True)


def _num(value: float) -> str:
    return f"{value:g}"


def alive_node_shapes() -> list[NodeShape]:
    """CPUs and GPUs of every alive node (``ray.nodes()``)."""
    shapes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        res = node.get("Resources", {})
        shapes.append(NodeShape(f"node {node.get('NodeID', '?')[:8]} "
                                f"({node.get('NodeManagerAddress', '?')})",
                                float(res.get("CPU", 0)), float(res.get("GPU", 0))))
    return shapes


# ---------------------------------------------------------------------------------------------
# The autoscaler's node types


def node_types_from_launcher_config(config: dict[str, Any]) -> Autoscaling:
    """Node types a cluster launcher config (the file given to ``--autoscaling-config``, e.g.
    ``~/ray_bootstrap_config.yaml`` on a ``ray up`` head) lets the autoscaler start."""
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    shapes = []
    for name, spec in types.items():
        if name == head:
            continue
        resources = (spec or {}).get("resources") or {}
        shapes.append(NodeShape(f"node type {name}", float(resources.get("CPU", 0)),
                                float(resources.get("GPU", 0)),
                                int(spec.get("max_workers", config.get("max_workers", 0)))))
    cap = config.get("max_workers")
    return Autoscaling(known=True, node_types=tuple(shapes),
                       max_workers=int(cap) if cap is not None else None)


def _node_types_from_gcs() -> Autoscaling | None:
    """Autoscaler v2 (e.g. KubeRay) publishes its node groups in the GCS."""
    groups = _ray_compat.autoscaler_node_groups()
    if groups is None:
        return None
    shapes = tuple(NodeShape(f"node type {name}", float(res.get("CPU", 0)),
                             float(res.get("GPU", 0)), count) for name, res, count in groups)
    return Autoscaling(known=True, node_types=shapes)


def _gcs_address() -> str | None:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # not connected, or Ray Client
        return None


def _local_monitor_args(gcs_address: str) -> list[str] | None:
    """Command line of the autoscaler monitor of ``gcs_address`` when it runs on this machine
    (the driver runs on the head: `ray job submit`, `ray exec`, tests)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if (any(a.endswith("autoscaler/_private/monitor.py") for a in args)
                and f"--gcs-address={gcs_address}" in args):
            return args
    return None


def autoscaling(*, started_here: bool = False) -> Autoscaling:
    """What an autoscaler may add to the connected cluster.

    ``started_here``: Ray was started in this process (``ray.init()``), so nothing can be added.
    Otherwise: Autoscaler v2's node groups from the GCS; else the monitor process of this
    cluster, when it runs on this machine, and the launcher config it was given (no
    ``--autoscaling-config``: a fixed cluster); else unknown.
    """
    if started_here or _ray_compat.started_by_this_process():
        return STATIC
    from_gcs = _node_types_from_gcs()
    if from_gcs is not None:
        return from_gcs
    gcs = _gcs_address()
    args = _local_monitor_args(gcs) if gcs else None
    if args is None:
        return Autoscaling(known=False)
    config_path = next((a.split("=", 1)[1] for a in args
                        if a.startswith("--autoscaling-config=")), None)
    if config_path is None:
        return STATIC
    try:
        with open(os.path.expanduser(config_path), encoding="utf-8") as handle:
            return node_types_from_launcher_config(yaml.safe_load(handle) or {})
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        log.warning("cannot read the autoscaler's config %s (%s); trials that fit no node "
                    "type will wait", shlex.quote(config_path), exc)
        return Autoscaling(known=False)


# ---------------------------------------------------------------------------------------------
# Checks


def _largest(shapes: list[NodeShape]) -> NodeShape | None:
    return max(shapes, key=lambda s: (s.gpu, s.cpu), default=None)


def check_trial_fits(cpu: float, gpu: float, nodes: list[NodeShape],
                     scaling: Autoscaling) -> None:
    """ConfigError when no alive node and no node type the autoscaler may start has ``cpu``
    CPUs and ``gpu`` GPUs; a warning when an autoscaler's node types are unknown."""
    if any(n.fits(cpu, gpu) for n in nodes):
        return
    growable = [t for t in scaling.node_types if t.count is None or t.count > 0]
    if any(t.fits(cpu, gpu) for t in growable):
        return
    request = f"one trial asks for {_num(cpu)} CPU and {_num(gpu)} GPU"
    if not scaling.known:
        log.warning("%s and no node of the cluster has that; if the autoscaler cannot add such "
                    "a node, trials will wait forever", request)
        return
    shapes = nodes + growable
    largest = _largest(shapes)
    # Name the key the user should change: GPUs if no node has enough of them, else CPUs.
    key = "resources.gpu" if gpu > 0 and not any(s.gpu + _EPS >= gpu for s in shapes) \
        else "resources.cpu"
    value = gpu if key == "resources.gpu" else cpu
    what = "no node of the cluster and no node type its autoscaler may add" if growable \
        else "no node of the cluster (which has no autoscaler to add one)"
    largest_text = largest.describe() if largest else "none (the cluster has no nodes)"
    raise ConfigError(f"{request} ({key}={_num(value)}), but {what} has that much; "
                      f"the largest is {largest_text}; lower {key} or add bigger nodes",
                      path=key)


def trials_that_fit(cpu: float, gpu: float, nodes: list[NodeShape],
                    scaling: Autoscaling) -> int:
    """How many trials run at once: what the alive nodes hold, plus what the autoscaler may
    add (best-fitting node types first, within its ``max_workers``). At least 1."""
    total = sum(n.fits(cpu, gpu) for n in nodes)
    budget = scaling.max_workers
    for shape in sorted(scaling.node_types, key=lambda t: -t.fits(cpu, gpu)):
        count = shape.count
        if budget is not None:
            count = budget if count is None else min(count, budget)
        if count is None:  # unlimited: do not flood the searcher, assume a few nodes' worth
            count = max(1, len(nodes))
        total += count * shape.fits(cpu, gpu)
        if budget is not None:
            budget -= count
    return max(1, total)


#: pending trials to allow when an autoscaler's node types are unknown: enough demand for it to
#: start nodes (with a custom searcher and no limit, Tune keeps one pending trial and starves it)
UNKNOWN_AUTOSCALER_TRIALS = 8


def default_max_concurrent(cpu: float, gpu: float) -> int:
    """``search.max_concurrent`` when not given: the trials the connected cluster can hold."""
    scaling = autoscaling()
    total = trials_that_fit(cpu, gpu, alive_node_shapes(), scaling)
    return total if scaling.known else max(total, UNKNOWN_AUTOSCALER_TRIALS)


def check_cluster(cpu: float, gpu: float, run_dir: Path, *, shared: bool,
                  fresh: bool) -> None:
    """Before any trial starts: one trial's resources fit some node (or node type), and the
    run folder's storage is reachable from every node (:func:`raytuner.runs.storage.check_shared`).

    ``fresh``: the run folder was just created for this run; a refused run leaves none behind.
    """
    nodes = alive_node_shapes()
    scaling = autoscaling()
    try:
        check_trial_fits(cpu, gpu, nodes, scaling)
        # An autoscaler that may add nodes makes a one-node cluster multi-node later.
        can_grow = not scaling.known or any(t.count is None or t.count > 0
                                            for t in scaling.node_types)
        storage.check_shared(storage.storage_of(run_dir), shared=shared, can_grow=can_grow,
                             nodes_count=len(nodes))
    except ConfigError:
        if fresh:
            storage.discard_new_run(run_dir)
        raise
