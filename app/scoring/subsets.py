"""Random item subsets: a large item pool shared among the experts of a round, each expert
answering a few items, balanced so that every item gets as many raters as the design allows (an
incomplete design, as in the "balanced incomplete" presentations of large Delphi item pools)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def balanced_subsets(n_experts: int, n_items: int, size: int, seed: int) -> list[NDArray[np.int64]]:
    """Each expert's ``size`` distinct items (indices into the pool, in increasing order): the items
    with the fewest raters so far, drawn at random among equals. Every item then has either
    ``floor(n_experts * size / n_items)`` or one more rater (the counts never differ by more than one),
    and which items get the extra rater is random.

    >>> subsets = balanced_subsets(3, 4, 2, seed=1)
    >>> [len(s) for s in subsets], np.bincount(np.concatenate(subsets), minlength=4).tolist()
    ([2, 2, 2], [1, 2, 1, 2])

    Returns
    -------
    list of arrays
        One array of item indices per expert, in the experts' order.
    """
    if not 1 <= size <= n_items:
        raise ValueError("the subset size must be between 1 and the number of items")
    rng = np.random.default_rng(seed)
    raters = np.zeros(n_items, dtype=np.int64)
    subsets = []
    for _ in range(n_experts):
        # integer counts first, a random fraction below one among equal counts
        key = raters + rng.random(n_items)
        chosen = np.sort(np.argpartition(key, size - 1)[:size])
        raters[chosen] += 1
        subsets.append(chosen.astype(np.int64))
    return subsets


def guaranteed_raters(n_experts: int, n_items: int, size: int) -> int:
    """The raters every item is sure to get when ``n_experts`` each answer ``size`` of ``n_items``
    items drawn by ``balanced_subsets`` (every expert answering)."""
    if n_items <= 0:
        return 0
    return (n_experts * min(size, n_items)) // n_items
