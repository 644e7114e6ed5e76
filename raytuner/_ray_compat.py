"""Every private Ray API raytuner relies on, in one place.

Each use says why no public API serves. ``tests/test_ray_compat.py`` checks all of them against
the installed Ray, so an upgrade that renames or removes one fails there, loudly and by name,
instead of somewhere deep in a run. Where Ray has a public way, raytuner uses it instead (e.g.
``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS`` plus explicit CSV and JSON logger callbacks, rather
than subclassing ``TBXLoggerCallback`` to keep Tune from adding its TensorBoard logger).

Imported only by code that runs Ray (it imports Ray at its top).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import ray
from ray._private import state as ray_state
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.tune.search.hyperopt import HyperOptSearch

# ---------------------------------------------------------------------------------------------
# HyperOpt: seeded points inside conditional branches, and warm-start results


class SeededHyperOptSearch(HyperOptSearch):
    """``HyperOptSearch`` whose HyperOpt ``Trials`` are filled by ``seed_trials`` right after
    Ray creates them, and whose seeded points are already in HyperOpt's ``{label: value}`` form.

    Private API: ``_setup_hyperopt`` (where Ray builds the ``Trials`` from
    ``points_to_evaluate``), ``_hpopt_trials`` (that ``Trials`` object) and
    ``_convert_categories_to_indices`` (Ray's conversion of seeded values, which cannot map
    values inside conditional branches). Ray has no public hook to add finished trials (a warm
    start) or to pass seeded points of a conditional space.
    """

    def __init__(self, *, seed_trials: Callable[[Any], None], **kwargs: Any):
        # Set before Ray's __init__, which calls _setup_hyperopt when given a space.
        self._seed_trials = seed_trials
        super().__init__(**kwargs)

    def _convert_categories_to_indices(self, config: dict) -> None:
        return None  # the points are indices already (raytuner.search.space.hyperopt_point)

    def _setup_hyperopt(self) -> None:
        super()._setup_hyperopt()
        self._seed_trials(self._hpopt_trials)
        self._hpopt_trials.refresh()


# ---------------------------------------------------------------------------------------------
# Tune's results


def experiment_analysis(result_grid: Any) -> Any | None:
    """The in-memory ``ExperimentAnalysis`` of a finished ``Tuner.fit()``, or None.

    Private API: ``ResultGrid._experiment_analysis``. The public way, ``ExperimentAnalysis``
    read from the run folder, can lag the final trial statuses by one snapshot of the
    experiment state; the summary needs the statuses Tune ended with.
    """
    return getattr(result_grid, "_experiment_analysis", None)


# ---------------------------------------------------------------------------------------------
# The connected cluster


def autoscaler_node_groups() -> list[tuple[str, dict[str, float], int | None]] | None:
    """``(name, resources, max count or None)`` of the node groups Autoscaler v2 (e.g.
    KubeRay) publishes in the GCS; None when there are none or they cannot be read.

    Private API: ``ray._private.state.state.get_cluster_config()``. Ray publishes a cluster's
    node groups nowhere else (``ray.nodes()`` lists only nodes that are already up).
    """
    try:
        config = ray_state.state.get_cluster_config()
    except Exception:  # Ray Client, older GCS: not available
        return None
    if config is None or not config.node_group_configs:
        return None
    return [(g.name, dict(g.resources), None if g.max_count < 0 else int(g.max_count))
            for g in config.node_group_configs]


def started_by_this_process() -> bool:
    """True when this process started the cluster's head (``ray.init()`` with no address):
    such a cluster has no autoscaler.

    Private API: ``ray._private.worker.global_worker.node.head``. Ray says publicly whether it
    is initialized, not whether this process started the cluster it is connected to.
    """
    try:
        return bool(ray._private.worker.global_worker.node.head)
    except Exception:  # Ray Client: no local node
        return False


def session_logs_dir() -> str | None:
    """The log folder of the Ray session this process is connected to (on this machine), or
    None (Ray Client, not initialized).

    Private API: ``ray._private.worker.global_worker.node.get_logs_dir_path()``. Ray names
    its session folder publicly only in log lines; raytuner copies the logs of the local
    cluster it started into the run folder.
    """
    try:
        return str(ray._private.worker.global_worker.node.get_logs_dir_path())
    except Exception:  # Ray Client or not connected: no local node
        return None


# ---------------------------------------------------------------------------------------------
# Cluster launcher files


def prepare_and_validate_launcher_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's view of a cluster launcher config, validated the way ``ray up`` does, offline.

    Private API: ``ray.autoscaler._private.util.prepare_config`` (merges the provider's
    defaults shipped in the wheel, fills node types) and ``validate_config`` (the JSON schema
    ``ray-schema.json`` plus cross-field rules). ``ray up`` runs them; Ray has no public
    function that validates a launcher file without a cloud account. Raises what they raise
    (``jsonschema.ValidationError``, ``ValueError``, ...).
    """
    prepared = prepare_config(copy.deepcopy(dict(config)))
    validate_config(prepared)
    return prepared
