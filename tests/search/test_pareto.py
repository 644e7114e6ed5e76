"""Pareto dominance, fronts and hypervolume (raytuner.search.pareto), checked against brute force
and hand-computed areas."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from raytuner.search.pareto import (
    crowding_distance,
    dominates,
    hypervolume,
    non_dominated_sort,
    pareto_front,
    rank_by_pareto,
)

MODES = ("max", "min")  # accuracy up, latency down


def _brute_front(points, modes):
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p, modes) for j, q in enumerate(points) if j != i)]


def test_dominance_respects_each_objectives_direction() -> None:
    assert dominates((0.9, 1.0), (0.8, 2.0), MODES)
    assert dominates((0.9, 1.0), (0.9, 2.0), MODES)  # equal in one, better in the other
    assert not dominates((0.9, 1.0), (0.9, 1.0), MODES)  # equal points do not dominate
    assert not dominates((0.9, 3.0), (0.8, 2.0), MODES)  # a trade-off: neither dominates
    assert not dominates((0.8, 2.0), (0.9, 3.0), MODES)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("modes", [("max", "min"), ("min", "min", "max")])
def test_fronts_match_a_brute_force_filter(seed, modes) -> None:
    rng = random.Random(seed)
    points = [tuple(rng.randint(0, 6) for _ in modes) for _ in range(40)]
    fronts = non_dominated_sort(points, modes)
    assert sorted(itertools.chain(*fronts)) == list(range(len(points)))
    assert pareto_front(points, modes) == _brute_front(points, modes)
    remaining = list(range(len(points)))
    for front in fronts:  # each front is the non-dominated set of what the earlier left
        sub = [points[i] for i in remaining]
        assert sorted(front) == sorted(remaining[k] for k in _brute_front(sub, modes))
        remaining = [i for i in remaining if i not in front]


def test_points_with_missing_values_are_on_no_front() -> None:
    points = [(0.9, 1.0), (float("nan"), 0.1), (0.5, None), (0.8, 0.5)]
    assert pareto_front(points, MODES) == [0, 3]
    assert non_dominated_sort(points, MODES)[-1] == [1, 2]


def test_hypervolume_of_two_objectives_is_the_dominated_area() -> None:
    # accuracy (max) against latency (min), reference accuracy 0 and latency 10 ms
    points = [(0.9, 4.0), (0.6, 2.0), (0.5, 6.0)]  # the last is dominated by the second
    assert hypervolume(points, MODES, (0.0, 10.0)) == pytest.approx(0.9 * 6 + 0.6 * 2)
    assert hypervolume(points[:1], MODES, (0.0, 10.0)) == pytest.approx(0.9 * 6)
    assert hypervolume([(0.9, 12.0)], MODES, (0.0, 10.0)) == 0.0  # outside the reference
    assert hypervolume([], MODES, (0.0, 10.0)) == 0.0


def test_hypervolume_of_three_objectives_matches_a_grid_count() -> None:
    rng = random.Random(3)
    modes = ("min", "min", "min")
    points = [tuple(rng.randint(0, 9) for _ in range(3)) for _ in range(12)]
    ref = (10, 10, 10)
    cells = sum(1 for c in itertools.product(range(10), repeat=3)
                if any(all(p[k] <= c[k] for k in range(3)) for p in points))
    assert hypervolume(points, modes, ref) == pytest.approx(cells)


def test_adding_a_dominated_point_leaves_the_hypervolume_unchanged() -> None:
    points = [(0.9, 4.0), (0.6, 2.0)]
    before = hypervolume(points, MODES, (0.0, 10.0))
    assert hypervolume([*points, (0.5, 5.0)], MODES, (0.0, 10.0)) == pytest.approx(before)
    assert hypervolume([*points, (0.95, 5.0)], MODES, (0.0, 10.0)) > before


def test_rank_puts_the_front_first_and_its_extremes_before_its_middle() -> None:
    points = [(0.5, 5.0), (0.9, 4.0), (0.7, 3.0), (0.6, 2.0), (0.4, 6.0)]
    order = rank_by_pareto(points, MODES)
    assert set(order[:3]) == {1, 2, 3} and order[3:] == [0, 4]
    assert set(order[:2]) == {1, 3}  # extremes (infinite crowding distance) first
    assert crowding_distance([points[i] for i in (1, 2, 3)], MODES)[0] == math.inf
