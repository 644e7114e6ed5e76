"""The experiment schema, YAML loading, --set overrides and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, run_cli, tiny_experiment, write_yaml

from raytuner.config import load_experiment, parse_override, validate_experiment
from raytuner.errors import ConfigError


def test_load_experiment_fills_defaults_and_model_settings(tmp_path: Path) -> None:
    exp = load_experiment(write_yaml(tmp_path / "e.yaml", tiny_experiment()))
    assert exp.name == "tiny"
    assert exp.model["kernel_size"] == 3  # default filled from the CNN's settings
    assert exp.search.scheduler.name == "asha"
    assert exp.failure.max_retries == 1


def test_overrides_set_any_dotted_path(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "e.yaml", tiny_experiment())
    exp = load_experiment(path, ["search.num_samples=7", "train.epochs=5",
                                 "search.scheduler.grace_period=2", "model.dropout=0.25",
                                 "search.space.train.lr={uniform: [0.001, 0.01]}"])
    assert (exp.search.num_samples, exp.train.epochs) == (7, 5)
    assert exp.search.scheduler.grace_period == 2
    assert exp.model["dropout"] == 0.25
    assert exp.search.space["train.lr"] == {"uniform": [0.001, 0.01]}


@pytest.mark.parametrize("change, key_path, fragment", [
    ({"search.sheduler": {"name": "asha"}}, "search.sheduler", "did you mean 'scheduler'"),
    ({"train.epochs": "ten"}, "train.epochs", "'ten'"),
    ({"train.epochs": 0}, "train.epochs", "greater than or equal to 1"),
    ({"train.lr": -1.0}, "train.lr", "greater than 0"),
    ({"search.scheduler.name": "ashaa"}, "search.scheduler.name",
     "expected one of: 'fifo', 'asha', 'moasha', 'hyperband'"),
    ({"search.algorithm": "bayes"}, "search.algorithm", "'bayes'"),
    ({"model.name": "transformer"}, "model.name", "unknown model 'transformer'"),
    ({"model.depht": 2}, "model.depht", "did you mean 'depth'"),
    ({"model.kernel_size": 4}, "model.kernel_size", "must be odd"),
    ({"data.name": "imagenet"}, "data.name", "unknown dataset 'imagenet'"),
    ({"search.metric": "val_acc"}, "search.metric", "unknown metric 'val_acc'"),
    # the direction comes from the metric catalogue, for every reported metric
    ({"search.metric": "val_f1", "search.mode": "min"}, "search.mode",
     "contradicts search.metric 'val_f1'"),
    ({"search.num_samples": 0}, "search.num_samples", "greater than or equal to 1"),
    ({"search.space.train.lr": {"uniform": [0.1, 0.01]}}, "search.space.train.lr",
     "low must be below high"),
    ({"search.space.train.lr": {"loguniform": [0, 0.1]}}, "search.space.train.lr",
     "needs low > 0"),
    ({"search.space.train.lrr": {"uniform": [0.01, 0.1]}}, "search.space.train.lrr",
     "unknown key 'lrr'"),
    ({"search.space.model.depth": {"int": [1, 9]}}, "search.space.model.depth",
     "value 9 is not a valid setting"),
    ({"search.space.train.lr": {"gaussian": [0, 1]}}, "search.space.train.lr",
     "expected exactly one domain"),
    ({"search.space.train.batch_size": {"grid": [32, 64]}}, "search.space.train.batch_size",
     "use choice with hyperopt"),
    ({"search.algorithm": "optuna", "search.space.train.batch_size": {"grid": [32, 64]}},
     "search.space.train.batch_size", "use choice with optuna"),
    ({"search": {"algorithm": "hyperopt", "scheduler": {"name": "fifo"},
                 "objectives": [{"metric": "val_accuracy", "mode": "max"},
                                {"metric": "val_loss", "mode": "min"}]}},
     "search.algorithm", "search.objectives lists 2; use one of: grid, optuna, random"),
    ({"search": {"algorithm": "optuna", "scheduler": {"name": "fifo"}, "warm_start": "runs/a",
                 "objectives": [{"metric": "val_accuracy", "mode": "max"},
                                {"metric": "val_loss", "mode": "min"}]}},
     "search.warm_start", "drop warm_start or search by one metric"),
    ({"search.sampler": "nsga2"}, "search.sampler", "use algorithm: optuna"),
    ({"search.points_to_evaluate": [{"train.lr": 0.5, "model.channels": 4}]},
     "search.points_to_evaluate[0]", "outside"),
    ({"resources.cpu": 0}, "resources.cpu", "greater than 0"),
    ({"train.metrics": ["val_f1", "val_auc"]}, "train.metrics[1]", "unknown metric 'val_auc'"),
    ({"checkpoint.every": 0}, "checkpoint.every", "greater than or equal to 1"),
    ({"checkpoint.every": 3, "search.scheduler.name": "hyperband"}, "checkpoint.every",
     "use every: 1"),
    ({"name": "../escape"}, "name", "should match pattern"),
])
def test_bad_values_name_file_key_and_value(tmp_path: Path, change, key_path, fragment) -> None:
    path = write_yaml(tmp_path / "bad.yaml", tiny_experiment(**change))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key_path}: "), message
    assert fragment in message, message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    for text in ("- a\n- b\n", "42\n", ""):
        path = tmp_path / "x.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="expected a mapping at the top level"):
            load_experiment(path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: a\nsearch: [unclosed\n")
    with pytest.raises(ConfigError, match=r"x.yaml: line \d+, column \d+: not valid YAML"):
        load_experiment(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_experiment(tmp_path / "nope.yaml")


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 20):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},"
                     f"*{prev},*{prev},*{prev}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_experiment(path)


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1", ".a=1"])
def test_malformed_set_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError, match="malformed --set"):
        parse_override(text)


def test_validate_cli_prints_resolved_experiment() -> None:
    result = run_cli("validate", "experiments/digits.yaml", "--set", "train.epochs=3")
    assert result.returncode == 0, result.stderr
    assert "epochs: 3" in result.stdout
    assert "kernel_size: 3" in result.stdout


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = write_yaml(tmp_path / "bad.yaml", tiny_experiment(**{"search.sheduler": {}}))
    storage = tmp_path / "runs"
    for args in (["run", str(bad), "--storage", str(storage)],
                 ["run", str(tmp_path / "missing.yaml"), "--storage", str(storage)],
                 ["run", str(REPO / "experiments/digits.yaml"), "--storage", str(storage),
                  "--set", "novalue"]):
        result = run_cli(*args, timeout=60)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("raytuner: error: "), result.stderr
        assert not storage.exists()  # nothing written, and Ray never started
        assert "Ray" not in result.stdout


def test_every_shipped_experiment_validates() -> None:
    files = sorted((REPO / "experiments").glob("*.yaml"))
    assert files
    for path in files:
        validate_experiment(__import__("yaml").safe_load(path.read_text()), source=str(path))


def test_validate_and_plan_without_calibration_import_neither_torch_nor_ray() -> None:
    # `raytuner validate` / `plan --epoch-seconds` answer in a fraction of a second only if
    # they leave torch, Ray and scikit-learn alone (the plan's calibration is a child process)
    import subprocess
    import sys

    experiment = str(REPO / "experiments" / "digits.yaml")
    code = ("import sys\nfrom raytuner.cli import main\n"
            f"main(['validate', {experiment!r}])\n"
            f"main(['plan', {experiment!r}, '--epoch-seconds', '0.5'])\n"
            "heavy = ('torch', 'ray', 'sklearn', 'scipy', 'pandas')\n"
            "print('LOADED', sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert "LOADED []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]
    assert "wall-clock" in out.stdout
