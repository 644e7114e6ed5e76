"""The experiment schema: strict, typed, validated at the boundary.

Unknown keys, wrong types and out-of-range values are :class:`ConfigError` s whose message names
the file, the dotted key path, the value given and what is allowed. The names a choice may take
(optimizers, LR schedules, search algorithms, schedulers) come from their registries, so a newly
registered one is allowed without touching this file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from raytuner.config._pydantic import Strict
from raytuner.errors import ConfigError
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import Space, parse_space
from raytuner.trial.optim import OPTIMIZERS
from raytuner.trial.schedules import LR_SCHEDULES


class DataConfig(Strict):
    """``data``: which dataset and how it is split."""

    name: str = Field("digits", description="dataset name or 'pkg.module:factory'")
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="stratified validation share")
    root: str | None = Field(None, description="torchvision sets: shared data folder (default "
                             "$RAYTUNER_DATA or ~/.cache/raytuner/data); imagefolder: the folder "
                             "of class sub-folders")
    val_root: str | None = Field(None, description="imagefolder: separate validation folder")
    download: bool | None = Field(None, description="torchvision sets: download when absent "
                                  "(default true); false fails at once with where to put files")
    image_size: int | None = Field(None, ge=4, le=1024,
                                   description="imagefolder: images resized to this square size")
    channels: Literal[1, 3] | None = Field(None, description="imagefolder: 1 (grayscale) or 3")
    subset: int | None = Field(None, ge=1, le=100_000_000,
                               description="stratified subset of N training examples (by seed)")
    val_subset: int | None = Field(None, ge=1, le=100_000_000,
                                   description="stratified subset of N validation examples")
    synthetic: bool = Field(False, description="random stand-in data of the set's shape and "
                            "classes (smoke mode sets it when the real files are absent)")
    cv_folds: int | None = Field(None, ge=1, le=50,
                                 description="stratified k-fold cross-validation; null/1 = off")


class LRScheduleConfig(Strict):
    """``train.lr_schedule``: how the learning rate changes (see raytuner.trial.schedules)."""

    name: LR_SCHEDULES.field() = "constant"
    warmup_epochs: int = Field(0, ge=0, le=100_000,
                               description="linear warmup epochs in front of the schedule")
    warmup_start_factor: float = Field(0.1, gt=0.0, le=1.0,
                                       description="warmup starts at this share of train.lr")
    step_size: int = Field(10, ge=1, le=100_000, description="step: epochs between decays")
    milestones: list[int] | None = Field(None, description="multistep: epochs at which to decay "
                                         "(after warmup); default: 50% and 75% of training")
    gamma: float | None = Field(None, gt=0.0, le=1.0, description="decay factor; default 0.1 "
                                "(step, multistep, plateau) or 0.9 (exponential)")
    min_lr: float = Field(0.0, ge=0.0, le=10.0, description="cosine floor, plateau floor")
    pct_start: float = Field(0.3, gt=0.0, lt=1.0, description="onecycle: share spent rising")
    div_factor: float = Field(25.0, ge=1.0, le=1e6, description="onecycle: lr/start lr")
    final_div_factor: float = Field(1e4, ge=1.0, le=1e9, description="onecycle: start/end lr")
    patience: int = Field(5, ge=0, le=100_000,
                          description="plateau: epochs without improvement before a decay")
    threshold: float = Field(1e-4, ge=0.0, le=1.0, description="plateau: relative improvement")
    monitor: Literal["val_loss", "search"] = Field(
        "val_loss", description="plateau: val_loss, or search.metric in search.mode")

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or value[0] < 1
                                  or any(b <= a for a, b in zip(value, value[1:], strict=False))):
            raise ValueError(f"milestones must be increasing positive epochs (got {value})")
        return value


class AugmentConfig(Strict):
    """``train.augment``: batch-wise augmentation of image training sets."""

    crop_padding: int = Field(0, ge=0, le=64,
                              description="random crop after zero padding by this many pixels")
    hflip: bool = Field(False, description="random horizontal flip with probability 1/2")


class EarlyStoppingConfig(Strict):
    """``train.early_stopping``: end a trial when the search metric stops improving."""

    patience: int | None = Field(None, ge=1, le=100_000,
                                 description="epochs without improvement; null = off")
    min_delta: float = Field(0.0, ge=0.0, description="smallest change that counts as better")


class TrainConfig(Strict):
    """``train``: the training recipe of one trial."""

    epochs: int = Field(10, ge=1, le=100_000, description="maximum epochs per trial")
    batch_size: int = Field(64, ge=1, le=1_000_000)
    optimizer: OPTIMIZERS.field() = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0, description="learning rate")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd/rmsprop momentum")
    nesterov: bool = Field(False, description="Nesterov momentum (sgd)")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="adam/adamw: first-moment decay")
    beta2: float = Field(0.999, ge=0.0, lt=1.0, description="adam/adamw: second-moment decay")
    grad_clip_norm: float | None = Field(None, gt=0.0, description="clip the gradient norm to "
                                         "this; null = off")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="training loss only")
    lr_schedule: LRScheduleConfig = Field(default_factory=LRScheduleConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    amp: Literal["off", "bf16", "fp16"] = Field("off", description="mixed precision")
    channels_last: bool = Field(False, description="channels-last memory format (CUDA only)")
    compile: bool = Field(False, description="torch.compile the model (CUDA only)")
    metrics: list[str] = Field(
        default_factory=list,
        description="metrics computed every epoch on top of the losses and accuracies: any of "
                    "val_top5_accuracy, val_precision, val_recall, val_f1, val_roc_auc (the "
                    "search metric always is; raytuner report shows them all), and the model's "
                    "costs params, model_bytes, latency_ms, flops (measured once per trial)")
    divergence_factor: float | None = Field(
        10.0, gt=1.0, description="stop a trial as diverged when its train loss exceeds this "
        "factor x its best (and its first epoch's); null: only NaN/inf losses stop it")

    @field_validator("amp", mode="before")
    @classmethod
    def _amp_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` (and `no`) as false: it means "off" here
        return "off" if value is False else value


class SchedulerConfig(Strict):
    """``search.scheduler``: early stopping of weak trials."""

    name: SCHEDULERS.field() = "asha"
    grace_period: int = Field(1, ge=1, description="asha/moasha/median: epochs before a trial "
                              "can be stopped")
    reduction_factor: float = Field(3.0, gt=1.0, le=100.0, description="asha/moasha/hyperband: "
                                    "eta")
    brackets: int = Field(1, ge=1, le=10, description="asha/moasha: number of brackets")
    # pbt / pb2 (population-based training: change a running trial's hyperparameters)
    perturbation_interval: int = Field(2, ge=1, le=100_000, description="pbt/pb2: epochs "
                                       "between two exploit/explore decisions of a trial")
    quantile_fraction: float = Field(0.25, gt=0.0, le=0.5, description="pbt/pb2: share of the "
                                     "population that copies the top share")
    resample_probability: float = Field(0.25, ge=0.0, le=1.0, description="pbt: chance that an "
                                        "explored value is drawn anew from its domain")
    perturbation_factors: tuple[float, float] = Field(
        (1.2, 0.8), description="pbt: factors a continuous value is multiplied by when perturbed")
    burn_in_period: int = Field(0, ge=0, le=100_000, description="pbt/pb2: epochs before the "
                                "first exploit")
    hyperparam_bounds: dict[str, tuple[float, float]] | None = Field(
        None, description="pb2: {searched key: [low, high]} it explores; default: every "
        "continuous or int domain of search.space")
    # median
    min_samples_required: int = Field(3, ge=1, le=100_000, description="median: trials that "
                                      "must have reached an epoch before one can be stopped")

    @field_validator("perturbation_factors")
    @classmethod
    def _positive_factors(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(f > 0 for f in value):
            raise ValueError(f"perturbation_factors must be positive (got {list(value)})")
        return value


class ObjectiveConfig(Strict):
    """One entry of ``search.objectives``: a reported metric and whether more or less is
    better."""

    metric: str = Field(description="a metric the training loop reports")
    mode: Literal["min", "max"]


class SearchConfig(Strict):
    """``search``: what to search and how."""

    algorithm: SEARCHERS.field() = "hyperopt"
    metric: str = Field("val_accuracy", description="metric the search optimizes")
    mode: Literal["min", "max"] = "max"
    objectives: list[ObjectiveConfig] | None = Field(
        None, min_length=2, max_length=3,
        description="2 or 3 {metric, mode} optimized together (a Pareto front), instead of "
                    "metric/mode; the first one is what early stopping by patience, the "
                    "progress view and checkpoint retention rank by")
    sampler: Literal["tpe", "nsga2"] = Field(
        "tpe", description="optuna: TPE (one or several objectives) or NSGA-II (several)")
    latency_batch: int = Field(64, ge=1, le=65_536, description="latency_ms: examples in the "
                               "timed inference batch")
    num_samples: int = Field(10, ge=1, le=1_000_000, description="trials (grid: repeats)")
    max_concurrent: int | None = Field(None, ge=1, le=100_000,
                                       description="trials at once; default: what fits")
    n_initial_points: int = Field(8, ge=1, le=10_000,
                                  description="hyperopt, optuna: random trials before TPE "
                                              "(nsga2: the population, at least 2)")
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    space: dict[str, Any] = Field(default_factory=dict, description="dotted path -> domain")
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list)
    warm_start: str | None = Field(None, description="hyperopt, optuna (one objective): "
                                   "earlier run folder whose evaluated trials seed the "
                                   "searcher")

    @model_validator(mode="before")
    @classmethod
    def _objectives_replace_metric(cls, raw: Any) -> Any:
        # One place says what is optimized: objectives, or metric and mode. The first
        # objective then stands in as metric/mode for what ranks by one metric.
        if not isinstance(raw, dict) or raw.get("objectives") is None:
            return raw
        for key in ("metric", "mode"):
            if key in raw:
                raise ConfigError(f"{key} cannot be given with objectives (got {raw[key]!r}); "
                                  "list every metric in objectives, or drop objectives",
                                  path=f"search.{key}")
        objectives = raw["objectives"]
        if isinstance(objectives, list) and objectives and isinstance(objectives[0], dict):
            first = objectives[0]
            return {**raw, "metric": first.get("metric"), "mode": first.get("mode")}
        return raw

    @property
    def multi_objective(self) -> bool:
        """True when ``objectives`` lists several metrics."""
        return bool(self.objectives)

    @property
    def goals(self) -> list[tuple[str, str]]:
        """``(metric, mode)`` of every objective: ``objectives``, else the one metric."""
        if self.objectives:
            return [(o.metric, o.mode) for o in self.objectives]
        return [(self.metric, self.mode)]

    def plain(self) -> dict[str, Any]:
        """Plain data of the section as a user writes it (metric/mode only without
        objectives), so that it validates again."""
        data = self.model_dump(mode="json")
        if self.objectives:
            data.pop("metric")
            data.pop("mode")
        return data


class ResourcesConfig(Strict):
    """``resources``: what one trial gets."""

    cpu: float = Field(1.0, gt=0.0, le=1024.0)
    gpu: float = Field(0.0, ge=0.0, le=64.0)


class CheckpointConfig(Strict):
    """``checkpoint``: how often a trial saves its full state, and how many it keeps."""

    keep: int = Field(2, ge=1, le=10_000)
    every: int = Field(1, ge=1, le=100_000,
                       description="save every N epochs (and always at a trial's last epoch "
                                   "and before the scheduler can stop it); 1 resumes a killed "
                                   "trial losing no epoch")


class FailureConfig(Strict):
    """``failure``: retries of a failed trial, each from its last checkpoint."""

    max_retries: int = Field(2, ge=0, le=1000)


class CompressConfig(Strict):
    """``compress``: post-training compression of the best model, run after the search."""

    sparsities: list[float] = Field(default_factory=lambda: [0.25, 0.5, 0.75],
                                    description="magnitude-pruning sparsities to try")
    quantize: list[Literal["dynamic", "static"]] = Field(
        default_factory=lambda: ["dynamic", "static"], description="int8 quantization modes")
    max_accuracy_drop: float = Field(0.01, ge=0.0, le=1.0,
                                     description="largest accuracy loss the chosen model may have")
    latency_runs: int = Field(5, ge=1, le=1000, description="timed runs per latency median")

    @field_validator("sparsities")
    @classmethod
    def _sparsities_in_range(cls, values: list[float]) -> list[float]:
        bad = [v for v in values if not 0.0 < v < 1.0]
        if bad:
            raise ValueError(f"sparsities must lie strictly between 0 and 1 (got {bad[0]!r})")
        return values


class Experiment(Strict):
    """One experiment file, fully resolved."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$",
                      description="run folder name: letters, digits, '_', '.', '-'")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: dict[str, Any] = Field(default_factory=lambda: {"name": "cnn"})
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    failure: FailureConfig = Field(default_factory=FailureConfig)
    compress: CompressConfig | None = None
    # search.space parsed, kept with the experiment so that nothing parses it again: the
    # validation pass sets it, trials receive it pickled with the experiment.
    _space: Space | None = PrivateAttr(default=None)

    @property
    def space(self) -> Space:
        """``search.space`` as typed domains (parsed on first use when not validated here)."""
        if self._space is None:
            self._space = parse_space(self.search.space)
        return self._space

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-safe) of the whole experiment."""
        return {**self.model_dump(mode="json"), "search": self.search.plain()}

    @property
    def model_name(self) -> str:
        """The registered model name (or import path) of ``model.name``."""
        return self.model["name"]

    @property
    def model_settings(self) -> dict[str, Any]:
        """Keyword settings for the model factory (everything but ``name``)."""
        return {k: v for k, v in self.model.items() if k != "name"}
