"""Bad input, through the real `raytuner` command: for every kind of mistake, exit code 2, one
line naming the file, the key and the value, Ray never started, no run folder created, and an
existing run folder left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import REPO, tiny_experiment

from raytuner.config import validate_experiment
from raytuner.files import dump_yaml

# Records, at the exit of every command, whether Ray was imported and whether it was started.
SITECUSTOMIZE = '''
import atexit, os, sys

def _report():
    ray = sys.modules.get("ray")
    state = "no-ray" if ray is None else ("started" if ray.is_initialized() else "imported")
    with open(os.environ["RAYTUNER_TEST_RAY_STATE"], "w") as handle:
        handle.write(state)

atexit.register(_report)
'''

ALIAS_BOMB = "\n".join(
    ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]"
       for p, c in zip("abcdefghijklmnopqrs", "bcdefghijklmnopqrst", strict=True)]) + "\n"


def _exp(**changes: Any) -> dict[str, Any]:
    return tiny_experiment(**{"name": "fresh", **changes})


PBT = {"search.algorithm": "random", "search.scheduler.name": "pbt",
       "search.scheduler.perturbation_interval": 1}
PBT_SPACE = {"train.lr": {"loguniform": [1.0e-4, 1.0e-2]}}

# (case id, file content: YAML text, a dict, or None for no file, extra CLI args, fragments that
# the one error line must contain). "{file}" and "{run}" are replaced by the real paths.
CASES: list[tuple[str, Any, list[str], list[str]]] = [
    ("missing-file", None, [], ["{file}: file not found"]),
    ("not-yaml", "name: a\nsearch: [unclosed\n", [], ["{file}: line 3, column 1: not valid YAML"]),
    ("yaml-list", "- a\n- b\n", [], ["{file}: expected a mapping at the top level, got list"]),
    ("yaml-scalar", "42\n", [], ["{file}: expected a mapping at the top level, got int"]),
    ("unknown-top-key", _exp(**{"serch": {}}), [], ["{file}: serch: unknown key 'serch'",
                                                   "did you mean 'search'"]),
    ("unknown-deep-key", _exp(**{"search.scheduler.grace": 2}), [],
     ["search.scheduler.grace: unknown key 'grace'", "did you mean 'grace_period'"]),
    ("unknown-model-key", _exp(**{"model.depht": 2}), [],
     ["model.depht: unknown key 'depht'", "did you mean 'depth'"]),
    ("wrong-type", _exp(**{"train.epochs": "ten"}), [], ["train.epochs: ", "'ten'"]),
    ("zero-budget", _exp(**{"search.num_samples": 0}), [],
     ["search.num_samples: ", "greater than or equal to 1", "got 0"]),
    ("negative-budget", _exp(**{"train.epochs": -3}), [], ["train.epochs: ", "got -3"]),
    ("range-low-above-high", _exp(**{"search.space.train.lr": {"uniform": [0.1, 0.01]}}), [],
     ["search.space.train.lr: low must be below high, got [0.1, 0.01]"]),
    ("loguniform-nonpositive", _exp(**{"search.space.train.lr": {"loguniform": [0, 0.1]}}),
     [], ["search.space.train.lr: a log-scaled range needs low > 0, got [0, 0.1]"]),
    ("unknown-scheduler", _exp(**{"search.scheduler.name": "ashaa"}), [],
     ["search.scheduler.name: unknown value; expected one of", "'ashaa'"]),
    ("unknown-algorithm", _exp(**{"search.algorithm": "bayes"}), [],
     ["search.algorithm: unknown value", "'bayes'"]),
    ("unknown-model", _exp(**{"model": {"name": "transformer"}}), [],
     ["model.name: unknown model 'transformer'; expected one of: cnn"]),
    ("unknown-dataset", _exp(**{"data.name": "imagenet"}), [],
     ["data.name: unknown dataset 'imagenet'; expected one of: cifar10, cifar100, digits"]),
    ("unknown-optimizer", _exp(**{"train.optimizer": "adamm"}), [],
     ["train.optimizer: unknown value; expected one of", "'adamm'"]),
    ("metric-not-reported", _exp(**{"search.metric": "val_acc"}), [],
     ["search.metric: unknown metric 'val_acc'; the training loop reports: "]),
    ("space-path-not-a-key", _exp(**{"search.space.train.lrr": {"uniform": [0.1, 0.2]}}), [],
     ["search.space.train.lrr: value 0.1 is not a valid setting", "unknown key 'lrr'"]),
    ("grid-with-continuous", _exp(**{"search.algorithm": "grid"}), [],
     ["search.space.train.lr: search.algorithm grid needs finite domains"]),
    ("grace-period-beyond-epochs", _exp(**{"search.scheduler.grace_period": 5}), [],
     ["search.scheduler.grace_period: grace_period 5 is longer than the longest trial (3"]),
    ("mode-contradicts-metric", _exp(**{"search.mode": "min"}), [],
     ["search.mode: mode 'min' contradicts search.metric 'val_accuracy'", "use mode: max"]),
    ("nesterov-without-sgd", _exp(**{"train.nesterov": True}), [],
     ["train.nesterov: nesterov applies to optimizer sgd only (optimizer is 'adam')"]),
    ("fractional-gpus-above-one", _exp(**{"resources.gpu": 1.5}), [],
     ["resources.gpu: 1.5 GPUs per trial"]),
    ("more-cpus-than-this-machine", _exp(**{"resources.cpu": 1000}), [],
     ["resources.cpu: 1000 CPUs per trial, but this machine has"]),
    ("gpu-without-gpu", _exp(**{"resources.gpu": 1}), [],
     ["resources.gpu: 1 GPU(s) per trial, but this machine has no GPU"]),
    ("run-name-exists", _exp(name="existing"), [],
     ["run folder {run} already exists"]),
    ("resume-different-experiment", _exp(name="existing", **{"train.epochs": 4}), ["--resume"],
     ["train.epochs: differs from the run being resumed", "has 3, this experiment 4"]),
    ("resume-and-overwrite", _exp(name="existing"), ["--resume", "--overwrite"],
     ["--resume and --overwrite contradict each other"]),
    ("alias-bomb", ALIAS_BOMB, [], ["{file}: more than 100 YAML aliases"]),
    # population-based training (pbt, pb2): what a running trial cannot change, or never would
    ("structural-key-under-pbt", _exp(**PBT), [],
     ["search.space.model.channels: model.channels cannot be searched under scheduler pbt",
      "changes the model's shape"]),
    ("pbt-interval-beyond-training", _exp(**{**PBT, "search.space": PBT_SPACE,
                                             "search.scheduler.perturbation_interval": 5}), [],
     ["search.scheduler.perturbation_interval: perturbation_interval 5 is not shorter than "
      "training (3 epochs"]),
    ("pb2-without-bounds", _exp(**{**PBT, "search.scheduler.name": "pb2",
                                   "search.space": {"train.batch_size": {"choice": [64, 128]}}}),
     [], ["search.scheduler.hyperparam_bounds: pb2 needs bounds to explore"]),
    ("hyperopt-under-pbt", _exp(**{**PBT, "search.algorithm": "hyperopt",
                                   "search.space": PBT_SPACE}), [],
     ["search.algorithm: search.algorithm hyperopt cannot propose trials under scheduler pbt"]),
    ("malformed-set", _exp(), ["--set", "novalue"], ["malformed --set 'novalue'"]),
    ("set-wrong-type", _exp(), ["--set", "train.batch_size=[1, 2]"],
     ["{file}: train.batch_size: ", "[1, 2]"]),
]


def _tree_digest(folder: Path) -> str:
    """One hash of every file's path, bytes and mode under ``folder``."""
    sha = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        sha.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            sha.update(path.read_bytes())
            sha.update(str(path.stat().st_mode).encode())
    return sha.hexdigest()


def _existing_run(storage: Path) -> Path:
    """A finished-looking run folder named "existing" in the files a run writes."""
    run = storage / "existing"
    (run / "trial_0001" / "checkpoint_000000").mkdir(parents=True)
    exp = validate_experiment(tiny_experiment(name="existing"))
    (run / "experiment.yaml").write_text(dump_yaml(exp.to_dict()))
    (run / "summary.json").write_text('{"num_trials": 1}\n')
    (run / "trial_0001" / "result.json").write_text('{"epoch": 1, "val_accuracy": 0.5}\n')
    (run / "trial_0001" / "checkpoint_000000" / "state.pt").write_bytes(b"\x00" * 64)
    return run


def _run_case(case, tmp: Path, storage: Path, site: Path) -> dict[str, Any]:
    case_id, content, extra, _ = case
    folder = tmp / case_id
    folder.mkdir()
    file = folder / "experiment.yaml"
    if isinstance(content, dict):
        file.write_text(yaml.safe_dump(content, sort_keys=False))
    elif isinstance(content, str):
        file.write_text(content)
    state_file = folder / "ray_state"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "RAYTUNER_TEST_RAY_STATE": str(state_file)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "raytuner", "run", str(file), "--storage",
                           str(storage), *extra], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    return {"proc": proc, "file": file, "ray": state_file.read_text()}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Any]:
    """Every case run once, a few at a time; the storage folder holds one existing run."""
    tmp = tmp_path_factory.mktemp("bad_input")
    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    storage = tmp / "runs"
    run = _existing_run(storage)
    before = _tree_digest(storage)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: _run_case(case, tmp, storage, site), CASES))
    return {"results": dict(zip([c[0] for c in CASES], results, strict=True)),
            "storage": storage, "run": run, "before": before, "after": _tree_digest(storage)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(outcomes, case) -> None:
    case_id, _, _, fragments = case
    if case_id == "gpu-without-gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    outcome = outcomes["results"][case_id]
    proc = outcome["proc"]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("raytuner: error: "), proc.stderr
    for fragment in fragments:
        fragment = fragment.format(file=outcome["file"], run=outcomes["run"].resolve())
        assert fragment in lines[0], lines[0]
    assert proc.stdout == ""
    assert outcome["ray"] == "no-ray", "Ray was imported for bad input"
    assert sorted(p.name for p in outcomes["storage"].iterdir()) == ["existing"]
    assert outcomes["after"] == outcomes["before"], "the existing run folder was changed"
