"""The model's costs (params, model_bytes, latency_ms, flops): how each is measured, and that a
trial reports them only when asked, measured once."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from raytuner.after.loading import model_costs
from raytuner.after.report.html import cost_rows
from raytuner.config import validate_experiment
from raytuner.config.metrics import SPREAD_SUFFIX, reported_metrics
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import ConfigError
from raytuner.trial import costs, loop
from raytuner.trial.crossval import CrossValTrainer
from raytuner.trial.loop import Trainer

from conftest import tiny_experiment  # isort: skip

COSTS = ["params", "model_bytes", "latency_ms", "flops"]
SMALL = {"model.channels": 4, "model.hidden": 16, "train.batch_size": 256}


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    """The first 500 training and 200 validation digits."""
    exp = validate_experiment(tiny_experiment())
    d = load_dataset(exp.data, exp.seed)
    return DataBundle(d.name, d.train_x[:500], d.train_y[:500], d.val_x[:200], d.val_y[:200],
                      d.num_classes, augmentations=())


def _exp(**changes):
    return validate_experiment(tiny_experiment(**{**SMALL, **changes}))


@pytest.fixture
def measured(monkeypatch) -> list[list[str]]:
    """The names of every measure_costs call the training loop makes."""
    calls: list[list[str]] = []
    real = costs.measure_costs

    def counting(model, batch, names, **kwargs):
        calls.append(list(names))
        return real(model, batch, names, **kwargs)

    monkeypatch.setattr(loop, "measure_costs", counting)
    return calls


# ---------------------------------------------------------------------------------------------
# The measurements


def test_count_params_is_the_trainable_element_count() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert costs.count_params(model) == (3 * 4 + 4) + (4 * 2 + 2)
    model[0].requires_grad_(False)  # frozen: not counted
    assert costs.count_params(model) == 4 * 2 + 2
    tied = nn.Sequential(nn.Linear(5, 5, bias=False), nn.Linear(5, 5, bias=False))
    tied[1].weight = tied[0].weight  # one tensor used twice counts once
    assert costs.count_params(tied) == 25


def test_serialized_bytes_is_the_torch_save_size_and_grows_with_width() -> None:
    model = nn.Linear(16, 8)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert costs.serialized_bytes(model) == len(buffer.getvalue())
    assert costs.state_bytes(model) == buffer.getvalue()
    wide = nn.Linear(16, 800)
    # 792 more outputs: 792 * 17 more float32 values, plus a little archive overhead at most
    assert costs.serialized_bytes(wide) - costs.serialized_bytes(model) >= 792 * 17 * 4


def test_flops_count_two_per_multiply_add_per_example() -> None:
    linear = nn.Linear(7, 5)
    assert costs.flops_per_example(linear, torch.randn(3, 7)) == 2 * 7 * 5
    assert costs.flops_per_example(linear, torch.randn(11, 7)) == 2 * 7 * 5  # per example
    mlp = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 2))
    assert costs.flops_per_example(mlp, torch.randn(4, 7)) == 2 * (7 * 5 + 5 * 2)
    conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)  # 9 multiply-adds per output value
    assert costs.flops_per_example(conv, torch.randn(2, 1, 8, 8)) == 2 * 9 * 4 * 8 * 8
    assert conv.training  # its mode is back afterwards


@pytest.fixture
def one_thread():
    """One intra-op thread, as a 1-CPU trial runs: on a busy machine a second thread that is
    not scheduled stalls every parallel op, which would time the machine, not the model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_latency_is_a_positive_median_that_grows_with_the_work(one_thread) -> None:
    torch.manual_seed(0)
    batch = torch.randn(64, 256)
    small = nn.Linear(256, 4)  # 1k multiply-adds per example
    big = nn.Sequential(*[nn.Linear(256 if i == 0 else 1024, 1024) for i in range(4)])  # 3.4M
    modes = []
    big.register_forward_hook(lambda m, i, out: modes.append(m.training))
    fast = costs.inference_latency_ms(small, batch, warmup=2, runs=9)
    slow = costs.inference_latency_ms(big, batch, warmup=2, runs=9)
    assert fast > 0 and math.isfinite(fast) and math.isfinite(slow)
    assert slow > 5 * fast  # 3000x the arithmetic (about 500x the time on an idle core)
    assert len(modes) == 2 + 9 and not any(modes)  # warm-up untimed; all in eval mode
    assert big.training  # the caller's mode back
    with pytest.raises(ValueError, match="runs"):
        costs.inference_latency_ms(small, batch, runs=0)


def test_latency_batch_is_the_first_examples_repeated_when_too_few() -> None:
    x = torch.arange(3.0).reshape(3, 1)
    assert costs.latency_batch(x, 2).flatten().tolist() == [0.0, 1.0]
    assert costs.latency_batch(x, 7).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError):
        costs.latency_batch(x[:0], 4)


class _Noisy(nn.Module):
    """A model that draws random numbers in its forward pass, even in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x + torch.rand_like(x))


def test_measure_costs_computes_only_what_is_asked_and_keeps_the_rng() -> None:
    model, batch = _Noisy(), torch.randn(8, 4)
    assert costs.measure_costs(model, batch, []) == {}
    assert costs.measure_costs(model, batch, ["val_f1", "epoch"]) == {}  # not costs: ignored
    assert costs.measure_costs(model, batch, ["flops", "params"]) == {"params": 10, "flops": 16}
    torch.manual_seed(5)
    before = torch.get_rng_state()
    every = costs.measure_costs(model, batch, COSTS)
    assert list(every) == COSTS  # the catalogue's order
    assert torch.equal(torch.get_rng_state(), before)  # measuring draws from a forked RNG
    autocasts = []
    costs.measure_costs(model, batch, ["latency_ms"],
                        autocast=lambda: autocasts.append(1) or torch.autocast("cpu"))
    assert len(autocasts) == costs.LATENCY_WARMUP + costs.LATENCY_RUNS


# ---------------------------------------------------------------------------------------------
# The trial


def test_trainer_reports_requested_costs_every_epoch_measured_once(digits, measured) -> None:
    exp = _exp(**{"train.epochs": 3, "train.metrics": COSTS})
    trainer = Trainer(exp, digits)
    history = list(trainer.epochs())
    assert measured == [COSTS]  # once per trial, the four together
    for metrics in history:
        assert sorted(metrics) == sorted(reported_metrics(exp))
        assert set(COSTS) <= set(metrics)
    assert history[0]["params"] == costs.count_params(trainer.model)
    assert history[0]["model_bytes"] == costs.serialized_bytes(trainer.model)
    batch = costs.latency_batch(digits.val_x, exp.search.latency_batch)
    assert history[0]["flops"] == costs.flops_per_example(trainer.model, batch) > 0
    for name in COSTS:  # the architecture is fixed: the same figure every epoch
        assert len({m[name] for m in history}) == 1, name
    assert 0 < history[0]["latency_ms"] < 10_000
    # the validation metrics did not receive the cost names
    assert "val_f1" not in history[0] and trainer.extra_metrics == []


def test_costs_are_not_measured_unless_requested(digits, measured) -> None:
    exp = _exp(**{"train.epochs": 1})
    metrics = Trainer(exp, digits).run_epoch()
    assert not set(COSTS) & set(metrics)
    assert measured == []  # not even called with no names
    one = _exp(**{"train.epochs": 1, "train.metrics": ["params", "val_f1"]})
    metrics = Trainer(one, digits).run_epoch()
    assert {"params", "val_f1"} <= set(metrics)
    assert not {"model_bytes", "latency_ms", "flops"} & set(metrics)
    assert measured == [["params"]]


def test_an_objective_on_a_cost_is_reported(digits) -> None:
    raw = tiny_experiment(**{**SMALL, "train.epochs": 1, "search.algorithm": "random",
                             "search.scheduler": {"name": "fifo"}, "search.latency_batch": 500})
    del raw["search"]["metric"], raw["search"]["mode"]
    raw["search"]["objectives"] = [{"metric": "val_accuracy", "mode": "max"},
                                   {"metric": "latency_ms", "mode": "min"}]
    metrics = Trainer(validate_experiment(raw), digits).run_epoch()
    # 500 examples from a validation split of 200: repeated, and timed
    assert metrics["latency_ms"] > 0 and "params" not in metrics


def test_measuring_costs_leaves_training_unchanged_and_resumes_the_same(digits) -> None:
    plain = Trainer(_exp(**{"train.epochs": 2, "model.dropout": 0.3}), digits)
    plain_history = list(plain.epochs())
    exp = _exp(**{"train.epochs": 2, "model.dropout": 0.3, "train.metrics": COSTS})
    first = Trainer(exp, digits)
    first.run_epoch()
    state = first.state_dict()  # before another Trainer reseeds the global RNG
    resumed = Trainer(exp, digits)  # as a new process builds it, then loads the checkpoint
    resumed.load_state_dict(state)
    last = resumed.run_epoch()
    # dropout draws from the global RNG: measuring (after epoch 1) must not have moved it
    assert last["val_loss"] == plain_history[-1]["val_loss"]
    for name in ("params", "model_bytes", "flops"):  # measured again, the same
        assert last[name] == first.history[0][name], name
    assert resumed.history[0]["latency_ms"] == first.history[0]["latency_ms"]  # restored
    assert last["latency_ms"] > 0  # a new sample of the same protocol


def test_cross_validation_reports_the_costs_once_without_spread(digits, measured) -> None:
    exp = _exp(**{"data.cv_folds": 3, "train.epochs": 2, "train.metrics": ["params", "flops"]})
    trainer = CrossValTrainer(exp, digits)
    history = list(trainer.epochs())
    assert measured == [["params", "flops"]]  # the first fold's model, once
    for metrics in history:
        assert sorted(metrics) == sorted(reported_metrics(exp))
        assert metrics["params"] == costs.count_params(trainer.folds[0].model)
        assert not any(f"{n}{SPREAD_SUFFIX}" in metrics for n in COSTS)
        assert f"val_loss{SPREAD_SUFFIX}" in metrics  # the spreads that exist are kept


def test_unknown_cost_names_are_refused_as_before() -> None:
    with pytest.raises(ConfigError, match=r"train\.metrics\[0\].*unknown metric 'latency'.*"
                                          r"params, model_bytes, latency_ms, flops"):
        validate_experiment(tiny_experiment(**{"train.metrics": ["latency"]}))
    raw = tiny_experiment(**{"search.algorithm": "random", "search.scheduler": {"name": "fifo"}})
    del raw["search"]["metric"], raw["search"]["mode"]
    raw["search"]["objectives"] = [{"metric": "val_accuracy", "mode": "max"},
                                   {"metric": "flops", "mode": "max"}]
    with pytest.raises(ConfigError, match="contradicts.*'flops', which is better when lower"):
        validate_experiment(raw)


# ---------------------------------------------------------------------------------------------
# raytuner report


def test_report_costs_of_the_best_model(digits) -> None:
    model = Trainer(_exp(), digits).model.eval()
    got = model_costs(model, digits, 32)
    assert list(got) == [*COSTS, "latency_device"] and got["latency_device"] == "cpu"
    assert got["params"] == costs.count_params(model) and got["latency_ms"] > 0
    rows = dict(cost_rows(got))
    assert rows["params"] == got["params"] and rows["latency_ms (cpu)"] == got["latency_ms"]
