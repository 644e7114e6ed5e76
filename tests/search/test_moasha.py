"""``moasha``: promotion by Pareto rank at ASHA's rungs, on synthetic results (real Ray Trial
stubs, no cluster), its registry entry, and one short run on a real Ray."""

from __future__ import annotations

import json
import math
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment

from raytuner.config import validate_experiment
from raytuner.errors import ConfigError
from raytuner.search.pareto import non_dominated_sort, rank_by_pareto
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.schedulers.asha import asha_rungs

GOALS = [("val_accuracy", "max"), ("val_loss", "min")]


def _scheduler(goals=GOALS, **settings):
    from raytuner.search.schedulers._moasha_ray import MOASHAScheduler

    return MOASHAScheduler(goals, **{"max_t": 8, "grace_period": 1, "reduction_factor": 2,
                                     **settings})


def _trial(trial_id: str):
    from ray.tune.experiment import Trial

    return Trial("stub", stub=True, trial_id=trial_id)


class Rung:
    """Trials reporting to one scheduler: ``report("a", 1, 0.9, 0.1)`` is trial a's epoch 1
    with its objective values; returns the decision."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.trials: dict = {}

    def report(self, trial_id: str, epoch: int, *values, goals=GOALS) -> str:
        if trial_id not in self.trials:
            self.trials[trial_id] = _trial(trial_id)
            self.scheduler.on_trial_add(None, self.trials[trial_id])
        result = {"epoch": epoch, **{m: v for (m, _), v in zip(goals, values, strict=True)}}
        return self.scheduler.on_trial_result(None, self.trials[trial_id], result)

    def recorded(self, milestone: float, bracket: int = 0) -> dict:
        return dict(self.scheduler.rung_records()[bracket])[milestone]


def _fill(rung: Rung, points, epoch: int = 1) -> None:
    """Earlier trials r0, r1, ... judged at ``epoch`` (whatever their decisions)."""
    for i, point in enumerate(points):
        rung.report(f"r{i}", epoch, *point)


def _asha_by_one(newcomer: float, recorded: list[float], mode: str, eta: float) -> bool:
    """The decision of successive halving by one metric: continue when fewer than
    ceil(n/eta) earlier trials are strictly better."""
    better = sum((r > newcomer) if mode == "max" else (r < newcomer) for r in recorded)
    return better < math.ceil((len(recorded) + 1) / eta)


# -- who is promoted, who is stopped ------------------------------------------------------

def test_moasha_stops_a_dominated_trial_and_continues_a_non_dominated_one() -> None:
    rung = Rung(_scheduler())
    assert rung.report("a", 1, 0.90, 0.10) == "CONTINUE"  # the first at a rung
    # b is worse than a in both: of 2, the top ceil(2/2) = 1 continues, and that is a.
    assert rung.report("b", 1, 0.50, 0.50) == "STOP"
    # c trades accuracy for loss against a: front 0 with a, in the top ceil(3/2) = 2.
    assert rung.report("c", 1, 0.95, 0.30) == "CONTINUE"
    assert rung.recorded(1) == {"a": (0.90, 0.10), "b": (0.50, 0.50), "c": (0.95, 0.30)}


@pytest.mark.parametrize("recorded, newcomer, expected", [
    # worst accuracy of all, best loss: non-dominated and an extreme of the front -> on;
    # by accuracy alone it would be last of 4 and stop
    ([(0.9, 0.5), (0.8, 0.4), (0.7, 0.3)], (0.6, 0.1), "CONTINUE"),
    # second by accuracy (one metric would keep it in the top 2 of 3), but dominated by
    # the best while the two ahead of it form front 0 -> stopped
    ([(0.9, 0.1), (0.3, 0.05)], (0.8, 0.5), "STOP"),
    # second by loss (loss alone would keep it), dominated by (0.9, 0.1) -> stopped
    ([(0.9, 0.1), (0.95, 0.4)], (0.5, 0.2), "STOP"),
])
def test_moasha_ranks_by_pareto_not_by_one_metric(recorded, newcomer, expected) -> None:
    rung = Rung(_scheduler())
    _fill(rung, recorded)
    assert rung.report("new", 1, *newcomer) == expected
    # The case is one where ranking by a single objective decides otherwise for at least
    # one of the two: a scheduler that ranked by one metric fails here.
    by_one = [_asha_by_one(newcomer[k], [r[k] for r in recorded], GOALS[k][1], 2.0)
              for k in range(2)]
    assert (expected == "CONTINUE") != by_one[0] or (expected == "CONTINUE") != by_one[1]


@pytest.mark.parametrize("recorded, newcomer, expected", [
    # Five on one front, ceil(5/2) = 3 continue: the newcomer is the second most crowded
    # (crowding: two extremes inf, 0.7 -> 1.475, newcomer 0.31 -> 1.0, 0.3 -> 0.525): 4th.
    ([(0.1, 0.1), (0.3, 0.3), (0.9, 0.9), (0.7, 0.7)], (0.31, 0.31), "STOP"),
    # The same front with the newcomer in its widest gap: most isolated after the extremes.
    ([(0.1, 0.1), (0.2, 0.2), (0.25, 0.25), (0.9, 0.9)], (0.6, 0.6), "CONTINUE"),
])
def test_moasha_breaks_a_front_by_crowding_distance(recorded, newcomer, expected) -> None:
    points = [newcomer, *recorded]
    assert len(non_dominated_sort(points, ["max", "min"])) == 1  # all non-dominated
    rung = Rung(_scheduler())
    _fill(rung, recorded)
    assert rung.report("new", 1, *newcomer) == expected


def test_moasha_keeps_the_top_share_by_front_then_crowding() -> None:
    # eta 3: of n judged at a rung, the top ceil(n/3) by rank_by_pareto continue.
    rng = random.Random(7)
    rung = Rung(_scheduler(reduction_factor=3, max_t=9))
    history: list[tuple[float, float]] = []
    for i in range(30):
        point = (round(rng.random(), 3), round(rng.random(), 3))
        order = rank_by_pareto([point, *history], ["max", "min"])
        expected = "CONTINUE" if order.index(0) < math.ceil((len(history) + 1) / 3) else "STOP"
        assert rung.report(f"t{i}", 1, *point) == expected, (i, point)
        history.append(point)


def test_moasha_mixed_modes_max_accuracy_min_latency() -> None:
    goals = [("val_accuracy", "max"), ("latency_ms", "min")]
    rung = Rung(_scheduler(goals))
    rung.report("a", 1, 0.9, 5.0, goals=goals)
    assert rung.report("slow", 1, 0.8, 10.0, goals=goals) == "STOP"  # dominated by a
    assert rung.report("fast", 1, 0.95, 2.0, goals=goals) == "CONTINUE"  # dominates a
    # The same results with latency maximized: the slow one is no longer dominated.
    flipped = [("val_accuracy", "max"), ("latency_ms", "max")]
    rung = Rung(_scheduler(flipped))
    rung.report("a", 1, 0.9, 5.0, goals=flipped)
    assert rung.report("slow", 1, 0.8, 10.0, goals=flipped) == "CONTINUE"


def test_moasha_counts_a_nan_or_missing_objective_as_worst() -> None:
    rung = Rung(_scheduler())
    assert rung.report("nan_first", 1, 0.99, math.nan) == "CONTINUE"  # alone at its rung
    # A valid trial ranks ahead of the NaN one, though its accuracy is lower.
    assert rung.report("valid", 1, 0.20, 2.0) == "CONTINUE"
    # Best accuracy, but a NaN loss: last of 3 (top 2 continue).
    assert rung.report("nan", 1, 0.999, math.nan) == "STOP"
    trial = _trial("missing")
    rung.scheduler.on_trial_add(None, trial)
    assert rung.scheduler.on_trial_result(None, trial, {"epoch": 1, "val_accuracy": 1.0}
                                          ) == "STOP"
    assert math.isnan(rung.recorded(1)["missing"][1])
    # a result without the time attribute is no evaluation: not judged, not recorded
    assert rung.scheduler.on_trial_result(None, trial, {"val_accuracy": 0.0}) == "CONTINUE"


def test_moasha_judges_a_trial_once_per_rung_when_epochs_are_replayed() -> None:
    rung = Rung(_scheduler())
    assert rung.report("a", 1, 0.80, 0.20) == "CONTINUE"
    assert rung.report("b", 1, 0.90, 0.10) == "CONTINUE"  # dominates a
    # a retried from an earlier checkpoint reports epoch 1 again, now even worse: judged
    # again it would stop (b dominates it); it keeps its first decision and record.
    assert rung.report("a", 1, 0.10, 0.90) == "CONTINUE"
    assert rung.recorded(1) == {"a": (0.80, 0.20), "b": (0.90, 0.10)}
    assert rung.report("a", 2, 0.85, 0.15) == "CONTINUE"  # first at rung 2
    assert rung.report("a", 2, 0.85, 0.15) == "CONTINUE"  # the same epoch twice
    assert rung.report("a", 1, 0.0, 9.0) == "CONTINUE"  # a lower rung after a higher one
    assert rung.report("a", 3, 0.0, 9.0) == "CONTINUE"  # between rungs: no judgement
    assert rung.recorded(1) == {"a": (0.80, 0.20), "b": (0.90, 0.10)}
    assert rung.recorded(2) == {"a": (0.85, 0.15)}
    assert rung.scheduler._num_stopped == 0


def test_moasha_judges_a_result_that_skips_rungs_at_the_highest_one() -> None:
    rung = Rung(_scheduler())
    rung.report("a", 4, 0.9, 0.1)
    assert rung.recorded(4) == {"a": (0.9, 0.1)}
    assert rung.recorded(1) == {} and rung.recorded(2) == {}
    assert rung.report("a", 2, 0.9, 0.1) == "CONTINUE"  # below a judged rung: never again
    assert rung.recorded(2) == {}


def test_moasha_completes_trials_at_max_t() -> None:
    rung = Rung(_scheduler(max_t=4))
    assert [rung.report("a", e, 0.9, 0.1) for e in (1, 2, 3)] == ["CONTINUE"] * 3
    assert rung.report("a", 4, 0.9, 0.1) == "STOP"  # done, not stopped early
    assert rung.scheduler._num_stopped == 0
    assert rung.recorded(4) == {"a": (0.9, 0.1)}  # rung at max_t, as Ray's ASHA has
    rung.scheduler.on_trial_complete(None, rung.trials["a"], {"epoch": 4, "val_accuracy": 0.9,
                                                              "val_loss": 0.1})
    assert rung.recorded(4) == {"a": (0.9, 0.1)}  # completion records nothing twice
    assert rung.report("b", 1, 0.5, 0.5) == "STOP"


def test_moasha_with_one_objective_is_successive_halving_by_it() -> None:
    rng = random.Random(3)
    for mode in ("max", "min"):
        goals = [("val_accuracy", mode)]
        rung = Rung(_scheduler(goals, reduction_factor=3, max_t=9))
        earlier: list[float] = []
        for i in range(40):
            value = rng.choice([0.1, 0.5, 0.9]) if i % 4 == 0 else rng.random()  # ties too
            expected = "CONTINUE" if _asha_by_one(value, earlier, mode, 3) else "STOP"
            assert rung.report(f"t{i}", 1, value, goals=goals) == expected, (mode, i)
            earlier.append(value)


# -- brackets, Ray's properties, state -------------------------------------------------------

@pytest.mark.parametrize("grace, max_t, eta, brackets", [
    (1, 8, 2, 1), (1, 9, 3, 2), (2, 30, 3, 3), (1, 100, 4, 1), (3, 12, 1.5, 2)])
def test_moasha_rungs_are_rays_asha_brackets(grace, max_t, eta, brackets) -> None:
    from ray.tune.schedulers.async_hyperband import _Bracket  # private: compared, not used

    scheduler = _scheduler(max_t=max_t, grace_period=grace, reduction_factor=eta,
                           brackets=brackets)
    ours = [[m for m, _ in rungs] for rungs in scheduler.rung_records()]
    rays = [sorted(m for m, _ in _Bracket(grace, max_t, eta, s)._rungs)
            for s in range(brackets)]
    assert ours == rays == [asha_rungs(grace, max_t, eta, s) for s in range(brackets)]


def test_moasha_assigns_brackets_deterministically_like_asha() -> None:
    def brackets_of(seed: int) -> list[int]:
        scheduler = _scheduler(max_t=27, reduction_factor=3, brackets=3, seed=seed)
        for i in range(300):
            scheduler.on_trial_add(None, _trial(f"t{i}"))
        return [scheduler._bracket_of[f"t{i}"] for i in range(300)]

    first = brackets_of(0)
    assert first == brackets_of(0) and first != brackets_of(1)
    # Ray's softmax over rung counts (4, 3, 2): shares e^0, e^-1, e^-2 of the total.
    shares = [first.count(s) / 300 for s in range(3)]
    total = 1 + math.exp(-1) + math.exp(-2)
    for share, weight in zip(shares, [1, math.exp(-1), math.exp(-2)], strict=True):
        assert share == pytest.approx(weight / total, abs=0.08)


def test_moasha_takes_tune_configs_metric_without_objectives() -> None:
    from raytuner.search.schedulers._moasha_ray import MOASHAScheduler

    bare = MOASHAScheduler(max_t=4, grace_period=1, reduction_factor=2)
    with pytest.raises(ValueError, match="no objectives"):
        bare.on_trial_add(None, _trial("x"))
    assert bare.set_search_properties("val_loss", "min")
    assert bare.objectives == [("val_loss", "min")] and bare.metric == "val_loss"
    given = _scheduler()
    assert given.metric == "val_accuracy"
    assert given.set_search_properties("val_accuracy", "max")  # raytuner's TuneConfig
    assert given.set_search_properties(None, None)
    assert not given.set_search_properties("val_loss", "min")  # Tune then raises


def _played(scheduler) -> Rung:
    rung = Rung(scheduler)
    for i, point in enumerate([(0.9, 0.1), (0.5, 0.5), (0.95, 0.3), (0.7, 0.2)]):
        rung.report(f"t{i}", 1, *point)
    rung.report("t0", 2, 0.92, 0.08)
    return rung


def _next_decisions(scheduler) -> list[str]:
    rung = Rung(scheduler)
    replayed = [rung.report(f"t{i}", 1, 0.99, 0.01) for i in range(4)]  # judged already
    return replayed + [rung.report("t9", 1, 0.6, 0.4), rung.report("t0", 2, 0.0, 9.0),
                       rung.report("t2", 2, 0.1, 0.9), rung.report("t10", 2, 0.93, 0.2)]


def test_moasha_state_survives_pickling_and_save_restore(tmp_path: Path) -> None:
    played = _played(_scheduler(brackets=2)).scheduler
    reference = pickle.dumps(played)
    copied = pickle.loads(reference)  # as tuner.pkl holds it
    played.save(str(tmp_path / "state.pkl"))
    fresh = _scheduler(brackets=2)
    fresh.restore(str(tmp_path / "state.pkl"))
    for scheduler in (copied, fresh):
        assert scheduler.rung_records() == played.rung_records()
        assert scheduler._bracket_of == played._bracket_of
        assert scheduler.debug_string() == played.debug_string()
        # the same next decisions as the original's: replayed epochs are not judged again,
        # new arrivals meet the same records (and new trials draw the same brackets)
        assert _next_decisions(scheduler) == _next_decisions(pickle.loads(reference))
    assert _next_decisions(copied)[:4] == ["CONTINUE"] * 4
    assert "STOP" in _next_decisions(pickle.loads(reference))
    with pytest.raises(ValueError, match="differ"):
        _scheduler(max_t=4).set_state(played.get_state())


def test_moasha_records_reach_a_restored_tuner_through_its_callback(tmp_path: Path) -> None:
    # Ray 2.60 saves the callbacks' state with the experiment and restores it before it
    # re-adds the trials, but never the scheduler's; tuner.pkl pickles the scheduler and the
    # callbacks in one go, so the unpickled keeper still holds the unpickled scheduler. If a
    # Ray upgrade changes either, this fails.
    from ray import tune
    from ray.tune.callback import CallbackList

    scheduler = _scheduler()
    keeper = scheduler.state_keeper()
    tune.Tuner(lambda config: None, tune_config=tune.TuneConfig(scheduler=scheduler),
               run_config=tune.RunConfig(name="x", storage_path=str(tmp_path),
                                         callbacks=[keeper]))
    played = _played(scheduler)  # the run goes on after tuner.pkl was written
    CallbackList([keeper]).save_to_dir(str(tmp_path), "s")  # Tune's experiment checkpoint
    state = pickle.loads((tmp_path / "x" / "tuner.pkl").read_bytes())
    restored_scheduler = state["_tune_config"].scheduler
    keeper = state["_run_config"].callbacks[0]
    assert keeper.scheduler is restored_scheduler
    assert restored_scheduler.rung_records() != played.scheduler.rung_records()  # stale
    callbacks = CallbackList([keeper])
    assert callbacks.can_restore(str(tmp_path))
    callbacks.restore_from_dir(str(tmp_path))
    assert restored_scheduler.rung_records() == played.scheduler.rung_records()


# -- the registry entry ---------------------------------------------------------------------

def _moasha_experiment(**changes):
    raw = tiny_experiment(**{"search.algorithm": "random",
                             "search.scheduler": {"name": "moasha", "grace_period": 1,
                                                  "reduction_factor": 2},
                             **changes})
    del raw["search"]["metric"], raw["search"]["mode"], raw["search"]["n_initial_points"]
    raw["search"]["objectives"] = [{"metric": "val_accuracy", "mode": "max"},
                                   {"metric": "val_loss", "mode": "min"}]
    return raw


def test_validation_accepts_moasha_with_objectives_and_asha_lists_it() -> None:
    exp = validate_experiment(_moasha_experiment())
    assert exp.search.scheduler.name == "moasha" and exp.search.multi_objective
    assert SCHEDULERS.get("moasha").factory.multi_objective
    raw = _moasha_experiment()
    raw["search"]["scheduler"]["name"] = "asha"
    with pytest.raises(ConfigError, match="moasha") as info:
        validate_experiment(raw)
    assert "search.scheduler.name" in str(info.value)
    with pytest.raises(ConfigError, match="grace_period 5 is longer"):
        validate_experiment(_moasha_experiment(**{"search.scheduler.grace_period": 5}))


def test_validation_and_plan_of_moasha_do_not_import_ray() -> None:
    code = ("import sys, raytuner\n"
            "exp = raytuner.load_experiment(sys.argv[1], ['search.scheduler.name=moasha'])\n"
            "raytuner.make_plan(exp, cpus=2, gpus=0, epoch_seconds=1.0)\n"
            "print('ray' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code,
                             str(REPO / "experiments" / "digits.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("grace, eta, brackets, epoch_values, trials", [
    (1, 2, 1, [4], 6), (1, 3, 2, [9], 20), (2, 3, 3, [27, 30], 50), (3, 1.5, 1, [10, 12], 7)])
def test_moasha_plan_epochs_equal_ashas(grace, eta, brackets, epoch_values, trials) -> None:
    from raytuner.config.schema import SchedulerConfig

    cfg = SchedulerConfig(name="moasha", grace_period=grace, reduction_factor=eta,
                          brackets=brackets)
    ours, our_lines = SCHEDULERS.get("moasha").factory.epochs(trials, cfg, epoch_values)
    ashas, asha_lines = SCHEDULERS.get("asha").factory.epochs(trials, cfg, epoch_values)
    assert ours == ashas
    assert our_lines == [line.replace("asha", "moasha", 1) for line in asha_lines]


def test_moasha_builds_from_the_search_section() -> None:
    from raytuner.search.schedulers._moasha_ray import MOASHAScheduler

    exp = validate_experiment(_moasha_experiment(**{"train.epochs": 4}))
    factory = SCHEDULERS.get("moasha").factory
    built = factory.build(exp.search.scheduler, 4, exp.space, exp.search)
    assert isinstance(built, MOASHAScheduler)
    assert built.objectives == GOALS
    assert [[m for m, _ in r] for r in built.rung_records()] == [[1, 2, 4]]
    single = validate_experiment(tiny_experiment(**{"search.scheduler.name": "moasha"}))
    assert factory.build(single.search.scheduler, 3, (), single.search).objectives == [
        ("val_accuracy", "max")]
    assert factory.build(single.search.scheduler, 3).objectives is None  # from TuneConfig
    assert not factory.restores_trials and not factory.population


# -- end to end -----------------------------------------------------------------------------

def _epoch_results(run_dir: Path, trial_id: str) -> dict[int, dict]:
    from raytuner.runs.folder import RESULT_FILE, trial_dirname

    lines = (run_dir / trial_dirname(trial_id) / RESULT_FILE).read_text().splitlines()
    return {int(r["epoch"]): r for r in map(json.loads, filter(None, lines))}


@pytest.mark.slow
def test_moasha_run_stops_exactly_the_trials_pareto_ranked_out(ray_session,
                                                               tmp_path: Path) -> None:
    from ray.tune import Callback

    import raytuner

    class ResultOrder(Callback):
        """The order Tune handed results to the scheduler: it calls the callbacks'
        on_trial_result right after the scheduler's, one result at a time."""

        def __init__(self) -> None:
            self.seen: list[tuple[str, int]] = []

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if "epoch" in result:
                self.seen.append((trial.trial_id, int(result["epoch"])))

    exp = validate_experiment(_moasha_experiment(**{
        "train.epochs": 4, "search.num_samples": 6, "search.max_concurrent": 2}))
    order = ResultOrder()
    result = raytuner.run(exp, storage=tmp_path / "runs", callbacks=[order])
    trials = {t["trial_id"]: t for t in result.summary["trials"]}
    assert len(trials) == 6
    results = {tid: _epoch_results(result.run_dir, tid) for tid in trials}
    modes = [mode for _, mode in GOALS]
    # Replay the rule from the result files, in the order Tune judged the results.
    recorded: dict[int, list] = {1: [], 2: []}  # rungs below max_t 4 (grace 1, eta 2)
    expected_stop: dict[str, int] = {}
    for trial_id, epoch in order.seen:
        if epoch not in recorded or any(v[0] == trial_id for v in recorded[epoch]):
            continue
        row = results[trial_id][epoch]
        vector = tuple(row[m] for m, _ in GOALS)
        points = [vector, *(v[1] for v in recorded[epoch])]
        position = rank_by_pareto(points, modes).index(0)
        if position >= math.ceil(len(points) / 2):
            expected_stop[trial_id] = epoch
        recorded[epoch].append((trial_id, vector))
    stopped = {tid: t["epochs"] for tid, t in trials.items() if t["status"] == "stopped"}
    assert stopped, "no trial was stopped at a rung"
    assert stopped == expected_stop, (stopped, expected_stop, recorded)
    assert all(t["status"] == "completed" and t["epochs"] == 4
               for tid, t in trials.items() if tid not in stopped)
    for tid, epoch in stopped.items():  # nothing trained past the rung it was stopped at
        assert max(results[tid]) == epoch
    # The rung records a resumed run would take over are in Tune's callback state.
    states = sorted(result.run_dir.glob("callback-states-*.pkl"))
    assert states, list(result.run_dir.iterdir())
    saved = [s["moasha"] for s in pickle.loads(states[-1].read_bytes()).values()
             if s and "moasha" in s]
    assert len(saved) == 1
    rungs = dict(saved[0]["rungs"][0])
    for epoch in (1, 2):
        assert list(rungs[epoch]) == [tid for tid, _ in recorded[epoch]]
