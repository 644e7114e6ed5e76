"""Population-based training without Ray: what pbt/pb2 accept, the mutations they get from the
experiment's own space, a restored trial taking new settings in place, and the schedule a
lineage makes."""

from __future__ import annotations

import random

import pytest
import torch
import yaml
from conftest import REPO, tiny_experiment

from raytuner.after.lineage import schedule, schedule_lines
from raytuner.config import validate_experiment
from raytuner.data import load_dataset
from raytuner.errors import ConfigError
from raytuner.search.plan import make_plan
from raytuner.search.population import explore_within, into_domain, pb2_bounds, ray_mutations
from raytuner.search.schedulers import SCHEDULERS
from raytuner.trial.exploit import ORIGIN_KEY, hparam_scalars, origin, resume_trainer
from raytuner.trial.loop import Trainer

PBT_FILE = REPO / "experiments" / "digits_pbt.yaml"

SPACE = {"train.lr": {"loguniform": [1.0e-3, 1.0e-1]},
         "train.momentum": {"uniform": [0.5, 0.99]},
         "train.weight_decay": {"loguniform": [1.0e-6, 1.0e-3]},
         "model.dropout": {"uniform": [0.05, 0.5], "step": 0.05},
         "train.label_smoothing": {"uniform": [0.0, 0.2]},
         "train.batch_size": {"choice": [32, 64, 128]}}


def _pbt(**changes):
    return validate_experiment(tiny_experiment(**{
        "search.algorithm": "random", "search.scheduler.name": "pbt",
        "search.scheduler.perturbation_interval": 1, "search.space": SPACE,
        "model.dropout": 0.1, "train.optimizer": "sgd", **changes}))


def test_shipped_pbt_experiment_validates_and_plans_every_trial_to_the_end() -> None:
    exp = validate_experiment(yaml.safe_load(PBT_FILE.read_text()), source=str(PBT_FILE))
    assert exp.search.scheduler.name == "pbt" and SCHEDULERS.get("pbt").factory.population
    plan = make_plan(exp, cpus=2, gpus=0, epoch_seconds=1.0)
    total = exp.search.num_samples * exp.train.epochs
    assert (plan.epochs.lower, plan.epochs.upper) == (total, total)
    # one YAML serves ASHA too
    asha = validate_experiment({**yaml.safe_load(PBT_FILE.read_text()),
                                "search": {**yaml.safe_load(PBT_FILE.read_text())["search"],
                                           "scheduler": {"name": "asha"}}})
    assert asha.space == exp.space


@pytest.mark.parametrize("key, value, fragment", [
    ("model.depth", {"int": [1, 2]}, "changes the model's shape"),
    ("model.kernel_size", {"choice": [3, 5]}, "changes the model's shape"),
    ("model.name", {"choice": ["cnn"]}, "changes the model's shape"),
    ("data.val_fraction", {"uniform": [0.1, 0.3]}, "changes the data"),
    ("train.optimizer", {"choice": ["adam", "sgd"]}, "optimizer's kind"),
])
def test_pbt_refuses_a_key_a_running_trial_cannot_change(key, value, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        _pbt(**{"search.space": {**SPACE, key: value}})
    assert f": search.space.{key}: " in str(info.value)
    assert fragment in str(info.value) and "use scheduler asha" in str(info.value)


def test_pbt_refuses_dropout_from_zero_and_conditional_branches() -> None:
    with pytest.raises(ConfigError) as info:
        _pbt(**{"search.space": {"model.dropout": {"uniform": [0.0, 0.5]}}})
    assert ": search.space.model.dropout: " in str(info.value) and "above 0" in str(info.value)
    branch = {"choice": [{"value": 32, "space": {"train.lr": {"uniform": [0.01, 0.1]}}}, 64]}
    with pytest.raises(ConfigError) as info:
        _pbt(**{"search.space": {"train.batch_size": branch}})
    assert "conditional branch" in str(info.value)


def test_pb2_bounds_default_to_the_spaces_ranges_and_must_lie_inside_them() -> None:
    exp = _pbt(**{"search.scheduler.name": "pb2"})
    bounds = pb2_bounds(exp.search.scheduler, exp.space)
    assert bounds["train.lr"] == [1e-3, 1e-1] and "train.batch_size" not in bounds
    narrowed = _pbt(**{"search.scheduler.name": "pb2",
                       "search.scheduler.hyperparam_bounds": {"train.lr": [0.01, 0.05]}})
    assert pb2_bounds(narrowed.search.scheduler, narrowed.space) == {"train.lr": [0.01, 0.05]}
    with pytest.raises(ConfigError) as info:
        _pbt(**{"search.scheduler.name": "pb2",
                "search.scheduler.hyperparam_bounds": {"train.lr": [0.01, 0.5]}})
    assert ": search.scheduler.hyperparam_bounds.train.lr: " in str(info.value)


def test_mutations_come_from_the_space_and_stay_inside_it() -> None:
    exp = _pbt()
    mutations = ray_mutations(exp.space)
    assert mutations["train.batch_size"] == [32, 64, 128]  # a choice: its values
    random.seed(0)
    lr = mutations["train.lr"]  # a loguniform domain: resampled on the log scale
    draws = [lr.sample(None) for _ in range(2000)]
    assert min(draws) >= 1e-3 and max(draws) <= 1e-1
    below = sum(d < 1e-2 for d in draws) / len(draws)  # log-uniform: half below the midpoint
    assert 0.45 < below < 0.55
    explore = explore_within(exp.space)
    fixed = explore({"train.lr": 0.5, "model.dropout": 0.0123, "train.momentum": 0.2,
                     "train.batch_size": 64})
    assert fixed == {"train.lr": 0.1, "model.dropout": 0.05, "train.momentum": 0.5,
                     "train.batch_size": 64}
    param = {p.path: p for p in exp.space}["model.dropout"]
    assert into_domain(param, 0.26) == pytest.approx(0.25)  # on the step


def _train(exp, data, epochs):
    torch.set_num_threads(1)
    trainer = Trainer(exp, data)
    for _ in range(epochs):
        trainer.run_epoch()
    return trainer


def test_a_copied_state_takes_the_new_settings_in_place_and_keeps_the_weights() -> None:
    base = _pbt()
    data = load_dataset(base.data, base.seed)
    a_params = {"train.lr": 0.01, "train.momentum": 0.9, "train.weight_decay": 1e-5,
                "model.dropout": 0.1, "train.label_smoothing": 0.0, "train.batch_size": 64}
    from raytuner.config.validate import with_params

    a = _train(with_params(base, a_params), data, 2)
    state = {**a.state_dict(), ORIGIN_KEY: origin("A", a_params, [])}
    b_params = {**a_params, "train.lr": 0.02, "train.momentum": 0.7, "train.weight_decay": 1e-4,
                "model.dropout": 0.3, "train.label_smoothing": 0.1, "train.batch_size": 32}
    b, lineage = resume_trainer(base, b_params, state, "B", lambda e: Trainer(e, data))
    for name, tensor in state["model"].items():  # A's weights, bit for bit
        assert torch.equal(b.model.state_dict()[name], tensor), name
    assert b.epoch == a.epoch == 2
    group = b.optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.7, 1e-4)
    assert [m.p for m in b.model.modules() if isinstance(m, torch.nn.Dropout)] == [0.3, 0.3]
    assert b.exp.train.label_smoothing == 0.1 and b.exp.train.batch_size == 32
    assert lineage == [{"epoch": 2, "from_trial": "A", "changes": {
        "train.lr": [0.01, 0.02], "train.momentum": [0.9, 0.7],
        "train.weight_decay": [1e-5, 1e-4], "model.dropout": [0.1, 0.3],
        "train.label_smoothing": [0.0, 0.1], "train.batch_size": [64, 32]}}]
    metrics = b.run_epoch()
    assert metrics["epoch"] == 3 and metrics["lr"] == 0.02
    assert b.schedule.steps_per_epoch == len(range(0, len(data.train_y), 32))
    # a trial resuming its own checkpoint (a retry) changes nothing and adds no entry
    again, own = resume_trainer(base, b_params, {**b.state_dict(), ORIGIN_KEY: origin(
        "B", b_params, lineage)}, "B", lambda e: Trainer(e, data))
    assert own == lineage and again.epoch == 3


def test_hparam_scalars_are_numbers_and_choice_indices() -> None:
    from raytuner.search.domains import Option, Options

    space = [*_pbt().space, Options("train.augment.hflip", "choice", [Option(False),
                                                                       Option(True)])]
    scalars = hparam_scalars({"train.lr": 0.01, "train.batch_size": 64,
                              "train.augment.hflip": True}, space)
    assert scalars == {"hparams/train.lr": 0.01, "hparams/train.batch_size": 64.0,
                       "hparams/train.augment.hflip": 1.0}


def test_schedule_lists_each_changed_value_from_the_epoch_it_held() -> None:
    record = {"trial_id": "B", "lineage": [
        {"epoch": 2, "from_trial": "A", "changes": {"train.lr": [0.1, 0.2]}},
        {"epoch": 4, "from_trial": "C", "changes": {"train.lr": [0.2, 0.3],
                                                   "train.batch_size": [32, 64]}}]}
    assert schedule(record) == {"train.lr": [(1, 0.1), (3, 0.2), (5, 0.3)],
                                "train.batch_size": [(1, 32), (5, 64)]}
    lines = schedule_lines(record)
    assert lines[0] == ("hyperparameter schedule (2 exploit(s): copied A at epoch 2, C at "
                        "epoch 4):")
    assert lines[1] == "  train.lr: 0.1 from epoch 1, 0.2 from epoch 3, 0.3 from epoch 5"
    assert schedule_lines({"lineage": []}) == []


@pytest.mark.parametrize("name, ray_class, settings", [
    ("pbt", "PopulationBasedTraining", "_hyperparam_mutations"),
    ("pb2", "PB2", "_hyperparam_bounds")])
def test_population_schedulers_build_rays_own_from_the_space(name, ray_class, settings) -> None:
    exp = _pbt(**{"search.scheduler.name": name})
    built = SCHEDULERS.get(name).factory.build(exp.search.scheduler, 3, exp.space)
    assert type(built).__name__ == ray_class and built._time_attr == "epoch"
    assert built._perturbation_interval == 1
    assert set(getattr(built, settings)) <= set(SPACE) and "train.lr" in getattr(built, settings)


def test_median_builds_rays_median_stopping_rule_in_epochs() -> None:
    exp = validate_experiment(tiny_experiment(**{
        "search.scheduler": {"name": "median", "grace_period": 2, "min_samples_required": 2}}))
    built = SCHEDULERS.get("median").factory.build(exp.search.scheduler, 3, exp.space)
    assert type(built).__name__ == "MedianStoppingRule" and built._time_attr == "epoch"
    assert (built._grace_period, built._min_samples_required) == (2, 2)
