"""Analyse a closed round in three steps: gather its answers (the ratings in one query straight into
numpy, the other kinds' answers and the reasons in a second, the round before's ratings from the
matrix kept with its analysis), compute the snapshot (``compute``: pure, testable without a
database), store it with what follows from it (items' fates, the stopping rule, the log, the
ratings it was computed on).

Feedback pages, results, exports and reports read the stored snapshot (``RoundSnapshot``);
nothing recomputes later.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import Transactions, utcnow
from app.errors import Conflict, Message
from app.panel.models import Expert, ExpertStatus
from app.rounds import service, subsets
from app.rounds.answers import round_items
from app.rounds.compute import Panelist, Protocol, RoundAnswers, compute
from app.rounds.kinds import GivenAnswer
from app.rounds.models import Invitation, Round, RoundRatings, RoundResult, RoundStatus
from app.rounds.snapshot import RatingResult, RoundSnapshot
from app.serialization import json_safe
from app.studies import design
from app.studies import service as studies
from app.studies.models import Item, ItemStatus, Study, StudyStatus

NO_VALUE = -1e300  # stands for "no value" in the one-query fetch (scales are never negative)

__all__ = ["Panelist", "Protocol", "RoundAnswers", "analyse_apart", "analyse_round", "compute", "gather", "store"]


# In a round that draws a subset of its items for each expert, an answer counts only where its item
# was drawn for its expert (nothing else can be saved; this keeps the statistics to the design).
_DRAWN_ONLY = (
    " AND EXISTS (SELECT 1 FROM round_assignment AS drawn WHERE drawn.round_id = answer.round_id"
    " AND drawn.expert_id = answer.expert_id AND drawn.item_id = answer.item_id)"
)


def rating_matrix(
    session: Session, round_id: int, expert_ids: np.ndarray, item_ids: np.ndarray, drawn_only: bool = False
) -> np.ndarray:
    return round_matrix(session, round_id, expert_ids, item_ids, drawn_only)[0]


def round_matrix(
    session: Session, round_id: int, expert_ids: np.ndarray, item_ids: np.ndarray, drawn_only: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """experts x items of the round's numeric answers (NaN = none), fetched in one query; with
    ``drawn_only``, only the answers to items drawn for their expert.

    ``expert_ids`` and ``item_ids`` must be sorted; rows and columns follow them. The rows come from
    the driver's own cursor, inside the session's transaction: plain tuples go into numpy in one
    step, without an ORM or Row object per answer.
    """
    matrix = np.full((len(expert_ids), len(item_ids)), np.nan)
    connection = session.connection()
    placeholder = "%s" if connection.dialect.name == "postgresql" else "?"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(  # "unable to rate" has no value: it comes back as the sentinel, then NaN
            f"SELECT expert_id, item_id, COALESCE(value, {NO_VALUE}) FROM answer "
            f"WHERE round_id = {placeholder} AND (value IS NOT NULL OR unable)" + (_DRAWN_ONLY if drawn_only else ""),
            (round_id,),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    answered = np.zeros(len(expert_ids), dtype=np.int64)
    if not rows:
        return matrix, answered
    data = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=3 * len(rows)).reshape(-1, 3)
    data[data[:, 2] == NO_VALUE, 2] = np.nan
    e = np.searchsorted(expert_ids, data[:, 0])
    i = np.searchsorted(item_ids, data[:, 1])
    known = e < len(expert_ids)
    known[known] &= expert_ids[e[known]] == data[known, 0]
    inside = known & (i < len(item_ids))
    inside[inside] &= item_ids[i[inside]] == data[inside, 1]
    answered = np.bincount(e[inside], minlength=len(expert_ids)).astype(np.int64)
    matrix[e[inside], i[inside]] = data[inside, 2]
    return matrix, answered


# --- gather ----------------------------------------------------------------------------------------


def _panelists(session: Session, round_id: int) -> list[Panelist]:
    return [
        Panelist(*row)
        for row in session.execute(
            sa_select(
                col(Expert.id),
                col(Expert.pseudonym),
                col(Expert.stakeholder_group),
                col(Expert.weight),
                col(Expert.status),
                col(Invitation.opened_at),
                col(Invitation.started_at),
                col(Invitation.submitted_at),
            )
            .join(Invitation, col(Expert.id) == col(Invitation.expert_id))
            .where(col(Invitation.round_id) == round_id)
            .order_by(col(Expert.id))
        ).all()
    ]


def _other_answers(
    session: Session, round_id: int, other_ids: set[int], taking_part: set[int], drawn_only: bool
) -> tuple[dict[int, list[GivenAnswer]], dict[int, list[str]], dict[tuple[int, int], str]]:
    """The answers of the experts ``taking_part`` to items other than ratings (per item), and every
    reason they gave (per item, and per expert and item when not blank).

    The rows come from the driver's own cursor (plain tuples: no Row object or type processing per
    answer), with ``values`` as JSON text on both databases: the few distinct texts of a big round's
    choices and rankings are each decoded once, and their answers share the decoded tuple.
    """
    connection = session.connection()
    placeholder = "%s" if connection.dialect.name == "postgresql" else "?"
    others_sql = ", ".join(str(int(i)) for i in sorted(other_ids)) or "NULL"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            'SELECT expert_id, item_id, value, CAST("values" AS TEXT), text, reason, unable FROM answer '
            f"WHERE round_id = {placeholder} AND (reason IS NOT NULL OR item_id IN ({others_sql}))"
            + (_DRAWN_ONLY if drawn_only else ""),
            (round_id,),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    others: dict[int, list[GivenAnswer]] = {}
    reasons: dict[int, list[str]] = {}
    reason_of: dict[tuple[int, int], str] = {}
    decoded: dict[str, tuple[Any, ...] | None] = {}
    for expert_id, item_id, value, values, text, reason, unable in rows:
        if expert_id not in taking_part:
            continue
        if reason is not None:
            reasons.setdefault(item_id, []).append(reason)
            if reason.strip():
                reason_of[(expert_id, item_id)] = reason
        if item_id in other_ids:
            if values is not None:
                if values not in decoded:
                    parsed = json.loads(values)
                    decoded[values] = tuple(parsed) if isinstance(parsed, list) else None
                values = decoded[values]
            others.setdefault(item_id, []).append(GivenAnswer(expert_id, item_id, value, values, text, bool(unable)))
    return others, reasons, reason_of


def gather(session: Session, study: Study, round_: Round) -> RoundAnswers:
    """Everything the analysis of ``round_`` reads from the database."""
    items = round_items(session, round_.id)
    invited = _panelists(session, round_.id)
    experts = [p for p in invited if p.status != ExpertStatus.WITHDRAWN]
    expert_ids = np.array([e.id for e in experts], dtype=np.float64)
    rating_ids = np.array(sorted(i.id for i in items if i.kind == "rating"), dtype=np.float64)
    drawn_only = round_.items_per_expert is not None
    matrix, answered = round_matrix(session, round_.id, expert_ids, rating_ids, drawn_only)
    taking_part = {e.id for e in experts if e.took_part}

    other_ids = {i.id for i in items if i.kind != "rating"}
    others, reasons, reason_of = _other_answers(session, round_.id, other_ids, taking_part, drawn_only)

    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    previous_matrix = None
    previous_medians: dict[int, float] = {}
    previous_consensus: set[int] = set()
    if previous is not None and previous.status == RoundStatus.ANALYSED and len(rating_ids):
        shown = snapshot_of(service.result_of(session, previous.id))
        previous_matrix = _ratings_before(session, previous, shown, expert_ids, rating_ids)
        if shown is not None:
            for entry in shown.items:
                if isinstance(entry, RatingResult):
                    if entry.shown_stats.median is not None:
                        previous_medians[entry.item_id] = entry.shown_stats.median
                    if entry.consensus:
                        previous_consensus.add(entry.item_id)
    return RoundAnswers(
        round_id=round_.id,
        number=round_.number,
        items=items,
        invited=invited,
        matrix=matrix,
        answered=answered,
        others=others,
        reasons=reasons,
        themes={t.id: t.title for t in design.themes_of(session, study.id)},
        previous_number=previous.number if previous is not None else None,
        previous_matrix=previous_matrix,
        reason_of=reason_of,
        previous_medians=previous_medians,
        previous_consensus=previous_consensus,
        drawn=subsets.drawn_items(session, round_, expert_ids, rating_ids) if drawn_only else None,
    )


def _ratings_before(
    session: Session, previous: Round, shown: RoundSnapshot | None, expert_ids: np.ndarray, rating_ids: np.ndarray
) -> np.ndarray:
    """The round before's ratings as it was analysed (its snapshot ``shown``), for these experts and
    items (NaN where none): one stored row (``RoundRatings``). A round analysed by an older release
    has none: its answers are read again, of the experts its analysis counted who took part (an
    expert withdrawn then and reinstated since has no ratings in it, either way)."""
    kept = session.get(RoundRatings, previous.id)
    if kept is not None:
        return unpack_ratings(kept.matrix, expert_ids, rating_ids)
    matrix = rating_matrix(session, previous.id, expert_ids, rating_ids, previous.items_per_expert is not None)
    # answers carried into the round before for experts who did not take part in it are not theirs
    counted = {p.id for p in _panelists(session, previous.id) if p.took_part}
    if shown is not None and shown.experts:  # the oldest snapshots did not list who they counted
        counted &= {e.expert_id for e in shown.experts}
    matrix[[e not in counted for e in expert_ids]] = np.nan
    return matrix


def pack_ratings(data: RoundAnswers) -> bytes:
    """The matrix ``compute`` analyses (experts who did not take part have no ratings), with its
    experts' and items' ids, as NumPy's own format: ratings that are whole numbers within a byte
    (every scale) in a byte each, others as they are."""
    matrix = data.analysed_matrix()
    rated = matrix[~np.isnan(matrix)]
    if np.array_equal(rated, np.round(rated)) and (rated.size == 0 or np.abs(rated).max() <= 127):
        stored: np.ndarray = np.where(np.isnan(matrix), _NO_RATING, matrix).astype(np.int8)
    else:
        stored = matrix
    buffer = io.BytesIO()
    np.savez(
        buffer,
        experts=np.array([e.id for e in data.experts], dtype=np.int64),
        items=np.array([i.id for i in data.rating_items], dtype=np.int64),
        ratings=stored,
    )
    return buffer.getvalue()


def unpack_ratings(packed: bytes, expert_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """``pack_ratings``' matrix placed on these (sorted) experts and items: NaN for an expert or an
    item it does not hold."""
    with np.load(io.BytesIO(packed), allow_pickle=False) as kept:
        experts, items, ratings = kept["experts"], kept["items"], kept["ratings"]
    if ratings.dtype == np.int8:
        ratings = np.where(ratings == _NO_RATING, np.nan, ratings.astype(np.float64))
    out = np.full((len(expert_ids), len(item_ids)), np.nan)
    rows, found_rows = _positions(experts, expert_ids)
    columns, found_columns = _positions(items, item_ids)
    out[np.ix_(found_rows, found_columns)] = ratings[np.ix_(rows[found_rows], columns[found_columns])]
    return out


_NO_RATING = -128  # a byte-packed matrix's NaN


def _positions(kept: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``wanted`` is in the sorted ``kept``, and whether it is there."""
    if not len(kept):
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    at = np.searchsorted(kept, wanted).clip(0, len(kept) - 1)
    return at, kept[at] == wanted


# --- store -----------------------------------------------------------------------------------------


def store(
    session: Session,
    study: Study,
    round_: Round,
    snapshot: RoundSnapshot,
    items: list[Item],
    researcher: Researcher | None,
    ratings: bytes,
) -> RoundResult:
    """Keep the snapshot and what follows from it: items' consensus and retirement, the stopping
    rule, the log; and the ``ratings`` it was computed on (``pack_ratings``), for the next round."""
    rating = {e.item_id: e.consensus for e in snapshot.of_kind("rating")}
    _record_item_fates(session, study, round_, [i for i in items if i.id in rating], rating, researcher)
    result = session.exec(select(RoundResult).where(RoundResult.round_id == round_.id)).first()
    if result is None:
        result = RoundResult(round_id=round_.id)
    result.data = json_safe(snapshot.model_dump(mode="json"))
    result.computed_at, result.scoring_version = utcnow(), str(snapshot.version)
    session.add(result)
    kept = session.get(RoundRatings, round_.id) or RoundRatings(round_id=round_.id, matrix=ratings)
    kept.matrix = ratings
    session.add(kept)
    round_.mark_analysed(utcnow())
    session.add(round_)
    service.follow_latest_round(session, study, round_)
    if snapshot.stop and study.status != StudyStatus.FINISHED:
        studies.finish_study(session, study, researcher)
    audit.record(
        session,
        study.id,
        researcher,
        "round.analysed",
        f"round:{round_.number}",
        consensus_items=snapshot.consensus_items,
        stop=snapshot.stop,
    )
    session.flush()
    return result


def analyse_round(
    session: Session, study: Study, round_: Round, researcher: Researcher | None, n_boot: int | None = None
) -> RoundResult:
    data = gather(session, study, round_)
    snapshot = compute(data, Protocol.of(study), n_boot)
    return store(session, study, round_, snapshot, data.items, researcher, pack_ratings(data))


def analyse_apart(
    transactions: Transactions,
    study_id: int,
    round_id: int,
    researcher: Researcher | None,
    n_boot: int | None = None,
) -> None:
    """Analyse a closed round without a write transaction open while its answers are read and the
    statistics computed (seconds for a big round): gather and compute in a reading transaction, then
    store in a short write. A round reopened in between is refused, not given a stale snapshot."""
    with transactions.read() as reader:
        study, round_ = service.study_and_round(reader, study_id, round_id)
        closed_at = round_.closed_at
        data = gather(reader, study, round_)
        snapshot = compute(data, Protocol.of(study), n_boot)
        item_ids = [item.id for item in data.items]
        ratings = pack_ratings(data)
    with transactions.write() as session:
        study, round_ = service.study_and_round(session, study_id, round_id, for_update=True)
        if round_.closed_at != closed_at:
            raise Conflict(
                Message(
                    "Round %(number)s was reopened while it was being analysed; analyse it once it is closed again.",
                    number=round_.number,
                )
            )
        stored = {i.id: i for i in session.exec(select(Item).where(col(Item.id).in_(item_ids))).all()}
        store(session, study, round_, snapshot, [stored[i] for i in item_ids], researcher, ratings)


def snapshot_of(result: RoundResult | None) -> RoundSnapshot | None:
    """The typed snapshot of a stored result (upgraded if an older release wrote it)."""
    return RoundSnapshot.load(result.data) if result is not None else None


def _record_item_fates(
    session: Session,
    study: Study,
    round_: Round,
    rating_items: list[Item],
    consensus: Mapping[int, bool],
    researcher: Researcher | None,
) -> None:
    for item in rating_items:
        reached = consensus[item.id]
        if reached and item.consensus_round is None:
            item.consensus_round = round_.number
            session.add(item)
            if study.retire_consensual and item.status == ItemStatus.ACTIVE:
                design.retire_item(
                    session, study, item, researcher, f"consensus reached in round {round_.number}", round_.number
                )
        elif not reached and item.consensus_round == round_.number:  # a re-analysis after reopening
            item.consensus_round = None
            studies.restore_item(session, item, round_.number)
            session.add(item)
    session.flush()
