"""Analyse a closed round: its answers in one query into numpy, the scoring core, one snapshot.

Feedback pages and reports read the snapshot (``RoundResult.data``); nothing recomputes later.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

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
from app.rounds.models import Answer, Invitation, Round, RoundResult
from app.serialization import json_safe
from app.studies import service as studies
from app.studies.models import Item, Study, Theme

SCORING_VERSION = "1"
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
    submitted_at: datetime | None


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
    answered = np.bincount(e[known], minlength=len(expert_ids)).astype(np.int64)
    inside = known & (i < len(item_ids))
    inside[inside] &= item_ids[i[inside]] == data[inside, 1]
    matrix[e[inside], i[inside]] = data[inside, 2]
    return matrix, answered


def _anonymous_order(texts: list[str], salt: str) -> list[str]:
    """A stable order that does not follow who answered first."""
    return sorted(texts, key=lambda t: hashlib.sha256((salt + t).encode()).hexdigest())


def _previous_result(session: Session, study: Study, round_: Round) -> tuple[Round | None, dict[str, Any] | None]:
    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    if previous is None:
        return None, None
    result = session.exec(select(RoundResult).where(RoundResult.round_id == previous.id)).first()
    return previous, (result.data if result else None)


def analyse_round(
    session: Session, study: Study, round_: Round, researcher: Researcher | None, n_boot: int | None = None
) -> RoundResult:
    items = round_items(session, round_.id)
    invited = [
        Panelist(*row)
        for row in session.execute(
            sa_select(
                col(Expert.id),
                col(Expert.pseudonym),
                col(Expert.stakeholder_group),
                col(Expert.weight),
                col(Expert.status),
                col(Invitation.opened_at),
                col(Invitation.submitted_at),
            )
            .join(Invitation, col(Expert.id) == col(Invitation.expert_id))
            .where(col(Invitation.round_id) == round_.id)
            .order_by(col(Expert.id))
        ).all()
    ]
    experts = [p for p in invited if p.status != "withdrawn"]
    expert_ids = np.array([e.id for e in experts], dtype=np.float64)
    rating_items = sorted((i for i in items if i.kind == "rating"), key=lambda i: i.id)
    item_ids = np.array([i.id for i in rating_items], dtype=np.float64)
    matrix, answered_counts = round_matrix(session, round_.id, expert_ids, item_ids)
    scale = (study.scale_min, study.scale_max)
    agree = (study.agree_low, study.agree_high)
    weighted = study.weighting.get("scheme", "equal") != "equal"
    weights = np.array(panel.normalised_weights(experts)) if weighted and experts else None
    cells = max(matrix.size, 1)
    n_boot = n_boot if n_boot is not None else int(min(1000, BOOTSTRAP_CELL_BUDGET // cells))

    summary = scoring.summarize(
        matrix,
        scale=scale,
        agree=agree,
        quantile_method=study.quantile_method,
        n_boot=n_boot if len(experts) > 1 else 0,
        seed=int(round_.id or 0),
    )
    weighted_summary = (
        scoring.summarize(matrix, scale=scale, agree=agree, weights=weights, n_boot=0) if weights is not None else None
    )
    basis = weighted_summary or summary
    consensus = scoring.consensus(study.consensus_rule, basis) if rating_items else np.zeros(0, dtype=bool)

    themes: dict[int | None, Theme] = {t.id: t for t in studies.themes_of(session, study.id)}
    importance = (
        scoring.importance_weights(basis.mean, [i.theme_id for i in rating_items], scale) if rating_items else None
    )

    groups = sorted({e.stakeholder_group for e in experts})
    by_group: dict[str, scoring.ItemSummary] = {}
    for group in groups:
        rows = np.array([e.stakeholder_group == group for e in experts])
        if rows.any():
            by_group[group] = scoring.summarize(
                matrix[rows], scale=scale, agree=agree, quantile_method=study.quantile_method
            )

    analysed_ids = {e.id for e in experts}
    table = Answer.__table__  # type: ignore[attr-defined]
    reasons: dict[int, list[str]] = {}
    for expert_id, item_id, reason in session.connection().execute(
        sa_select(table.c.expert_id, table.c.item_id, table.c.reason).where(
            table.c.round_id == round_.id, table.c.reason.is_not(None)
        )
    ):
        if expert_id in analysed_ids:
            reasons.setdefault(item_id, []).append(reason)
    other_ids = [i.id for i in items if i.kind != "rating"]
    answers = (
        [
            a
            for a in session.exec(
                select(Answer).where(Answer.round_id == round_.id, col(Answer.item_id).in_(other_ids))
            ).all()
            if a.expert_id in analysed_ids
        ]
        if other_ids
        else []
    )

    records = summary.records([str(i.id) for i in rating_items])
    weighted_records = weighted_summary.records([str(i.id) for i in rating_items]) if weighted_summary else None
    group_records = {g: s.records([str(i.id) for i in rating_items]) for g, s in by_group.items()}
    item_entries: list[dict[str, Any]] = []
    for j, item in enumerate(rating_items):
        item_entries.append(
            {
                "item_id": item.id,
                "theme_id": item.theme_id,
                "kind": item.kind,
                "text": item.text,
                "stats": records[j],
                "weighted_stats": weighted_records[j] if weighted_records else None,
                "consensus": bool(consensus[j]),
                "weight": float(importance.item_weight[j]) if importance else None,
                "rank": int(importance.item_rank[j]) if importance else None,
                "by_group": {
                    g: {k: group_records[g][j][k] for k in ("n", "median", "q1", "q3", "agreement", "distribution")}
                    for g in by_group
                },
                "reasons": _anonymous_order(reasons.get(item.id, []), f"{round_.id}:{item.id}"),
            }
        )
    item_entries.extend(_other_kinds(items, answers, round_, reasons))

    stability_entries, stable_share = _stability(session, study, round_, rating_items, experts, matrix)
    panel_figures = scoring.panel_agreement(matrix, scale).as_dict() if rating_items else {}
    consensus_share = float(consensus.mean()) if len(consensus) else 0.0
    stop = scoring.should_stop(
        study.stopping_rule,
        round=round_.number,
        max_rounds=study.max_rounds,
        consensus_share=consensus_share,
        decided_share=consensus_share,
        stable_share=stable_share if stable_share is not None else 0.0,
        items=len(rating_items),
        consensus_items=int(consensus.sum()),
        panel_size=len(experts),
        kendall_w=panel_figures.get("kendall_w") or 0.0,
    )

    participation = _participation(experts, answered_counts, answers, len(items))
    data: dict[str, Any] = {
        "round": round_.number,
        "computed_at": utcnow().isoformat(),
        "scale": list(scale),
        "agree": list(agree),
        "oppose": list(scoring.opposite_band(scale, agree)),
        "quantile_method": study.quantile_method,
        "weighted": weighted,
        "bootstrap": n_boot,
        "consensus_rule": study.consensus_rule,
        "stopping_rule": study.stopping_rule,
        "invited": len(invited),
        "analysed_experts": len(experts),
        "responded": sum(1 for p in participation if p["answered"] > 0),
        "submitted": sum(1 for p in participation if p["submitted"]),
        "experts": participation,
        "groups": groups,
        "items": item_entries,
        "themes": _theme_entries(importance, themes) if importance else [],
        "panel": panel_figures,
        "stability": stability_entries,
        "consensus_items": int(consensus.sum()),
        "rating_items": len(rating_items),
        "consensus_share": consensus_share,
        "stable_share": stable_share,
        "stop": stop.stop,
        "stop_values": stop.values,
        "cooke": _cooke(items, answers, experts),
    }
    _record_item_fates(session, study, round_, rating_items, consensus, researcher)

    result = session.exec(select(RoundResult).where(RoundResult.round_id == round_.id)).first()
    if result is None:
        result = RoundResult(round_id=round_.id)
    result.data, result.computed_at, result.scoring_version = json_safe(data), utcnow(), SCORING_VERSION
    session.add(result)
    round_.mark_analysed(utcnow())
    session.add(round_)
    if stop.stop:
        study.status, study.finished_at = "finished", utcnow()
        session.add(study)
    audit.record(
        session,
        study.id,
        researcher,
        "round.analysed",
        f"round:{round_.number}",
        consensus_items=data["consensus_items"],
        stop=stop.stop,
    )
    session.flush()
    return result


def _participation(
    experts: list[Panelist], answered_counts: np.ndarray, other_answers: list[Answer], n_items: int
) -> list[dict[str, Any]]:
    """How many items each expert answered: ratings and "unable" from the one fetch, plus answers
    to the other kinds of items."""
    answered = {p.id: int(n) for p, n in zip(experts, answered_counts, strict=True)}
    for a in other_answers:
        if not a.unable and (a.values or a.text or a.value is not None):
            answered[a.expert_id] = answered.get(a.expert_id, 0) + 1
    return [
        {
            "expert_id": p.id,
            "pseudonym": p.pseudonym,
            "group": p.stakeholder_group,
            "weight": p.weight,
            "answered": answered.get(p.id, 0),
            "items": n_items,
            "submitted": p.submitted_at is not None,
            "opened": p.opened_at is not None,
        }
        for p in experts
    ]


def _theme_entries(importance: scoring.ImportanceWeights, themes: dict[int | None, Theme]) -> list[dict[str, Any]]:
    entries = []
    for k, key in enumerate(importance.theme_keys):
        theme = themes.get(key)
        entries.append(
            {
                "theme_id": key,
                "title": theme.title if theme else "—",
                "score": float(importance.theme_score[k]),
                "weight": float(importance.theme_weight[k]),
                "rank": int(importance.theme_rank[k]),
            }
        )
    return sorted(entries, key=lambda t: (t["rank"], t["title"]))


def _other_kinds(
    items: list[Item], answers: list[Answer], round_: Round, reasons: dict[int, list[str]]
) -> list[dict[str, Any]]:
    entries = []
    by_item: dict[int, list[Answer]] = {}
    for answer in answers:
        by_item.setdefault(answer.item_id, []).append(answer)
    for item in items:
        if item.kind == "rating":
            continue
        given = by_item.get(item.id, [])
        entry: dict[str, Any] = {
            "item_id": item.id,
            "theme_id": item.theme_id,
            "kind": item.kind,
            "text": item.text,
            "consensus": False,
            "weight": None,
            "rank": None,
            "reasons": _anonymous_order(reasons.get(item.id, []), f"{round_.id}:{item.id}"),
        }
        if item.kind == "open":
            entry["answers"] = sum(1 for a in given if a.text)
        elif item.kind == "choice":
            counts = Counter(v for a in given for v in (a.values or []))
            entry["counts"] = {option: counts.get(option, 0) for option in item.options}
            entry["n"] = sum(1 for a in given if a.values)
        elif item.kind == "ranking":
            ranks = np.full((len(given), len(item.options)), np.nan)
            for row, a in enumerate(given):
                for position, option in enumerate(a.values or []):
                    ranks[row, item.options.index(option)] = position + 1
            ranking = scoring.summarize_ranking(ranks) if len(given) else None
            entry["ranking"] = [
                {
                    "option": o,
                    "mean_rank": _f(ranking.mean_rank[k]) if ranking else None,
                    "borda": _f(ranking.borda[k]) if ranking else None,
                }
                for k, o in enumerate(item.options)
            ]
            entry["kendall_w"] = _f(ranking.kendall.w) if ranking else None
            entry["n"] = len(given)
        elif item.kind == "estimate":
            values = np.array([a.values for a in given if a.values], dtype=np.float64)
            entry["n"] = len(values)
            entry["median_of_quantiles"] = (
                [float(np.median(values[:, k])) for k in range(values.shape[1])] if len(values) else None
            )
            entry["quantiles"] = item.quantiles
        entries.append(entry)
    return entries


def _f(value: float) -> float | None:
    return None if value != value else float(value)


def _stability(
    session: Session, study: Study, round_: Round, rating_items: list[Item], experts: list[Panelist], matrix: np.ndarray
) -> tuple[list[dict[str, Any]], float | None]:
    previous, _ = _previous_result(session, study, round_)
    if previous is None or not rating_items:
        return [], None
    expert_ids = np.array([e.id for e in experts], dtype=np.float64)
    item_ids = np.array([i.id for i in rating_items], dtype=np.float64)
    earlier = rating_matrix(session, previous.id, expert_ids, item_ids)
    asked_before = ~np.all(np.isnan(earlier), axis=0)
    if not asked_before.any():
        return [], None
    s = scoring.stability(earlier[:, asked_before], matrix[:, asked_before])
    entries = []
    for k, item in enumerate(i for i, asked in zip(rating_items, asked_before, strict=True) if asked):
        entries.append(
            {
                "item_id": item.id,
                "from_round": previous.number,
                "to_round": round_.number,
                "n_paired": int(s.n_paired[k]),
                "wilcoxon_p": _f(s.wilcoxon_p[k]),
                "cv_change": _f(s.cv_change[k]),
                "pct_change": _f(s.pct_change[k]),
                "stable": bool(s.pct_change[k] < scoring.STABLE_PCT_CHANGE),
                "unchanged": bool(s.unchanged[k]),
            }
        )
    return entries, float(np.mean([e["stable"] for e in entries]))


def _cooke(items: list[Item], answers: list[Answer], experts: list[Panelist]) -> dict[str, Any] | None:
    """Performance scores when the round has seed questions (estimates with a known answer)."""
    estimates = [i for i in items if i.kind == "estimate"]
    if not any(i.is_seed for i in estimates) or not experts:
        return None
    quantiles = np.array(estimates[0].quantiles)
    estimates = [i for i in estimates if list(i.quantiles) == list(quantiles)]
    index = {i.id: k for k, i in enumerate(estimates)}
    expert_index = {e.id: k for k, e in enumerate(experts)}
    data = np.full((len(experts), len(estimates), len(quantiles)), np.nan)
    for a in answers:
        if a.item_id in index and a.values and a.expert_id in expert_index:
            data[expert_index[a.expert_id], index[a.item_id]] = a.values
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
        return {"error": str(exc)}
    return {"alpha": result.alpha, "experts": [e.__dict__ for e in result.experts]}


def _record_item_fates(
    session: Session,
    study: Study,
    round_: Round,
    rating_items: list[Item],
    consensus: np.ndarray,
    researcher: Researcher | None,
) -> None:
    for item, reached in zip(rating_items, consensus, strict=True):
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
