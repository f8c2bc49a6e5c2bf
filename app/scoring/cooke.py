"""Cooke's classical model: performance-based expert weights from seed questions.

Each expert gives quantiles (usually 5 %, 50 %, 95 %) for seed items whose true value is known and
for target items. Definitions follow Cooke & Goossens (2008) and Anduryl (TU Delft), whose numbers
the tests reproduce:

* intrinsic range of an item: [lo, hi] over all quantiles and the realisation, on the background
  scale (ln for log-uniform items), widened by ``overshoot`` x (hi - lo) on each side: [L, U];
* calibration: with s the share of seed realisations in each inter-quantile bin and p the bin
  probabilities, I(s|p) = sum s ln(s/p), calibration = 1 - F_chi2(2 N I(s|p)), df = bins - 1,
  N the smallest number of seeds any expert answered; a realisation equal to a quantile falls in
  the lower bin;
* information of an item: ln(U - L) + sum_i p_i ln(p_i / (b_i+1 - b_i)), b = [L, quantiles, U]
  (relative to the uniform background), averaged over seed items or over all items;
* partial quantiles (as Anduryl): an item may ask only some of the study's quantiles (``asked``),
  say only the 95 %; its bins are those between the quantiles it asks (p the differences of their
  levels), and an expert answered it when they gave every quantile it asks. Calibration pools the
  seed items' bins, so every seed item must ask the same quantiles (Anduryl refuses otherwise);
  the decision maker's quantiles are those each item asks;
* combined score = calibration x information on seeds; weight = combined score of the experts with
  calibration >= alpha, normalised; the optimised alpha maximises the combined score of the
  decision maker (the weighted linear pool of the experts' piecewise-uniform distributions).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CookeData:
    """experts x items x quantiles; ``realizations`` NaN for target items; ``log_scale`` per item;
    ``asked`` items x quantiles, the quantiles each item asks (None: every item asks them all)."""

    experts: tuple[str, ...]
    items: tuple[str, ...]
    quantiles: FloatArray
    assessments: FloatArray
    realizations: FloatArray
    log_scale: NDArray[np.bool_]
    asked: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        e, i, q = len(self.experts), len(self.items), len(self.quantiles)
        if self.assessments.shape != (e, i, q):
            raise ValueError(f"assessments must be experts x items x quantiles = {(e, i, q)}")
        if not (np.all(np.diff(self.quantiles) > 0) and self.quantiles[0] > 0 and self.quantiles[-1] < 1):
            raise ValueError("quantiles must increase strictly, between 0 and 1")
        if self.realizations.shape != (i,) or self.log_scale.shape != (i,):
            raise ValueError("realizations and log_scale need one value per item")
        asked = np.ones((i, q), dtype=bool) if self.asked is None else np.asarray(self.asked, dtype=bool)
        if asked.shape != (i, q) or not asked.any(axis=1).all():
            raise ValueError("each item asks at least one of the quantiles (asked: items x quantiles)")
        assessed = (~np.isnan(self.assessments) & asked[None]).any(axis=(0, 2))  # an item somebody answered
        seed_patterns = {tuple(row) for row in asked[~np.isnan(self.realizations) & assessed]}
        if len(seed_patterns) > 1:
            raise ValueError("every seed item must ask the same quantiles: calibration pools their bins (as Anduryl)")
        object.__setattr__(self, "asked", asked)
        # a value for a quantile its item does not ask is not part of the assessment
        object.__setattr__(self, "assessments", np.where(asked[None], self.assessments, np.nan))
        if np.isinf(self.assessments).any() or np.isinf(self.realizations).any():
            raise ValueError("quantiles and realizations must be finite numbers")
        answered = self.answered
        order_ok = ~answered
        for pattern, items in self.patterns:  # increasing over the quantiles each item asks
            steps = np.diff(self.assessments[:, items][:, :, pattern], axis=2)
            order_ok[:, items] |= np.all(steps > 0, axis=2)
        if not order_ok.all():
            expert, item = np.argwhere(~order_ok)[0]
            raise ValueError(
                f"quantiles of expert {self.experts[expert]} on item {self.items[item]} must increase strictly"
                " (two equal quantiles leave a bin of width 0: infinite information)"
            )
        logs = self.log_scale[None, :, None] & answered[:, :, None]
        if (self.assessments[np.broadcast_to(logs, self.assessments.shape)] <= 0).any():
            raise ValueError("log-scale items need positive quantiles")

    @property
    def seed(self) -> NDArray[np.bool_]:
        return ~np.isnan(self.realizations)

    @cached_property
    def answered(self) -> NDArray[np.bool_]:
        """experts x items: gave every quantile the item asks (read by every score: computed once)."""
        return answered_all(self, self.assessments)

    @cached_property
    def patterns(self) -> list[tuple[NDArray[np.bool_], NDArray[np.intp]]]:
        """The distinct sets of quantiles asked, each with the items that ask it."""
        asked = self._asked
        groups: dict[tuple[bool, ...], list[int]] = {}
        for j, row in enumerate(asked):
            groups.setdefault(tuple(bool(x) for x in row), []).append(j)
        return [(np.array(k, dtype=bool), np.array(v, dtype=np.intp)) for k, v in groups.items()]

    @property
    def _asked(self) -> NDArray[np.bool_]:
        assert self.asked is not None  # set by __post_init__
        return self.asked


def answered_all(data: CookeData, values: FloatArray) -> NDArray[np.bool_]:
    """(..., items): every quantile the item asks is given in ``values`` (..., items, quantiles)."""
    return np.asarray((~np.isnan(values) | ~data._asked).all(axis=-1), dtype=bool)


@dataclass(frozen=True)
class ExpertScore:
    expert: str
    calibration: float
    information_all: float
    information_seed: float
    combined: float
    weight: float


@dataclass(frozen=True)
class DecisionMaker:
    calibration: float
    information_all: float
    information_seed: float
    combined: float
    quantiles: FloatArray  # items x quantiles, on the original scale


WEIGHTINGS = ("global", "item", "equal", "user")


@dataclass(frozen=True)
class CookeResult:
    """``left_out``: experts who answered no seed item, so have no calibration (weight 0 with global
    and item weights).
    ``item_weights`` (experts x items, each item's column summing to 1) with item weights."""

    alpha: float
    experts: tuple[ExpertScore, ...]
    decision_maker: DecisionMaker
    overshoot: float
    weighting: str = "global"
    left_out: tuple[str, ...] = ()
    item_weights: FloatArray | None = None


def _bin_probabilities(quantiles: FloatArray) -> FloatArray:
    # rounded: 0.95 - 0.5 and 0.5 - 0.05 differ in the last bit, which made equal calibrations unequal
    return np.asarray(np.round(np.diff(np.concatenate(([0.0], quantiles, [1.0]))), 12), dtype=np.float64)


def _background(data: CookeData, values: FloatArray) -> FloatArray:
    """Values on the background scale: ln for log items (last axes: items, quantiles)."""
    log_mask = np.broadcast_to(data.log_scale[:, None], values.shape[-2:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(log_mask, np.log(values), values)


def intrinsic_range(data: CookeData, overshoot: float = 0.1) -> tuple[FloatArray, FloatArray]:
    """[L, U] per item on the background scale (NaN for an item nobody assessed)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": an item nobody assessed
        lo = np.fmin(np.nanmin(data.assessments, axis=(0, 2)), data.realizations)
        hi = np.fmax(np.nanmax(data.assessments, axis=(0, 2)), data.realizations)
        lo = np.where(data.log_scale, np.log(lo), lo)  # the log of uniform items' values is not used
        hi = np.where(data.log_scale, np.log(hi), hi)
    width = hi - lo
    return lo - overshoot * width, hi + overshoot * width


def _information(data: CookeData, quantile_values: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """Information per (expert,) item relative to the uniform background on [L, U], over the bins
    of the quantiles each item asks."""
    background = _background(data, quantile_values)
    out = np.full(background.shape[:-1], np.nan)
    for pattern, items in data.patterns:
        p = _bin_probabilities(data.quantiles[pattern])
        q = background[..., items, :][..., pattern]
        lo, hi = lower[items], upper[items]
        edges = np.concatenate(
            (np.broadcast_to(lo[:, None], q.shape[:-1] + (1,)), q, np.broadcast_to(hi[:, None], q.shape[:-1] + (1,))),
            axis=-1,
        )
        widths = np.diff(edges, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., items] = np.log(hi - lo) + (p * np.log(p / widths)).sum(axis=-1)
    return out


def _calibration(data: CookeData, quantile_values: FloatArray, n_min: int) -> float:
    """Calibration of one assessor (items x quantiles) on the seed items (which all ask the same
    quantiles)."""
    seed = data.seed & answered_all(data, quantile_values)
    realizations = data.realizations[seed]
    if len(realizations) == 0:
        return float("nan")
    pattern = data._asked[seed][0]
    bins = (quantile_values[seed][:, pattern] < realizations[:, None]).sum(axis=1)
    p = _bin_probabilities(data.quantiles[pattern])
    s = np.bincount(bins, minlength=len(p)) / len(realizations)
    nonzero = s > 0
    # summed smallest first: experts whose bin counts are a permutation of each other over bins of
    # equal probability get bit-for-bit equal calibrations, so a cut-off cannot split them
    relative_information = float(np.sort(s[nonzero] * np.log(s[nonzero] / p[nonzero])).sum())
    return float(stats.chi2.sf(2 * n_min * relative_information, len(p) - 1))


def _mean_over(values: FloatArray, mask: NDArray[np.bool_]) -> float:
    chosen = values[mask & ~np.isnan(values)]
    return float(chosen.mean()) if chosen.size else float("nan")


def decision_maker(data: CookeData, weights: ArrayLike, overshoot: float = 0.1) -> DecisionMaker:
    """The weighted linear pool of the experts' piecewise-uniform distributions, and its scores.

    ``weights`` has one weight per expert (global, equal or user weights), or one per expert and
    item (item weights); each item pools the experts who assessed it, their weights normalised.

    Returns
    -------
    DecisionMaker
        The pooled quantiles per item, and the decision maker's calibration, information (all items
        and seed items) and combined score.

    References
    ----------
    Cooke & Goossens 2008 (Reliab Eng Syst Saf 93:657); checked against Anduryl (TU Delft).
    """
    w = np.asarray(weights, dtype=np.float64)
    n_experts, n_items = len(data.experts), len(data.items)
    per_item = np.broadcast_to(w[:, None], (n_experts, n_items)) if w.ndim == 1 else w
    if per_item.shape != (n_experts, n_items) or not np.all(np.isfinite(per_item)) or (per_item < 0).any():
        raise ValueError("weights must be finite, >= 0, one per expert (or per expert and item)")
    lower, upper = intrinsic_range(data, overshoot)
    background = _background(data, data.assessments)
    assessed = data.answered
    dm = np.full((n_items, len(data.quantiles)), np.nan)
    for j in range(n_items):
        answered = assessed[:, j] & (per_item[:, j] > 0)
        if not answered.any():
            continue
        asked = data._asked[j]
        p_levels = data.quantiles[asked]
        wj = per_item[answered, j] / per_item[answered, j].sum()
        points = background[answered, j][:, asked]
        grid = np.concatenate(([lower[j]], np.unique(points), [upper[j]]))
        cdf = np.zeros_like(grid)
        for weight, expert_points in zip(wj, points, strict=True):
            xp = np.concatenate(([lower[j]], expert_points, [upper[j]]))
            fp = np.concatenate(([0.0], p_levels, [1.0]))
            cdf += weight * np.interp(grid, xp, fp)
        values = np.interp(p_levels, cdf, grid)
        dm[j, asked] = np.exp(values) if data.log_scale[j] else values
    n_min = _n_min(data)
    information = _information(data, dm, lower, upper)
    calibration = _calibration(data, dm, n_min)
    info_seed = _mean_over(information, data.seed)
    return DecisionMaker(
        calibration=calibration,
        information_all=_mean_over(information, np.ones_like(data.seed)),
        information_seed=info_seed,
        combined=calibration * info_seed,
        quantiles=dm,
    )


def _n_min(data: CookeData) -> int:
    """The smallest number of seed items an expert with any seed answer answered."""
    answered = (data.answered & data.seed[None, :]).sum(axis=1)
    return int(answered[answered > 0].min()) if (answered > 0).any() else 0


def classical_model(
    data: CookeData,
    *,
    alpha: float | None = 0.0,
    optimise_alpha: bool = False,
    overshoot: float = 0.1,
    weighting: str = "global",
    user_weights: ArrayLike | None = None,
) -> CookeResult:
    """Score every expert and weigh them by Cooke's classical model.

    ``weighting``: "global" (calibration x information on the seed items), "item" (calibration x
    information on each item, so an expert weighs more on the items they are sure of), "equal" or
    "user" (``user_weights``), as Anduryl's decision makers. The cut-off ``alpha`` (or the one that
    maximises the decision maker's combined score) applies to global and item weights. An expert
    who answered no seed item has no calibration: listed in ``left_out``, they get weight 0 in
    global and item weights (equal and user weights pool them like everyone); calibration's N is
    the fewest seeds answered by the others.

    Returns
    -------
    CookeResult
        The cut-off used (``alpha``, given or optimised), each expert's scores and global weight,
        the item weights when asked, the decision maker, the overshoot and who was left out.

    References
    ----------
    Cooke 1991, Experts in Uncertainty (Oxford UP); Cooke & Goossens 2008 (Reliab Eng Syst
    Saf 93:657); checked against Anduryl 1.2.2 (TU Delft) for global, item and equal weights.
    """
    if not (overshoot > 0 and np.isfinite(overshoot)):
        raise ValueError("overshoot must be > 0 (0 puts the extreme quantiles on the range's edge)")
    if alpha is not None and not 0 <= alpha <= 1:
        raise ValueError("alpha must be between 0 and 1")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}")
    if not data.seed.any():
        raise ValueError("the items need at least one seed item (with a realization)")
    answered = data.answered
    scored: NDArray[np.bool_] = np.asarray((answered & data.seed[None, :]).any(axis=1), dtype=bool)
    if not scored.any():
        raise ValueError("no expert answered a seed item: nobody can be calibrated")
    lower, upper = intrinsic_range(data, overshoot)
    information = _information(data, data.assessments, lower, upper)  # experts x items
    n_min = _n_min(data)
    calibration = np.array(
        [_calibration(data, data.assessments[e], n_min) if scored[e] else np.nan for e in range(len(data.experts))]
    )
    info_all = np.array([_mean_over(information[e], answered[e]) for e in range(len(data.experts))])
    info_seed = np.array([_mean_over(information[e], answered[e] & data.seed) for e in range(len(data.experts))])
    combined = calibration * info_seed
    # the item weights' base: calibration x the expert's information on that item
    per_item = np.where(answered, calibration[:, None] * np.nan_to_num(information, nan=0.0), 0.0)

    def above(cut: float) -> NDArray[np.bool_]:
        return np.asarray(np.nan_to_num(calibration, nan=-1.0) >= cut)  # the left out are below any cut

    def global_weights(cut: float) -> FloatArray:
        return np.where(above(cut), np.nan_to_num(combined, nan=0.0), 0.0)

    def raw_weights(cut: float) -> FloatArray:
        if weighting == "item":
            return np.where(above(cut)[:, None], np.nan_to_num(per_item, nan=0.0), 0.0)
        return global_weights(cut)

    global_raw: FloatArray
    if weighting in ("equal", "user"):
        if weighting == "user":
            if user_weights is None:
                raise ValueError("user weights need one weight per expert")
            chosen = np.asarray(user_weights, dtype=np.float64)
            if chosen.shape != (len(data.experts),) or not np.all(np.isfinite(chosen)) or (chosen < 0).any():
                raise ValueError("user weights need one finite weight >= 0 per expert")
        else:
            chosen = np.ones(len(data.experts))
        if not chosen.sum() > 0:
            raise ValueError("the user weights must not all be zero")
        chosen_alpha, global_raw = 0.0, chosen
        dm = decision_maker(data, chosen, overshoot)
    else:
        best_dm = None
        if optimise_alpha:
            chosen_alpha, best_score = 0.0, -np.inf
            for candidate in np.unique(calibration[~np.isnan(calibration)]):
                w = raw_weights(float(candidate))
                if not (w.sum(axis=0) > 0).any():
                    continue
                candidate_dm = decision_maker(data, w, overshoot)
                score = candidate_dm.combined if candidate_dm.calibration >= candidate else 0.0
                if score > best_score:
                    chosen_alpha, best_score, best_dm = float(candidate), score, candidate_dm
        else:
            chosen_alpha = float(alpha or 0.0)
        global_raw = global_weights(chosen_alpha)
        if not raw_weights(chosen_alpha).sum() > 0:
            raise ValueError(f"no expert has calibration >= alpha {chosen_alpha:g}; lower alpha")
        dm = best_dm or decision_maker(data, raw_weights(chosen_alpha), overshoot)
    weights = global_raw / global_raw.sum() if global_raw.sum() > 0 else np.zeros(len(data.experts))
    item_weights = None
    if weighting == "item":
        raw = raw_weights(chosen_alpha)
        with np.errstate(invalid="ignore", divide="ignore"):
            item_weights = np.where(raw.sum(axis=0) > 0, raw / raw.sum(axis=0), np.nan)
    experts = tuple(
        ExpertScore(
            expert=name,
            calibration=float(calibration[e]),
            information_all=float(info_all[e]),
            information_seed=float(info_seed[e]),
            combined=float(combined[e]),
            weight=float(weights[e]),
        )
        for e, name in enumerate(data.experts)
    )
    return CookeResult(
        alpha=chosen_alpha,
        experts=experts,
        decision_maker=dm,
        overshoot=overshoot,
        weighting=weighting,
        left_out=tuple(name for name, ok in zip(data.experts, scored, strict=True) if not ok),
        item_weights=item_weights,
    )
