"""How well the coding page's suggested groups recover the themes of a labelled set of open answers,
and how long they take for 1,000 answers.

    .venv/bin/python benchmarks/bench_coding.py [--repeat 5] [--embeddings]

With ``--embeddings``, the English answers are grouped with the optional local embedding model mixed
in (extra "embeddings"), as the coding page does: English answers apart, the others by TF-IDF alone.

The labelled set (tests/data/open_answers_labelled.csv) holds 140 answers written from the seed
study's seven themes, ten per theme in French and ten in English, each labelled with its theme.
An answer left out of every suggested group counts as a group of its own. Purity: the share of the
grouped answers that belong to their group's most common theme. Time: 1,000 answers (the labelled
ones drawn with their words shuffled and a number added), against the baseline of fitting a plain
word TF-IDF on the same answers, in the same process.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score

from app.rounds import embedder
from app.scoring.text_groups import suggest_groups

LABELLED = Path(__file__).parents[1] / "tests" / "data" / "open_answers_labelled.csv"


def _groups(texts: list[str], languages: list[str], distance: float | None, embeddings: bool) -> list[list[int]]:
    if not embeddings:
        return [g.members for g in suggest_groups(texts, distance=distance)]
    found = []
    for embedded in (True, False):  # English answers with the model, the others by TF-IDF alone
        indices = [k for k, language in enumerate(languages) if (language in embedder.LANGUAGES) == embedded]
        part = [texts[k] for k in indices]
        vectors = embedder.embed(part) if embedded and len(part) > 1 else None
        cut = distance if embedded else None  # the others at TF-IDF's own cut, as on the coding page
        found += [[indices[i] for i in g.members] for g in suggest_groups(part, distance=cut, embeddings=vectors)]
    return found


def quality(rows: list[dict[str, str]], distance: float | None, embeddings: bool = False) -> str:
    texts, themes = [r["text"] for r in rows], [r["theme"] for r in rows]
    groups = [Group(m) for m in _groups(texts, [r["language"] for r in rows], distance, embeddings)]
    labels = list(range(len(texts), 2 * len(texts)))
    for number, group in enumerate(groups):
        for i in group.members:
            labels[i] = number
    covered = sum(len(g.members) for g in groups)
    pure = sum(Counter(themes[i] for i in g.members).most_common(1)[0][1] for g in groups)
    return (
        f"{adjusted_rand_score(themes, labels):.3f} | {len(groups)} | {covered / len(texts):.0%} | "
        f"{pure / max(covered, 1):.0%}"
    )


@dataclass
class Group:
    members: list[int]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--embeddings", action="store_true")
    args = parser.parse_args()
    if args.embeddings and not embedder.available():
        raise SystemExit("the embedding model is not installed: pip install -e '.[embeddings]'")
    rows = list(csv.DictReader(LABELLED.open(encoding="utf-8")))
    print("| answers | distance | ARI | groups | grouped | purity |")
    print("|---|---|---|---|---|---|")
    cuts = (0.75, 0.8, 0.85) if args.embeddings else (0.9, 0.93, 0.95)
    for name, subset in (
        ("French (70)", [r for r in rows if r["language"] == "fr"]),
        ("English (70)", [r for r in rows if r["language"] == "en"]),
        ("both (140)", rows),
    ):
        for distance in cuts:
            print(f"| {name} | {distance} | {quality(subset, distance, args.embeddings)} |")

    rng = random.Random(7)
    answers = []
    while len(answers) < 1000:
        words = rng.choice(rows)["text"].split()
        rng.shuffle(words)
        answers.append(" ".join(words) + f" {rng.randint(1, 99)}")
    suggest_groups(answers[:50])  # imports scikit-learn and scipy once, as a server's first page does
    timed, baseline = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        TfidfVectorizer().fit_transform(answers)
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        suggest_groups(answers, embeddings=embedder.embed(answers) if args.embeddings else None)
        timed.append(time.perf_counter() - start)
    suggestions, plain = statistics.median(timed), statistics.median(baseline)
    print()
    print("| 1,000 answers | median of", args.repeat, "|")
    print("|---|---|")
    print(f"| plain word TF-IDF (baseline) | {plain * 1000:.0f} ms |")
    print(f"| suggested groups | {suggestions * 1000:.0f} ms ({suggestions / plain:.1f} x the baseline) |")


if __name__ == "__main__":
    main()
