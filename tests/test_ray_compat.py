"""Every private Ray API of raytuner._ray_compat, checked against the installed Ray: an upgrade
that renames, moves or changes one fails here, by name, not somewhere inside a run."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import REPO

from raytuner import _ray_compat


def test_hyperopt_search_private_hooks_exist_and_are_used() -> None:
    from hyperopt import hp
    from ray.tune.search.hyperopt import HyperOptSearch

    for name in ("_setup_hyperopt", "_convert_categories_to_indices"):
        assert callable(getattr(HyperOptSearch, name, None)), f"HyperOptSearch.{name} is gone"
    assert list(inspect.signature(HyperOptSearch._convert_categories_to_indices).parameters) \
        == ["self", "config"]
    seen = []
    searcher = _ray_compat.SeededHyperOptSearch(
        seed_trials=seen.append, space={"x": hp.uniform("x", 0, 1)}, metric="m", mode="max",
        points_to_evaluate=[{"x": 0.5}], random_state_seed=0)
    # The hook ran on HyperOpt's own Trials, which already held the seeded point.
    assert len(seen) == 1 and seen[0] is searcher._hpopt_trials
    assert len(searcher._hpopt_trials.trials) == 1


def test_result_grid_keeps_its_experiment_analysis() -> None:
    from ray.tune import ResultGrid

    analysis = SimpleNamespace(trials=[])
    assert _ray_compat.experiment_analysis(ResultGrid(analysis)) is analysis
    assert "_experiment_analysis" in inspect.getsource(ResultGrid.__init__)


def test_cluster_state_private_apis_exist() -> None:
    import ray
    from ray._private import state

    assert callable(getattr(state.state, "get_cluster_config", None))
    assert hasattr(ray._private.worker, "global_worker")
    # Node.head is an instance attribute set in __init__
    assert "self.head = " in inspect.getsource(ray._private.node.Node.__init__)


@pytest.mark.slow
def test_cluster_state_private_apis_answer_on_a_running_ray(ray_session) -> None:
    assert _ray_compat.started_by_this_process() is True  # ray_session started it here
    groups = _ray_compat.autoscaler_node_groups()  # a local Ray publishes no node groups
    assert groups is None or isinstance(groups, list)
    from ray._private import state

    state.state.get_cluster_config()  # raises if the GCS call changed
    logs = _ray_compat.session_logs_dir()
    assert logs is not None and any(Path(logs).glob("raylet.*"))


def test_launcher_config_validation_is_ray_up_s() -> None:
    import jsonschema

    config = yaml.safe_load((REPO / "clusters" / "gpu.yaml").read_text())
    prepared = _ray_compat.prepare_and_validate_launcher_config(config)
    assert prepared["cluster_name"] == config["cluster_name"]
    assert "available_node_types" in prepared
    with pytest.raises(jsonschema.ValidationError):
        _ray_compat.prepare_and_validate_launcher_config({**config, "no_such_key": 1})


def test_tune_controller_actor_reuse_internals_the_dead_actor_patch_needs() -> None:
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.tune.execution.tune_controller import TuneController

    _ray_compat.spare_trials_on_dead_reused_actors()
    _ray_compat.spare_trials_on_dead_reused_actors()  # idempotent: patched once
    assert getattr(TuneController, _ray_compat._SPARED) is True
    for name in ("_actor_stopped", "_unstage_trial_with_resources", "_maybe_reuse_cached_actor",
                 "_schedule_trial_reset"):
        assert callable(getattr(TuneController, name, None)), f"TuneController.{name} is gone"
    init = inspect.getsource(TuneController.__init__)
    for name in ("_resetting_trials", "_actor_to_trial", "_staged_trials",
                 "_pending_trials_list", "_resources_to_pending_trials", "_actor_manager"):
        assert f"self.{name}" in init, f"TuneController.{name} is gone"
    # The double callback the patch answers: actor error, then the task's error, for one event.
    source = inspect.getsource(RayActorManager._actor_task_failed)
    assert source.index("tracked_actor._on_error(") < source.index(
        "tracked_actor_task._on_error(")
    reset = inspect.getsource(TuneController._schedule_trial_reset)
    assert "on_error=self._trial_task_failure" in reset


def test_uploads_copy_only_the_files_that_changed(tmp_path: Path) -> None:
    """Ray uploads the driver's whole staging folder at every sync; with raytuner's atomic
    upload a file whose copy is already whole and current is not written again (a run of
    many trials would otherwise copy every trial's files at every sync), and a changed or
    new file is."""
    import os

    import pyarrow.fs
    from ray.train._internal import storage as ray_storage

    _ray_compat.make_local_uploads_atomic()
    source, target = tmp_path / "staging", tmp_path / "run"
    for name in ("a/result.json", "b/result.json", "experiment_state.json"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(f"{name} 1\n")
    local = pyarrow.fs.LocalFileSystem()
    ray_storage._upload_to_fs_path(str(source), local, str(target))
    first = {p.relative_to(target): p.stat() for p in target.rglob("*") if p.is_file()}
    assert {str(p) for p in first} == {"a/result.json", "b/result.json",
                                        "experiment_state.json"}
    assert all(first[p].st_mtime_ns == (source / p).stat().st_mtime_ns for p in first)

    with (source / "a/result.json").open("a") as handle:  # a trial reported again
        handle.write("a/result.json 2\n")
    (source / "c").mkdir()
    (source / "c/result.json").write_text("c 1\n")  # a new trial
    ray_storage._upload_to_fs_path(str(source), local, str(target))
    second = {p.relative_to(target): p.stat() for p in target.rglob("*") if p.is_file()}
    # unchanged files: the very same file (same inode), not a fresh copy renamed into place
    for unchanged in (Path("b/result.json"), Path("experiment_state.json")):
        assert second[unchanged].st_ino == first[unchanged].st_ino
    assert second[Path("a/result.json")].st_ino != first[Path("a/result.json")].st_ino
    for name in ("a/result.json", "b/result.json", "c/result.json", "experiment_state.json"):
        assert (target / name).read_text() == (source / name).read_text()

    # a copy changed in the run folder behind the upload's back (another size) is replaced
    (target / "b/result.json").write_text("stale\n")
    os.utime(target / "b/result.json", ns=((source / "b/result.json").stat().st_mtime_ns,) * 2)
    ray_storage._upload_to_fs_path(str(source), local, str(target))
    assert (target / "b/result.json").read_text() == "b/result.json 1\n"


def test_experiment_state_is_encoded_in_one_shot_with_the_same_text() -> None:
    """``TuneController.save_to_dir`` writes the experiment state through its module's
    ``json.dump``; once patched, that is one ``json.dumps`` (C encoder) and one write, with
    the very text Ray's own call writes, objects Ray cloudpickles included."""
    import io
    import json

    from ray.tune.execution import tune_controller
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.utils.serialization import TuneFunctionEncoder

    assert "json.dump(runner_state, f, cls=TuneFunctionEncoder)" in inspect.getsource(
        TuneController.save_to_dir)
    _ray_compat.encode_experiment_state_in_one_shot()
    _ray_compat.encode_experiment_state_in_one_shot()  # idempotent
    assert isinstance(tune_controller.json, _ray_compat._OneShotJson)
    state = {"trial_data": ['{"a": 1}'] * 3, "runner_data": {"fn": len, "x": [1.5, None]},
             "stats": {"start_time": 1.25}}
    ours, theirs = io.StringIO(), io.StringIO()
    writes = []
    ours.write = lambda text, _write=ours.write: (writes.append(text), _write(text))[1]
    tune_controller.json.dump(state, ours, cls=TuneFunctionEncoder)
    json.dump(state, theirs, cls=TuneFunctionEncoder)
    assert ours.getvalue() == theirs.getvalue() and len(writes) == 1
    assert tune_controller.json.loads(ours.getvalue())["stats"] == {"start_time": 1.25}
