"""search.algorithm optuna: the define-by-run translation of the space, seeding, points to
evaluate, warm starts, several objectives (TPE, NSGA-II), and runs on a real Ray."""

from __future__ import annotations

import math
import pickle
import random
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import tiny_experiment
from ray.tune.search.variant_generator import generate_variants

import raytuner
from raytuner.config import validate_experiment
from raytuner.errors import ConfigError
from raytuner.search._registry import WarmPoint
from raytuner.search.domains import BRANCH_VALUE
from raytuner.search.optuna_space import CONFIG_KEY, OptunaSpace, optuna_point
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import flatten, nest_point, parse_space, to_ray

OPTUNA = SEARCHERS.get("optuna").factory

SPACE = {
    "train.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "train.weight_decay": {"loguniform": [1.0e-4, 1.0e-2], "step": 1.0e-4},
    "model.depth": {"int": [1, 3]},
    "model.channels": {"int": [16, 70], "step": 16},  # 70 is off the step grid: top is 64
    "model.hidden": {"int": [8, 256], "log": True},
    "model.dropout": {"uniform": [0.0, 0.5], "step": 0.1},
    "model.widths": {"choice": [[32], [64, 32]]},  # not plain values: Optuna gets indices
    "train.optimizer": {"choice": [
        "adam",
        {"value": "sgd", "space": {
            "train.momentum": {"uniform": [0.8, 0.99]},
            "train.lr_schedule.name": {"choice": [
                "constant", {"value": "step", "space": {
                    "train.lr_schedule.gamma": {"uniform": [0.1, 0.5]}}}]}}},
        {"value": "rmsprop", "space": {"train.momentum": {"uniform": [0.0, 0.5]}}},
    ]},
}

#: a space an experiment validates (SPACE searches keys no model has)
RUN_SPACE = {
    "train.lr": {"loguniform": [1.0e-4, 1.0e-2]},
    "model.channels": {"int": [4, 12], "step": 4},
    "model.hidden": {"int": [8, 64], "log": True},
    "model.dropout": {"uniform": [0.0, 0.5], "step": 0.1},
    "train.optimizer": {"choice": [
        "adam",
        {"value": "sgd", "space": {"train.momentum": {"uniform": [0.8, 0.99]}}},
        {"value": "rmsprop", "space": {"train.momentum": {"uniform": [0.0, 0.5]}}},
    ]},
}

TWO_GOALS = [{"metric": "val_accuracy", "mode": "max"}, {"metric": "val_loss", "mode": "min"}]


def _search(**changes: Any) -> Any:
    """A validated search section of algorithm optuna (the tiny experiment's space)."""
    raw = tiny_experiment(**{"search.algorithm": "optuna", **changes})
    if "search.objectives" in changes:
        del raw["search"]["metric"], raw["search"]["mode"]
        raw["search"]["scheduler"] = {"name": "fifo"}
    return validate_experiment(raw)


def _build(exp: Any, *, seed: int = 0, max_concurrent: int = 2, warm=()) -> Any:
    searcher, param_space = OPTUNA.build(exp.search, exp.space, seed=seed,
                                         max_concurrent=max_concurrent, warm=warm)
    assert param_space == {}  # the space is the searcher's: Tune resolves nothing
    return searcher


def _sample_study(space: list, n: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """(config, Optuna params) of ``n`` trials of a seeded TPE study over ``space``; each told a
    made-up value so TPE (not only its random start) proposes."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed,
                                                                   n_startup_trials=10))
    define = OptunaSpace(space)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        trial = study.ask()
        config = define(trial)[CONFIG_KEY]
        study.tell(trial, rng.random())
        out.append((config, trial.params))
    return out


def _shape(config: dict) -> tuple:
    """The keys of a sampled config, branches nested: what the trainable reads."""
    return tuple(sorted((key, _shape({k: v for k, v in value.items() if k != BRANCH_VALUE})
                         if isinstance(value, dict) and BRANCH_VALUE in value else None)
                        for key, value in config.items()))


def _on_step(value: float, low: float, step: float) -> bool:
    return math.isclose((value - low) / step, round((value - low) / step), abs_tol=1e-6)


# ---------------------------------------------------------------------------------------------
# The translation


def test_optuna_space_samples_every_value_in_its_domain() -> None:
    space = parse_space(SPACE)
    samples = _sample_study(space, 60)
    flats = [flatten(config, space) for config, _ in samples]
    for flat in flats:
        assert 1e-4 <= flat["train.lr"] <= 1e-1
        assert 1e-4 <= flat["train.weight_decay"] <= 1e-2
        assert _on_step(flat["train.weight_decay"], 0.0, 1e-4)
        assert flat["model.depth"] in (1, 2, 3) and isinstance(flat["model.depth"], int)
        assert flat["model.channels"] in (16, 32, 48, 64)
        assert 8 <= flat["model.hidden"] <= 256 and isinstance(flat["model.hidden"], int)
        assert 0.0 <= flat["model.dropout"] <= 0.5 and _on_step(flat["model.dropout"], 0, 0.1)
        assert flat["model.widths"] in ([32], [64, 32])
        # conditional: each branch's keys exist only on its option, with its own range
        optimizer = flat["train.optimizer"]
        if optimizer == "sgd":
            assert 0.8 <= flat["train.momentum"] <= 0.99
            assert flat["train.lr_schedule.name"] in ("constant", "step")
            assert ("train.lr_schedule.gamma" in flat) == (flat["train.lr_schedule.name"]
                                                           == "step")
        elif optimizer == "rmsprop":
            assert 0.0 <= flat["train.momentum"] <= 0.5
            assert "train.lr_schedule.name" not in flat
        else:
            assert optimizer == "adam"
            assert not {"train.momentum", "train.lr_schedule.name"} & set(flat)
    assert {f["train.optimizer"] for f in flats} == {"adam", "sgd", "rmsprop"}
    assert {f["model.widths"][0] for f in flats} == {32, 64}
    # log domains spread over the decades, not bunched at the top as a uniform would
    assert min(f["train.lr"] for f in flats) < 1e-3 < 1e-2 < max(f["train.lr"] for f in flats)


def test_optuna_distributions_keep_log_scales_steps_and_indices() -> None:
    space = parse_space(SPACE)
    study = optuna.create_study()
    trial = study.ask()
    OptunaSpace(space)(trial)
    dists = trial.distributions
    assert dists["train.lr"].log and dists["model.hidden"].log
    assert not dists["model.depth"].log
    assert (dists["model.channels"].low, dists["model.channels"].high,
            dists["model.channels"].step) == (16, 64, 16)  # high on the grid: no warning
    assert dists["model.dropout"].step == pytest.approx(0.1)
    assert list(dists["model.widths"].choices) == [0, 1]
    assert list(dists["train.optimizer"].choices) == ["adam", "sgd", "rmsprop"]


def test_branch_params_have_their_own_optuna_names() -> None:
    space = parse_space(SPACE)
    names: dict[str, set[str]] = {}
    for config, params in _sample_study(space, 60):
        names.setdefault(flatten(config)["train.optimizer"], set()).update(params)
    top = {"train.lr", "train.weight_decay", "model.depth", "model.channels", "model.hidden",
           "model.dropout", "model.widths", "train.optimizer"}
    assert names["adam"] == top
    assert names["rmsprop"] == top | {"train.optimizer=rmsprop:train.momentum"}
    # the same key on two branches, and a branch inside a branch: names never collide
    assert names["sgd"] == top | {"train.optimizer=sgd:train.momentum",
                                  "train.optimizer=sgd:train.lr_schedule.name",
                                  "train.optimizer=sgd:train.lr_schedule.name=step:"
                                  "train.lr_schedule.gamma"}
    assert not any("/" in name for group in names.values() for name in group)  # Ray splits


def test_optuna_config_is_nested_as_random_search_nests_it() -> None:
    space = parse_space(SPACE)
    optuna_configs = [config for config, _ in _sample_study(space, 60)]
    random_configs = [config for seed in range(60)
                      for _, config in generate_variants(to_ray(space), random_state=seed)]
    # every config is what the random searcher's nesting of its own flat values gives ...
    for config in optuna_configs:
        assert nest_point(space, flatten(config, space), where="t") == config
    # ... and both searchers reach the same shapes (which branch keys sit where)
    assert {_shape(c) for c in optuna_configs} == {_shape(c) for c in random_configs}
    assert len({_shape(c) for c in optuna_configs}) == 4  # adam, rmsprop, sgd x 2 schedules


def test_a_point_in_optuna_names_takes_only_its_branches() -> None:
    space = parse_space(SPACE)
    point = {"train.lr": 0.01, "train.weight_decay": 0.001, "model.depth": 2,
             "model.channels": 32, "model.hidden": 64, "model.dropout": 0.1,
             "model.widths": [64, 32], "train.optimizer": "sgd", "train.momentum": 0.9,
             "train.lr_schedule.name": "constant"}
    values = {name: value for name, (value, _) in optuna_point(space, point, where="p").items()}
    assert values["model.widths"] == 1  # by index
    assert values["train.optimizer"] == "sgd"
    assert values["train.optimizer=sgd:train.momentum"] == 0.9
    assert not any("rmsprop" in name or "gamma" in name for name in values)
    with pytest.raises(ConfigError, match="missing a value for 'train.momentum'"):
        optuna_point(space, {k: v for k, v in point.items() if k != "train.momentum"},
                     where="p")


# ---------------------------------------------------------------------------------------------
# The Ray searcher


def _run_synthetic(searcher: Any, n: int, goals: tuple[str, ...] = ("val_accuracy",),
                   seed: int = 0, ids: str = "t") -> list[dict]:
    """Suggest ``n`` configs through Ray's Searcher API (trial ids ``ids`` + number), each
    completed with made-up results."""
    rng = random.Random(seed)
    configs = []
    for i in range(n):
        config = searcher.suggest(f"{ids}{i}")
        configs.append(config)
        result = {goal: rng.random() for goal in goals}
        searcher.on_trial_result(f"{ids}{i}", {**result, "training_iteration": 1})
        searcher.on_trial_complete(f"{ids}{i}", {**result, "training_iteration": 2})
    return configs


def test_same_seed_proposes_the_same_configs() -> None:
    exp = _search(**{"search.space": RUN_SPACE, "search.n_initial_points": 3})
    first = _run_synthetic(_build(exp, seed=7), 8)  # past the 3 random trials: TPE's too
    again = _run_synthetic(_build(exp, seed=7), 8)
    other = _run_synthetic(_build(exp, seed=8), 8)
    assert first == again
    assert first != other
    space = exp.space
    assert all(nest_point(space, flatten(c, space), where="t") == c for c in first)


def test_points_to_evaluate_are_the_first_trials() -> None:
    points = [{"train.lr": 0.005, "model.channels": 8},
              {"train.lr": 0.001, "model.channels": 4}]
    exp = _search(**{"search.points_to_evaluate": points})
    configs = _run_synthetic(_build(exp), 4)
    assert configs[:2] == points


def test_points_on_a_branch_are_enqueued_in_optuna_names() -> None:
    space = {"train.lr": {"loguniform": [1e-4, 1e-2]},
             "train.optimizer": {"choice": ["adam", {"value": "sgd", "space": {
                 "train.momentum": {"uniform": [0.5, 0.9]}}}]}}
    point = {"train.lr": 0.002, "train.optimizer": "sgd", "train.momentum": 0.7}
    exp = _search(**{"search.space": space, "search.points_to_evaluate": [point]})
    searcher = _build(exp)
    assert searcher.suggest("t0") == {"train.lr": 0.002, "train.optimizer": {
        BRANCH_VALUE: "sgd", "train.momentum": 0.7}}


def test_the_samplers_follow_the_search_section() -> None:
    tpe = _build(_search(**{"search.n_initial_points": 3}))._sampler
    assert isinstance(tpe, optuna.samplers.TPESampler)
    nsga = _build(_search(**{"search.objectives": TWO_GOALS, "search.sampler": "nsga2"}))
    assert isinstance(nsga._sampler, optuna.samplers.NSGAIISampler)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_several_objectives_make_a_study_with_their_directions(sampler: str) -> None:
    exp = _search(**{"search.objectives": TWO_GOALS, "search.sampler": sampler,
                     "search.n_initial_points": 2})
    searcher = _build(exp)
    assert searcher.metric == ["val_accuracy", "val_loss"] and searcher.mode == ["max", "min"]
    # What Tune would pass (TuneConfig's one metric) leaves the lists alone, wrapped or not.
    from ray.tune.search import ConcurrencyLimiter

    limited = ConcurrencyLimiter(searcher, max_concurrent=2)
    limited.set_search_properties("val_accuracy", "max", {})
    assert searcher.metric == ["val_accuracy", "val_loss"] and searcher.mode == ["max", "min"]
    _run_synthetic(limited, 6, goals=("val_accuracy", "val_loss"))
    study = searcher._ot_study
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                optuna.study.StudyDirection.MINIMIZE]
    complete = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert len(complete) == 6 and all(len(t.values) == 2 for t in complete)


def test_a_trial_without_every_objective_is_not_left_running() -> None:
    searcher = _build(_search(**{"search.objectives": TWO_GOALS}))
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"val_accuracy": 0.5})  # no val_loss
    searcher.suggest("b")
    searcher.on_trial_complete("b", None, error=True)
    states = [t.state for t in searcher._ot_study.trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]


def test_warm_points_are_finished_trials_of_the_study() -> None:
    space = {"train.lr": {"loguniform": [1e-4, 1e-2]},
             "train.optimizer": {"choice": ["adam", {"value": "sgd", "space": {
                 "train.momentum": {"uniform": [0.5, 0.9]}}}]}}
    exp = _search(**{"search.space": space, "search.n_initial_points": 2})
    warm = [WarmPoint("old1", {"train.lr": 0.001, "train.optimizer": "adam"}, 0.8),
            WarmPoint("old2", {"train.lr": 0.003, "train.optimizer": "sgd",
                               "train.momentum": 0.6}, 0.9)]
    searcher = _build(exp, warm=warm)
    trials = searcher._ot_study.trials
    assert [(t.state, t.value) for t in trials] == [(optuna.trial.TrialState.COMPLETE, 0.8),
                                                    (optuna.trial.TrialState.COMPLETE, 0.9)]
    assert trials[1].params == {"train.lr": 0.003, "train.optimizer": "sgd",
                                "train.optimizer=sgd:train.momentum": 0.6}
    configs = _run_synthetic(searcher, 3)  # TPE at once: the warm trials are its start
    assert len(searcher._ot_study.trials) == 5 and all(configs)


@pytest.mark.parametrize("changes", [{}, {"search.objectives": TWO_GOALS,
                                         "search.sampler": "nsga2"}])
def test_the_searcher_pickles_and_resumes_where_it_stopped(tmp_path: Path, changes) -> None:
    # Tune pickles the Tuner with its searcher, and the searcher's state for a resume
    # (Optuna 5's NSGA-II sampler holds a lock that does not pickle by itself).
    exp = _search(**{"search.space": RUN_SPACE, "search.n_initial_points": 2, **changes})
    goals = tuple(metric for metric, _ in exp.search.goals)
    searcher = _build(exp)
    _run_synthetic(searcher, 3, goals=goals)
    copy = pickle.loads(pickle.dumps(searcher))
    assert copy.suggest("t8") == searcher.suggest("t8")
    searcher.save(str(tmp_path / "state.pkl"))
    restored = _build(exp)
    restored.restore(str(tmp_path / "state.pkl"))
    assert restored.suggest("t9") == searcher.suggest("t9")
    assert len(restored._ot_study.trials) == 5
    assert all(_run_synthetic(restored, 3, goals=goals, seed=1, ids="r"))  # NSGA-II: a new
    assert len(restored._ot_study.trials) == 8  # generation


def test_an_empty_space_repeats_the_base_config() -> None:
    from ray.tune.search import BasicVariantGenerator

    exp = _search(**{"search.space": {}})
    searcher, param_space = OPTUNA.build(exp.search, exp.space, seed=0, max_concurrent=1)
    assert isinstance(searcher, BasicVariantGenerator) and param_space == {}


# ---------------------------------------------------------------------------------------------
# Validation


def test_optuna_accepts_several_objectives_and_both_samplers() -> None:
    for sampler in ("tpe", "nsga2"):
        exp = _search(**{"search.objectives": TWO_GOALS, "search.sampler": sampler})
        assert exp.search.goals == [("val_accuracy", "max"), ("val_loss", "min")]
    assert _search(**{"search.sampler": "nsga2"}).search.sampler == "nsga2"  # one objective


@pytest.mark.parametrize("changes, key, fragment", [
    ({"search.algorithm": "hyperopt"}, "search.algorithm",
     "'hyperopt' searches for one metric, and search.objectives lists 2; "
     "use one of: grid, optuna, random"),
    ({"search.warm_start": "runs/old"}, "search.warm_start",
     "a warm start seeds the searcher with results of one metric"),
])
def test_several_objectives_refuse_what_ranks_by_one(changes, key, fragment) -> None:
    raw = tiny_experiment(**{"search.algorithm": "optuna", "search.objectives": TWO_GOALS,
                             "search.scheduler": {"name": "fifo"}, **changes})
    del raw["search"]["metric"], raw["search"]["mode"]
    with pytest.raises(ConfigError) as info:
        validate_experiment(raw)
    assert f"{key}: " in str(info.value) and fragment in str(info.value), str(info.value)


def test_grid_values_are_refused_with_optuna() -> None:
    with pytest.raises(ConfigError, match="use choice with optuna"):
        _search(**{"search.space": {"train.batch_size": {"grid": [32, 64]}}})


# ---------------------------------------------------------------------------------------------
# Real runs

CONDITIONAL = {"train.lr": {"loguniform": [1e-3, 1e-2]},
               "train.optimizer": {"choice": [
                   "adam", {"value": "sgd", "space": {"train.momentum": {"uniform": [0.5, 0.9]}}}
               ]}}


def _check_branches(trials: list[dict]) -> None:
    for trial in trials:
        config = trial["config"]
        assert 1e-3 <= config["train.lr"] <= 1e-2
        if config["train.optimizer"] == "sgd":
            assert 0.5 <= config["train.momentum"] <= 0.9
        else:
            assert config["train.optimizer"] == "adam" and "train.momentum" not in config


@pytest.mark.slow
def test_optuna_runs_a_conditional_space(ray_session, tmp_path: Path) -> None:
    point = {"train.lr": 0.005, "train.optimizer": "sgd", "train.momentum": 0.8}
    exp = validate_experiment(tiny_experiment(**{
        "search.algorithm": "optuna", "search.space": CONDITIONAL, "train.epochs": 2,
        "search.num_samples": 4, "search.points_to_evaluate": [point],
        "search.scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2}}))
    result = raytuner.run(exp, storage=tmp_path / "runs")
    trials = result.summary["trials"]
    assert len(trials) == 4
    assert all(t["status"] in ("completed", "stopped") for t in trials), trials
    assert any(t["config"] == point for t in trials)
    _check_branches(trials)
    assert (result.run_dir / "summary.json").is_file()


@pytest.mark.slow
def test_optuna_nsga2_runs_two_objectives(ray_session, tmp_path: Path) -> None:
    raw = tiny_experiment(**{
        "search.algorithm": "optuna", "search.objectives": TWO_GOALS, "search.sampler": "nsga2",
        "search.n_initial_points": 2, "search.space": CONDITIONAL, "train.epochs": 2,
        "search.num_samples": 4, "search.scheduler": {"name": "fifo"}})
    del raw["search"]["metric"], raw["search"]["mode"]
    result = raytuner.run(validate_experiment(raw), storage=tmp_path / "runs")
    trials = result.summary["trials"]
    assert len(trials) == 4
    assert all(t["status"] == "completed" for t in trials), trials
    assert all({"val_accuracy", "val_loss"} <= set(t["metrics"]) for t in trials)
    _check_branches(trials)
    assert (result.run_dir / "summary.json").is_file()
