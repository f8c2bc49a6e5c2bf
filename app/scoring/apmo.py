"""APMO, the average percentage of majority opinions: a consensus threshold derived from the panel's
answers rather than fixed in advance (Kapoor 1987, as used by Islam et al. 2006, von der Gracht
2012 and Cottam et al. 2016)."""

from __future__ import annotations

from typing import Any

import numpy as np


def apmo(summary: Any) -> float:
    """The opinions expressed are the answers in the agreement and the opposition bands (neutral
    answers are no opinion); an item's agreeing answers are majority opinions when more than half
    of its answers agree, its opposing answers when more than half oppose; APMO is the majority
    opinions over the opinions expressed, across the items. An item whose agreement reaches it is
    at consensus by this rule (``agreement >= apmo``). Weighted summaries give weighted counts.

    >>> from app.scoring import summarize
    >>> round(apmo(summarize([[8, 2, 5], [9, 3, 5], [7, 8, 5], [8, 2, 9]])), 4)
    0.7778

    Returns
    -------
    float
        The share (0-1) of majority opinions among the opinions expressed; NaN when nobody
        expressed an opinion.

    References
    ----------
    Kapoor 1987 (Proc 1987 Joint Conf on Forecasting); von der Gracht 2012 (Technol Forecast Soc
    Change 79:1525), "APMO cut-off rate"; Cottam et al. 2016 (BMC Med Res Methodol 16:105).
    """
    n = np.asarray(summary.n, dtype=np.float64)
    agreement = np.nan_to_num(np.asarray(summary.agreement, dtype=np.float64))
    opposition = np.nan_to_num(np.asarray(summary.opposition, dtype=np.float64))
    agree, oppose = agreement * n, opposition * n
    majority = np.where(agreement > 0.5, agree, 0.0) + np.where(opposition > 0.5, oppose, 0.0)
    expressed = float((agree + oppose).sum())
    return float(majority.sum() / expressed) if expressed > 0 else float("nan")
