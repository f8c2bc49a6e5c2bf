"""Suggested groups of similar open answers, and near-duplicate statements, for the researcher who
codes a round's open answers. Offline and model-free by default: each text becomes a TF-IDF vector
of its words (accents folded, French and English function words left out) and of its character
3-5-grams (which match "réseau" and "réseaux", "share" and "sharing"); texts are grouped by
average-linkage clustering (scipy) on the cosine distance, cut at a fixed distance, so the number of groups
comes from the answers. A suggestion is only a suggestion: nothing is coded without the researcher.

Sentence embeddings, when the caller has them (the optional local model, for English answers), are
mixed into the similarity: they match answers that say the same thing in other words, which TF-IDF
cannot.

Pure: texts (and their embeddings) in, indices out (scikit-learn, imported when first used).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Words that carry no topic, in the two languages of the platform (accents folded, as the texts are).
_FRENCH_FUNCTION_WORDS = (
    "a afin ai aie aient aies ait alors as au aucun aucune aupres aussi autre autres aux avec avoir "
    "avons ayant c ca car ce ceci cela celle celles celui cependant ces cet cette ceux chaque chez ci "
    "comme comment d dans de des deja depuis donc dont du elle elles en encore entre est et etaient "
    "etait etant ete etre eu eux faire fait faut font hors il ils j je jusqu l la le les leur leurs "
    "lors lui m ma mais me meme memes mes moi moins mon n ne ni nos notre nous on ont ou par parce "
    "pas peu peut plus plutot pour pourquoi qu quand que quel quelle quelles quels qui quoi s sa sans "
    "se selon ses si sien soi soit son sont sous sur t ta te tel telle tels tes toi ton tous tout "
    "toute toutes tres tu un une vers via vos votre vous y il elle etc bien ainsi tant doit doivent "
    "permet permettent grace cela ceux "
)
FRENCH_STOP_WORDS = frozenset(_FRENCH_FUNCTION_WORDS.split())


def _fold(text: str) -> str:
    """Lower case without accents: "Réseaux" and "reseaux" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class TextGroup:
    members: list[int]  # indices of the texts, the most central first
    terms: list[str]  # the words that most set the group apart


_WORD = re.compile(r"[a-z][a-z0-9]+")
_ENDINGS = ("ements", "ement", "ations", "ation", "ing", "ers", "er", "es", "s", "x", "e")


def _stem(word: str) -> str:
    """A crude common stem of French and English word forms ("partager", "partage", "partages";
    "sharing", "share"), enough to count them as one word."""
    for ending in _ENDINGS:
        if len(word) > len(ending) + 3 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def _words(stop: frozenset[str]) -> Any:
    def analyse(text: str) -> list[str]:
        stems = [_stem(w) for w in _WORD.findall(_fold(text)) if w not in stop]
        return stems + [f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False)]

    return analyse


def _vectors(texts: Sequence[str]) -> tuple[Any, list[str]]:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
    from sklearn.preprocessing import normalize

    stop = FRENCH_STOP_WORDS | {_fold(w) for w in ENGLISH_STOP_WORDS}
    # words shared by more than a quarter of the answers (the study's own subject) say nothing of a group
    common = 0.25 if len(texts) >= 8 else 1.0
    words = TfidfVectorizer(analyzer=_words(stop), sublinear_tf=True, max_df=common)
    characters = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        max_df=common,
        preprocessor=lambda text: " ".join(w for w in _WORD.findall(_fold(text)) if w not in stop),
    )
    try:
        word_matrix = words.fit_transform(texts)
        vocabulary = list(words.get_feature_names_out())
    except ValueError:  # only function words
        word_matrix, vocabulary = None, []
    try:
        char_matrix = characters.fit_transform(texts)
    except ValueError:  # too few texts for a shared n-gram
        char_matrix = None
    parts = [m for m in (word_matrix, char_matrix) if m is not None]
    if not parts:
        return None, vocabulary
    return normalize(hstack(parts).tocsr()), vocabulary


def _word_part(matrix: Any, vocabulary: list[str]) -> Any:
    return matrix[:, : len(vocabulary)]


# Tuned on the labelled set (benchmarks/bench_coding.py): the cut of TF-IDF alone, and, with
# embeddings, the share of their cosine in the similarity and the cut of the mix.
DISTANCE = 0.93
EMBEDDING_SHARE = 0.7
EMBEDDING_DISTANCE = 0.80


def suggest_groups(
    texts: Sequence[str],
    distance: float | None = None,
    min_size: int = 2,
    embeddings: NDArray[np.float64] | None = None,
) -> list[TextGroup]:
    """Groups of at least ``min_size`` similar texts, largest first. ``distance`` is the cosine
    distance at which the clustering is cut (lower: tighter, smaller groups); its default was tuned
    on a labelled set of answers in French and English (``benchmarks/bench_coding.py``).
    ``embeddings`` (one row per text) add their cosine to the TF-IDF one, ``EMBEDDING_SHARE`` of it."""
    if len(texts) < max(min_size, 2):
        return []
    matrix, vocabulary = _vectors(texts)
    if matrix is None and embeddings is None:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    # unit vectors: the cosine of every pair
    similarity = (matrix @ matrix.T).toarray() if matrix is not None else np.zeros((len(texts), len(texts)))
    if embeddings is not None:
        vectors = np.asarray(embeddings, dtype=np.float64)
        if vectors.shape[0] != len(texts):
            raise ValueError("one embedding per text")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        similarity = EMBEDDING_SHARE * (vectors @ vectors.T) + (1 - EMBEDDING_SHARE) * similarity
    cut = distance if distance is not None else (EMBEDDING_DISTANCE if embeddings is not None else DISTANCE)
    distances = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), method="average")
    labels = fcluster(tree, t=cut, criterion="distance")
    groups = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < min_size:
            continue
        closeness = similarity[np.ix_(members, members)].mean(axis=1)  # the most typical answer first
        order = [int(i) for i in members[np.argsort(-closeness, kind="stable")]]
        terms = _top_terms(_word_part(matrix, vocabulary), vocabulary, members) if matrix is not None else []
        groups.append(TextGroup(order, _as_written(terms, [texts[int(i)] for i in members])))
    groups.sort(key=lambda g: (-len(g.members), g.members[0]))
    return groups


_WRITTEN_WORD = re.compile(r"[^\W\d_][\w'-]*")


def _as_written(terms: list[str], texts: Sequence[str]) -> list[str]:
    """Terms with each crude stem ("gett", "partag") shown as its most frequent form in the texts
    ("getting", "partage"), accents kept."""
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        for word in _WRITTEN_WORD.findall(text.lower()):
            forms.setdefault(_stem(_fold(word)), Counter())[word] += 1
    return [" ".join(forms[s].most_common(1)[0][0] if s in forms else s for s in term.split()) for term in terms]


def _top_terms(word_matrix: Any, vocabulary: list[str], members: NDArray[np.intp], count: int = 4) -> list[str]:
    if not vocabulary:
        return []
    weights = np.asarray(word_matrix[members].sum(axis=0)).ravel()
    present = np.asarray((word_matrix[members] > 0).sum(axis=0)).ravel()
    ranked = np.lexsort((np.array(vocabulary), -weights, -present))  # shared by most, then heaviest
    return [vocabulary[i] for i in ranked[:count] if weights[i] > 0]


def similar_pairs(texts: Sequence[str], threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """Pairs of texts whose cosine similarity is at least ``threshold``, most similar first: the
    statements that may say the same thing and could be merged."""
    if len(texts) < 2:
        return []
    matrix, _ = _vectors(texts)
    if matrix is None:
        return []
    similarity = (matrix @ matrix.T).toarray()
    pairs = [
        (i, j, float(similarity[i, j]))
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
        if similarity[i, j] >= threshold
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))
