"""How often the dissenting-camp detector finds a planted minority (power) and how often it sees a
camp in panels that have none (false positives), on simulated panels.

    .venv/bin/python benchmarks/bench_camps.py [--trials 200]

A planted camp reverses a few items (x -> 10 - x on 1-9) for a minority of the panel; every rating
gets normal noise (sd 0.7 or 1.2), rounded and kept on the scale. A hit is a coherent camp of
exactly the planted size. Panels without a camp: uniform 5-9, uniform 1-9, normal around 7.
"""

from __future__ import annotations

import argparse

import numpy as np

from app.scoring.camps import camps


def power(rng: np.random.Generator, trials: int) -> list[str]:
    lines = ["| noise sd | experts | camp | items | reversed | found |", "|---|---|---|---|---|---|"]
    for sd in (0.7, 1.2):
        for n, m in ((12, 3), (20, 5), (40, 10)):
            for items, reversed_ in ((8, 2), (20, 3)):
                hits = 0
                for _ in range(trials):
                    base = rng.integers(6, 9, items).astype(float)
                    other = base.copy()
                    other[:reversed_] = 10 - base[:reversed_]
                    majority = np.clip(np.round(rng.normal(base, sd, (n - m, items))), 1, 9)
                    minority = np.clip(np.round(rng.normal(other, sd, (m, items))), 1, 9)
                    found = camps(np.vstack([majority, minority]))
                    hits += found.coherent and found.minority == m
                lines.append(f"| {sd} | {n} | {m} | {items} | {reversed_} | {hits / trials:.0%} |")
    return lines


def false_positives(rng: np.random.Generator, trials: int) -> list[str]:
    lines = ["| panel | experts | items | camps seen |", "|---|---|---|---|"]
    for kind in ("uniform 5-9", "uniform 1-9", "normal 7, sd 1.3"):
        for n in (8, 12, 20, 40):
            for items in (3, 8, 20):
                seen = 0
                for _ in range(trials):
                    if kind == "uniform 5-9":
                        ratings = rng.integers(5, 10, (n, items)).astype(float)
                    elif kind == "uniform 1-9":
                        ratings = rng.integers(1, 10, (n, items)).astype(float)
                    else:
                        ratings = np.clip(np.round(rng.normal(7, 1.3, (n, items))), 1, 9)
                    seen += camps(ratings).coherent
                lines.append(f"| {kind} | {n} | {items} | {seen / trials:.1%} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("\n".join(power(rng, args.trials)))
    print()
    print("\n".join(false_positives(rng, args.trials)))


if __name__ == "__main__":
    main()
