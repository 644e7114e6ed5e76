"""What ``pbt`` and ``pb2`` share: the checks of a population search and its mutations.

A population scheduler copies one trial's checkpoint into another and goes on training it
with changed settings, so every trial must hold the same kind of state: only the keys the
trainer can change in place (:data:`raytuner.trial.mutable.MUTABLE_KEYS`) may be searched.
The mutations are the experiment's own search space: a continuous or int domain is perturbed
and resampled within its bounds (a log domain resampled log-uniformly; perturbing multiplies
by a factor, a step on the log scale), a choice resamples among its values (or moves to a
neighbour), and the initial population is drawn from the same space by random search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.errors import ConfigError
from raytuner.search.domains import IntRange, Options, Param, Range
from raytuner.trial.mutable import MUTABLE_KEYS

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig

def _why_fixed(path: str) -> str:
    if path.startswith("data."):
        return "it changes the data"
    if path == "train.optimizer":
        return "it changes the optimizer's kind (and the shape of its state)"
    if path.startswith("model."):
        return "it changes the model's shape"
    return "the trainer cannot change it in a running trial"


def check_population(name: str, search: SearchConfig, space: list[Param], *,
                     learns: bool, longest: int) -> None:
    """ConfigError when a population scheduler ``name`` cannot run this search; each error
    names the key to change."""
    cfg = search.scheduler
    for param in space:
        where = f"search.space.{param.path}"
        if param.path not in MUTABLE_KEYS:
            raise ConfigError(f"{param.path} cannot be searched under scheduler {name}: "
                              f"{_why_fixed(param.path)}, and {name} copies weights between "
                              f"trials; fix it outside search.space, or use scheduler asha. "
                              f"Keys {name} can change: {', '.join(MUTABLE_KEYS)}", path=where)
        if any(option.subspace for option in param.options):
            raise ConfigError(f"a conditional branch cannot be searched under scheduler "
                              f"{name} (a trial may copy another of a different branch)",
                              path=where)
        if param.path == "model.dropout" and isinstance(param, Range) and param.low <= 0:
            raise ConfigError(f"under scheduler {name} the dropout domain must start above 0 "
                              f"(got low {param.low:g}): a model built without dropout has no "
                              "dropout layer to change later; use e.g. [0.01, 0.5]", path=where)
    if not space:
        raise ConfigError(f"scheduler {name} needs searched keys to explore; search.space is "
                          f"empty (searchable: {', '.join(MUTABLE_KEYS)})", path="search.space")
    if learns:
        raise ConfigError(f"search.algorithm {search.algorithm} cannot propose trials under "
                          f"scheduler {name}, which draws its population at random and changes "
                          "it itself (Ray refuses the pair); use algorithm: random",
                          path="search.algorithm")
    if search.num_samples < 2:
        raise ConfigError(f"scheduler {name} needs a population of at least 2 trials (got "
                          f"{search.num_samples})", path="search.num_samples")
    _check_times(cfg, longest)


def _check_times(cfg: SchedulerConfig, longest: int) -> None:
    if cfg.perturbation_interval >= longest:
        raise ConfigError(f"perturbation_interval {cfg.perturbation_interval} is not shorter "
                          f"than training ({longest} epochs, train.epochs): no trial would ever "
                          f"be changed; use at most {max(longest - 1, 1)}",
                          path="search.scheduler.perturbation_interval")
    if cfg.burn_in_period >= longest:
        raise ConfigError(f"burn_in_period {cfg.burn_in_period} leaves no perturbation before "
                          f"training ends ({longest} epochs, train.epochs); use at most "
                          f"{longest - 1}",
                          path="search.scheduler.burn_in_period")


def ray_mutations(space: list[Param]) -> dict[str, Any]:
    """Ray's ``hyperparam_mutations`` from the space: a domain per range, values per choice."""
    out: dict[str, Any] = {}
    for param in space:
        if isinstance(param, Options):
            out[param.path] = param.representative_values()
        else:
            out[param.path] = param.to_ray(grid=False, translate=lambda sub: {})
    return out


def into_domain(param: Param, value: Any) -> Any:
    """``value`` put back into ``param``'s domain: clamped to the bounds, on the step, an int
    for an int domain (Ray's perturbation multiplies by a factor and knows no bounds)."""
    if isinstance(param, Options):
        return value
    assert isinstance(param, (Range, IntRange))  # the space has only these
    if param.step:
        value = param.low + round((value - param.low) / param.step) * param.step
    value = min(max(float(value), param.low), param.high)
    return int(round(value)) if isinstance(param, IntRange) else value


def explore_within(space: list[Param]):
    """Ray's ``custom_explore_fn``: every explored value back into its domain."""
    params = {p.path: p for p in space}

    def explore(config: dict[str, Any]) -> dict[str, Any]:
        return {key: into_domain(params[key], value) if key in params else value
                for key, value in config.items()}

    return explore


def pb2_bounds(cfg: SchedulerConfig, space: list[Param]) -> dict[str, list[float]]:
    """PB2's ``hyperparam_bounds``: the given ones (checked against the space), else every
    continuous or int domain of the space; ConfigError when there is none."""
    ranges = {p.path: p for p in space if isinstance(p, (Range, IntRange))}
    where = "search.scheduler.hyperparam_bounds"
    if cfg.hyperparam_bounds is None:
        bounds = {path: [p.low, p.high] for path, p in ranges.items()}
    else:
        bounds = {}
        for key, (low, high) in cfg.hyperparam_bounds.items():
            if key not in ranges:
                raise ConfigError(f"{key!r} is not a continuous or int domain of search.space; "
                                  f"pb2 can bound: {', '.join(ranges) or 'none'}",
                                  path=f"{where}.{key}")
            p = ranges[key]
            if not p.low <= low < high <= p.high:
                raise ConfigError(f"[{low:g}, {high:g}] must be an increasing range inside "
                                  f"the domain [{p.low:g}, {p.high:g}]", path=f"{where}.{key}")
            bounds[key] = [low, high]
    if not bounds:
        raise ConfigError("pb2 needs bounds to explore: search.space has no continuous or int "
                          "domain and none are given; add e.g. train.lr: {loguniform: [1e-4, "
                          "1e-1]}, or use scheduler pbt (which also resamples choices)",
                          path=where)
    return bounds
