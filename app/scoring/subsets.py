"""Random item subsets: a large item pool shared among the experts of a round, each expert
answering a few items, balanced so that every item gets as many raters as the design allows (an
incomplete design, as in the "balanced incomplete" presentations of large Delphi item pools)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def balanced_subsets(
    n_experts: int, n_items: int, size: int, seed: int, groups: Sequence[str] | None = None
) -> list[NDArray[np.int64]]:
    """Each expert's ``size`` distinct items (indices into the pool, in increasing order): the items
    with the fewest raters so far, and among those the ones with the fewest raters from the expert's
    stakeholder group (``groups``, one label per expert), drawn at random among equals. Every item
    then has either ``floor(n_experts * size / n_items)`` or one more rater (the counts never differ
    by more than one), which items get the extra rater is random, and the groups spread over the
    items as evenly as that allows.

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
    if groups is not None and len(groups) != n_experts:
        raise ValueError("one group per expert")
    labels = np.unique(np.asarray(groups), return_inverse=True)[1] if groups else np.zeros(n_experts, dtype=np.int64)
    rng = np.random.default_rng(seed)
    raters = np.zeros(n_items, dtype=np.int64)
    from_group = np.zeros((int(labels.max(initial=0)) + 1, n_items), dtype=np.int64)
    subsets = []
    for expert in range(n_experts):
        # the fewest raters first (which keeps the counts within one), then the fewest from this
        # expert's group, then at random
        order = np.lexsort((rng.random(n_items), from_group[labels[expert]], raters))
        chosen = np.sort(order[:size])
        raters[chosen] += 1
        from_group[labels[expert], chosen] += 1
        subsets.append(chosen.astype(np.int64))
    return subsets


def guaranteed_raters(n_experts: int, n_items: int, size: int) -> int:
    """The raters every item is sure to get when ``n_experts`` each answer ``size`` of ``n_items``
    items drawn by ``balanced_subsets`` (every expert answering)."""
    if n_items <= 0:
        return 0
    return (n_experts * min(size, n_items)) // n_items
