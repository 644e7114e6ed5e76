"""GPU check: the cifar10_resnet trainable (ResNet-18 on 32x32 images) on ONE GPU, packed 1, 2 and 4
trials per GPU (resources.gpu 1, 0.5, 0.25), with AMP off and on.

    python benchmarks/gpu_check.py            # on a GPU machine; under five minutes
    python benchmarks/gpu_check.py --smoke    # tiny, on the CPU (logical GPU): checks the script

Each configuration runs its trials concurrently through Ray Tune (one Ray instance for all), on
synthetic CIFAR-shaped data (3x32x32, 10 classes; no download), for a few epochs, and prints per
trial its device, samples/s (training throughput of its last epoch: the first one includes cuDNN
autotuning) and peak GPU memory, then per configuration the total samples/s of all trials. The
remaining configurations are skipped (and said so) once the time budget is spent.

The model is raytuner's ``resnet`` when that model is registered, else torchvision's resnet18
adapted to 32x32 inputs (3x3 stem, stride 1, no max-pool), the standard CIFAR variant. The training
step is raytuner's Trainer; AMP wraps its forward pass in ``torch.autocast`` (float16 on CUDA with a
GradScaler, bfloat16 on the CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make raytuner and benchmarks importable
    sys.path.insert(0, str(REPO))

from raytuner.data import DataBundle  # noqa: E402
from raytuner.trial.loop import Trainer  # noqa: E402

PACKINGS = (1, 2, 4)  # trials per GPU
DATA_PATH = "benchmarks.gpu_check:synthetic_cifar"
MODEL_PATH = "benchmarks.gpu_check:resnet18_cifar"


# ---------------------------------------------------------------------------------------------
# Data and model, importable by path on every Ray worker


def synthetic_cifar(data_config: Any, seed: int, *, train: int | None = None,
                    val: int | None = None) -> DataBundle:
    """CIFAR-shaped random data: ``(N, 3, 32, 32)`` standardized floats, 10 classes.

    Sizes come from ``$RAYTUNER_GPU_CHECK_TRAIN`` / ``_VAL`` (the script sets them), so the
    factory keeps raytuner's ``factory(data_config, seed)`` signature."""
    train = train or int(os.environ.get("RAYTUNER_GPU_CHECK_TRAIN", "10000"))
    val = val or int(os.environ.get("RAYTUNER_GPU_CHECK_VAL", "1000"))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(train + val, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (train + val,), generator=gen)
    return DataBundle("synthetic_cifar", x[:train], y[:train], x[train:], y[train:], 10)


def resnet18_cifar(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 for 32x32 inputs: 3x3 stride-1 stem, no max-pool."""
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def model_section() -> dict[str, Any]:
    """raytuner's registered ``resnet`` (ResNet-18) when present, else the torchvision one."""
    from raytuner.models import MODELS

    if "resnet" in MODELS:
        settings = MODELS.get("resnet").settings
        fields = getattr(settings, "model_fields", {}) if settings else {}
        return {"name": "resnet", **({"depth": 18} if "depth" in fields else {})}
    return {"name": MODEL_PATH}


# ---------------------------------------------------------------------------------------------
# The trainable


class AmpTrainer(Trainer):
    """raytuner's Trainer with the forward pass under autocast (and a GradScaler on CUDA)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cuda = self.device.type == "cuda"
        self.amp_dtype = torch.float16 if cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda)

    def train_one_epoch(self) -> dict[str, float]:
        self.model.train()
        x_all, y_all = self._train
        n = len(y_all)
        order = torch.randperm(n, generator=self.generator).to(self.device)
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for start in range(0, n, self.exp.train.batch_size):
            idx = order[start:start + self.exp.train.batch_size]
            x, y = x_all[idx], y_all[idx]
            with torch.autocast(self.device.type, dtype=self.amp_dtype):
                logits = self.model(x)
                loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
        return {"train_loss": total_loss.item() / n, "train_accuracy": correct.item() / n}


def bench_trial(config: dict[str, Any], *, experiment: dict[str, Any], data: DataBundle
                ) -> None:
    """Ray Tune function: train the experiment, report every epoch with its device and peak
    GPU memory (the same adapter shape as raytuner.trial.trainable.run_trial)."""
    import ray
    from ray import tune

    from raytuner.config import validate_experiment
    from raytuner.trial.trainable import _device

    exp = validate_experiment(experiment, source="gpu_check")
    device = _device(exp)
    torch.set_num_threads(max(1, int(exp.resources.cpu)))
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    amp = bool(config["amp"])
    trainer = (AmpTrainer if amp else Trainer)(exp, data, device)
    for metrics in trainer.epochs():
        if device == "cuda":
            torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() if device == "cuda" else 0
        reserved = torch.cuda.max_memory_reserved() if device == "cuda" else 0
        tune.report({**metrics, "device": device, "gpu_ids": str(ray.get_gpu_ids()),
                     "peak_mem_mib": peak / 2**20, "reserved_mem_mib": reserved / 2**20,
                     "epoch_end": time.time(), "train_samples": len(data.train_y),
                     "amp": float(amp)})


# ---------------------------------------------------------------------------------------------
# Driver


def experiment_dict(epochs: int, batch_size: int, cpu: float, gpu: float) -> dict[str, Any]:
    """The cifar10_resnet recipe (SGD, Nesterov momentum, weight decay) on synthetic data."""
    return {
        "name": "gpu_check", "seed": 0,
        "data": {"name": DATA_PATH},
        "model": model_section(),
        "train": {"epochs": epochs, "batch_size": batch_size, "optimizer": "sgd", "lr": 0.1,
                  "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "search": {"algorithm": "random", "num_samples": 1, "space": {},
                   "scheduler": {"name": "fifo"}},
        "resources": {"cpu": cpu, "gpu": gpu},
    }


def run_configuration(per_gpu: int, amps: list[bool], args: argparse.Namespace,
                      data: DataBundle, storage: str) -> tuple[list[dict[str, Any]], float]:
    """Run ``per_gpu`` trials at once on the one GPU, split evenly over ``amps``: (their last
    results, the aggregate samples/s of all trials over the epochs after the first)."""
    import importlib

    from ray import tune

    # By reference from the importable module (not __main__'s copy, which would be pickled by
    # value together with torch): workers import benchmarks.gpu_check themselves.
    bench = importlib.import_module("benchmarks.gpu_check").bench_trial
    cpu = max(1.0, float(args.cpus // per_gpu))
    experiment = experiment_dict(args.epochs, args.batch_size, cpu, 1.0 / per_gpu)
    trainable = tune.with_resources(
        tune.with_parameters(bench, experiment=experiment, data=data),
        {"cpu": cpu, "gpu": 1.0 / per_gpu})
    space = {"amp": tune.grid_search(amps),
             "copy": tune.grid_search(list(range(max(1, per_gpu // len(amps)))))}
    name = f"gpu{per_gpu}_amp{'-'.join(str(int(a)) for a in amps)}"
    tuner = tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(max_concurrent_trials=per_gpu, reuse_actors=False),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0))
    grid = tuner.fit()
    errors = [r.error for r in grid if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} trial(s) failed: {errors[0]}")
    return [r.metrics for r in grid], aggregate_throughput(
        [r.metrics_dataframe.to_dict("records") for r in grid])


def aggregate_throughput(histories: list[list[dict[str, Any]]]) -> float:
    """Images trained by all trials in their epochs after the first (cuDNN autotuning, CUDA
    start) divided by the wall time from the first such epoch's start to the last one's end:
    the GPU's real total, even when the trials' epochs do not line up."""
    epochs = [r for h in histories for r in h if r["epoch"] > 1] or [
        r for h in histories for r in h]
    starts = [r["epoch_end"] - r["epoch_time_s"] for r in epochs]
    span = max(r["epoch_end"] for r in epochs) - min(starts)
    return sum(r["train_samples"] for r in epochs) / max(span, 1e-9)


def _onoff(amps: list[bool]) -> str:
    return "/".join("on" if a else "off" for a in amps)


def print_configuration(per_gpu: int, amps: list[bool], last: list[dict[str, Any]],
                        total: float, wall_s: float) -> None:
    print(f"\n{per_gpu} trial(s) per GPU (resources.gpu={1 / per_gpu:g}), AMP "
          f"{_onoff(amps)}: {wall_s:.1f} s")
    print(f"  {'trial':<6} {'AMP':<4} {'device':<7} {'samples/s':>10} {'peak MiB':>9} "
          f"{'reserved MiB':>13}")
    for i, r in enumerate(last):
        print(f"  {i:<6} {_onoff([bool(r['amp'])]):<4} {r['device']:<7} "
              f"{r['samples_per_s']:>10.0f} {r['peak_mem_mib']:>9.0f} "
              f"{r['reserved_mem_mib']:>13.0f}")
    mem = sum(r["reserved_mem_mib"] for r in last)
    print(f"  total  {total:>18.0f} samples/s (all trials, epochs 2+, wall clock); GPU memory "
          f"reserved by all trials {mem:.0f} MiB (plus each process's CUDA context)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run on the CPU with one logical GPU (checks the script)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    parser.add_argument("--train-size", type=int, default=15_000, help="training images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--packings", type=int, nargs="+", default=list(PACKINGS),
                        help="trials per GPU to try")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="start no configuration after this many seconds (one started "
                             "just before still finishes)")
    args = parser.parse_args(argv)
    args.amp_groups = [[False], [True]]  # each configuration: all trials AMP off, or all on
    if args.smoke:  # the fractional-GPU path and both AMP paths in one configuration
        args.epochs, args.train_size, args.batch_size = 2, 8, 8
        args.packings, args.amp_groups = [2], [[False, True]]
    args.cpus = max(1, (os.cpu_count() or 1))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every configuration within the budget; exit 1 if one failed."""
    import ray

    args = parse_args(argv)
    start = time.monotonic()
    if not args.smoke and not torch.cuda.is_available():
        print("no CUDA device: run on a GPU machine, or use --smoke", file=sys.stderr)
        return 2
    # Trials import the data and model factories by path: the workers need the repository.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    os.environ["RAYTUNER_GPU_CHECK_TRAIN"] = str(args.train_size)
    os.environ["RAYTUNER_GPU_CHECK_VAL"] = str(max(8, args.train_size // 10))
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no per-experiment boxes
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (smoke)"
    print(f"GPU check: {name}; ResNet-18 ({model_section()['name']}), {args.train_size} "
          f"synthetic 3x32x32 images, batch {args.batch_size}, {args.epochs} epoch(s) per trial")
    ray.init(address="local", num_cpus=args.cpus, num_gpus=1, include_dashboard=False,
             logging_level="WARNING", log_to_driver=False)
    data = synthetic_cifar(None, 0, train=args.train_size,
                           val=int(os.environ["RAYTUNER_GPU_CHECK_VAL"]))
    skipped = []
    try:
        with tempfile.TemporaryDirectory(prefix="raytuner-gpu-check-") as storage:
            for amps in args.amp_groups:
                for per_gpu in args.packings:
                    if time.monotonic() - start > args.budget_s:
                        skipped.append(f"{per_gpu}/GPU AMP {_onoff(amps)}")
                        continue
                    began = time.monotonic()
                    last, total = run_configuration(per_gpu, amps, args, data, storage)
                    print_configuration(per_gpu, amps, last, total, time.monotonic() - began)
    finally:
        ray.shutdown()
    if skipped:
        print(f"\nskipped (time budget {args.budget_s:.0f} s spent): {', '.join(skipped)}")
    print(f"\ndone in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
