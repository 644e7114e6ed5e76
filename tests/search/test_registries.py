"""The registries behind every named choice: the schema takes its allowed names from them, so a
newly registered scheduler or optimizer is valid at once and an unknown one lists them all."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, tiny_experiment

from raytuner.config import validate_experiment
from raytuner.errors import ConfigError
from raytuner.models.layers import ACTIVATIONS
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.searchers import SEARCHERS
from raytuner.trial.optim import OPTIMIZERS
from raytuner.trial.schedules import LR_SCHEDULES


@pytest.mark.parametrize("registry, key", [
    (SCHEDULERS, "search.scheduler.name"), (SEARCHERS, "search.algorithm"),
    (OPTIMIZERS, "train.optimizer"), (LR_SCHEDULES, "train.lr_schedule.name"),
    (ACTIVATIONS, "model.activation")])
def test_unknown_names_list_the_registered_ones(registry, key) -> None:
    with pytest.raises(ConfigError) as info:
        validate_experiment(tiny_experiment(**{key: "nope"}))
    message = str(info.value)
    assert f"{key}: unknown value; expected one of: " in message and "'nope'" in message
    assert all(repr(name) in message for name in registry.choices())


@pytest.mark.parametrize("name", SCHEDULERS.choices())
def test_every_registered_scheduler_validates_and_plans(name) -> None:
    from raytuner.search.plan import make_plan

    changes: dict = {"search.scheduler.name": name}
    if SCHEDULERS.get(name).factory.population:  # only what a running trial can change
        changes.update({"search.algorithm": "random", "search.scheduler.perturbation_interval": 1,
                        "search.space": {"train.lr": {"loguniform": [1e-4, 1e-2]}}})
    exp = validate_experiment(tiny_experiment(**changes))
    plan = make_plan(exp, cpus=2, gpus=0, epoch_seconds=1.0)
    assert plan.scheduler == name and plan.epochs.lower <= plan.epochs.upper


ADD_A_SCHEDULER = '''
import sys
from raytuner.search.schedulers import SCHEDULERS, Budget, TrialScheduler

@SCHEDULERS.register("never")
class Never(TrialScheduler):
    @classmethod
    def epochs(cls, trials, cfg, epoch_values):
        return Budget(trials, trials, trials * max(epoch_values)), ["never"]

import raytuner, yaml
exp = raytuner.load_experiment(sys.argv[1], ["search.scheduler.name=never"])
print(exp.search.scheduler.name, raytuner.make_plan(exp, cpus=2, gpus=0,
                                                    epoch_seconds=1.0).details)
'''


def test_a_scheduler_is_one_registration_away(tmp_path) -> None:
    # A child process: a registration is for the life of the process that makes it.
    result = subprocess.run([sys.executable, "-c", ADD_A_SCHEDULER,
                             str(REPO / "experiments" / "digits.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "never ['never']"
