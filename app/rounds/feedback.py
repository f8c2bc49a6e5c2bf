"""What an expert sees of the group, per item: from the previous round's snapshot (round 2 on),
or live from the current round in real-time mode. Anonymous: aggregates and unattributed reasons,
and no split shown for a group too small to hide a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup
from sqlmodel import Session, select

from app import scoring
from app.panel.models import Expert
from app.rounds.analysis import rating_matrix
from app.rounds.charts import distribution_svg
from app.rounds.models import Answer, Invitation, Round, RoundResult
from app.studies import service as studies
from app.studies.models import Item, Study

MIN_GROUP_SIZE = 3  # fewer answers than this in a group and its split is not shown


@dataclass
class ItemFeedback:
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    agreement: float | None
    points: list[int]
    counts: list[float]
    own_previous: float | None = None
    consensus: bool | None = None
    weight: float | None = None
    rank: int | None = None
    of: int | None = None
    reasons: list[str] = field(default_factory=list)
    by_group: list[dict[str, Any]] = field(default_factory=list)
    live: bool = False
    chart: Markup = Markup("")

    def far_from_group(self, value: float | None, threshold: float) -> bool:
        return value is not None and self.median is not None and abs(value - self.median) >= threshold


def _points(study: Study) -> list[int]:
    return list(range(study.scale_min, study.scale_max + 1))


def from_snapshot(
    session: Session, study: Study, round_: Round, expert: Expert, items: list[Item]
) -> dict[int, ItemFeedback]:
    """Feedback for ``round_`` from the round before it."""
    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    if previous is None:
        return {}
    result = session.exec(select(RoundResult).where(RoundResult.round_id == previous.id)).first()
    if result is None:
        return {}
    settings = study.feedback
    entries = {e["item_id"]: e for e in result.data["items"] if e["kind"] == "rating"}
    own = {
        a.item_id: a
        for a in session.exec(select(Answer).where(Answer.round_id == previous.id, Answer.expert_id == expert.id)).all()
    }
    points = _points(study)
    ranked = sum(1 for e in entries.values() if e.get("rank"))
    feedback: dict[int, ItemFeedback] = {}
    for item in items:
        entry = entries.get(item.id)
        if entry is None:
            continue
        # Experts see the panel as it answered (counts of people, not weights), and its median
        stats = entry["stats"]
        distribution = stats.get("distribution", {})
        counts = [float(distribution.get(str(p), 0)) for p in points]
        own_answer = own.get(item.id)
        own_value = own_answer.value if own_answer is not None else None
        reasons = list(entry.get("reasons", []))
        if own_answer is not None and own_answer.reason in reasons:
            reasons.remove(own_answer.reason)
        groups = []
        if settings.get("by_group"):
            for key, g in entry.get("by_group", {}).items():
                if g["n"] >= MIN_GROUP_SIZE:
                    groups.append(
                        {
                            "label": studies.group_label(study, key),
                            "n": g["n"],
                            "median": g["median"],
                            "q1": g["q1"],
                            "q3": g["q3"],
                            "agreement": g["agreement"],
                        }
                    )
        fb = ItemFeedback(
            n=stats["n"],
            median=stats["median"],
            q1=stats["q1"],
            q3=stats["q3"],
            agreement=stats["agreement"],
            points=points,
            counts=counts,
            own_previous=own_value if settings.get("own_previous", True) else None,
            consensus=entry["consensus"] if settings.get("consensus", True) else None,
            weight=entry.get("weight") if settings.get("weights", True) else None,
            rank=entry.get("rank") if settings.get("weights", True) else None,
            of=ranked,
            reasons=reasons if settings.get("reasons", True) else [],
            by_group=groups,
        )
        if settings.get("distribution", True):
            fb.chart = distribution_svg(
                points,
                counts,
                own=fb.own_previous,
                median=fb.median if settings.get("median_iqr", True) else None,
                title=f"{fb.n}",
            )
        if not settings.get("median_iqr", True):
            fb.median = fb.q1 = fb.q3 = None
        feedback[item.id] = fb
    return feedback


def live(session: Session, study: Study, round_: Round, expert: Expert, items: list[Item]) -> dict[int, ItemFeedback]:
    """Real-time mode: the group's current answers in this round (shown from three answers on)."""
    rating = sorted((i for i in items if i.kind == "rating"), key=lambda i: i.id)
    if not rating:
        return {}
    invited = session.exec(select(Invitation.expert_id).where(Invitation.round_id == round_.id)).all()
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
        fb.chart = distribution_svg(points, counts, own=fb.own_previous, median=fb.median, title=f"{fb.n}")
        feedback[item.id] = fb
    return feedback


def for_expert(
    session: Session, study: Study, round_: Round, expert: Expert, items: list[Item]
) -> dict[int, ItemFeedback]:
    if round_.realtime:
        return live(session, study, round_, expert, items)
    return from_snapshot(session, study, round_, expert, items)
