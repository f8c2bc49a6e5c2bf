"""Experts' answers: validated per item kind, upserted (one row per round, expert and item) with an
append-only history, and submitted with a conditional update, so nothing is ever lost or doubled."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Conflict, Gone, InvalidInput, Message
from app.panel.models import Expert, ExpertStatus
from app.rounds.kinds import ANSWER_FIELDS, AnswerIn, CleanAnswer, kind_of

__all__ = ["AnswerIn", "CleanAnswer", "clean_answer", "save_answers", "submit"]
from app.rounds.models import Answer, AnswerHistory, Invitation, Round, RoundAssignment, RoundItem
from app.studies.models import Item, ItemRevision, Study


def clean_answer(item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
    """Check an answer against its item (by its kind); ValueError with a message for the expert."""
    try:
        kind = kind_of(item)
    except ValueError:
        raise ValueError(Message("unknown item kind %(kind)s", kind=item.kind)) from None
    return kind.clean(item, study, data)


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


_DRAWN = (col(RoundAssignment.round_id) == col(RoundItem.round_id)) & (
    col(RoundAssignment.item_id) == col(RoundItem.item_id)
)
_EXPERT_ITEMS = _ROUND_ITEMS.join(RoundAssignment, _DRAWN).where(
    col(RoundAssignment.expert_id) == bindparam("expert_id")
)
_SOME_EXPERT_ITEMS = _EXPERT_ITEMS.where(col(Item.id).in_(bindparam("item_ids", expanding=True)))


def round_items(session: Session, round_id: int, only: Collection[int] | None = None) -> list[Item]:
    """The round's items in order; ``only`` these ids when given (an autosave names a few)."""
    if only is None:
        return list(session.exec(_ROUND_ITEMS, params={"round_id": round_id}).all())
    return list(session.exec(_SOME_ROUND_ITEMS, params={"round_id": round_id, "item_ids": list(only)}).all())


def expert_items(session: Session, round_: Round, expert_id: int, only: Collection[int] | None = None) -> list[Item]:
    """The items the expert answers in the round: all of them, or those drawn for the expert when
    the round gives each expert a random subset."""
    if round_.items_per_expert is None:
        return round_items(session, round_.id, only)
    params: dict[str, Any] = {"round_id": round_.id, "expert_id": expert_id}
    if only is None:
        return list(session.exec(_EXPERT_ITEMS, params=params).all())
    return list(session.exec(_SOME_EXPERT_ITEMS, params={**params, "item_ids": list(only)}).all())


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
_ANSWERED = (
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
    .scalar_subquery()
)
_PROGRESS = select(
    _ANSWERED,
    select(func.count())
    .select_from(RoundItem)
    .where(col(RoundItem.round_id) == bindparam("round_id"))
    .scalar_subquery(),
)
_SUBSET_PROGRESS = select(
    _ANSWERED,
    select(func.count())
    .select_from(RoundAssignment)
    .where(
        col(RoundAssignment.round_id) == bindparam("round_id"),
        col(RoundAssignment.expert_id) == bindparam("expert_id"),
    )
    .scalar_subquery(),
)


def progress(session: Session, round_: Round, expert_id: int) -> tuple[int, int]:
    """(items answered by the expert, items the expert answers in the round), counted by the
    database in one query."""
    query = _PROGRESS if round_.items_per_expert is None else _SUBSET_PROGRESS
    answered, total = session.execute(query, {"round_id": round_.id, "expert_id": expert_id}).one()
    return int(answered), int(total)


@dataclass(frozen=True)
class SaveResult:
    saved_at: datetime
    changed: int
    answered: int
    total: int
    versions: dict[int, int] = field(default_factory=dict)  # item -> its answer's version now, if it changed


def require_open(round_: Round, expert: Expert, study: Study | None = None) -> None:
    if study is not None and study.archived_at is not None:
        raise Conflict(Message("This study is archived: answers can no longer be changed. Your answers are kept."))
    if expert.status == ExpertStatus.WITHDRAWN:
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
    language: str | None = None,
) -> SaveResult:
    """Validate every answer first; save all or none; upsert and record the history of changes.
    ``language`` is the one the expert's page was in (kept with each answer changed)."""
    require_open(round_, expert, study)
    if invitation is None or invitation.round_id != round_.id or invitation.expert_id != expert.id:
        invitation = invitation_for(session, round_, expert)
    items = items if items is not None else expert_items(session, round_, expert.id, only=list(answers))
    by_id = {item.id: item for item in items}
    errors: dict[str, str] = {}
    cleaned: dict[int, CleanAnswer] = {}
    for item_id, data in answers.items():
        item = by_id.get(item_id)
        if item is None:
            errors[f"item_{item_id}"] = (
                Message("This question is not part of the round.")
                if round_.items_per_expert is None
                else Message("This question is not among the ones drawn for you in this round.")
            )
            continue
        try:
            cleaned[item_id] = clean_answer(item, study, data)
        except ValueError as exc:
            errors[f"item_{item_id}"] = exc.args[0]
    if errors:
        raise InvalidInput(
            Message("%(count)s answer(s) need a correction; nothing was saved.", count=len(errors)), fields=errors
        )
    versions = _upsert(session, round_.id, expert.id, cleaned, source, language)
    changed = len(versions)
    now = utcnow()
    if invitation.started_at is None and changed:
        invitation.started_at = now
    if invitation.opened_at is None:
        invitation.opened_at = now
    session.add(invitation)
    session.flush()
    answered, total = progress(session, round_, expert.id)
    return SaveResult(saved_at=now, changed=changed, answered=answered, total=total, versions=versions)


_ANSWERS = Answer.__table__  # type: ignore[attr-defined]
_HISTORY = AnswerHistory.__table__  # type: ignore[attr-defined]
_STORED_ANSWERS = select(_ANSWERS.c.item_id, *(_ANSWERS.c[name] for name in ANSWER_FIELDS)).where(
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
            **{name: new[name] for name in ANSWER_FIELDS},
            "language": new.language,
            "version": _ANSWERS.c.version + 1,
            "updated_at": new.updated_at,
        },
    ).returning(_ANSWERS.c.id, _ANSWERS.c.item_id, _ANSWERS.c.version)


_UPSERT = {dialect: _upsert_statement(dialect) for dialect in ("postgresql", "sqlite")}


def _upsert(
    session: Session,
    round_id: int,
    expert_id: int,
    cleaned: dict[int, CleanAnswer],
    source: str,
    language: str | None = None,
) -> dict[int, int]:
    """Write the answers that changed, each with its history row; returns the new version of each.

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
                "language": language,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return {}
    written = {row.item_id: row for row in session.execute(_UPSERT[dialect], rows)}
    session.execute(
        _RECORD_HISTORY,
        [
            {
                "answer_id": written[row["item_id"]].id,
                "version": written[row["item_id"]].version,
                **{key: row[key] for key in ("round_id", "expert_id", "item_id", *ANSWER_FIELDS)},
                "source": source,
                "recorded_at": now,
            }
            for row in rows
        ],
    )
    return {item_id: row.version for item_id, row in written.items()}


def submit(session: Session, round_: Round, expert: Expert, study: Study | None = None) -> tuple[bool, datetime]:
    """Final submit as a conditional update: doing it twice gives the same result."""
    require_open(round_, expert, study)
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


def unanswered(session: Session, round_: Round, expert: Expert, items: list[Item]) -> list[Item]:
    """The round's ``items`` the expert has not answered, in order (open questions are optional)."""
    given = answers_of(session, round_.id, expert.id)
    return [i for i in items if kind_of(i).required and not ((a := given.get(i.id)) and a.is_given)]


def carry_forward(session: Session, previous: Round, round_: Round) -> int:
    """Copy each invited expert's answers of ``previous`` into ``round_`` as the round opens: they are
    filled in and count as answered, and the expert revises only what they want. Reasons are not
    copied (a reason answers the feedback of its own round); items reworded since ``previous`` closed
    start empty. The history records each copy (source ``carried``); ``previous`` is not touched.

    The analysis counts carried answers only for experts who took part in ``round_`` (saved a change
    or submitted): the others are non-respondents. Returns how many answers were carried."""
    answer, history = _ANSWERS, _HISTORY
    revisions = ItemRevision.__table__  # type: ignore[attr-defined]
    round_items_table = RoundItem.__table__  # type: ignore[attr-defined]
    invitations = Invitation.__table__  # type: ignore[attr-defined]
    now = utcnow()
    changed_since = previous.closed_at or now
    source = (
        sa_select(
            literal(round_.id),
            answer.c.expert_id,
            answer.c.item_id,
            answer.c.value,
            answer.c["values"],
            answer.c.text,
            answer.c.unable,
            answer.c.language,
            literal(1),
            literal(now, type_=answer.c.created_at.type),
            literal(now, type_=answer.c.updated_at.type),
        )
        .select_from(
            answer.join(
                round_items_table,
                (round_items_table.c.item_id == answer.c.item_id) & (round_items_table.c.round_id == round_.id),
            ).join(
                invitations,
                (invitations.c.expert_id == answer.c.expert_id) & (invitations.c.round_id == round_.id),
            )
        )
        .where(
            answer.c.round_id == previous.id,
            ~sa_select(revisions.c.id)
            .where(
                revisions.c.item_id == answer.c.item_id,
                revisions.c.action == "reworded",
                revisions.c.created_at > changed_since,
            )
            .exists(),
            answer.c.value.is_not(None)
            | answer.c["values"].is_not(None)
            | answer.c.text.is_not(None)
            | answer.c.unable.is_(True),
        )
    )
    if round_.items_per_expert is not None:  # only into the items drawn for each expert
        drawn = RoundAssignment.__table__  # type: ignore[attr-defined]
        source = source.where(
            sa_select(drawn.c.id)
            .where(
                drawn.c.round_id == round_.id,
                drawn.c.expert_id == answer.c.expert_id,
                drawn.c.item_id == answer.c.item_id,
            )
            .exists()
        )
    columns = [
        "round_id",
        "expert_id",
        "item_id",
        "value",
        "values",
        "text",
        "unable",
        "language",
        "version",
        "created_at",
    ]
    written = session.execute(insert(answer).from_select([*columns, "updated_at"], source))
    carried = int(getattr(written, "rowcount", 0) or 0)
    if carried:
        fields = ("round_id", "expert_id", "item_id", "value", "values", "text", "reason", "unable")
        session.execute(
            insert(history).from_select(
                ["answer_id", "version", *fields, "source", "recorded_at"],
                sa_select(
                    answer.c.id,
                    answer.c.version,
                    *(answer.c[f] for f in fields),
                    literal("carried"),
                    literal(now, type_=history.c.recorded_at.type),
                ).where(answer.c.round_id == round_.id),
            )
        )
    return carried
