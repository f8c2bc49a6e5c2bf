"""Is the panel converging, or conforming? Between two rounds, how many of the answers that changed
moved toward the group's median the experts were shown, against what changes in a random
direction would give.

Delphi's feedback is meant to inform, and an expert who moves toward the median after reading the
others' reasons is doing what the method intends; but a panel whose consensus comes mostly from
moves toward the median, without reasons, may be conforming rather than convinced (Sackman 1975;
Bardecki 1984). This diagnostic measures the moves; reading them is the researchers' work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Conformity:
    """Per item and per expert: ``changed`` answers that could move toward the earlier median (the
    expert's earlier answer was not the median itself) and the number that did (``toward``: closer
    to it afterwards); ``share`` = toward / changed. ``item_p`` is the chance that changes of the
    same sizes in random directions (each reversed with probability 1/2) move toward the median at
    least as often (one-sided, exact; NaN without changes); ``panel_p`` the same over every item."""

    medians: FloatArray
    changed: IntArray
    toward: IntArray
    share: FloatArray
    item_p: FloatArray
    expert_changed: IntArray
    expert_toward: IntArray
    panel_share: float
    panel_p: float
    moved_toward: NDArray[np.bool_]  # experts x items: the answers that moved toward the median


def conformity(
    earlier: ArrayLike,
    later: ArrayLike,
    *,
    medians: ArrayLike | None = None,
    scale: tuple[float, float] | None = None,
) -> Conformity:
    """Compare two rounds of the same experts (rows) and items (columns); NaN is no answer.

    ``medians`` are the medians the panel was shown after the earlier round (NaN or None: the
    earlier answers' own). The null hypothesis is that each change was as likely in the opposite
    direction, with the same size. A change whose reversal would leave the ``scale`` had one
    direction only: it counts in the share, not in the test. Each other change is closer to the
    median one way and not the other (never both), so the number moving toward it is a constant
    plus a binomial(m, 1/2) count, and p is exact.

    What p does not say: answers that vary between rounds for any reason also drift from the ends
    toward the middle (regression to the mean), so a small p shows that the directions were not
    random, not that the feedback made them so. The diagnostic is a prompt to read the item's
    reasons, not a finding.

    >>> c = conformity([[3, 9], [5, 9], [7, 9]], [[5, 9], [5, 9], [6, 8]])
    >>> c.changed.tolist(), c.toward.tolist(), c.item_p.tolist()[0]
    ([2, 0], [2, 0], 0.25)

    Returns
    -------
    Conformity
        Moves toward the median per item and per expert, their shares, and one-sided exact p values
        against random directions of change.

    References
    ----------
    Sackman 1975 (Delphi Critique, Lexington Books) and Bardecki 1984 (Technol Forecast Soc Change
    25:281) on conformity in Delphi; the test is Fisher's (1935) randomisation argument applied
    to the directions of change. Checked against an enumeration of every direction.
    """
    before = as_ratings(earlier, "earlier")
    after = as_ratings(later, "later")
    if before.shape != after.shape:
        raise ValueError(f"earlier and later must have the same shape, got {before.shape} and {after.shape}")
    own = np.array([np.median(col[~np.isnan(col)]) if (~np.isnan(col)).any() else np.nan for col in before.T])
    shown = np.full(before.shape[1], np.nan) if medians is None else np.asarray(medians, dtype=np.float64)
    if shown.shape != own.shape:
        raise ValueError(f"one median per item is needed, got {shown.shape[0]} for {own.shape[0]} items")
    centre = np.where(np.isnan(shown), own, shown)
    both = ~np.isnan(before) & ~np.isnan(after)
    step = np.where(both, after - before, 0.0)
    distance = np.where(both, np.abs(before - centre), 0.0)
    # an answer that was the median cannot move toward it: left out of both counts
    counted = both & (step != 0) & (distance > 0)
    toward_now = counted & (np.abs(before + step - centre) < distance)
    reversed_to = before - step
    reversible = counted & (True if scale is None else (reversed_to >= scale[0]) & (reversed_to <= scale[1]))
    # the changes whose direction decides: toward the median one way, not the other
    decided = reversible & (toward_now ^ (np.abs(reversed_to - centre) < distance))
    forced = (toward_now & ~decided).sum(axis=0)  # toward it, and could not have gone the other way
    either = decided.sum(axis=0)
    changed, toward = counted.sum(axis=0), toward_now.sum(axis=0)
    item_p = np.array(
        [
            _at_least(int(t) - int(f), int(m)) if c else np.nan
            for t, f, m, c in zip(toward, forced, either, changed, strict=True)
        ]
    )
    total, total_toward = int(changed.sum()), int(toward.sum())
    return Conformity(
        medians=centre,
        changed=changed.astype(np.int64),
        toward=toward.astype(np.int64),
        share=np.where(changed > 0, toward / np.maximum(changed, 1), np.nan),
        item_p=item_p,
        expert_changed=counted.sum(axis=1).astype(np.int64),
        expert_toward=toward_now.sum(axis=1).astype(np.int64),
        panel_share=total_toward / total if total else float("nan"),
        panel_p=_at_least(total_toward - int(forced.sum()), int(either.sum())) if total else float("nan"),
        moved_toward=toward_now,
    )


def _at_least(k: int, m: int) -> float:
    """P(Binomial(m, 1/2) >= k)."""
    return float(stats.binom.sf(k - 1, m, 0.5)) if k > 0 else 1.0
