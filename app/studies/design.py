"""A study's design: its themes and items, ordered, with the history of every change to an item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, func, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, FieldValueError, InvalidInput, Message, NotFound
from app.studies.kinds import clean_options, design_kind
from app.studies.models import Item, ItemRevision, ItemStatus, Study, Theme
from app.studies.scales import anchor_problem
from app.studies.schemas import (
    ItemCreate,
    ItemUpdate,
    ThemeCreate,
)
from app.studies.service import locked_reason, require_active, require_unlocked


def themes_of(session: Session, study_id: int) -> list[Theme]:
    return list(
        session.exec(select(Theme).where(Theme.study_id == study_id).order_by(col(Theme.position), col(Theme.id))).all()
    )


def by_theme(session: Session, study_id: int, items: Sequence[Item]) -> list[tuple[Theme | None, list[Item]]]:
    """Items grouped under their themes: each theme once, in the themes' order, its items in the
    order given (items added later, e.g. promoted statements, join their theme, not a new block);
    items with no theme last."""
    themes = themes_of(session, study_id)
    members: dict[int | None, list[Item]] = {}
    for item in items:
        members.setdefault(item.theme_id, []).append(item)
    grouped: list[tuple[Theme | None, list[Item]]] = [(t, members.pop(t.id)) for t in themes if t.id in members]
    rest = [i for group in members.values() for i in group]  # no theme (or one from elsewhere)
    if rest:
        grouped.append((None, rest))
    return grouped


def get_theme(session: Session, study: Study, theme_id: int) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None or theme.study_id != study.id:
        raise NotFound(Message("No such theme in this study."))
    return theme


def _next_position(session: Session, model: Any, study_id: int) -> int:
    highest = session.exec(select(func.max(model.position)).where(model.study_id == study_id)).one()
    return (highest or 0) + 1


def add_theme(session: Session, study: Study, data: ThemeCreate, researcher: Researcher | None) -> Theme:
    require_active(study)
    theme = Theme(
        study_id=study.id,
        title=data.title,
        description=data.description,
        position=_next_position(session, Theme, study.id),
    )
    session.add(theme)
    session.flush()
    audit.record(session, study.id, researcher, "theme.created", f"theme:{theme.id}", title=theme.title)
    return theme


def update_theme(session: Session, study: Study, theme: Theme, data: ThemeCreate, researcher: Researcher) -> Theme:
    require_active(study)
    theme.title, theme.description = data.title, data.description
    session.add(theme)
    audit.record(session, study.id, researcher, "theme.updated", f"theme:{theme.id}")
    session.flush()
    return theme


def delete_theme(session: Session, study: Study, theme: Theme, researcher: Researcher) -> None:
    require_active(study)
    require_unlocked(study)
    items = session.exec(select(Item).where(Item.theme_id == theme.id)).all()
    if items:
        raise Conflict(
            Message(
                "The theme “%(title)s” still has %(count)s item(s); move or delete them first.",
                title=theme.title,
                count=len(items),
            )
        )
    session.delete(theme)
    audit.record(session, study.id, researcher, "theme.deleted", f"theme:{theme.id}", title=theme.title)
    session.flush()


def move(session: Session, rows: list[Any], row: Any, direction: int) -> None:
    """Swap a theme or item with its neighbour (direction -1 up, +1 down) and renumber."""
    index = next(i for i, r in enumerate(rows) if r.id == row.id)
    other = index + direction
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    for position, r in enumerate(rows, start=1):
        r.position = position
        session.add(r)
    session.flush()


# --- items ----------------------------------------------------------------------------------------


def items_of(session: Session, study_id: int, *, active_only: bool = False) -> list[Item]:
    query = select(Item).where(Item.study_id == study_id)
    if active_only:
        query = query.where(Item.status == ItemStatus.ACTIVE)
    return list(session.exec(query.order_by(col(Item.position), col(Item.id))).all())


def get_item(session: Session, study: Study, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None or item.study_id != study.id:
        raise NotFound(Message("No such item in this study."))
    return item


def _check_anchors(study: Study, anchors: dict[str, str]) -> None:
    for key in anchors:
        if problem := anchor_problem(key, study.scale_min, study.scale_max):
            raise InvalidInput(problem, fields=("anchors",))


def add_item(
    session: Session,
    study: Study,
    data: ItemCreate,
    researcher: Researcher | None,
    *,
    origin: str = "protocol",
    source_item_ids: list[int] | None = None,
    round_number: int | None = None,
) -> Item:
    require_active(study)
    if data.theme_id is not None:
        get_theme(session, study, data.theme_id)
    _check_anchors(study, data.anchors)
    item = Item(
        study_id=study.id,
        position=_next_position(session, Item, study.id),
        origin=origin,
        source_item_ids=source_item_ids or [],
        introduced_round=round_number,
        **data.model_dump(),
    )
    session.add(item)
    session.flush()
    _revision(
        session, item, researcher, "created", after=item.text, round_number=round_number, related=source_item_ids or []
    )
    return item


def _revision(
    session: Session,
    item: Item,
    researcher: Researcher | None,
    action: str,
    *,
    before: str | None = None,
    after: str | None = None,
    reason: str = "",
    related: list[int] | None = None,
    round_number: int | None = None,
) -> None:
    session.add(
        ItemRevision(
            item_id=item.id,
            study_id=item.study_id,
            action=action,
            before_text=before,
            after_text=after,
            reason=reason,
            related_item_ids=related or [],
            round_number=round_number,
            researcher_id=researcher.id if researcher else None,
        )
    )
    audit.record(session, item.study_id, researcher, f"item.{action}", f"item:{item.id}", reason=reason)


def update_item(
    session: Session,
    study: Study,
    item: Item,
    data: ItemUpdate,
    researcher: Researcher,
    round_number: int | None = None,
) -> Item:
    """Edit an item. Once the protocol is locked, only rewording (with a reason) and moving are
    allowed, and a rewording is kept in the item's history."""
    require_active(study)
    changes = data.model_dump(exclude_unset=True)
    changes.pop("reason", None)
    if study.locked_at is not None:
        structural = {k for k in changes if k not in ("text", "theme_id", "evidence")}
        if structural:
            raise Conflict(locked_reason(study))
        if "evidence" in changes and changes["evidence"] != item.evidence and not data.reason.strip():
            raise InvalidInput(
                Message("Say why the evidence shown with the item changes: the change goes into the report."),
                fields=("reason",),
            )
        if "text" in changes and changes["text"] != item.text and not data.reason.strip():
            raise InvalidInput(
                Message("Say why the item is reworded: the change goes into the report."), fields=("reason",)
            )
    if "theme_id" in changes and changes["theme_id"] is not None:
        get_theme(session, study, changes["theme_id"])
    if "anchors" in changes and changes["anchors"] is not None:
        _check_anchors(study, changes["anchors"])
    if "options" in changes and changes["options"] is not None and design_kind(item.kind).has_options:
        try:  # the rules of a new item's options: two or more, each once
            changes["options"] = clean_options(changes["options"], item.kind)
        except FieldValueError as refused:
            raise InvalidInput(refused.args[0], fields=(refused.field,)) from None
    before, evidence_before = item.text, item.evidence
    for key, value in changes.items():
        if value is not None or key == "theme_id":
            setattr(item, key, value)
    item.updated_at = utcnow()
    session.add(item)
    session.flush()
    # evidence written before the lock is the item's first draft, not a change to trace
    traced = [("evidence", evidence_before, item.evidence, study.locked_at is not None or bool(evidence_before))]
    traced.append(("reworded", before, item.text, True))
    for action, was, now, kept in traced:
        if now != was and kept:
            _revision(
                session, item, researcher, action, before=was, after=now, reason=data.reason, round_number=round_number
            )
    return item


def delete_item(session: Session, study: Study, item: Item, researcher: Researcher) -> None:
    require_active(study)
    if study.locked_at is not None:
        raise Conflict(
            Message(
                "Items cannot be deleted once round 1 has opened; retire the item instead (it stays in the report)."
            )
        )
    audit.record(session, study.id, researcher, "item.deleted", f"item:{item.id}", text=item.text)
    session.delete(item)
    session.flush()


def retire_item(
    session: Session,
    study: Study,
    item: Item,
    researcher: Researcher | None,
    reason: str,
    round_number: int | None = None,
    status: ItemStatus = ItemStatus.RETIRED,
) -> Item:
    item.leave(status, round_number)
    session.add(item)
    _revision(session, item, researcher, status, before=item.text, reason=reason, round_number=round_number)
    session.flush()
    return item


def _worded_like(item: Item, text: str) -> ItemCreate:
    """A new item of the same kind, theme, anchors and options as ``item``, worded ``text``."""
    return ItemCreate(
        text=text,
        kind=item.kind,  # type: ignore[arg-type]
        theme_id=item.theme_id,
        anchors=item.anchors,
        options=item.options,
        multiple=item.multiple,
        allow_unable=item.allow_unable,
    )


def merge_items(
    session: Session,
    study: Study,
    item_ids: list[int],
    text: str,
    reason: str,
    researcher: Researcher,
    round_number: int | None = None,
) -> Item:
    """Several items become one new item; the old ones are kept as ``merged`` with a link to it."""
    sources = [get_item(session, study, i) for i in dict.fromkeys(item_ids)]
    if len(sources) < 2:
        raise InvalidInput(Message("Choose at least two different items to merge."), fields=("item_ids",))
    kinds = {s.kind for s in sources}
    if len(kinds) != 1:
        raise InvalidInput(Message("Only items of the same kind can be merged."), fields=("item_ids",))
    if any(s.status != ItemStatus.ACTIVE for s in sources):
        raise Conflict(Message("Only active items can be merged."))
    first = sources[0]
    merged = add_item(
        session,
        study,
        _worded_like(first, text),
        researcher,
        origin="merged",
        source_item_ids=[s.id for s in sources],
        round_number=round_number,
    )
    for source in sources:
        source.leave(ItemStatus.MERGED, round_number)
        session.add(source)
        _revision(
            session,
            source,
            researcher,
            "merged",
            before=source.text,
            after=text,
            reason=reason,
            related=[merged.id],
            round_number=round_number,
        )
    session.flush()
    return merged


def split_item(
    session: Session,
    study: Study,
    item: Item,
    texts: list[str],
    reason: str,
    researcher: Researcher,
    round_number: int | None = None,
) -> list[Item]:
    texts = [t.strip() for t in texts if t.strip()]
    if len(texts) < 2:
        raise InvalidInput(Message("A split gives at least two new items."), fields=("texts",))
    if any(not 3 <= len(t) <= 2000 for t in texts):
        raise InvalidInput(Message("Each new item's text has 3 to 2000 characters."), fields=("texts",))
    if item.status != ItemStatus.ACTIVE:
        raise Conflict(Message("Only an active item can be split."))
    parts = [
        add_item(
            session,
            study,
            _worded_like(item, t),
            researcher,
            origin="split",
            source_item_ids=[item.id],
            round_number=round_number,
        )
        for t in texts
    ]
    item.leave(ItemStatus.SPLIT, round_number)
    session.add(item)
    _revision(
        session,
        item,
        researcher,
        "split",
        before=item.text,
        reason=reason,
        related=[p.id for p in parts],
        round_number=round_number,
    )
    session.flush()
    return parts


def revisions_of(session: Session, study_id: int) -> list[ItemRevision]:
    return list(
        session.exec(select(ItemRevision).where(ItemRevision.study_id == study_id).order_by(col(ItemRevision.id))).all()
    )


def themes_with_items(
    session: Session, study: Study, *, active_only: bool = False
) -> list[tuple[Theme | None, list[Item]]]:
    """Themes in order, each with its items in order; items without a theme come last."""
    themes = themes_of(session, study.id)
    items = items_of(session, study.id, active_only=active_only)
    grouped: dict[int | None, list[Item]] = {t.id: [] for t in themes}
    grouped[None] = []
    for item in items:
        grouped.setdefault(item.theme_id, []).append(item)
    result: list[tuple[Theme | None, list[Item]]] = [(t, grouped[t.id]) for t in themes]
    if grouped[None]:
        result.append((None, grouped[None]))
    return result
