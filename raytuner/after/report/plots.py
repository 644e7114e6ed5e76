"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

matplotlib.use("Agg")  # before pyplot: reports are written on headless machines and clusters

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from raytuner.after.lineage import schedule  # noqa: E402
from raytuner.after.report.importance import ABSENT  # noqa: E402
from raytuner.search.space import Space, all_params  # noqa: E402


def best_so_far_figure(curve: list[tuple[int, float]], metric: str, mode: str) -> Figure:
    """Best value of the search metric against epochs trained by all trials so far."""
    fig, ax = plt.subplots(figsize=(6, 4))
    if curve:
        xs, ys = zip(*curve, strict=True)
        ax.step(xs, ys, where="post", color="tab:blue")
        ax.plot(xs[-1], ys[-1], "o", color="tab:blue")
    ax.set_xlabel("epochs trained, all trials (in report order)")
    ax.set_ylabel(f"best {metric} so far ({mode})")
    ax.set_title("Best so far")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def params_figure(summary: dict[str, Any], space: Space) -> Figure | None:
    """The search metric (each trial's best) against each searched hyperparameter."""
    params = {p.path: p for p in reversed(all_params(space))}
    trials = [t for t in summary["trials"] if t["best"] is not None]
    if not params or not trials:
        return None
    names = sorted(params)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        param = params[name]
        used = [t for t in trials if name in t["config"]]
        values = [t["config"][name] for t in used]
        scores = [t["best"] for t in used]
        if param.kind in ("choice", "grid") or not _numeric(values):
            labels = [str(o.value) for o in param.options] or sorted({str(v) for v in values})
            absent = [t["best"] for t in trials if name not in t["config"]]
            if absent:
                labels.append(ABSENT)
            positions = {label: i for i, label in enumerate(labels)}
            xs = [positions.get(str(v), 0) for v in values] + [positions.get(ABSENT, 0)] * len(
                absent)
            ax.scatter(xs, scores + absent, alpha=0.7)
            ax.set_xticks(range(len(labels)), labels, rotation=30)
        else:
            ax.scatter(values, scores, alpha=0.7)
            if param.log:
                ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(summary["metric"])
        ax.grid(alpha=0.3)
    fig.suptitle(f"{summary['metric']} (best per trial) against each hyperparameter")
    fig.tight_layout()
    return fig


def learning_curves_figure(top: list[dict[str, Any]], hist: dict[str, list[dict[str, Any]]],
                           metric: str) -> Figure:
    """Per-epoch search metric and training loss of the top trials."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for row in top:
        rows = hist.get(row["trial_id"], [])
        epochs = [r["epoch"] for r in rows]
        label = f"#{row['rank']} {row['trial_id']}"
        left.plot(epochs, [r.get(metric) for r in rows], marker=".", label=label)
        right.plot(epochs, [r.get("train_loss") for r in rows], marker=".", label=label)
    left.set_ylabel(metric)
    right.set_ylabel("train_loss")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if top:
        left.legend(fontsize=7)
    fig.suptitle("Learning curves of the top trials")
    fig.tight_layout()
    return fig


def importance_figure(result: dict[str, Any]) -> Figure | None:
    """Bar chart of hyperparameter importance (mean drop in R^2, with its std)."""
    rows = result["params"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1.5))
    names = [r["param"] for r in rows][::-1]
    ax.barh(names, [r["importance"] for r in rows][::-1],
            xerr=[r["std"] for r in rows][::-1], color="tab:orange")
    ax.set_xlabel("permutation importance (drop in R^2)")
    ax.set_title("Hyperparameter importance")
    fig.tight_layout()
    return fig


def schedule_figure(record: dict[str, Any] | None) -> Figure | None:
    """The best trial's hyperparameter schedule (pbt/pb2): each changed key against epochs;
    None when it was never exploited."""
    steps = schedule(record) if record else {}
    if not steps:
        return None
    fig, axes = plt.subplots(len(steps), 1, figsize=(6, 2.2 * len(steps) + 0.6),
                             squeeze=False, sharex=True)
    last = max(int(record.get("epochs") or 1), max(e for s in steps.values() for e, _ in s))
    for ax, (key, points) in zip(axes[:, 0], steps.items(), strict=True):
        xs = [e for e, _ in points] + [last + 1]
        values = [v for _, v in points]
        ys = values + [values[-1]]
        numeric = _numeric(values)
        ax.step(xs, ys if numeric else [str(v) for v in ys], where="post", color="tab:green")
        if numeric and all(v > 0 for v in values) and max(values) / min(values) > 10:
            ax.set_yscale("log")
        ax.set_ylabel(key, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_title(f"Hyperparameter schedule of trial {record['trial_id']}")
    fig.tight_layout()
    return fig


def confusion_figure(matrix: list[list[int]]) -> Figure:
    """The best trial's validation confusion matrix."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ConfusionMatrixDisplay(np.array(matrix)).plot(ax=ax, colorbar=False)
    ax.set_title("Best trial: validation confusion matrix")
    fig.tight_layout()
    return fig


def close(figures: dict[str, Figure]) -> None:
    """Release the figures' memory (pyplot keeps every open figure)."""
    for fig in figures.values():
        plt.close(fig)


def front_figure(points: dict[str, tuple[float, ...]], front: list[str],
                 goals: list[tuple[str, str]]) -> Figure | None:
    """Every trial's final values, the Pareto front highlighted (and joined, for two
    objectives); three objectives: the three pairwise views."""
    if not points:
        return None
    pairs = [(0, 1)] if len(goals) == 2 else [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.2), squeeze=False)
    on_front = [points[t] for t in front if t in points]
    others = [p for t, p in points.items() if t not in set(front)]
    for ax, (a, b) in zip(axes.flat, pairs, strict=True):
        if others:
            ax.scatter([p[a] for p in others], [p[b] for p in others], s=18, color="0.65",
                       label="dominated")
        ax.scatter([p[a] for p in on_front], [p[b] for p in on_front], s=34,
                   color="tab:red", label="Pareto front", zorder=3)
        if len(goals) == 2 and len(on_front) > 1:
            xs, ys = _front_staircase(on_front, (goals[0][1], goals[1][1]))
            ax.plot(xs, ys, color="tab:red", alpha=0.5)
        ax.set_xlabel(f"{goals[a][0]} ({goals[a][1]})")
        ax.set_ylabel(f"{goals[b][0]} ({goals[b][1]})")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Pareto front: {len(on_front)} of {len(points)} trials (final values)")
    fig.tight_layout()
    return fig


def _front_staircase(front: list[tuple[float, ...]], modes: tuple[str, str]
                     ) -> tuple[list[float], list[float]]:
    """The boundary of what a two-objective front dominates: through every point, one step
    between neighbours, turned the way the modes say is better."""
    signs = [-1.0 if mode == "max" else 1.0 for mode in modes]
    minimized = sorted((signs[0] * p[0], signs[1] * p[1]) for p in front)
    path = [minimized[0]]
    for before, after in zip(minimized, minimized[1:], strict=False):
        path += [(after[0], before[1]), after]
    return [signs[0] * x for x, _ in path], [signs[1] * y for _, y in path]


def hypervolume_figure(curve: list[tuple[int, float]]) -> Figure | None:
    """The front's hypervolume against epochs trained by all trials so far."""
    if not curve:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    xs, ys = zip(*curve, strict=True)
    ax.step(xs, ys, where="post", color="tab:purple")
    ax.set_xlabel("epochs trained, all trials (in report order)")
    ax.set_ylabel("hypervolume of the front")
    ax.set_title("Hypervolume so far")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
