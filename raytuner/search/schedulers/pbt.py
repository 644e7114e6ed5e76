"""``pbt``: Ray's population-based training.

Every ``perturbation_interval`` epochs a trial in the bottom ``quantile_fraction`` of the
population copies the checkpoint of one in the top share (exploit) and goes on with that
trial's settings perturbed (explore); the mutations come from ``search.space``
(:mod:`raytuner.search.population`). No trial is stopped, so the epochs are ``trials x
train.epochs``, give or take the epochs an exploit skips or repeats (a copied trial continues
at its donor's epoch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.search._registry import SCHEDULERS, Budget, TrialScheduler
from raytuner.search.population import check_population, explore_within, ray_mutations

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


def population_epochs(trials: int, cfg: SchedulerConfig, epoch_values: list[int]
                      ) -> tuple[Budget, list[str]]:
    """Epochs of a population search (pbt, pb2): every trial trains to the end."""
    total = float(trials * max(epoch_values))
    return Budget(total, total, total), [
        f"{cfg.name}: no trial is stopped; every {cfg.perturbation_interval} epoch(s) the "
        f"bottom {cfg.quantile_fraction:g} of the population copies a top trial and continues "
        "at its epoch (the total moves by the epochs that skips or repeats); every checkpoint "
        "is kept"]


class PopulationScheduler(TrialScheduler):
    """What pbt and pb2 share: the checks and the epoch arithmetic."""

    population = True

    @classmethod
    def check_search(cls, search: SearchConfig, space: list[Param], *, learns: bool,
                     longest: int) -> None:
        check_population(search.scheduler.name, search, space, learns=learns,
                         longest=longest)

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        return population_epochs(trials, cfg, epoch_values)


@SCHEDULERS.register("pbt")
class PBT(PopulationScheduler):
    """Exploit the top trials' checkpoints, explore by perturbing and resampling settings."""

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers import PopulationBasedTraining  # deferred: only a run needs Ray

        return PopulationBasedTraining(
            time_attr="epoch", perturbation_interval=cfg.perturbation_interval,
            burn_in_period=cfg.burn_in_period, hyperparam_mutations=ray_mutations(space),
            quantile_fraction=cfg.quantile_fraction,
            resample_probability=cfg.resample_probability,
            perturbation_factors=tuple(cfg.perturbation_factors),
            custom_explore_fn=explore_within(space), log_config=False)
