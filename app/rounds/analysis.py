"""Analyse a closed round in three steps: gather its answers (the ratings in one query straight into
numpy, the other kinds' answers and the reasons in a second), compute the snapshot (pure, testable
without a database), store it with what follows from it (items' fates, the stopping rule, the log).

Feedback pages, results, exports and reports read the stored snapshot (``RoundSnapshot``);
nothing recomputes later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

import numpy as np
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app import scoring
from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.panel import service as panel
from app.panel.models import Expert
from app.rounds.answers import round_items
from app.rounds.kinds import RATING, GivenAnswer, anonymous_order, kind_of
from app.rounds.models import Answer, Invitation, Round, RoundResult
from app.rounds.snapshot import (
    SNAPSHOT_VERSION,
    CookeScore,
    CookeScores,
    ItemResult,
    PanelFigures,
    Participation,
    RoundSnapshot,
    StabilityEntry,
    ThemeResult,
)
from app.serialization import json_safe
from app.studies import service as studies
from app.studies.models import Item, Study

NO_VALUE = -1e300  # stands for "no value" in the one-query fetch (scales are never negative)
BOOTSTRAP_CELL_BUDGET = 2_000_000  # resamples x experts x items; keeps a big round's analysis fast


@dataclass(frozen=True)
class Panelist:
    """What the analysis needs of an invited expert (no ORM object per expert)."""

    id: int
    pseudonym: str
    stakeholder_group: str
    weight: float
    status: str
    opened_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None

    @property
    def took_part(self) -> bool:
        """Saved a change or submitted. From round 2 on, answers are carried forward from the round
        before; an expert who did neither is a non-respondent, whatever was carried for them."""
        return self.started_at is not None or self.submitted_at is not None


@dataclass(frozen=True)
class Protocol:
    """The study's analysis settings, fixed before round 1."""

    scale: tuple[int, int]
    agree: tuple[float, float]
    quantile_method: str
    weighted: bool
    consensus_rule: str
    stopping_rule: str
    max_rounds: int

    @classmethod
    def of(cls, study: Study) -> Protocol:
        return cls(
            scale=(study.scale_min, study.scale_max),
            agree=(study.agree_low, study.agree_high),
            quantile_method=study.quantile_method,
            weighted=study.weighting.get("scheme", "equal") != "equal",
            consensus_rule=study.consensus_rule,
            stopping_rule=study.stopping_rule,
            max_rounds=study.max_rounds,
        )


@dataclass
class RoundAnswers:
    """A round's answers as the analysis reads them: gathered from the database, or built by a test."""

    round_id: int
    number: int
    items: list[Item]
    invited: list[Panelist]
    matrix: np.ndarray  # analysed experts x rating items (sorted by id); NaN = no rating
    answered: np.ndarray  # per analysed expert: rating items answered (a rating or "unable")
    others: dict[int, list[GivenAnswer]] = field(default_factory=dict)  # other kinds, per item
    reasons: dict[int, list[str]] = field(default_factory=dict)
    themes: dict[int | None, str] = field(default_factory=dict)  # theme id -> title
    previous_number: int | None = None
    previous_matrix: np.ndarray | None = None  # the same experts x items in the round before

    @property
    def experts(self) -> list[Panelist]:
        return [p for p in self.invited if p.status != "withdrawn"]

    @property
    def rating_items(self) -> list[Item]:
        return sorted((i for i in self.items if i.kind == "rating"), key=lambda i: i.id)


def rating_matrix(session: Session, round_id: int, expert_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    return round_matrix(session, round_id, expert_ids, item_ids)[0]


def round_matrix(
    session: Session, round_id: int, expert_ids: np.ndarray, item_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """experts x items of the round's numeric answers (NaN = none), fetched in one query.

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
            f"WHERE round_id = {placeholder} AND (value IS NOT NULL OR unable)",
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


def gather(session: Session, study: Study, round_: Round) -> RoundAnswers:
    """Everything the analysis of ``round_`` reads from the database."""
    items = round_items(session, round_.id)
    invited = _panelists(session, round_.id)
    experts = [p for p in invited if p.status != "withdrawn"]
    expert_ids = np.array([e.id for e in experts], dtype=np.float64)
    rating_ids = np.array(sorted(i.id for i in items if i.kind == "rating"), dtype=np.float64)
    matrix, answered = round_matrix(session, round_.id, expert_ids, rating_ids)
    taking_part = {e.id for e in experts if e.took_part}

    others: dict[int, list[GivenAnswer]] = {}
    reasons: dict[int, list[str]] = {}
    other_ids = {i.id for i in items if i.kind != "rating"}
    table = Answer.__table__  # type: ignore[attr-defined]
    for expert_id, item_id, value, values, text, reason, unable in session.connection().execute(
        sa_select(
            table.c.expert_id,
            table.c.item_id,
            table.c.value,
            table.c["values"],
            table.c.text,
            table.c.reason,
            table.c.unable,
        ).where(table.c.round_id == round_.id, table.c.reason.is_not(None) | table.c.item_id.in_(other_ids))
    ):
        if expert_id not in taking_part:
            continue
        if reason is not None:
            reasons.setdefault(item_id, []).append(reason)
        if item_id in other_ids:
            others.setdefault(item_id, []).append(GivenAnswer(expert_id, item_id, value, values, text, bool(unable)))

    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    previous_matrix = None
    if previous is not None and previous.status == "analysed" and len(rating_ids):
        previous_matrix = rating_matrix(session, previous.id, expert_ids, rating_ids)
        # answers carried into the round before for experts who did not take part in it are not theirs
        took_part_before = {p.id for p in _panelists(session, previous.id) if p.took_part}
        previous_matrix[[e.id not in took_part_before for e in experts]] = np.nan
    return RoundAnswers(
        round_id=round_.id,
        number=round_.number,
        items=items,
        invited=invited,
        matrix=matrix,
        answered=answered,
        others=others,
        reasons=reasons,
        themes={t.id: t.title for t in studies.themes_of(session, study.id)},
        previous_number=previous.number if previous is not None else None,
        previous_matrix=previous_matrix,
    )


# --- compute ---------------------------------------------------------------------------------------


def compute(data: RoundAnswers, protocol: Protocol, n_boot: int | None = None) -> RoundSnapshot:
    """The round's snapshot from its answers: pure, no database."""
    experts = data.experts
    rating_items = data.rating_items
    took_part = np.array([e.took_part for e in experts], dtype=bool)
    matrix = data.matrix.copy()
    matrix[~took_part] = np.nan  # carried-forward answers of experts who did not take part
    cells = max(matrix.size, 1)
    n_boot = n_boot if n_boot is not None else int(min(1000, BOOTSTRAP_CELL_BUDGET // cells))
    scale, agree = protocol.scale, protocol.agree
    weights = np.array(panel.normalised_weights(experts)) if protocol.weighted and experts else None

    summary = scoring.summarize(
        matrix,
        scale=scale,
        agree=agree,
        quantile_method=protocol.quantile_method,
        n_boot=n_boot if took_part.sum() > 1 else 0,
        seed=int(data.round_id or 0),
    )
    weighted = (
        scoring.summarize(matrix, scale=scale, agree=agree, weights=weights, n_boot=0) if weights is not None else None
    )
    basis = weighted or summary
    rated = summary.n > 0
    consensus = np.zeros(len(rating_items), dtype=bool)
    if rating_items:  # an item nobody rated has no consensus, whatever the rule reads of its NaNs
        consensus = scoring.consensus(protocol.consensus_rule, basis) & rated
    importance = (
        scoring.importance_weights(
            basis.mean[rated], [i.theme_id for i, r in zip(rating_items, rated, strict=True) if r], scale
        )
        if rated.any()
        else None
    )
    by_group: dict[str, scoring.ItemSummary] = {}
    groups = sorted({e.stakeholder_group for e in experts})
    for group in groups:
        rows = np.array([e.stakeholder_group == group for e in experts]) & took_part
        if rows.any():
            by_group[group] = scoring.summarize(
                matrix[rows], scale=scale, agree=agree, quantile_method=protocol.quantile_method
            )

    entries: list[ItemResult] = list(
        RATING.entries(
            rating_items,
            summary,
            weighted,
            by_group,
            consensus,
            _spread(importance, rated),
            data.reasons,
            str(data.round_id),
        )
    )
    group_of = {e.id: e.stakeholder_group for e in experts}
    for item in data.items:
        if item.kind == "rating":
            continue
        entry = kind_of(item).summarize(item, data.others.get(item.id, []), group_of, str(data.round_id))
        entry.reasons = anonymous_order(data.reasons.get(item.id, []), f"{data.round_id}:{item.id}")
        entries.append(entry)
    order = {item.id: k for k, item in enumerate(data.items)}
    entries.sort(key=lambda e: order.get(e.item_id, len(order)))

    stability, stable_share = _stability(data, matrix, rating_items)
    panel_figures = (
        PanelFigures.model_validate(scoring.panel_agreement(matrix, scale).as_dict())
        if rating_items
        else PanelFigures()
    )
    consensus_share = float(consensus.mean()) if len(consensus) else 0.0
    stop = scoring.should_stop(
        protocol.stopping_rule,
        round=data.number,
        max_rounds=protocol.max_rounds,
        consensus_share=consensus_share,
        decided_share=consensus_share,
        stable_share=stable_share if stable_share is not None else 0.0,
        items=len(rating_items),
        consensus_items=int(consensus.sum()),
        panel_size=len(experts),
        kendall_w=panel_figures.kendall_w or 0.0,
    )
    participation = _participation(experts, data.answered * took_part, data.others, len(data.items))
    return RoundSnapshot(
        version=SNAPSHOT_VERSION,
        round=data.number,
        computed_at=utcnow().isoformat(),
        scale=list(scale),
        agree=list(agree),
        oppose=list(scoring.opposite_band(scale, agree)),
        quantile_method=protocol.quantile_method,
        weighted=protocol.weighted,
        bootstrap=n_boot,
        consensus_rule=protocol.consensus_rule,
        stopping_rule=protocol.stopping_rule,
        invited=len(data.invited),
        analysed_experts=len(experts),
        responded=sum(1 for p in participation if p.answered > 0),
        submitted=sum(1 for p in participation if p.submitted),
        experts=participation,
        groups=groups,
        items=entries,
        themes=_themes(importance, data.themes),
        panel=panel_figures,
        stability=stability,
        consensus_items=int(consensus.sum()),
        rating_items=len(rating_items),
        consensus_share=consensus_share,
        stable_share=stable_share,
        stop=bool(stop.stop),
        stop_values=json_safe(stop.values),
        cooke=_cooke(data.items, data.others, experts),
    )


@dataclass(frozen=True)
class _Spread:
    item_weight: np.ndarray  # NaN for an item nobody rated
    item_rank: np.ndarray  # 0 for an item nobody rated


def _spread(importance: scoring.ImportanceWeights | None, rated: np.ndarray) -> _Spread | None:
    """Importance weights computed over the rated items, placed back among all rating items
    (an item nobody rated has no weight and no rank)."""
    if importance is None:
        return None
    weight = np.full(len(rated), np.nan)
    rank = np.zeros(len(rated), dtype=np.int64)
    weight[rated] = importance.item_weight
    rank[rated] = importance.item_rank
    return _Spread(weight, rank)


def _participation(
    experts: Sequence[Panelist], rating_counts: np.ndarray, others: Mapping[int, list[GivenAnswer]], n_items: int
) -> list[Participation]:
    """How many items each expert answered: ratings and "unable" from the one fetch, plus answers
    to the other kinds of items (already limited to the experts who took part)."""
    answered = {p.id: int(n) for p, n in zip(experts, rating_counts, strict=True)}
    for given in others.values():
        for a in given:
            if not a.unable and a.is_given and a.expert_id in answered:
                answered[a.expert_id] += 1
    return [
        Participation(
            expert_id=p.id,
            pseudonym=p.pseudonym,
            group=p.stakeholder_group,
            weight=p.weight,
            answered=answered.get(p.id, 0),
            items=n_items,
            submitted=p.submitted_at is not None,
            opened=p.opened_at is not None,
        )
        for p in experts
    ]


def _themes(importance: scoring.ImportanceWeights | None, titles: Mapping[int | None, str]) -> list[ThemeResult]:
    if importance is None:
        return []
    entries = [
        ThemeResult(
            theme_id=key,
            title=titles.get(key, "—"),
            score=float(importance.theme_score[k]),
            weight=float(importance.theme_weight[k]),
            rank=int(importance.theme_rank[k]),
        )
        for k, key in enumerate(importance.theme_keys)
    ]
    return sorted(entries, key=lambda t: (t.rank or 0, t.title))


def _f(value: float) -> float | None:
    return None if value != value else float(value)


def _stability(
    data: RoundAnswers, matrix: np.ndarray, rating_items: list[Item]
) -> tuple[list[StabilityEntry], float | None]:
    earlier = data.previous_matrix
    if earlier is None or data.previous_number is None or not rating_items:
        return [], None
    asked_before = ~np.all(np.isnan(earlier), axis=0)
    if not asked_before.any():
        return [], None
    s = scoring.stability(earlier[:, asked_before], matrix[:, asked_before])
    entries = [
        StabilityEntry(
            item_id=item.id,
            from_round=data.previous_number,
            to_round=data.number,
            n_paired=int(s.n_paired[k]),
            wilcoxon_p=_f(s.wilcoxon_p[k]),
            cv_change=_f(s.cv_change[k]),
            pct_change=_f(s.pct_change[k]),
            stable=bool(s.pct_change[k] < scoring.STABLE_PCT_CHANGE),
            unchanged=bool(s.unchanged[k]),
        )
        for k, item in enumerate(i for i, asked in zip(rating_items, asked_before, strict=True) if asked)
    ]
    return entries, float(np.mean([e.stable for e in entries]))


def _cooke(items: list[Item], others: Mapping[int, list[GivenAnswer]], experts: list[Panelist]) -> CookeScores | None:
    """Performance scores when the round has seed questions (estimates with a known answer)."""
    estimates = [i for i in items if i.kind == "estimate"]
    if not any(i.is_seed for i in estimates) or not experts:
        return None
    quantiles = np.array(estimates[0].quantiles)
    estimates = [i for i in estimates if list(i.quantiles) == list(quantiles)]
    index = {i.id: k for k, i in enumerate(estimates)}
    expert_index = {e.id: k for k, e in enumerate(experts)}
    data = np.full((len(experts), len(estimates), len(quantiles)), np.nan)
    for item_id, given in others.items():
        for a in given:
            if item_id in index and a.values and a.expert_id in expert_index and len(a.values) == len(quantiles):
                data[expert_index[a.expert_id], index[item_id]] = a.values
    answered = ~np.isnan(data).any(axis=2)
    keep = answered[:, [i.is_seed for i in estimates]].any(axis=1)
    if keep.sum() < 1:
        return None
    try:
        result = scoring.classical_model(
            scoring.CookeData(
                experts=tuple(e.pseudonym for e, k in zip(experts, keep, strict=True) if k),
                items=tuple(str(i.id) for i in estimates),
                quantiles=quantiles,
                assessments=data[keep],
                realizations=np.array(
                    [i.realization if i.is_seed and i.realization is not None else np.nan for i in estimates]
                ),
                log_scale=np.zeros(len(estimates), dtype=bool),
            ),
            optimise_alpha=True,
        )
    except ValueError as exc:
        return CookeScores(error=str(exc))
    return CookeScores(
        alpha=_f(result.alpha), experts=[CookeScore.model_validate(json_safe(e.__dict__)) for e in result.experts]
    )


# --- store -----------------------------------------------------------------------------------------


def store(
    session: Session,
    study: Study,
    round_: Round,
    snapshot: RoundSnapshot,
    items: list[Item],
    researcher: Researcher | None,
) -> RoundResult:
    """Keep the snapshot and what follows from it: items' consensus and retirement, the stopping
    rule, the log."""
    rating = {e.item_id: e.consensus for e in snapshot.of_kind("rating")}
    _record_item_fates(session, study, round_, [i for i in items if i.id in rating], rating, researcher)
    result = session.exec(select(RoundResult).where(RoundResult.round_id == round_.id)).first()
    if result is None:
        result = RoundResult(round_id=round_.id)
    result.data = json_safe(snapshot.model_dump(mode="json"))
    result.computed_at, result.scoring_version = utcnow(), str(snapshot.version)
    session.add(result)
    round_.mark_analysed(utcnow())
    session.add(round_)
    if snapshot.stop:
        study.status, study.finished_at = "finished", utcnow()
        session.add(study)
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
    return store(session, study, round_, compute(data, Protocol.of(study), n_boot), data.items, researcher)


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
            if study.retire_consensual and item.status == "active":
                studies.retire_item(
                    session, study, item, researcher, f"consensus reached in round {round_.number}", round_.number
                )
        elif not reached and item.consensus_round == round_.number:  # a re-analysis after reopening
            item.consensus_round = None
            if item.status == "retired" and item.retired_round == round_.number:
                item.status, item.retired_round = "active", None
            session.add(item)
    session.flush()
