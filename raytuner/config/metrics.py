"""The metric catalogue: every metric the training loop reports, its direction, and when.

The one home of these facts: validation checks ``search.metric`` and its ``mode`` against it,
the summary keeps these keys of a trial's last result, divergence takes a metric's worst value
from it, and TensorBoard its "best" direction. The values themselves are computed in
:mod:`raytuner.trial.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from raytuner.config.schema import Experiment
from raytuner.data.traits import declared_trait
from raytuner.errors import ConfigError

#: suffix of a metric's spread over cross-validation folds (``val_accuracy_std``)
SPREAD_SUFFIX = "_std"


@dataclass(frozen=True)
class Metric:
    """One reported metric."""

    name: str
    #: ``"max"`` or ``"min"`` when a higher or lower value is better, ``""`` when neither is
    direction: str
    #: a share in [0, 1] (its worst value is a bound, not a sentinel)
    share: bool = False
    #: reported only when the data set has more than this many classes
    min_classes: int | None = None
    #: differs between cross-validation folds: also reported as ``<name>_std``
    spread: bool = False
    #: computed by scikit-learn from the validation logits: reported every epoch only when the
    #: experiment uses it (``search.metric`` or ``train.metrics``); ``raytuner report`` always
    #: shows it for the best checkpoint. ROC-AUC alone costs seconds per epoch on large sets.
    on_request: bool = False
    #: a cost of the model rather than of its predictions (size, speed): measured once per
    #: trial by :mod:`raytuner.trial.costs` (a trial's architecture is fixed), reported every
    #: epoch when the experiment uses it
    cost: bool = False


#: in the order a trial reports them (every epoch unless said otherwise)
CATALOGUE: tuple[Metric, ...] = (
    Metric("train_loss", "min", spread=True),
    Metric("train_accuracy", "max", share=True, spread=True),
    Metric("val_loss", "min", spread=True),
    Metric("val_accuracy", "max", share=True, spread=True),
    Metric("lr", ""),
    Metric("epoch", ""),
    Metric("epoch_time_s", ""),
    Metric("samples_per_s", ""),
    # computed with scikit-learn from the validation logits, when asked for
    Metric("val_top5_accuracy", "max", share=True, min_classes=5, spread=True, on_request=True),
    Metric("val_precision", "max", share=True, spread=True, on_request=True),
    Metric("val_recall", "max", share=True, spread=True, on_request=True),
    Metric("val_f1", "max", share=True, spread=True, on_request=True),
    Metric("val_roc_auc", "max", share=True, spread=True, on_request=True),
    # costs of the model, when asked for (search.objectives, train.metrics)
    Metric("params", "min", on_request=True, cost=True),
    Metric("model_bytes", "min", on_request=True, cost=True),
    Metric("latency_ms", "min", on_request=True, cost=True),
    Metric("flops", "min", on_request=True, cost=True),
)
METRICS: dict[str, Metric] = {m.name: m for m in CATALOGUE}
#: metrics that differ between cross-validation folds: reported as the mean and ``<name>_std``
SPREAD_METRICS: tuple[str, ...] = tuple(m.name for m in CATALOGUE if m.spread)


def _spread_of(name: str) -> Metric | None:
    base = METRICS.get(name.removesuffix(SPREAD_SUFFIX)) if name.endswith(SPREAD_SUFFIX) else None
    return base if base is not None and base.spread else None


def direction(name: str) -> str:
    """``"max"``, ``"min"`` or ``""`` for a reported metric; a fold spread is better smaller
    (the folds agree); ``""`` for a name the catalogue does not know."""
    if name in METRICS:
        return METRICS[name].direction
    return "min" if _spread_of(name) is not None else ""


def is_share(name: str) -> bool:
    """True for a metric that is a share in [0, 1] (accuracy, F1, ...)."""
    return name in METRICS and METRICS[name].share


def available_metrics(exp: Experiment | None = None, *, num_classes: int | None = None
                      ) -> list[str]:
    """Names of every metric the training loop can report for ``exp``'s data, in the order it
    reports them (those on request included).

    ``num_classes`` is the loaded data's; without it, a built-in dataset's declared class count
    decides whether top-5 accuracy is available (unknown -> listed; the trainer checks again once
    the data is loaded).
    """
    if exp is not None and num_classes is None:
        num_classes = declared_trait(exp.data.name, "num_classes")
    return [m.name for m in CATALOGUE if m.min_classes is None or num_classes is None
            or num_classes > m.min_classes]


def requested_metrics(exp: Experiment) -> list[str]:
    """The on-request metrics ``exp`` uses, so the loop computes them every epoch: those in
    ``train.metrics``, ``search.metric`` and ``search.objectives`` (whatever early stopping or
    a plateau schedule watches is the search metric or ``val_loss``)."""
    wanted = {*exp.train.metrics,
              *(metric.removesuffix(SPREAD_SUFFIX) for metric, _ in exp.search.goals)}
    return [m.name for m in CATALOGUE if m.on_request and m.name in wanted]


def is_cost(name: str) -> bool:
    """True for a cost of the model (params, model_bytes, latency_ms, flops)."""
    return name in METRICS and METRICS[name].cost


def reported_metrics(exp: Experiment | None = None, *, num_classes: int | None = None
                     ) -> list[str]:
    """Names of the metrics the training loop reports every epoch for ``exp``, in the order it
    reports them: the cheap ones always, the on-request ones when ``exp`` uses them; without
    ``exp``, all of them. ``data.cv_folds`` > 1 adds the fold spreads.
    """
    available = available_metrics(exp, num_classes=num_classes)
    if exp is None:
        return available
    wanted = set(requested_metrics(exp))
    names = [n for n in available if not METRICS[n].on_request or n in wanted]
    if (exp.data.cv_folds or 1) > 1:
        names += [f"{n}{SPREAD_SUFFIX}" for n in SPREAD_METRICS if n in names]
    return names


def all_metric_names() -> list[str]:
    """Every name the training loop can report, for any data (fold spreads included)."""
    return [*METRICS, *(f"{n}{SPREAD_SUFFIX}" for n in SPREAD_METRICS)]


def check_metric_name(name: str, exp: Experiment | None = None, *, path: str = "search.metric",
                      num_classes: int | None = None) -> None:
    """A ConfigError unless ``name`` is a metric the training loop can report for ``exp`` (an
    on-request metric named here is then computed every epoch)."""
    names = available_metrics(exp, num_classes=num_classes)
    if exp is not None and (exp.data.cv_folds or 1) > 1:
        names += [f"{n}{SPREAD_SUFFIX}" for n in SPREAD_METRICS if n in names]
    if name not in names:
        raise ConfigError(f"unknown metric {name!r}; the training loop reports: "
                          f"{', '.join(names)}", path=path)


def check_mode(metric: str, mode: str, *, path: str = "search.mode",
               key: str = "search.metric") -> None:
    """A ConfigError when ``mode`` contradicts the metric's direction (``key``: where the
    metric is named).

    An error, not a warning: minimizing an accuracy (or maximizing a loss) silently spends the
    whole budget searching for the worst model; nobody wants that by accident.
    """
    better = direction(metric)
    if better in ("min", "max") and better != mode:
        word = "higher" if better == "max" else "lower"
        raise ConfigError(f"mode {mode!r} contradicts {key} {metric!r}, which is better "
                          f"when {word}; use mode: {better}", path=path)


def check_objectives(exp: Experiment) -> None:
    """A ConfigError unless every entry of ``search.objectives`` is a metric the loop reports
    for ``exp``, named once, with a mode that agrees with its direction."""
    seen: set[str] = set()
    for i, (metric, mode) in enumerate(exp.search.goals):
        where = f"search.objectives[{i}]"
        check_metric_name(metric, exp, path=f"{where}.metric")
        if metric in seen:
            raise ConfigError(f"{metric!r} is listed twice; each objective names another "
                              "metric", path=f"{where}.metric")
        seen.add(metric)
        check_mode(metric, mode, path=f"{where}.mode", key=f"{where}.metric")
