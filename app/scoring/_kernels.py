"""One pass over a ratings matrix, compiled with numba: per-item counts of each scale point.

Every statistic on a bounded scale follows from these counts. numpy needs one comparison pass per
scale point (nine on 1-9) plus temporaries; this loop reads each rating once, in memory order, and
keeps an items x points table that fits in cache (BENCHMARKS.md has the figures)."""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, prange

PARALLEL_FROM = 1_000_000  # cells; below this one thread is faster than starting the pool
N_CHUNKS = 8
# numba's default thread pool must not be entered by two threads at once: big matrices take turns.
_parallel_lock = threading.Lock()


@njit(cache=True, nogil=True, boundscheck=False)
def count_scale_points(matrix: np.ndarray, low: int, n_points: int):  # type: ignore[no-untyped-def]
    """(counts items x points, answered per item, off-scale per item); NaN is missing."""
    n_rows, n_items = matrix.shape
    flat = np.zeros(n_items * n_points, dtype=np.int64)
    off = np.zeros(n_items, dtype=np.int64)
    high = low + n_points - 1
    for i in range(n_rows):
        row = matrix[i]
        for j in range(n_items):
            value = row[j]
            if low <= value <= high:  # false for NaN
                k = int(value) - low
                if value == k + low:
                    flat[j * n_points + k] += 1
                    continue
                off[j] += 1
            elif value == value:  # a number off the scale (or infinite)
                off[j] += 1
    counts = flat.reshape((n_items, n_points))
    return counts, counts.sum(axis=1) + off, off


@njit(cache=True, nogil=True, boundscheck=False, parallel=True)
def _count_scale_points_parallel(matrix: np.ndarray, low: int, n_points: int):  # type: ignore[no-untyped-def]
    """The same as ``count_scale_points``, over row blocks in parallel, each with its own table."""
    n_rows, n_items = matrix.shape
    local = np.zeros((N_CHUNKS, n_items * n_points), dtype=np.int64)
    local_off = np.zeros((N_CHUNKS, n_items), dtype=np.int64)
    high = low + n_points - 1
    step = (n_rows + N_CHUNKS - 1) // N_CHUNKS
    for c in prange(N_CHUNKS):
        flat = local[c]
        off = local_off[c]
        for i in range(c * step, min(n_rows, (c + 1) * step)):
            row = matrix[i]
            for j in range(n_items):
                value = row[j]
                if low <= value <= high:
                    k = int(value) - low
                    if value == k + low:
                        flat[j * n_points + k] += 1
                        continue
                    off[j] += 1
                elif value == value:
                    off[j] += 1
    counts = local.sum(axis=0).reshape((n_items, n_points))
    off_total = local_off.sum(axis=0)
    return counts, counts.sum(axis=1) + off_total, off_total


def count_points(matrix: np.ndarray, low: int, n_points: int):  # type: ignore[no-untyped-def]
    """Counts of each scale point per item, answered and off-scale counts (parallel when big)."""
    if matrix.size >= PARALLEL_FROM:
        with _parallel_lock:
            return _count_scale_points_parallel(matrix, low, n_points)
    return count_scale_points(matrix, low, n_points)


@njit(cache=True, nogil=True)
def weigh_scale_points(matrix: np.ndarray, weights: np.ndarray, low: int, n_points: int):  # type: ignore[no-untyped-def]
    """Total weight of the ratings at each scale point, per item (on-scale ratings only)."""
    n_rows, n_items = matrix.shape
    totals = np.zeros((n_items, n_points), dtype=np.float64)
    for i in range(n_rows):
        w = weights[i]
        for j in range(n_items):
            value = matrix[i, j]
            if value != value:
                continue
            k = int(value) - low if -1e15 < value < 1e15 else -1
            if 0 <= k < n_points and value == k + low:
                totals[j, k] += w
    return totals


_warmed = threading.Event()
_warming = threading.Lock()


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel for the types an analysis passes, once per
    process: a server calls it in the background as it starts, so that its first analysis does not
    wait for the compiler (2 s on a fresh install)."""
    with _warming:
        if _warmed.is_set():
            return
        matrix = np.array([[1.0, np.nan], [2.0, 3.0]])
        count_scale_points(matrix, 1, 3)
        weigh_scale_points(matrix, np.ones(2), 1, 3)
        with _parallel_lock:
            _count_scale_points_parallel(matrix, 1, 3)
        _warmed.set()
