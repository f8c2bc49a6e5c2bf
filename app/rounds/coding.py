"""Qualitative rounds: researchers code open answers into candidate statements (tag, merge, link
to their source answers); a statement becomes an item of the next round."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, func, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.errors import Conflict, InvalidInput, Message, NotFound
from app.panel.models import Expert
from app.rounds.models import Answer, Round, Statement, StatementSource, StatementStatus
from app.scoring import text_groups
from app.studies import design
from app.studies.models import Item, Study
from app.studies.schemas import ItemCreate


def open_answers(session: Session, round_: Round) -> list[tuple[Item, list[tuple[Answer, Expert]]]]:
    """The open answers of a round, per open item (researchers see pseudonyms)."""
    rows = session.exec(
        select(Answer, Expert, Item)
        .join(Expert, col(Expert.id) == col(Answer.expert_id))
        .join(Item, col(Item.id) == col(Answer.item_id))
        .where(Answer.round_id == round_.id, col(Answer.text).is_not(None), Item.kind == "open")
        .order_by(col(Item.position), col(Item.id), col(Expert.pseudonym))
    ).all()
    grouped: dict[int, tuple[Item, list[tuple[Answer, Expert]]]] = {}
    for answer, expert, item in rows:
        grouped.setdefault(item.id, (item, []))[1].append((answer, expert))
    return list(grouped.values())


@dataclass(frozen=True)
class Suggestion:
    """Open answers to one question that look alike (``text_groups``), not yet coded: a statement
    the researcher may write from them. Nothing is coded until she does."""

    item: Item
    answers: list[tuple[Answer, Expert]]  # the most typical first
    terms: list[str]


Embedder = Callable[[Sequence[str]], NDArray[np.float64] | None]


def suggestions(
    groups: list[tuple[Item, list[tuple[Answer, Expert]]]],
    coded_answer_ids: set[int],
    embed: Embedder | None = None,
    embedded_languages: frozenset[str] = frozenset(),
) -> list[Suggestion]:
    """Suggested groups among each question's answers that no statement draws on yet. With an
    ``embed`` function, the answers given in ``embedded_languages`` are grouped apart, their
    embeddings mixed into the similarity; the others by TF-IDF alone (which never groups answers in
    two languages together anyway)."""
    found = []
    for item, answers in groups:
        rest = [(answer, expert) for answer, expert in answers if answer.id not in coded_answer_ids and answer.text]
        embedded = [k for k, (answer, _) in enumerate(rest) if embed and answer.language in embedded_languages]
        vectors = embed([rest[k][0].text or "" for k in embedded]) if embed and len(embedded) >= 2 else None
        taken = set(embedded) if vectors is not None else set()
        others = [k for k in range(len(rest)) if k not in taken]
        parts: list[tuple[list[int], NDArray[np.float64] | None]] = [(others, None)]
        if vectors is not None:
            parts.insert(0, (embedded, vectors))
        item_found = []
        for indices, part_vectors in parts:
            texts = [rest[k][0].text or "" for k in indices]
            for group in text_groups.suggest_groups(texts, embeddings=part_vectors):
                item_found.append(Suggestion(item, [rest[indices[i]] for i in group.members], group.terms))
        item_found.sort(key=lambda s: -len(s.answers))  # stable: each part's order among equals
        found.extend(item_found)
    return found


def alike_statements(statements: list[Statement]) -> dict[int, list[int]]:
    """For each candidate statement, the other candidates that may say the same thing (to merge)."""
    candidates = [s for s in statements if s.status == StatementStatus.CANDIDATE]
    alike: dict[int, list[int]] = {}
    for i, j, _ in text_groups.similar_pairs([s.text for s in candidates]):
        alike.setdefault(candidates[i].id, []).append(candidates[j].id)
        alike.setdefault(candidates[j].id, []).append(candidates[i].id)
    return alike


def statements_of(session: Session, study: Study) -> list[Statement]:
    return list(session.exec(select(Statement).where(Statement.study_id == study.id).order_by(col(Statement.id))).all())


def sources_of(session: Session, statement_ids: list[int]) -> dict[int, list[int]]:
    links = session.exec(select(StatementSource).where(col(StatementSource.statement_id).in_(statement_ids))).all()
    result: dict[int, list[int]] = {}
    for link in links:
        result.setdefault(link.statement_id, []).append(link.answer_id)
    return result


def statements_by_item(session: Session, round_: Round) -> dict[int, list[tuple[Statement, int]]]:
    """The statements coded from a round's open answers, by the open item they came from, each with
    how many of that item's answers it draws on (a merged statement shows under the one it joined)."""
    rows = session.exec(
        select(Statement, Answer.item_id, func.count())
        .join(StatementSource, col(StatementSource.statement_id) == col(Statement.id))
        .join(Answer, col(Answer.id) == col(StatementSource.answer_id))
        .where(Statement.round_id == round_.id, Statement.status != StatementStatus.MERGED)
        .group_by(col(Statement.id), col(Answer.item_id))
        .order_by(col(Statement.id))
    ).all()
    found: dict[int, list[tuple[Statement, int]]] = {}
    for statement, item_id, count in rows:
        found.setdefault(item_id, []).append((statement, count))
    return found


def get_statement(session: Session, study: Study, statement_id: int) -> Statement:
    statement = session.get(Statement, statement_id)
    if statement is None or statement.study_id != study.id:
        raise NotFound(Message("No such statement in this study."))
    return statement


def create_statement(
    session: Session,
    study: Study,
    round_: Round,
    text: str,
    answer_ids: list[int],
    theme_id: int | None,
    tags: list[str],
    researcher: Researcher | None,
) -> Statement:
    text = text.strip()
    if len(text) < 3:
        raise InvalidInput(Message("Write the statement (at least 3 characters)."), fields=("text",))
    if theme_id is not None:
        design.get_theme(session, study, theme_id)
    answers = session.exec(select(Answer).where(col(Answer.id).in_(answer_ids))).all() if answer_ids else []
    if len(answers) != len(set(answer_ids)) or any(a.round_id != round_.id for a in answers):
        raise InvalidInput(Message("Some source answers are not answers of this round."), fields=("answer_ids",))
    statement = Statement(
        study_id=study.id,
        round_id=round_.id,
        text=text,
        theme_id=theme_id,
        tags=sorted({t.strip().lower() for t in tags if t.strip()}),
    )
    session.add(statement)
    session.flush()
    for answer in answers:
        session.add(StatementSource(statement_id=statement.id, answer_id=answer.id))
    audit.record(session, study.id, researcher, "statement.created", f"statement:{statement.id}", sources=len(answers))
    session.flush()
    return statement


def merge_statements(
    session: Session, study: Study, into: Statement, others: list[Statement], researcher: Researcher | None
) -> Statement:
    """Fold statements into one: their sources and tags join it; they are kept as ``merged``."""
    if into.status != StatementStatus.CANDIDATE or any(o.status != StatementStatus.CANDIDATE for o in others):
        raise Conflict(Message("Only candidate statements can be merged."))
    links = sources_of(session, [into.id] + [o.id for o in others])
    present = set(links.get(into.id, []))
    for other in others:
        for answer_id in links.get(other.id, []):
            if answer_id not in present:
                session.add(StatementSource(statement_id=into.id, answer_id=answer_id))
                present.add(answer_id)
        into.tags = sorted(set(into.tags) | set(other.tags))
        other.status, other.merged_into_id = StatementStatus.MERGED, into.id
        session.add(other)
    session.add(into)
    audit.record(
        session, study.id, researcher, "statement.merged", f"statement:{into.id}", merged=[o.id for o in others]
    )
    session.flush()
    return into


def promote(session: Session, study: Study, statement: Statement, researcher: Researcher | None) -> Item:
    """The statement becomes a rating item of the next round (origin: coding)."""
    if statement.status != StatementStatus.CANDIDATE:
        raise Conflict(Message("This statement is %(status)s.", status=Message(statement.status)))
    round_ = session.get(Round, statement.round_id)
    item = design.add_item(
        session,
        study,
        ItemCreate(text=statement.text, kind="rating", theme_id=statement.theme_id),
        researcher,
        origin="coding",
        round_number=(round_.number + 1) if round_ else None,
    )
    statement.status, statement.item_id = StatementStatus.PROMOTED, item.id
    session.add(statement)
    session.flush()
    return item


def discard(session: Session, study: Study, statement: Statement, researcher: Researcher | None) -> None:
    if statement.status != StatementStatus.CANDIDATE:
        raise Conflict(Message("This statement is %(status)s.", status=Message(statement.status)))
    statement.status = StatementStatus.DISCARDED
    session.add(statement)
    audit.record(session, study.id, researcher, "statement.discarded", f"statement:{statement.id}")
    session.flush()
