"""Experts' answers: validated per item kind, upserted (one row per round, expert and item) with an
append-only history, and submitted with a conditional update, so nothing is ever lost or doubled."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, bindparam, func, insert, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Conflict, Gone, InvalidInput, Message
from app.panel.models import Expert
from app.rounds.models import Answer, AnswerHistory, Invitation, Round, RoundItem
from app.studies.models import Item, Study

TEXT_LIMIT = 5000
REASON_LIMIT = 3000


class AnswerIn(BaseModel):
    """One answer as sent by an expert's page (form or autosave)."""

    model_config = ConfigDict(extra="forbid")

    value: float | None = None
    values: list[Any] | None = None
    text: str | None = Field(default=None, max_length=TEXT_LIMIT)
    reason: str | None = Field(default=None, max_length=REASON_LIMIT)
    unable: bool = False


# What an expert gives for an item; the rest of an answer row is bookkeeping.
_ANSWER_FIELDS = ("value", "values", "text", "reason", "unable")


@dataclass(frozen=True)
class CleanAnswer:
    value: float | None
    values: list[Any] | None
    text: str | None
    reason: str | None
    unable: bool

    @property
    def is_empty(self) -> bool:
        return self.value is None and not self.values and not self.text and not self.unable

    def same_as(self, stored: Row[Any]) -> bool:
        """Nothing to write: the stored answer (a row with its fields) holds the same."""
        return all(getattr(stored, name) == getattr(self, name) for name in _ANSWER_FIELDS)


def scale_of(item: Item, study: Study) -> tuple[int, int]:
    return (
        item.scale_min if item.scale_min is not None else study.scale_min,
        item.scale_max if item.scale_max is not None else study.scale_max,
    )


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\r\n", "\n").strip()
    if len(value) > limit:
        raise ValueError(Message("at most %(limit)s characters", limit=limit))
    return value or None


def clean_answer(item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
    """Check an answer against its item; ValueError with a message for the expert."""
    reason = _text(data.reason, REASON_LIMIT)
    if item.kind == "rating":
        low, high = scale_of(item, study)
        if data.unable:
            if not item.allow_unable:
                raise ValueError(Message("this item needs a rating"))
            return CleanAnswer(None, None, None, reason, True)
        value = data.value
        if value is not None:
            if not math.isfinite(value) or not float(value).is_integer() or not low <= value <= high:
                raise ValueError(Message("choose a whole number from %(low)s to %(high)s", low=low, high=high))
            value = float(value)
        return CleanAnswer(value, None, None, reason, False)
    if item.kind == "open":
        return CleanAnswer(None, None, _text(data.text, TEXT_LIMIT), reason, False)
    if item.kind == "choice":
        chosen = [str(v) for v in (data.values or [])]
        unknown = [c for c in chosen if c not in item.options]
        if unknown:
            raise ValueError(Message("%(unknown)s is not one of the options", unknown=unknown[0]))
        if len(set(chosen)) != len(chosen):
            raise ValueError(Message("an option is chosen twice"))
        if not item.multiple and len(chosen) > 1:
            raise ValueError(Message("choose one option"))
        return CleanAnswer(None, sorted(chosen, key=item.options.index) or None, None, reason, data.unable)
    if item.kind == "ranking":
        ranked = [str(v) for v in (data.values or [])]
        unknown = [r for r in ranked if r not in item.options]
        if unknown:
            raise ValueError(Message("%(unknown)s is not one of the options", unknown=unknown[0]))
        if len(set(ranked)) != len(ranked):
            raise ValueError(Message("each option can have only one rank"))
        return CleanAnswer(None, ranked or None, None, reason, data.unable)
    if item.kind == "estimate":
        raw = data.values or []
        if all(v in (None, "") for v in raw):
            return CleanAnswer(None, None, None, reason, data.unable)
        if len(raw) != len(item.quantiles):
            raise ValueError(Message("give all %(count)s values", count=len(item.quantiles)))
        try:
            numbers = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise ValueError(Message("the estimates must be numbers")) from None
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError(Message("the estimates must be numbers"))
        if any(b < a for a, b in zip(numbers, numbers[1:], strict=False)):
            raise ValueError(Message("the low, middle and high estimates must go up"))
        return CleanAnswer(None, numbers, None, reason, data.unable)
    raise ValueError(Message("unknown item kind %(kind)s", kind=item.kind))


def invitation_for(session: Session, round_: Round, expert: Expert) -> Invitation:
    invitation = session.exec(
        select(Invitation).where(Invitation.round_id == round_.id, Invitation.expert_id == expert.id)
    ).first()
    if invitation is None:
        raise Gone(Message("You are not on the panel of this round."))
    return invitation


# Statements every save runs, built once: building a SQLAlchemy expression costs more than
# running it (a statement object also keeps the key under which its compiled form is cached).
_ROUND_ITEMS = (
    select(Item)
    .join(RoundItem, col(RoundItem.item_id) == col(Item.id))
    .where(col(RoundItem.round_id) == bindparam("round_id"))
    .order_by(col(RoundItem.position), col(Item.id))
)
_SOME_ROUND_ITEMS = _ROUND_ITEMS.where(col(Item.id).in_(bindparam("item_ids", expanding=True)))


def round_items(session: Session, round_id: int, only: Collection[int] | None = None) -> list[Item]:
    """The round's items in order; ``only`` these ids when given (an autosave names a few)."""
    if only is None:
        return list(session.exec(_ROUND_ITEMS, params={"round_id": round_id}).all())
    return list(session.exec(_SOME_ROUND_ITEMS, params={"round_id": round_id, "item_ids": list(only)}).all())


def answers_of(session: Session, round_id: int, expert_id: int) -> dict[int, Answer]:
    """The expert's answers in the round, as stored now: saves write in plain SQL, so answers this
    session loaded before a save are refreshed, not returned as they were."""
    query = (
        select(Answer)
        .where(Answer.round_id == round_id, Answer.expert_id == expert_id)
        .execution_options(populate_existing=True)
    )
    return {a.item_id: a for a in session.exec(query).all()}


# Built once: every autosave asks it, and a prepared statement skips SQLAlchemy's rebuilding.
# "Answered" is ``Answer.is_given`` in SQL.
_PROGRESS = select(
    select(func.count())
    .select_from(Answer)
    .where(
        col(Answer.round_id) == bindparam("round_id"),
        col(Answer.expert_id) == bindparam("expert_id"),
        col(Answer.value).is_not(None)
        | col(Answer.values).is_not(None)
        | col(Answer.text).is_not(None)
        | col(Answer.unable).is_(True),
    )
    .scalar_subquery(),
    select(func.count())
    .select_from(RoundItem)
    .where(col(RoundItem.round_id) == bindparam("round_id"))
    .scalar_subquery(),
)


def progress(session: Session, round_id: int, expert_id: int) -> tuple[int, int]:
    """(items answered by the expert, items in the round), counted by the database in one query."""
    answered, total = session.execute(_PROGRESS, {"round_id": round_id, "expert_id": expert_id}).one()
    return int(answered), int(total)


@dataclass(frozen=True)
class SaveResult:
    saved_at: datetime
    changed: int
    answered: int
    total: int


def require_open(round_: Round, expert: Expert) -> None:
    if expert.status == "withdrawn":
        raise Gone(Message("You have withdrawn from this study; your earlier answers are kept."))
    if not round_.accepts_answers:
        raise Conflict(
            Message(
                "Round %(number)s is closed, so this change was not saved. "
                "The answers you saved before the round closed are kept.",
                number=round_.number,
            )
        )


def save_answers(
    session: Session,
    study: Study,
    round_: Round,
    expert: Expert,
    answers: dict[int, AnswerIn],
    *,
    source: str = "save",
    items: list[Item] | None = None,
    invitation: Invitation | None = None,
) -> SaveResult:
    """Validate every answer first; save all or none; upsert and record the history of changes."""
    require_open(round_, expert)
    if invitation is None or invitation.round_id != round_.id or invitation.expert_id != expert.id:
        invitation = invitation_for(session, round_, expert)
    items = items if items is not None else round_items(session, round_.id, only=list(answers))
    by_id = {item.id: item for item in items}
    errors: dict[str, str] = {}
    cleaned: dict[int, CleanAnswer] = {}
    for item_id, data in answers.items():
        item = by_id.get(item_id)
        if item is None:
            errors[f"item_{item_id}"] = "this question is not part of the round"
            continue
        try:
            cleaned[item_id] = clean_answer(item, study, data)
        except ValueError as exc:
            errors[f"item_{item_id}"] = exc.args[0]
    if errors:
        raise InvalidInput(
            Message("%(count)s answer(s) need a correction; nothing was saved.", count=len(errors)), fields=errors
        )
    changed = _upsert(session, round_.id, expert.id, cleaned, source)
    now = utcnow()
    if invitation.started_at is None and changed:
        invitation.started_at = now
    if invitation.opened_at is None:
        invitation.opened_at = now
    session.add(invitation)
    session.flush()
    answered, total = progress(session, round_.id, expert.id)
    return SaveResult(saved_at=now, changed=changed, answered=answered, total=total)


_ANSWERS = Answer.__table__  # type: ignore[attr-defined]
_HISTORY = AnswerHistory.__table__  # type: ignore[attr-defined]
_STORED_ANSWERS = select(_ANSWERS.c.item_id, *(_ANSWERS.c[name] for name in _ANSWER_FIELDS)).where(
    _ANSWERS.c.round_id == bindparam("round_id"),
    _ANSWERS.c.expert_id == bindparam("expert_id"),
    _ANSWERS.c.item_id.in_(bindparam("item_ids", expanding=True)),
)
# On PostgreSQL the stored answers are locked while they are compared.
_STORED_ANSWERS_LOCKED = _STORED_ANSWERS.with_for_update()
_RECORD_HISTORY = insert(_HISTORY)


def _upsert_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (round, expert, item) DO UPDATE``, returning each row's id and version:
    a second tab inserting the same answer at the same moment updates it instead of failing."""
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = dialect_insert(_ANSWERS)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["round_id", "expert_id", "item_id"],
        set_={
            **{name: new[name] for name in _ANSWER_FIELDS},
            "version": _ANSWERS.c.version + 1,
            "updated_at": new.updated_at,
        },
    ).returning(_ANSWERS.c.id, _ANSWERS.c.item_id, _ANSWERS.c.version)


_UPSERT = {dialect: _upsert_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _upsert(session: Session, round_id: int, expert_id: int, cleaned: dict[int, CleanAnswer], source: str) -> int:
    """Write the answers that changed, each with its history row; returns how many changed.

    Plain SQL rather than the ORM's unit of work: every autosave of every expert comes through here.
    On PostgreSQL the stored answers are locked while they are compared, so two tabs saving the same
    answer take turns (SQLite writers take turns anyway)."""
    dialect = session.get_bind().dialect.name
    stored_query = _STORED_ANSWERS_LOCKED if dialect == "postgresql" else _STORED_ANSWERS
    stored = {
        row.item_id: row
        for row in session.execute(
            stored_query, {"round_id": round_id, "expert_id": expert_id, "item_ids": list(cleaned)}
        )
    }
    now = utcnow()
    rows = []
    # In the order of the items: two tabs writing the same new answers lock them in the same order.
    for item_id, clean in sorted(cleaned.items()):
        before = stored.get(item_id)
        if before is None and clean.is_empty:
            continue
        if before is not None and clean.same_as(before):
            continue
        rows.append(
            {
                "round_id": round_id,
                "expert_id": expert_id,
                "item_id": item_id,
                "value": clean.value,
                "values": clean.values,
                "text": clean.text,
                "reason": clean.reason,
                "unable": clean.unable,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return 0
    written = {row.item_id: row for row in session.execute(_UPSERT[dialect], rows)}
    session.execute(
        _RECORD_HISTORY,
        [
            {
                "answer_id": written[row["item_id"]].id,
                "version": written[row["item_id"]].version,
                **{key: row[key] for key in ("round_id", "expert_id", "item_id", *_ANSWER_FIELDS)},
                "source": source,
                "recorded_at": now,
            }
            for row in rows
        ],
    )
    return len(rows)


def submit(session: Session, round_: Round, expert: Expert) -> tuple[bool, datetime]:
    """Final submit as a conditional update: doing it twice gives the same result."""
    require_open(round_, expert)
    invitation = invitation_for(session, round_, expert)
    now = utcnow()
    result = session.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.submitted_at).is_(None),
        )
        .values(submitted_at=now)
    )
    session.flush()
    session.refresh(invitation)
    return result.rowcount == 1, invitation.submitted_at or now


def unanswered(session: Session, round_: Round, expert: Expert, items: list[Item]) -> int:
    """How many of the round's ``items`` the expert has not answered (open questions are optional)."""
    given = answers_of(session, round_.id, expert.id)
    return sum(1 for i in items if i.kind != "open" and not ((a := given.get(i.id)) and a.is_given))
