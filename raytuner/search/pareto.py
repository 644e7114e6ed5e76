"""Pareto dominance, non-dominated sorting and hypervolume for two or three objectives.

A leaf module (plain Python, no raytuner imports): the multi-objective scheduler promotes by it,
the summary finds the front with it, the report and the TensorBoard view draw the hypervolume.

A point is a sequence of objective values; ``modes`` says per objective whether higher
(``"max"``) or lower (``"min"``) is better. Internally every objective is turned into one to
minimize (a maximized value is negated), so one rule serves every mix of directions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]


def _minimized(point: Point, modes: Sequence[str]) -> tuple[float, ...]:
    if len(point) != len(modes):
        raise ValueError(f"a point of {len(point)} values for {len(modes)} objectives")
    return tuple(-float(v) if m == "max" else float(v) for v, m in zip(point, modes, strict=True))


def dominates(a: Point, b: Point, modes: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` in every objective and better in one."""
    x, y = _minimized(a, modes), _minimized(b, modes)
    return all(p <= q for p, q in zip(x, y, strict=True)) and x != y


def is_valid(point: Point) -> bool:
    """False when a value is missing, NaN or infinite (such a point takes part in no front)."""
    return all(v is not None and math.isfinite(float(v)) for v in point)


def non_dominated_sort(points: Sequence[Point], modes: Sequence[str]) -> list[list[int]]:
    """Indices of ``points`` by front: front 0 is non-dominated, front 1 is non-dominated once
    front 0 is removed, and so on (Deb et al.'s fast non-dominated sort). Points with a missing
    or non-finite value come last, as one front of their own."""
    valid = [i for i, p in enumerate(points) if is_valid(p)]
    invalid = [i for i, p in enumerate(points) if not is_valid(p)]
    dominated_by: dict[int, list[int]] = {i: [] for i in valid}  # i dominates these
    count = {i: 0 for i in valid}  # how many dominate i
    for pos, i in enumerate(valid):
        for j in valid[pos + 1:]:
            if dominates(points[i], points[j], modes):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(points[j], points[i], modes):
                dominated_by[j].append(i)
                count[i] += 1
    fronts: list[list[int]] = []
    current = [i for i in valid if count[i] == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    following.append(j)
        current = sorted(following)
    if invalid:
        fronts.append(invalid)
    return fronts


def pareto_front(points: Sequence[Point], modes: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points (none of them with a missing value), ascending."""
    fronts = non_dominated_sort(points, modes)
    return sorted(fronts[0]) if fronts and is_valid(points[fronts[0][0]]) else []


def crowding_distance(points: Sequence[Point], modes: Sequence[str]) -> list[float]:
    """NSGA-II's crowding distance of each point within ``points`` (one front): the extremes of
    every objective get infinity; larger means more isolated, the better spread to keep."""
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    values = [_minimized(p, modes) for p in points]
    for k in range(len(modes)):
        order = sorted(range(n), key=lambda i: values[i][k])
        low, high = values[order[0]][k], values[order[-1]][k]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(order, order[1:], order[2:], strict=False):
            distance[here] += (values[after][k] - values[before][k]) / (high - low)
    return distance


def rank_by_pareto(points: Sequence[Point], modes: Sequence[str]) -> list[int]:
    """Every index, best first: by front, and within a front by crowding distance (most
    isolated first), ties by index. The order the multi-objective scheduler promotes in."""
    order: list[int] = []
    for front in non_dominated_sort(points, modes):
        crowding = crowding_distance([points[i] for i in front], modes)
        order += [i for _, i in sorted(zip(crowding, front, strict=True),
                                       key=lambda pair: (-pair[0], pair[1]))]
    return order


def hypervolume(points: Sequence[Point], modes: Sequence[str], reference: Point) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (a point worse than
    every point that should count, in every objective). Exact for two and three objectives;
    points not strictly better than the reference in every objective add nothing."""
    ref = _minimized(reference, modes)
    inside = [q for q in (_minimized(p, modes) for p in points if is_valid(p))
              if all(a < r for a, r in zip(q, ref, strict=True))]
    if not inside:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(q[0] for q in inside)
    if len(ref) == 2:
        return _hypervolume_2d([(q[0], q[1]) for q in inside], (ref[0], ref[1]))
    if len(ref) == 3:
        return _hypervolume_3d(inside, ref)
    raise ValueError(f"hypervolume of {len(ref)} objectives: two or three are supported")


def _hypervolume_2d(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    total, best_y = 0.0, ref[1]
    for x, y in sorted(points):  # sweep along x; each point adds the strip it improves in y
        if y < best_y:
            total += (ref[0] - x) * (best_y - y)
            best_y = y
    return total


def _hypervolume_3d(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    # Slice along the third objective: between two consecutive z values, the dominated area
    # is the 2-D hypervolume of the points at or below that z.
    ordered = sorted(points, key=lambda q: q[2])
    total = 0.0
    for k, q in enumerate(ordered):
        upper = ordered[k + 1][2] if k + 1 < len(ordered) else ref[2]
        if upper > q[2]:
            area = _hypervolume_2d([(p[0], p[1]) for p in ordered[:k + 1]], (ref[0], ref[1]))
            total += area * (upper - q[2])
    return total
