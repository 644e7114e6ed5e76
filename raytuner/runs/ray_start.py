"""Start or join Ray for a run, and import the modules that build the Tuner while it starts.

A local ``ray.init`` waits about 3 s on 2 cores for processes of its own (the GCS, the raylet,
the first workers). Importing the Tuner side (Ray Tune, the searchers, the TensorBoard
aggregation: about 1 s) after it would add its whole time to the run's start, so
:func:`start_ray` imports those modules in a thread meanwhile (``benchmarks/RESULTS.md``,
the default job's first result). The thread only warms Python's module cache: a module that
fails to import there is imported again where it is used and fails there with its own error.

Two threads importing at once can deadlock only if each holds a module the other needs. The
main thread holds none while ``ray.init`` runs once the modules ``ray.init`` imports on its
first call are loaded (:data:`RAY_INIT_IMPORTS`, Ray 2.60; ``tests/runs/test_ray_start.py``
checks that the list is complete), so it loads them before the thread starts.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import ray

from raytuner.config.schema import Experiment
from raytuner.runs import quiet
from raytuner.runs.usercode import cluster_runtime_env

#: what ``ray.init`` of a local Ray imports on its first call, beyond ``import ray`` (Ray 2.60)
RAY_INIT_IMPORTS = ("click", "optparse", "ray._common.usage.usage_lib",
                    "ray._private.runtime_env.uv_runtime_env_hook",
                    "ray._private.thirdparty.pynvml", "ray.autoscaler._private.local.config",
                    "ray.autoscaler._private.util", "ray.autoscaler.v2.utils",
                    "ray.core.generated.usage_pb2", "ray.dashboard")

#: the driver's modules that build and run the Tuner (imported while Ray starts)
TUNER_MODULES = ("raytuner.runs.tuner", "raytuner.cluster.capacity", "raytuner.runs.display")


@contextlib.contextmanager
def importing_meanwhile(modules: Sequence[str]) -> Iterator[None]:
    """Import ``modules`` in a background thread while the body runs; wait for it at the end.

    Best effort: an import that fails in the thread stops it silently, and the module is
    imported again, with its real error, where the code uses it."""

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - re-raised by the import where it is used
                return

    thread = threading.Thread(target=work, name="raytuner-imports", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _load_ray_init_imports() -> None:
    for name in RAY_INIT_IMPORTS:
        with contextlib.suppress(ImportError):  # another Ray may not have it: ray.init decides
            importlib.import_module(name)


def start_ray(address: str | None, exp: Experiment | None = None, *,
              meanwhile: Sequence[str] = ()) -> bool:
    """Connect to ``address`` or start a local Ray with no dashboard (nothing listens on a
    public address unless the user runs a cluster); True when this started a local Ray.
    ``meanwhile``: modules to import in a thread while Ray starts (see the module's text).

    Workers' output stays in Ray's session logs unless ``--verbose`` (see
    :mod:`raytuner.runs.quiet`). On a cluster, the user's modules found in the current folder
    travel to the workers in the job's runtime environment (``py_modules``).
    """
    # Quiet by default: the live view says what matters; these warnings repeat per epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING,
                              "log_to_driver": quiet.is_verbose()}
    # RAY_ADDRESS is an explicit choice (`ray job submit` sets it for the job's driver).
    address = address or os.environ.get("RAY_ADDRESS") or None
    runtime_env = cluster_runtime_env(exp) if address and exp is not None else None
    _load_ray_init_imports()
    with importing_meanwhile(meanwhile):
        if address:
            ray.init(address=address, runtime_env=runtime_env, **kwargs)
            return False
        # "local" always starts a fresh instance: a bare ray.init() would silently join any
        # cluster left running on this machine by `ray start`. Its workers search the driver's
        # current folder for the user's modules (Ray adds it to their import path).
        with quiet.quiet_token_notice():
            ray.init(address="local", include_dashboard=False, **kwargs)
        return True
