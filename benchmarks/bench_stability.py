"""stability() between three rounds of a small panel with ties (13 experts x 18 items, the size at
which scipy.stats.wilcoxon's default falls back to a permutation test), against, in the same run,
scipy.stats.wilcoxon with its defaults on each item, as the analysis called it before.

    .venv/bin/python benchmarks/bench_stability.py [--experts 13] [--items 18] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from scipy import stats

from app.scoring import stability


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=13)
    parser.add_argument("--items", type=int, default=18)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    rounds = [rng.integers(1, 10, (args.experts, args.items)).astype(float)]
    for _ in range(args.rounds - 1):
        rounds.append(np.clip(rounds[-1] + rng.integers(-2, 3, rounds[-1].shape), 1, 9))
    pairs = list(zip(rounds, rounds[1:], strict=False))

    start = time.perf_counter()
    results = [stability(a, b) for a, b in pairs]
    ours = time.perf_counter() - start

    start = time.perf_counter()
    reference = []
    for a, b in pairs:
        for j in range(args.items):
            if not np.array_equal(a[:, j], b[:, j]):
                reference.append(stats.wilcoxon(b[:, j], a[:, j]).pvalue)
    scipy_default = time.perf_counter() - start

    methods = sorted({m for r in results for m in r.wilcoxon_method if m})
    print(f"{platform.machine()}, {platform.python_version()}; {args.rounds} rounds of {args.experts} x {args.items}")
    print(f"stability(), {args.rounds - 1} comparisons: {ours * 1000:.1f} ms (methods: {', '.join(methods)})")
    print(f"scipy.stats.wilcoxon defaults, per item: {scipy_default:.2f} s ({scipy_default / ours:.0f}x)")


if __name__ == "__main__":
    main()
