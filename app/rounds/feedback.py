"""What an expert sees of the group, per item and whatever its kind: from the previous round's
snapshot (round 2 on), or live from the current round in real-time mode. Anonymous: aggregates and
unattributed reasons, and no split shown for a group too small to hide a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app import scoring
from app.panel.models import Expert
from app.rounds.analysis import rating_matrix
from app.rounds.charts import distribution_svg
from app.rounds.kinds import MIN_GROUP_SIZE, FeedbackContext, kind_of
from app.rounds.kinds.rating import RatingFeedback
from app.rounds.models import Answer, Invitation, Round, RoundResult, Statement, StatementSource, StatementStatus
from app.rounds.snapshot import RoundSnapshot
from app.studies import service as studies
from app.studies.models import Item, Study

ItemFeedback = RatingFeedback  # the rating kind's feedback (also what real-time mode shows)


def _points(study: Study) -> list[int]:
    return list(range(study.scale_min, study.scale_max + 1))


@dataclass
class RoundBefore:
    """What an expert's page needs of the round before, read once per page: the round, the expert's
    answers in it, its snapshot, and the context the kinds' feedback reads."""

    round: Round | None = None
    own: dict[int, Answer] = field(default_factory=dict)
    snapshot: RoundSnapshot | None = None
    context: FeedbackContext | None = None


def round_before(session: Session, study: Study, round_: Round, expert: Expert) -> RoundBefore:
    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    if previous is None:
        return RoundBefore()
    own = session.exec(select(Answer).where(Answer.round_id == previous.id, Answer.expert_id == expert.id)).all()
    result = session.exec(select(RoundResult).where(RoundResult.round_id == previous.id)).first()
    snapshot = RoundSnapshot.load(result.data) if result is not None else None
    context = None
    if snapshot is not None:
        context = FeedbackContext(
            study=study,
            settings=study.feedback,
            group_label=lambda key: studies.group_label(study, key),
            ranked_items=sum(1 for e in snapshot.of_kind("rating") if e.rank),
            statements=_statements_by_item(session, previous.id) if snapshot.of_kind("open") else {},
        )
    return RoundBefore(previous, {a.item_id: a for a in own}, snapshot, context)


def _statements_by_item(session: Session, round_id: int) -> dict[int, list[str]]:
    """Coded statements of a round, per open item whose answers they came from."""
    rows = session.exec(
        select(Answer.item_id, Statement.text)
        .join(StatementSource, col(StatementSource.answer_id) == col(Answer.id))
        .join(Statement, col(Statement.id) == col(StatementSource.statement_id))
        .where(
            Answer.round_id == round_id,
            col(Statement.status).not_in((StatementStatus.DISCARDED, StatementStatus.MERGED)),
        )
        .order_by(col(Statement.id))
    ).all()
    found: dict[int, list[str]] = {}
    for item_id, text in rows:
        if text not in found.setdefault(item_id, []):
            found[item_id].append(text)
    return found


def open_questions_before(round_: Round, items: list[Item], before: RoundBefore) -> list[tuple[str, Any]]:
    """The open questions of the round before that this round does not ask again (they were coded
    into statements): each question's text with its feedback (the statements drawn from the panel's
    answers, the expert's own answer, others' answers where the protocol shows them)."""
    if before.snapshot is None or before.context is None or round_.realtime:
        return []
    asked = {i.id for i in items}
    kind = kind_of("open")
    return [
        (e.text, kind.feedback(e, before.own.get(e.item_id), before.context))
        for e in before.snapshot.of_kind("open")
        if e.item_id not in asked
    ]


def from_snapshot(items: list[Item], before: RoundBefore) -> dict[int, Any]:
    """Feedback for a round from the round before it, per item, whatever its kind."""
    if before.snapshot is None or before.context is None:
        return {}
    entries = {e.item_id: e for e in before.snapshot.items}
    feedback: dict[int, Any] = {}
    for item in items:
        entry = entries.get(item.id)
        if entry is None or entry.kind != item.kind:
            continue
        shown = kind_of(item).feedback(entry, before.own.get(item.id), before.context)
        if shown is not None:
            feedback[item.id] = shown
    return feedback


def live(session: Session, study: Study, round_: Round, expert: Expert, items: list[Item]) -> dict[int, ItemFeedback]:
    """Real-time mode: the group's current answers in this round (shown from three answers on)."""
    rating = sorted((i for i in items if i.kind == "rating"), key=lambda i: i.id)
    if not rating:
        return {}
    # the experts who have taken part so far (answers carried from the round before are not given yet)
    invited = session.exec(
        select(Invitation.expert_id).where(
            Invitation.round_id == round_.id,
            col(Invitation.started_at).is_not(None) | col(Invitation.submitted_at).is_not(None),
        )
    ).all()
    expert_ids = np.array(sorted(invited), dtype=np.float64)
    item_ids = np.array([i.id for i in rating], dtype=np.float64)
    matrix = rating_matrix(session, round_.id, expert_ids, item_ids)
    summary = scoring.summarize(
        matrix,
        scale=(study.scale_min, study.scale_max),
        agree=(study.agree_low, study.agree_high),
        quantile_method=study.quantile_method,
    )
    mine = np.searchsorted(expert_ids, float(expert.id))
    points = _points(study)
    feedback = {}
    for j, item in enumerate(rating):
        if summary.n[j] < MIN_GROUP_SIZE:
            continue
        counts = [float(c) for c in summary.counts[j]]
        own = matrix[mine, j] if mine < len(expert_ids) and expert_ids[mine] == expert.id else np.nan
        fb = ItemFeedback(
            n=int(summary.n[j]),
            median=float(summary.median[j]),
            q1=float(summary.q1[j]),
            q3=float(summary.q3[j]),
            agreement=float(summary.agreement[j]),
            points=points,
            counts=counts,
            own_previous=None if own != own else float(own),
            live=True,
        )
        fb.chart = distribution_svg(points, counts, own=fb.own_previous, median=fb.median)
        feedback[item.id] = fb
    return feedback


def for_expert(
    session: Session,
    study: Study,
    round_: Round,
    expert: Expert,
    items: list[Item],
    before: RoundBefore | None = None,
) -> dict[int, Any]:
    if round_.realtime:
        return live(session, study, round_, expert, items)
    return from_snapshot(items, before if before is not None else round_before(session, study, round_, expert))
