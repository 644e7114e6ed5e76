"""The Ray side of ``moasha``: multi-objective asynchronous successive halving.

Schmucker, Donini, Zafar, Salinas, Archambeau (2021), "Multi-objective Asynchronous Successive
Halving" (arXiv:2106.12639), as Syne Tune implements it (``MOASHA``): ASHA's brackets and rungs,
with the promotion at a rung decided by non-dominated sorting of the objective vectors recorded
there instead of by a quantile of one metric. Written on Ray's public scheduler API
(``FIFOScheduler``) and Ray's public ``Callback`` state hooks; imported only when a run builds
its Tuner, so validation never loads Ray.

Ray 2.60 saves the searcher's and the callbacks' state with the experiment, never the
scheduler's (``tuner.pkl`` holds the scheduler as it was before the first trial): the rung
records reach a resumed run through :meth:`MOASHAScheduler.state_keeper`, a callback whose
state is the scheduler's.
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from raytuner.search.pareto import is_valid, rank_by_pareto
from raytuner.search.schedulers.asha import asha_rungs

Vector = tuple[float, ...]


def promoted(newcomer: Sequence[float], recorded: Sequence[Sequence[float]],
             modes: Sequence[str], eta: float) -> bool:
    """Whether a trial that reaches a rung with objective vector ``newcomer`` continues, given
    the vectors ``recorded`` there before it (every trial judged at that rung, stopped ones
    included).

    The rule: of the ``n = len(recorded) + 1`` vectors, the newcomer continues when its
    position in :func:`~raytuner.search.pareto.rank_by_pareto` (by non-dominated front, then
    crowding distance, most isolated first) is within the first ``ceil(n / eta)``. The
    newcomer is listed first, so an exact tie goes its way (as ASHA's ``value < cutoff``
    stops only a strictly worse trial). A vector with a missing, NaN or infinite value ranks
    after every other one. Hence the first trial at a rung always continues.
    """
    points = [tuple(newcomer), *(tuple(v) for v in recorded)]
    keep = math.ceil(len(points) / eta)
    if not is_valid(points[0]):
        return len(points) - 1 < keep  # last of all
    valid = [p for p in points if is_valid(p)]  # the newcomer stays at index 0
    return rank_by_pareto(valid, modes).index(0) < keep


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan  # missing or not a number: worst


class MOASHAScheduler(FIFOScheduler):
    """Asynchronous successive halving that promotes by Pareto rank.

    Bracket ``s`` (of ``brackets``) has rungs at ``grace_period * reduction_factor**(k+s)``
    up to ``max_t`` (Ray's ``_Bracket`` layout); a new trial joins bracket ``s`` with
    probability proportional to ``e**(rungs in s)``, as in Ray's ASHA, drawn from a generator
    seeded with ``seed`` (the same order of trials gets the same brackets).

    When a result's ``time_attr`` first reaches one of its bracket's rungs, the trial is
    judged there once, by :func:`promoted` against the vectors recorded at that rung, and its
    vector is recorded (a stopped trial's too: later arrivals are compared with it). A trial
    is never judged again at that rung or a lower one: a retried trial that replays epochs,
    or reports an epoch twice, keeps its first decision. A result that skips rungs is judged
    at the highest one it reached. A trial reaching ``max_t`` is stopped (it is done).

    ``objectives``: ``(metric, mode)`` pairs; with one pair this is ASHA's successive halving
    by that metric (keeping the top ``ceil(n/eta)`` instead of Ray's interpolated quantile).
    ``None`` takes the one metric and mode of ``TuneConfig``.
    """

    def __init__(self, objectives: Sequence[tuple[str, str]] | None = None, *,
                 time_attr: str = "epoch", max_t: int = 100, grace_period: int = 1,
                 reduction_factor: float = 3, brackets: int = 1, seed: int = 0) -> None:
        if max_t <= 0 or not 0 < grace_period <= max_t:
            raise ValueError(f"need 0 < grace_period ({grace_period}) <= max_t ({max_t})")
        if reduction_factor <= 1 or brackets < 1:
            raise ValueError(f"need reduction_factor > 1 ({reduction_factor}) "
                             f"and brackets >= 1 ({brackets})")
        super().__init__()
        self._objectives: list[tuple[str, str]] | None = None
        if objectives is not None:
            self._set_objectives(objectives)
        self._time_attr = time_attr
        self._max_t = max_t
        self._eta = reduction_factor
        # Per bracket, ascending: (milestone, {trial_id: vector}) in the order judged.
        self._rungs: list[list[tuple[float, dict[str, Vector]]]] = [
            [(m, {}) for m in asha_rungs(grace_period, max_t, reduction_factor, s)]
            for s in range(brackets)]
        self._bracket_of: dict[str, int] = {}
        self._judged: dict[str, int] = {}  # trial_id: index of the highest rung judged at
        self._rng = random.Random(seed)
        self._num_stopped = 0

    # -- objectives ------------------------------------------------------------------------
    def _set_objectives(self, objectives: Sequence[tuple[str, str]]) -> None:
        pairs = [(str(m), str(d)) for m, d in objectives]
        if not pairs or any(d not in ("min", "max") for _, d in pairs):
            raise ValueError(f"objectives must be (metric, 'min'|'max') pairs, got {pairs}")
        self._objectives = pairs
        self._metric = pairs[0][0]  # what Tune checks every result for

    @property
    def objectives(self) -> list[tuple[str, str]] | None:
        """The ``(metric, mode)`` pairs it ranks by."""
        return list(self._objectives) if self._objectives else None

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if self._objectives is None:
            if metric and mode:
                self._set_objectives([(metric, mode)])
            return True
        # TuneConfig names the first objective (raytuner's run does): consistent, accepted.
        first_metric, first_mode = self._objectives[0]
        return metric in (None, first_metric) and mode in (None, first_mode)

    def _vector(self, result: Mapping[str, Any]) -> Vector:
        return tuple(_number(result.get(metric)) for metric, _ in self._objectives)

    # -- the scheduler API -----------------------------------------------------------------
    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if self._objectives is None:
            raise ValueError("MOASHAScheduler has no objectives: pass them, or metric and "
                             "mode to tune.TuneConfig()")
        self._bracket(trial.trial_id)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if self._time_attr not in result:
            return TrialScheduler.CONTINUE
        action = self._judge(trial.trial_id, result)
        if _number(result[self._time_attr]) >= self._max_t:
            return TrialScheduler.STOP  # trained to the end: done, not stopped early
        if action == TrialScheduler.STOP:
            self._num_stopped += 1
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if result and self._time_attr in result:
            self._judge(trial.trial_id, result)  # records a rung it reached, if new

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        pass  # its records stay: later trials are compared with them

    def debug_string(self) -> str:
        lines = [f"Using MOASHA ({self._goal_text()}): num_stopped={self._num_stopped}"]
        for s, rungs in enumerate(self._rungs):
            cells = " | ".join(f"epoch {m:g}: {len(r)} recorded" for m, r in rungs)
            lines.append(f"Bracket {s}: {cells}")
        return "\n".join(lines)

    def _goal_text(self) -> str:
        return ", ".join(f"{m} {d}" for m, d in self._objectives or [])

    # -- decisions -------------------------------------------------------------------------
    def _bracket(self, trial_id: str) -> int:
        if trial_id not in self._bracket_of:  # a restored trial keeps its bracket
            sizes = [len(r) for r in self._rungs]
            if len(sizes) == 1:
                self._bracket_of[trial_id] = 0
            else:
                weights = [math.exp(n - max(sizes)) for n in sizes]
                self._bracket_of[trial_id] = self._rng.choices(range(len(sizes)),
                                                               weights=weights)[0]
        return self._bracket_of[trial_id]

    def _judge(self, trial_id: str, result: Mapping[str, Any]) -> str:
        """CONTINUE or STOP at the highest rung ``result`` reached that the trial has not been
        judged at (and none above it); CONTINUE when there is none."""
        rungs = self._rungs[self._bracket(trial_id)]
        t = _number(result[self._time_attr])
        done = self._judged.get(trial_id, -1)
        reached = [k for k, (milestone, _) in enumerate(rungs) if k > done and t >= milestone]
        if not reached:
            return TrialScheduler.CONTINUE
        k = reached[-1]
        recorded = rungs[k][1]
        vector = self._vector(result)
        keep = promoted(vector, list(recorded.values()), [d for _, d in self._objectives],
                        self._eta)
        recorded[trial_id] = vector
        self._judged[trial_id] = k
        return TrialScheduler.CONTINUE if keep else TrialScheduler.STOP

    # -- state -----------------------------------------------------------------------------
    def rung_records(self) -> list[list[tuple[float, dict[str, Vector]]]]:
        """Per bracket, ascending: ``(milestone, {trial_id: objective vector})``, each rung's
        records in the order the trials were judged there."""
        return [[(m, dict(r)) for m, r in rungs] for rungs in self._rungs]

    def get_state(self) -> dict[str, Any]:
        """What a resumed run needs: the rung records, brackets, decisions and generator."""
        return {"objectives": self._objectives, "rungs": self.rung_records(),
                "bracket_of": dict(self._bracket_of), "judged": dict(self._judged),
                "rng": self._rng.getstate(), "num_stopped": self._num_stopped}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Take over :meth:`get_state` of an earlier run of the same experiment."""
        milestones = [[m for m, _ in rungs] for rungs in state["rungs"]]
        if milestones != [[m for m, _ in rungs] for rungs in self._rungs]:
            raise ValueError(f"saved rungs {milestones} differ from this scheduler's")
        if state["objectives"]:
            self._set_objectives(state["objectives"])
        self._rungs = [[(m, dict(r)) for m, r in rungs] for rungs in state["rungs"]]
        self._bracket_of.update(state["bracket_of"])
        self._judged = dict(state["judged"])
        self._rng.setstate(state["rng"])
        self._num_stopped = int(state["num_stopped"])

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as stream:
            pickle.dump(self.get_state(), stream)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as stream:
            self.set_state(pickle.load(stream))  # a file this run wrote: trusted

    def state_keeper(self) -> Callback:
        """A Tune callback that carries this scheduler's state in Tune's experiment
        checkpoints (``callback-states-*.pkl``) and hands it back on ``Tuner.restore``."""
        return RungRecordKeeper(self)


class RungRecordKeeper(Callback):
    """Ray 2.60 checkpoints callbacks' state, not the scheduler's: this callback's state is
    the scheduler's. ``tuner.pkl`` pickles the scheduler and the callbacks together, so after
    a restore this callback still holds the run's scheduler, and Tune sets the state before
    it re-adds the restored trials."""

    def __init__(self, scheduler: MOASHAScheduler) -> None:
        self.scheduler = scheduler

    def get_state(self) -> dict[str, Any]:
        return {"moasha": self.scheduler.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.scheduler.set_state(state["moasha"])
