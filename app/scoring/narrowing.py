"""Narrowing the panel: choose N of M experts by a declared rule, with a reason for each.

The composite score is a weighted sum of components, each divided by its largest value on the
panel (so 0-1): the expert's weight, participation (share of rounds answered), completeness (share
of items answered), performance (e.g. Cooke's combined score) and competence (the self-assessed
competence coefficient K or authority coefficient Cr, ``competence.py``). With ``keep_group_share`` the
seats are shared among stakeholder groups in proportion to their size (largest remainder), and
each group keeps its best. Ties are broken by completeness, then participation, then label, so the
same inputs always give the same panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

COMPONENTS = ("weight", "participation", "completeness", "performance", "competence")


@dataclass(frozen=True)
class NarrowingRule:
    target: int
    keep_group_share: bool = True
    composite: Mapping[str, float] = field(
        default_factory=lambda: {"weight": 0.4, "participation": 0.3, "completeness": 0.3, "performance": 0.0}
    )

    def __post_init__(self) -> None:
        if self.target < 1:
            raise ValueError("target must be at least 1")
        unknown = set(self.composite) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"composite has unknown components {sorted(unknown)}; use {', '.join(COMPONENTS)}")
        if any(v < 0 for v in self.composite.values()) or sum(self.composite.values()) <= 0:
            raise ValueError("composite coefficients must be >= 0 and not all zero")


@dataclass(frozen=True)
class Candidate:
    key: str  # a stable id (shown to researchers as a pseudonym)
    group: str
    weight: float = 1.0
    participation: float = 1.0
    completeness: float = 1.0
    performance: float = 0.0
    competence: float = 0.0  # K or Cr; 0 for an expert who gave no self-assessment


@dataclass(frozen=True)
class Fate:
    key: str
    group: str
    kept: bool
    score: float
    rank: int  # rank inside the pool it competed in (its group, or the whole panel)
    pool_size: int
    seats: int  # seats of that pool
    cutoff: float  # score of the last kept expert of the pool (NaN if none kept)
    components: dict[str, float]
    tie_broken: bool
    reason: str


@dataclass(frozen=True)
class NarrowingResult:
    rule: NarrowingRule
    fates: tuple[Fate, ...]
    seats: dict[str, int]

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fates if f.kept)


def allocate_seats(group_sizes: Mapping[str, int], target: int) -> dict[str, int]:
    """Hamilton's largest-remainder apportionment, no group given more seats than members.

    Returns
    -------
    dict
        Seats per group, summing to ``target`` (or to the members there are, if fewer).

    References
    ----------
    Hamilton's method of largest remainders (Balinski & Young 2001, Fair Representation).
    """
    total = sum(group_sizes.values())
    target = min(target, total)
    quotas = {g: target * n / total for g, n in group_sizes.items()}
    seats = {g: int(np.floor(q)) for g, q in quotas.items()}
    order = sorted(group_sizes, key=lambda g: (-(quotas[g] - seats[g]), -group_sizes[g], g))
    remaining = target - sum(seats.values())
    while remaining > 0:
        for g in order:
            if remaining and seats[g] < group_sizes[g]:
                seats[g] += 1
                remaining -= 1
    return seats


def narrow(candidates: Sequence[Candidate], rule: NarrowingRule) -> NarrowingResult:
    """Apply a narrowing rule; every candidate gets a fate with a readable reason.

    Returns
    -------
    NarrowingResult
        The rule, each candidate's fate (kept or not, with its rank, score and reason) and the seats
        per group.
    """
    if not candidates:
        raise ValueError("no candidates to narrow")
    keys = [c.key for c in candidates]
    if len(set(keys)) != len(keys):
        raise ValueError("candidate keys must be unique")
    coefficients = {k: float(rule.composite.get(k, 0.0)) for k in COMPONENTS}
    total_coefficient = sum(coefficients.values())
    raw = {k: np.array([float(getattr(c, k)) for c in candidates]) for k in COMPONENTS}
    scaled = {k: (v / v.max() if v.max() > 0 else np.zeros_like(v)) for k, v in raw.items()}
    scores: FloatArray = np.zeros(len(candidates))
    for k in COMPONENTS:
        scores = scores + coefficients[k] / total_coefficient * scaled[k]

    pools: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        pools.setdefault(c.group if rule.keep_group_share else "", []).append(i)
    seats = allocate_seats({g: len(m) for g, m in pools.items()}, rule.target)

    fates: dict[int, Fate] = {}
    for pool, members in pools.items():
        ordered = sorted(
            members,
            key=lambda i: (
                -round(float(scores[i]), 12),
                -candidates[i].completeness,
                -candidates[i].participation,
                candidates[i].key,
            ),
        )
        n_seats = seats[pool]
        cutoff = float(scores[ordered[n_seats - 1]]) if n_seats else float("nan")
        first_out = round(float(scores[ordered[n_seats]]), 12) if n_seats < len(ordered) else None
        tie_at_cut = n_seats > 0 and first_out == round(cutoff, 12)
        for position, i in enumerate(ordered, start=1):
            kept = position <= n_seats
            tie = tie_at_cut and round(float(scores[i]), 12) == round(cutoff, 12)
            components = {k: float(raw[k][i]) for k in COMPONENTS if coefficients[k] > 0}
            fates[i] = Fate(
                key=candidates[i].key,
                group=candidates[i].group,
                kept=kept,
                score=float(scores[i]),
                rank=position,
                pool_size=len(ordered),
                seats=n_seats,
                cutoff=cutoff,
                components=components,
                tie_broken=tie,
                reason=_reason(
                    kept, position, len(ordered), n_seats, pool, float(scores[i]), cutoff, components, coefficients, tie
                ),
            )
    return NarrowingResult(rule=rule, fates=tuple(fates[i] for i in range(len(candidates))), seats=seats)


def _reason(
    kept: bool,
    rank: int,
    pool_size: int,
    seats: int,
    pool: str,
    score: float,
    cutoff: float,
    components: dict[str, float],
    coefficients: dict[str, float],
    tie: bool,
) -> str:
    where = f"in group “{pool}”" if pool else "on the panel"
    parts = ", ".join(f"{name} {value:.2f}" for name, value in components.items())
    text = f"rank {rank} of {pool_size} {where}, which keeps {seats}; composite score {score:.3f} ({parts})"
    if kept:
        reason = "Kept: " + text
    elif seats == 0:
        reason = "Dropped: " + text + "; the group has no seat at this panel size"
    elif not tie:
        reason = "Dropped: " + text + f"; below {cutoff:.3f}, the lowest score kept"
    else:
        reason = "Dropped: " + text
    if tie:
        reason += "; tied with the lowest score kept, decided by completeness, then participation, then pseudonym"
    return reason + "."
