"""``pb2``: Ray's population-based bandits (PBT whose explore step is a Gaussian-process
bandit over ``hyperparam_bounds`` instead of random perturbation; needs scikit-learn).

The bounds default to every continuous or int domain of ``search.space``; choices are copied
from the donor trial, never changed. The GP works on the raw values, not on a log scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.search._registry import SCHEDULERS
from raytuner.search.population import explore_within, pb2_bounds
from raytuner.search.schedulers.pbt import PopulationScheduler

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


@SCHEDULERS.register("pb2")
class PB2(PopulationScheduler):
    """Exploit like pbt; explore where a GP bandit expects the most improvement."""

    @classmethod
    def check_search(cls, search: SearchConfig, space: list[Param], *, learns: bool,
                     longest: int) -> None:
        super().check_search(search, space, learns=learns, longest=longest)
        pb2_bounds(search.scheduler, space)

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers.pb2 import PB2 as RayPB2  # deferred: only a run needs Ray

        return RayPB2(time_attr="epoch", perturbation_interval=cfg.perturbation_interval,
                      hyperparam_bounds=pb2_bounds(cfg, space),
                      quantile_fraction=cfg.quantile_fraction,
                      custom_explore_fn=explore_within(space), log_config=False)
