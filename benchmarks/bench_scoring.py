"""summarize() on 10,000 experts x 1,000 items (1-9 scale, 5 % missing), against, in the same run:
one read pass of the matrix (R.sum(axis=0)), a per-item numpy loop computing the same figures,
and a pandas groupby over the long table. Also peak memory of summarize() against the matrix.

    .venv/bin/python benchmarks/bench_scoring.py [--experts 10000] [--items 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import numpy as np
import pandas as pd

from app.scoring import summarize


def best_of(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def per_item_loop(matrix: np.ndarray) -> list[tuple[float, ...]]:
    out = []
    for column in matrix.T:
        v = column[~np.isnan(column)]
        q1, median, q3 = np.quantile(v, [0.25, 0.5, 0.75])
        out.append(
            (len(v), median, q1, q3, q3 - q1, v.mean(), v.std(ddof=1), np.mean((v >= 7) & (v <= 9)), np.mean(v <= 3))
        )
    return out


def pandas_groupby(long: pd.DataFrame) -> pd.DataFrame:
    grouped = long.groupby("item")["value"]
    frame = grouped.agg(["count", "median", "mean", "std"])
    frame["q1"] = grouped.quantile(0.25)
    frame["q3"] = grouped.quantile(0.75)
    frame["agreement"] = long.assign(a=long["value"].between(7, 9)).groupby("item")["a"].mean()
    frame["opposition"] = long.assign(o=long["value"] <= 3).groupby("item")["o"].mean()
    return frame


def _rss_child(experts: int, items: int, pipe) -> None:  # type: ignore[no-untyped-def]
    import resource

    rng = np.random.default_rng(0)
    matrix = rng.integers(1, 10, size=(experts, items)).astype(np.float64)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    summarize(matrix[:50, :50])  # load the compiled kernels first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summarize(matrix)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pipe.send((after - before) * 1024)


def rss_growth(experts: int, items: int) -> int:
    """Peak resident memory added by one summarize() call, measured in a fresh process (this also
    counts what numba's compiled code allocates, which tracemalloc does not see)."""
    import multiprocessing

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_rss_child, args=(experts, items, child))
    process.start()
    growth = parent.recv()
    process.join()
    return int(growth)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    matrix = rng.integers(1, 10, size=(args.experts, args.items)).astype(np.float64)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    rows, cols = np.nonzero(~np.isnan(matrix))
    long = pd.DataFrame({"item": cols, "value": matrix[rows, cols]})

    read = best_of(lambda: matrix.sum(axis=0), args.repeat * 3)
    ours = best_of(lambda: summarize(matrix), args.repeat)
    loop = best_of(lambda: per_item_loop(matrix), 1)
    panda = best_of(lambda: pandas_groupby(long), 1)
    tracemalloc.start()
    summarize(matrix)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = rss_growth(args.experts, args.items)
    check = summarize(matrix)
    reference = per_item_loop(matrix[:, :5])
    assert np.allclose(check.median[:5], [r[1] for r in reference]) and np.allclose(
        check.sd[:5], [r[6] for r in reference]
    )

    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    print(f"matrix: {args.experts} x {args.items}, {matrix.nbytes / 1e6:.0f} MB")
    print(f"read pass R.sum(axis=0): {read * 1000:8.1f} ms")
    print(f"summarize():              {ours * 1000:8.1f} ms  = {ours / read:5.1f} x the read pass (goal <= 10)")
    print(f"per-item numpy loop:      {loop * 1000:8.1f} ms  -> summarize is {loop / ours:5.1f} x faster (goal >= 20)")
    print(
        f"pandas groupby:           {panda * 1000:8.1f} ms  -> summarize is {panda / ours:5.1f} x faster (goal >= 40)"
    )
    print(
        f"peak memory of summarize: {max(peak, rss) / 1e6:8.1f} MB  = "
        f"{max(peak, rss) / matrix.nbytes:4.2f} x the matrix "
        f"(goal < 3; Python allocations {peak / 1e6:.1f} MB, process RSS growth {rss / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
