"""The reproducibility record of a run: ``<run_dir>/reproducibility.json``.

It says what produced the run folder: the experiment (a reference to ``experiment.yaml``, which
holds the resolved experiment, plus its hash), the seeds, library versions, the git commit of
the working directory and the hardware. ``raytuner report`` shows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import raytuner
from raytuner.config.schema import Experiment
from raytuner.files import write_text_atomic
from raytuner.runs.folder import EXPERIMENT_FILE, REPRO_FILE


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(cwd: str | Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the git repository holding ``cwd``; None outside one."""
    cwd = Path(cwd or os.getcwd())
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {"commit": commit, "dirty": bool(status), "root": _git(["rev-parse",
                                                                    "--show-toplevel"], cwd)}


def _cpu_model() -> str:
    # /proc/cpuinfo names the CPU on Linux; platform.processor() is often empty there.
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def hardware_info() -> dict[str, Any]:
    """CPU model and count, RAM, and the GPUs torch can see."""
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append({"name": props.name, "memory_bytes": props.total_memory})
    return {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "ram_bytes": _ram_bytes(),
            "gpus": gpus, "platform": platform.platform(), "hostname": platform.node()}


def versions() -> dict[str, str]:
    """Versions of raytuner, Ray, PyTorch, Python and the other libraries a trial uses (read
    from the installed packages: the record is written before Ray is imported)."""
    return {"raytuner": raytuner.__version__, "ray": metadata.version("ray"),
            "torch": torch.__version__, "python": platform.python_version(),
            "numpy": metadata.version("numpy"), "hyperopt": metadata.version("hyperopt"),
            "optuna": metadata.version("optuna"),
            "scikit-learn": metadata.version("scikit-learn")}


def build_record(run_dir: str | Path, exp: Experiment) -> dict[str, Any]:
    """The reproducibility record of ``exp`` running in ``run_dir``."""
    run_dir = Path(run_dir)
    experiment_file = run_dir / EXPERIMENT_FILE
    digest = (hashlib.sha256(experiment_file.read_bytes()).hexdigest()
              if experiment_file.is_file() else None)
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "experiment": {"file": EXPERIMENT_FILE, "sha256": digest, "name": exp.name},
        # One seed drives everything: the data split, weight init and shuffling of every trial
        # (raytuner.trial.loop.Trainer) and the searcher's random state.
        "seeds": {"experiment": exp.seed, "data_split": exp.seed, "searcher": exp.seed},
        "versions": versions(),
        "git": git_info(),
        "hardware": hardware_info(),
        "command": sys.argv,
    }


def write_record(run_dir: str | Path, exp: Experiment) -> Path:
    """Write ``reproducibility.json``; a resumed run keeps the first record and appends one
    entry per resume (versions or hardware may differ from the first session)."""
    path = Path(run_dir) / REPRO_FILE
    record = build_record(run_dir, exp)
    if path.is_file():
        first = json.loads(path.read_text(encoding="utf-8"))
        first.setdefault("resumes", []).append(
            {k: record[k] for k in ("created", "versions", "git", "hardware", "command")})
        record = first
    write_text_atomic(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


def read_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's reproducibility record, or None for runs made before it existed."""
    path = Path(run_dir) / REPRO_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
