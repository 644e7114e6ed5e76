"""``raytuner compress RUN_DIR``: post-training compression of the best model.

Variants: the original, magnitude pruning at each of ``compress.sparsities``, int8 dynamic
quantization (Linear layers) and int8 static quantization (FX graph mode, calibrated on training
data). Each is evaluated on the validation set; the table shows size on disk, CPU latency per
batch (median of ``latency_runs`` timed runs after one warm-up) and accuracy against the
original. A variant that cannot be built for a model is listed as skipped with the reason.

Size on disk is the ``torch.save`` file of the variant's ``state_dict``; pruning keeps dense
tensors (zeros still take 4 bytes), so its saving shows in the gzip-compressed size, which is
the size that decides the choice. The chosen variant is the smallest (gzip) one that loses at
most ``max_accuracy_drop`` accuracy; if none does, the original is kept. It is saved in
``<run_dir>/compressed/`` and loads with :func:`load_compressed`.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raytuner.after.compress import methods
from raytuner.after.loading import accuracy_of, load_trial
from raytuner.config.schema import CompressConfig
from raytuner.config.validate import validate_experiment
from raytuner.data import DataBundle
from raytuner.errors import ConfigError
from raytuner.files import dump_yaml, read_yaml_file, write_text_atomic
from raytuner.models import create_model
from raytuner.runs.folder import COMPRESSED_DIR, EXPERIMENT_FILE, load_run_experiment
from raytuner.text import render_table as text_table
from raytuner.trial.costs import inference_latency_ms, state_bytes

OUT_SUBDIR = COMPRESSED_DIR
WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = EXPERIMENT_FILE  # the trial's resolved experiment, named as in a run folder
TABLE_FILE = "compress.json"
CALIBRATION_EXAMPLES = 1024


@dataclass
class Variant:
    """One compressed model and how it did."""

    name: str
    method: str  # original, pruned, dynamic, static
    sparsity: float | None = None
    status: str = "ok"  # ok or skipped
    note: str = ""
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    latency_ms: float | None = None
    accuracy: float | None = None
    accuracy_drop: float | None = None


def _build(method: str, model: nn.Module, sparsity: float | None, data: DataBundle
           ) -> nn.Module:
    if method == "original":
        return model
    if method == "pruned":
        return methods.prune_magnitude(model, float(sparsity or 0))
    if method == "dynamic":
        return methods.quantize_dynamic(model)
    return methods.quantize_static(model, data.train_x[:CALIBRATION_EXAMPLES])


def compress_model(model: nn.Module, data: DataBundle, config: CompressConfig, batch_size: int
                   ) -> tuple[list[Variant], dict[str, nn.Module]]:
    """Build and evaluate every variant; (table rows, {name: model} of the built ones)."""
    plan: list[tuple[str, str, float | None]] = [("original", "original", None)]
    plan += [(f"pruned-{s:g}", "pruned", s) for s in config.sparsities]
    plan += [(f"int8-{mode}", mode, None) for mode in config.quantize]
    batch = data.val_x[:batch_size]
    rows, built = [], {}
    baseline = None
    for name, method, sparsity in plan:
        row = Variant(name, method, sparsity)
        try:
            variant = _build(method, model, sparsity, data)
            row.accuracy = accuracy_of(variant, data)
        except Exception as exc:  # an unsupported layer or op: report it, keep going
            row.status, row.note = "skipped", f"{type(exc).__name__}: {exc}".splitlines()[0]
            rows.append(row)
            continue
        raw = state_bytes(variant)
        row.size_bytes, row.gzip_bytes = len(raw), len(gzip.compress(raw, 9))
        row.latency_ms = inference_latency_ms(variant, batch, warmup=1,
                                              runs=config.latency_runs)
        baseline = row.accuracy if baseline is None else baseline
        row.accuracy_drop = baseline - row.accuracy
        if method == "pruned":
            row.note = f"weight sparsity {methods.weight_sparsity(variant):.3f}"
        rows.append(row)
        built[name] = variant
    return rows, built


def choose(rows: list[Variant], max_drop: float) -> Variant:
    """The smallest (gzip size) variant losing at most ``max_drop`` accuracy; ties go to the
    more accurate one. The original always qualifies."""
    fits = [r for r in rows if r.status == "ok" and r.accuracy_drop is not None
            and r.accuracy_drop <= max_drop + 1e-12]
    return min(fits, key=lambda r: (r.gzip_bytes, -(r.accuracy or 0.0)))


def compress_run(run_dir: str | Path, config: CompressConfig | None = None,
                 trial_id: str | None = None, out: str | Path | None = None
                 ) -> dict[str, Any]:
    """Compress the best (or ``trial_id``'s) model of a run; writes ``out`` (default
    ``<run_dir>/compressed``) and returns the table and the choice."""
    run_exp = load_run_experiment(run_dir)
    folder = Path(out).expanduser() if out else Path(run_dir) / OUT_SUBDIR
    if folder.is_dir() and any(folder.iterdir()) and not (folder / TABLE_FILE).is_file():
        raise ConfigError("folder is not empty and holds no earlier compression; choose an "
                          "empty or new folder", source=str(folder), path="--out")
    config = config or run_exp.compress or CompressConfig()
    trial = load_trial(run_dir, trial_id)
    model = trial.model.cpu().eval()
    rows, built = compress_model(model, trial.data, config, trial.experiment.train.batch_size)
    chosen = choose(rows, config.max_accuracy_drop)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(built[chosen.name].state_dict(), folder / WEIGHTS_FILE)
    write_text_atomic(folder / CONFIG_FILE, dump_yaml(trial.experiment.to_dict()))
    result = {
        "run_dir": str(Path(run_dir).resolve()), "trial_id": trial.trial_id,
        "epoch": trial.epoch, "reported_accuracy": trial.reported.get("val_accuracy"),
        "max_accuracy_drop": config.max_accuracy_drop, "latency_batch": min(
            trial.experiment.train.batch_size, len(trial.data.val_y)),
        "variants": [asdict(r) for r in rows], "chosen": asdict(chosen),
        "input_shape": list(trial.data.input_shape), "num_classes": trial.data.num_classes,
        "files": {"weights": WEIGHTS_FILE, "config": CONFIG_FILE},
    }
    write_text_atomic(folder / TABLE_FILE, json.dumps(result, indent=2) + "\n")
    result["folder"] = str(folder)
    return result


def load_compressed(folder: str | Path) -> nn.Module:
    """The compressed model saved by :func:`compress_run` (CPU, eval mode), rebuilt from its
    experiment and loaded from ``weights.pt`` with ``weights_only=True``."""
    folder = Path(folder).expanduser()
    if not (folder / TABLE_FILE).is_file():
        raise ConfigError(f"not a raytuner compression folder (no {TABLE_FILE})",
                          source=str(folder))
    info = json.loads((folder / TABLE_FILE).read_text(encoding="utf-8"))
    exp = validate_experiment(read_yaml_file(folder / CONFIG_FILE),
                              source=str(folder / CONFIG_FILE))
    shape = tuple(info["input_shape"])
    model = create_model(exp.model_name, shape, info["num_classes"], **exp.model_settings)
    example = torch.zeros((1, *shape))
    model = methods.rebuild(model.eval(), info["chosen"]["method"], example)
    state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def render_table(result: dict[str, Any]) -> str:
    """The variants as a text table, the chosen one marked."""
    rows = []
    for v in result["variants"]:
        mark = "*" if v["name"] == result["chosen"]["name"] else ""
        rows.append([mark + v["name"], v["status"], v["size_bytes"] or "",
                     v["gzip_bytes"] or "", "" if v["latency_ms"] is None else v["latency_ms"],
                     "" if v["accuracy"] is None else v["accuracy"],
                     "" if v["accuracy_drop"] is None else v["accuracy_drop"], v["note"]])
    header = ["variant", "status", "size_bytes", "gzip_bytes",
              f"latency_ms/batch({result['latency_batch']})", "val_accuracy", "drop", "note"]
    return text_table(rows, header)
