"""Shared pieces of the benchmarks: options, reports, load readings, recorders, plots."""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Options:
    """Command-line options shared by every benchmark."""

    smoke: bool = False
    seeds: int | None = None
    out_dir: Path = RESULTS_DIR
    extra: dict[str, Any] = field(default_factory=dict)
    #: the command line that runs this benchmark as it ran, stored with its result
    command: str = "python -m benchmarks"


@dataclass
class Report:
    """One benchmark's outcome: a markdown body, plots and raw numbers (saved as JSON)."""

    name: str
    title: str
    markdown: str
    plots: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir: Path) -> Path:
        """Write ``<name>.md`` (with environment and load readings) and ``<name>.json``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.md"
        plots = "".join(f"\n![{p.stem}]({p.name})\n" for p in self.plots)
        path.write_text(f"# {self.title}\n\n{environment_line()}\n\n{self.markdown}\n{plots}",
                        encoding="utf-8")
        (out_dir / f"{self.name}.json").write_text(
            json.dumps(self.data, indent=1, default=str) + "\n", encoding="utf-8")
        return path


def environment_line() -> str:
    """Machine, versions and date, for the head of every result file."""
    import ray
    import torch

    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}, ray {ray.__version__}")


def load_average() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages (other users' work contaminates timings)."""
    return os.getloadavg()


def fmt_load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


class Poller:
    """A context manager whose daemon thread calls :meth:`tick` every ``every_s`` seconds
    while the body runs (the first call one interval after the start); ``tick`` returning
    True ends the polling early. :meth:`finish` runs once at the exit, in the caller."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.finish()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            if self.tick():
                return

    def tick(self) -> bool | None:
        """One reading; True: no more are needed."""
        raise NotImplementedError

    def finish(self) -> None:
        """The reading at the exit (none by default)."""


class LoadWatch(Poller):
    """Load average before and after a measurement, plus the mean 1-minute load sampled
    every few seconds while it ran."""

    def __init__(self, every_s: float = 2.0):
        super().__init__(every_s)
        self.before = load_average()
        self.after: tuple[float, float, float] | None = None
        self._samples: list[float] = []

    def tick(self) -> None:
        self._samples.append(load_average()[0])

    def finish(self) -> None:
        self.after = load_average()

    @property
    def mean(self) -> float:
        return statistics.fmean(self._samples) if self._samples else self.before[0]

    def as_dict(self) -> dict[str, Any]:
        return {"load_before": self.before, "load_after": self.after,
                "load_mean_1m": round(self.mean, 2)}

    def text(self) -> str:
        return (f"load {fmt_load(self.before)} before, {fmt_load(self.after or ())} after, "
                f"{self.mean:.2f} mean 1-min during")


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc (no psutil needed)."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats get 3 significant decimals."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def median_spread(values: Sequence[float | None], digits: int = 3) -> str:
    """``median [min, max] (n)`` of the non-missing values; ``-`` when none."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    missing = len(values) - len(present)
    med, low, high = statistics.median(present), min(present), max(present)
    text = f"{med:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return text + (f" ({missing} of {len(values)} never)" if missing else "")


def ray_session(num_cpus: int | None = None) -> Callable[[], None]:
    """Start a local Ray (no dashboard) unless one is running; returns the matching shutdown
    (a no-op when Ray was already up, so a shared test session stays alive)."""
    import ray

    if ray.is_initialized():
        return lambda: None
    # address="local": always a new instance of our own. Without it ray.init() attaches to
    # the newest Ray already running on the machine (someone else's, on a shared machine).
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
             logging_level="WARNING")
    return ray.shutdown


def run_seeds(data: dict[str, Any], saved: Path, methods: list[str],
              run_one: Callable[[str, int, Path], dict[str, Any]]) -> dict[str, Any]:
    """Run every method for every seed of ``data["seeds"]``, seeds outer (a cut-short run
    still compares like with like), in one local Ray and a temporary storage folder per
    method; ``run_one(method, seed, storage)`` returns a run's record, to which the load
    readings are added. ``data`` (with ``"runs": {method: [...]}``) is written to ``saved``
    after each run."""
    import tempfile

    shutdown = ray_session()
    try:
        with tempfile.TemporaryDirectory(prefix=f"{saved.stem}-") as tmp:
            for seed in range(data["seeds"]):
                for method in methods:
                    with LoadWatch() as load:
                        record = run_one(method, seed, Path(tmp) / method)
                    data["runs"][method].append({**record, **load.as_dict()})
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps(data, indent=1, default=str) + "\n",
                                     encoding="utf-8")
    finally:
        shutdown()
    return data


def plot_lines(path: Path, series: dict[str, list[tuple[list[float], list[float]]]], *,
               xlabel: str, ylabel: str, title: str, hline: float | None = None,
               ylim: tuple[float, float] | None = None) -> Path:
    """One line per run, one colour per label (several runs of a label share its colour)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, runs) in enumerate(series.items()):
        for j, (xs, ys) in enumerate(runs):
            ax.step(xs, ys, where="post", color=colours[i % len(colours)], alpha=0.6,
                    label=label if j == 0 else None)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle="--", linewidth=1, label=f"target {hline}")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_bars(path: Path, labels: list[str], values: list[float], *, ylabel: str,
              title: str) -> Path:
    """A bar chart (one bar per variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, values, color="tab:blue")
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
