"""French and English through Babel: catalogs are read from the .po files at start-up."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("fr", "en")
# each language named in itself (a language menu reads the same on every page)
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


@lru_cache
def translations(language: str) -> NullTranslations:
    """Source strings are English; other languages come from ``translations/<lang>/.../messages.po``."""
    po = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def negotiate(accept_language: str | None, default: str) -> str:
    """Pick fr or en from an Accept-Language header."""
    if not accept_language:
        return default
    preferred = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if tag:
            preferred.append((weight, tag.strip().replace("-", "_")))
    preferred.sort(key=lambda pair: -pair[0])
    try:
        found = Locale.negotiate([tag for _, tag in preferred], list(LANGUAGES), sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return str(found.language) if found else default


def normalise(language: str | None) -> str | None:
    if language and language[:2].lower() in LANGUAGES:
        return language[:2].lower()
    return None


def N_(message: str) -> str:  # noqa: N802 - the conventional name extractors look for
    """Mark text for translation where it is defined; it is translated where it is shown."""
    return message


def punctuation(language: str, mark: str) -> str:
    """``:`` or ``;`` followed by a space, as the language writes it (French puts a non-breaking
    space before them)."""
    return ("\u00a0" if language == "fr" else "") + mark + " "


# each language named in the reader's language ("the study in English", « l’étude en anglais »)
LANGUAGE_LABELS = {"en": N_("English"), "fr": N_("French")}
