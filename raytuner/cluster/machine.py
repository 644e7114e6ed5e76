"""This machine's resources, checked before Ray starts: with no cluster address Ray starts
here, and a trial that needs more than the machine has would wait forever.

Ray-free on purpose: ``raytuner run`` refuses bad input without importing Ray.
"""

from __future__ import annotations

import os
import sys

import torch

from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError


def local_cpu_count() -> int:
    """CPUs this process may use (respects taskset/cgroup CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_local_resources(exp: Experiment, address: str | None, *,
                          source: str | None = None) -> None:
    """With no cluster address, Ray starts on this machine: refuse a trial that needs more
    GPUs or CPUs than the machine has (it would wait forever for a node that never comes)."""
    ray = sys.modules.get("ray")  # not imported: certainly not started (and stays so here)
    if address or os.environ.get("RAY_ADDRESS") or (ray is not None and ray.is_initialized()):
        return  # a cluster: the cluster checks compare with its nodes once Ray is up
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if exp.resources.gpu > gpus:
        have = f"{gpus} GPU(s)" if gpus else "no GPU"
        raise ConfigError(f"{exp.resources.gpu:g} GPU(s) per trial, but this machine has {have}"
                          " and no --address was given; set resources.gpu: 0 to train on the "
                          "CPU, or run on a GPU cluster with --address", source=source,
                          path="resources.gpu")
    cpus = local_cpu_count()
    if exp.resources.cpu > cpus:
        raise ConfigError(f"{exp.resources.cpu:g} CPUs per trial, but this machine has {cpus} "
                          "and no --address was given; use at most "
                          f"{cpus}, or run on a cluster with --address", source=source,
                          path="resources.cpu")
