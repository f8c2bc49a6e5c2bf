"""A study in two languages: its title, question and description, its scale's anchors, its themes
and its items (text and options) written in the other language too. Each expert reads the study in
their language; where a text has no translation, or the original changed since it was translated,
they read the original, marked as such.

A translation is stored with the original it translates (``{"value": ..., "source": ...}``), so
that rewording an item does not leave experts reading the old wording in the other language.
Answers keep the original options: a translated option is only a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.accounts.models import Researcher
from app.audit import service as audit
from app.errors import InvalidInput, Message
from app.i18n import LANGUAGES
from app.studies.models import InformationSheet, Item, Study, Theme

STUDY_FIELDS = ("title", "question", "description", "anchors", "invitation_note", "reminder_note")
THEME_FIELDS = ("title", "description")
ITEM_FIELDS = ("text", "options", "evidence")
SHEET_FIELDS = ("purpose", "controller", "ethics", "retention")  # the information for participants

Translatable = Study | Theme | Item | InformationSheet


def other_language(study: Study) -> str:
    """The language a study may be translated into: the one it is not written in."""
    return next(language for language in LANGUAGES if language != study.language)


@dataclass(frozen=True)
class Local:
    """A text as one reader sees it: in ``language``; ``fallback`` when it is the original, shown
    because the reader's language has no (current) translation."""

    value: Any
    language: str
    fallback: bool = False

    def __str__(self) -> str:
        return str(self.value)


def current(obj: Translatable, field: str, language: str) -> Any | None:
    """The translation of ``obj.field`` into ``language`` if there is one and its original has not
    changed since; None otherwise."""
    entry = (obj.translations or {}).get(language, {}).get(field)
    if entry and entry.get("value") and entry.get("source") == getattr(obj, field):
        return entry["value"]
    return None


def translated(obj: Translatable, field: str, study_language: str, language: str) -> Local:
    original = getattr(obj, field)
    if language == study_language or not original:
        return Local(original, study_language)
    value = current(obj, field, language)
    return Local(value, language) if value is not None else Local(original, study_language, fallback=True)


class Localiser:
    """The study's texts in one reader's language (the expert's pages and e-mails)."""

    def __init__(self, study: Study, language: str) -> None:
        self.study_language, self.language = study.language, language
        self._study = study

    def study(self, field: str) -> Local:
        return translated(self._study, field, self.study_language, self.language)

    def theme(self, theme: Theme, field: str = "title") -> Local:
        return translated(theme, field, self.study_language, self.language)

    def evidence(self, item: Item) -> Local:
        """What the experts are shown of the evidence behind an item."""
        return translated(item, "evidence", self.study_language, self.language)

    def item(self, item: Item) -> Local:
        return translated(item, "text", self.study_language, self.language)

    def option(self, item: Item, option: str) -> Local:
        """The label of one of an item's options (the answer keeps the original option)."""
        options = translated(item, "options", self.study_language, self.language)
        if options.fallback or options.language == self.study_language or option not in item.options:
            return Local(option, self.study_language, options.fallback)
        return Local(options.value[item.options.index(option)], self.language)

    def anchors(self) -> Local:
        """The scale's anchors (``{"1": "strongly disagree", ...}``)."""
        return translated(self._study, "anchors", self.study_language, self.language)

    def sheet(self, sheet: InformationSheet, field: str) -> Local:
        """A part of the information for participants."""
        return translated(sheet, field, self.study_language, self.language)

    def untranslated(self, groups: list[tuple[Theme | None, list[Item]]]) -> bool:
        """Whether the questionnaire (its study texts, themes and items, ``design.by_theme``) shows
        any text in the original because the reader's language has no current translation: the
        page then says so once, at its top."""
        if self.language == self.study_language:
            return False
        texts = [self.study(f) for f in ("title", "question", "anchors")]  # what the questionnaire shows
        for theme, items in groups:
            if theme is not None:
                texts += [self.theme(theme, f) for f in THEME_FIELDS]
            texts += [translated(i, f, self.study_language, self.language) for i in items for f in ITEM_FIELDS]
        return any(text.fallback for text in texts)


@dataclass(frozen=True)
class TranslationRow:
    """One text of the study on the translations page: what it says, and its translation."""

    key: str  # study.title, theme.3.description, item.12.options
    label: str
    original: Any
    translation: Any
    outdated: bool  # translated, but the original changed since

    @property
    def is_list(self) -> bool:
        return isinstance(self.original, list)

    @property
    def missing(self) -> bool:
        return bool(self.original) and (not self.translation or self.outdated)


def _row(key: str, label: str, obj: Translatable, field: str, language: str) -> TranslationRow:
    original = getattr(obj, field)
    entry = (obj.translations or {}).get(language, {}).get(field) or {}
    value = entry.get("value")
    return TranslationRow(key, label, original, value, bool(value) and entry.get("source") != original)


def rows(
    study: Study, themes: list[Theme], items: list[Item], sheet: InformationSheet | None = None
) -> list[TranslationRow]:
    """Every text of the study that can be translated, in the order the experts read them: the
    study, the information for participants (its current version), the themes and their items."""
    language = other_language(study)
    out = [_row(f"study.{f}", f, study, f, language) for f in STUDY_FIELDS if getattr(study, f)]
    if sheet is not None:
        out += [_row(f"sheet.{f}", f, sheet, f, language) for f in SHEET_FIELDS if getattr(sheet, f)]
    for theme in themes:
        out += [_row(f"theme.{theme.id}.{f}", f, theme, f, language) for f in THEME_FIELDS if getattr(theme, f)]
        for item in (i for i in items if i.theme_id == theme.id):
            out += [_item_row(item, f, language) for f in ITEM_FIELDS if getattr(item, f)]
    for item in (i for i in items if i.theme_id not in {t.id for t in themes}):
        out += [_item_row(item, f, language) for f in ITEM_FIELDS if getattr(item, f)]
    return out


def _item_row(item: Item, field: str, language: str) -> TranslationRow:
    return _row(f"item.{item.id}.{field}", field, item, field, language)


def save(
    session: Session,
    study: Study,
    themes: list[Theme],
    items: list[Item],
    given: dict[str, Any],
    researcher: Researcher | None,
    sheet: InformationSheet | None = None,
) -> int:
    """Store the translations ``given`` by key (a string, a list for options, a dict for the
    anchors; empty removes the translation). All or nothing; returns how many changed."""
    language = other_language(study)
    objects: dict[str, Translatable] = {"study": study}
    objects |= {f"theme.{t.id}": t for t in themes}
    objects |= {f"item.{i.id}": i for i in items}
    if sheet is not None:
        objects["sheet"] = sheet
    allowed_fields = {"study": STUDY_FIELDS, "theme": THEME_FIELDS, "item": ITEM_FIELDS, "sheet": SHEET_FIELDS}
    errors: dict[str, str] = {}
    changes: list[tuple[Translatable, str, Any]] = []
    for key, value in given.items():
        owner, _, field = key.rpartition(".")
        obj = objects.get(owner)
        if obj is None or field not in allowed_fields[owner.split(".")[0]]:
            errors[key] = Message("This text is not part of the study.")
            continue
        original = getattr(obj, field)
        if field == "options" and value and len(value) != len(original):
            errors[key] = Message(
                "Give one translation per option, in the same order: %(count)s lines.", count=len(original)
            )
            continue
        if field == "anchors" and value and (set(value) != set(original) or not all(value.values())):
            errors[key] = Message("Give one translation per anchor of the scale.")
            continue
        current = (obj.translations or {}).get(language, {}).get(field) or {}
        if value == current.get("value") and current.get("source") == original:
            continue
        changes.append((obj, field, value))
    if errors:
        raise InvalidInput(Message("Nothing was saved: correct the texts marked below."), fields=errors)
    for obj, field, value in changes:
        translations = {lang: dict(fields) for lang, fields in (obj.translations or {}).items()}
        fields = translations.setdefault(language, {})
        if value:
            fields[field] = {"value": value, "source": getattr(obj, field)}
        else:
            fields.pop(field, None)
        obj.translations = translations  # a new dict: the JSON column sees the change
        session.add(obj)
    if changes:
        audit.record(session, study.id, researcher, "study.translated", f"study:{study.id}", count=len(changes))
        session.flush()
    return len(changes)
