"""The optional sentence-embedding model for the coding page (``pip install 'delphi[embeddings]'``):
WordLlama's small English model, whose weights and tokenizer ship inside its wheel. It is loaded
from the installed package with downloads disabled, so nothing is fetched at run time; without the
extra (or if its files are missing) the coding page uses TF-IDF alone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

# the languages the model was trained on: answers in others are grouped by TF-IDF alone
LANGUAGES = frozenset({"en"})


@lru_cache(maxsize=1)
def _model() -> Any | None:
    try:
        import wordllama
    except ImportError:
        return None
    try:
        # the package keeps its tokenizer in <package>/tokenizers, where it looks up a cache folder
        # (not in its own folder, which it names "tokenizer"): point the cache at the package itself
        return wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except (FileNotFoundError, OSError, ValueError):
        log.warning("the embedding model's files are missing: open answers are grouped by TF-IDF alone")
        return None


def available() -> bool:
    return _model() is not None


def embed(texts: Sequence[str]) -> NDArray[np.float64] | None:
    """One unit vector per text, or None without the model."""
    model = _model()
    if model is None:
        return None
    return np.asarray(model.embed(list(texts), norm=True), dtype=np.float64)
