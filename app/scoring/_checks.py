"""Argument checks shared by the scoring functions: ValueError naming the parameter, never assert."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_ratings(ratings: ArrayLike, name: str = "ratings", *, check_finite: bool = True) -> NDArray[np.float64]:
    """A 2-D float matrix, experts x items, NaN for missing."""
    matrix = np.asarray(ratings, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix (experts x items), got {matrix.ndim} dimensions")
    if check_finite and np.isinf(matrix).any():
        raise ValueError(f"{name} contains infinite values")
    return matrix


def as_band(band: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        low, high = (float(band[0]), float(band[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name} must be a pair (low, high), got {band!r}") from None
    if not low <= high:
        raise ValueError(f"{name} must have low <= high, got {band!r}")
    return low, high


def as_weights(weights: ArrayLike | None, n_experts: int, name: str = "weights") -> NDArray[np.float64] | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_experts,):
        raise ValueError(f"{name} must have one value per expert ({n_experts}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError(f"{name} must be finite and >= 0")
    return w
