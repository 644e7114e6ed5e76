"""Search space parsing and its translations for Ray (random, grid) and HyperOpt."""

from __future__ import annotations

import pytest
from ray.tune.search.variant_generator import generate_variants

from raytuner.errors import ConfigError
from raytuner.search.space import (
    flatten,
    grid_size,
    hyperopt_point,
    nest_point,
    parse_space,
    to_hyperopt,
    to_ray,
)

SPACE = {
    "train.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "model.depth": {"int": [1, 3]},
    "model.channels": {"int": [16, 64], "step": 16},
    "model.dropout": {"uniform": [0.0, 0.5]},
    "train.optimizer": {"choice": [
        "adam",
        {"value": "sgd", "space": {"train.momentum": {"uniform": [0.8, 0.99]},
                                   "train.nesterov": {"choice": [True, False]}}},
    ]},
}


def _sample_ray(space_yaml: dict, n: int, grid: bool = False) -> list[dict]:
    space = parse_space(space_yaml)
    configs = []
    for seed in range(n):
        for _, config in generate_variants(to_ray(space, grid=grid), random_state=seed):
            configs.append(flatten(config, space))
    return configs


def _check_sample(flat: dict) -> None:
    assert 1e-4 <= flat["train.lr"] <= 1e-1
    assert flat["model.depth"] in (1, 2, 3) and isinstance(flat["model.depth"], int)
    assert flat["model.channels"] in (16, 32, 48, 64)
    assert 0.0 <= flat["model.dropout"] <= 0.5
    # conditional: momentum exists only on the sgd branch
    if flat["train.optimizer"] == "sgd":
        assert 0.8 <= flat["train.momentum"] <= 0.99
        assert flat["train.nesterov"] in (True, False)
    else:
        assert "train.momentum" not in flat and "train.nesterov" not in flat


def test_random_translation_samples_in_domain_with_branches() -> None:
    samples = _sample_ray(SPACE, 60)
    for flat in samples:
        _check_sample(flat)
    assert {s["train.optimizer"] for s in samples} == {"adam", "sgd"}
    assert {s["model.depth"] for s in samples} == {1, 2, 3}


def test_hyperopt_translation_samples_in_domain_with_branches() -> None:
    from hyperopt.pyll import stochastic

    space = parse_space(SPACE)
    hp_space = to_hyperopt(space)
    rng = __import__("numpy").random.default_rng(0)
    samples = [flatten(stochastic.sample(hp_space, rng=rng), space) for _ in range(80)]
    for flat in samples:
        _check_sample(flat)
    assert {s["train.optimizer"] for s in samples} == {"adam", "sgd"}


def test_grid_translation_enumerates_every_combination() -> None:
    space_yaml = {
        "model.depth": {"int": [1, 3]},
        "train.optimizer": {"grid": ["adam", {"value": "sgd", "space": {
            "train.momentum": {"grid": [0.8, 0.9]}}}]},
    }
    configs = _sample_ray(space_yaml, 1, grid=True)
    assert len(configs) == grid_size(parse_space(space_yaml)) == 3 * (1 + 2)
    keys = {tuple(sorted(c.items())) for c in configs}
    assert len(keys) == 9
    assert all("train.momentum" not in c for c in configs if c["train.optimizer"] == "adam")


def test_points_nest_for_ray_and_index_for_hyperopt() -> None:
    space = parse_space(SPACE)
    point = {"train.lr": 0.01, "model.depth": 2, "model.channels": 32, "model.dropout": 0.1,
             "train.optimizer": "sgd", "train.momentum": 0.9, "train.nesterov": False}
    nested = nest_point(space, point, where="p")
    assert nested["train.optimizer"] == {"__value__": "sgd", "train.momentum": 0.9,
                                         "train.nesterov": False}
    assert flatten(nested, space) == point
    labels = hyperopt_point(space, point)
    assert labels["train.optimizer"] == 1
    assert labels["train.optimizer=sgd/train.nesterov"] == 1


@pytest.mark.parametrize("point, fragment", [
    ({"train.lr": 5.0}, "outside"),
    ({"train.optimizer": "lion"}, "not one of"),
    ({"train.bogus": 1}, "not a searched key"),
])
def test_bad_points_are_config_errors(point: dict, fragment: str) -> None:
    space = parse_space(SPACE)
    full = {"train.lr": 0.01, "model.depth": 2, "model.channels": 32, "model.dropout": 0.1,
            "train.optimizer": "adam", **point}
    with pytest.raises(ConfigError, match=fragment):
        nest_point(space, full, where="p")


@pytest.mark.parametrize("spec, fragment", [
    ({"int": [1.5, 3]}, "whole-number"),
    ({"int": [0, 10], "step": 4, "log": False}, None),
    ({"uniform": [0.05, 1.0], "step": 0.1}, "multiple of step"),
    ({"uniform": [0, 1], "step": 2}, "larger than the range"),
    ({"choice": []}, "non-empty list"),
    ({"choice": [1, 1]}, "listed twice"),
    ({"uniform": [0, 1], "log": True}, "unknown option"),
    ("0.1", "expected a domain"),
])
def test_domain_errors(spec, fragment) -> None:
    if fragment is None:
        parse_space({"model.depth": spec})
        return
    with pytest.raises(ConfigError, match=fragment):
        parse_space({"model.depth": spec})


def test_flatten_clamps_and_casts_ints() -> None:
    space = parse_space({"model.depth": {"int": [1, 3]}})
    assert flatten({"model.depth": 3.0000001}, space) == {"model.depth": 3}


def test_flatten_clamps_by_the_branch_taken() -> None:
    # The same key on two branches with different ranges: each value keeps its own branch's.
    space = parse_space({"train.optimizer": {"choice": [
        {"value": "sgd", "space": {"train.momentum": {"uniform": [0.8, 0.99]}}},
        {"value": "rmsprop", "space": {"train.momentum": {"uniform": [0.0, 0.5]}}}]}})
    sgd = {"train.optimizer": {"__value__": "sgd", "train.momentum": 0.9}}
    rmsprop = {"train.optimizer": {"__value__": "rmsprop", "train.momentum": 0.7}}
    assert flatten(sgd, space) == {"train.optimizer": "sgd", "train.momentum": 0.9}
    assert flatten(rmsprop, space) == {"train.optimizer": "rmsprop", "train.momentum": 0.5}
