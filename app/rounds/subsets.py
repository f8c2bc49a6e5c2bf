"""Random item subsets: a round may give each expert a random subset of its items (a large item
pool), drawn as the round opens and balanced so that every item gets at least the raters the
protocol asks for. The design is fixed while the round is a draft; the analysis reads only the
answers of the experts each item was drawn for."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from app import scoring
from app.accounts.models import Researcher
from app.audit import service as audit
from app.errors import Conflict, InvalidInput, Message
from app.panel.models import Expert
from app.rounds.compute import DrawnItems
from app.rounds.models import Round, RoundAssignment, RoundItem, RoundStatus
from app.rounds.snapshot import SubsetDesign
from app.studies.models import Study


def _round_size(session: Session, round_id: int) -> int:
    return int(session.exec(select(func.count()).select_from(RoundItem).where(RoundItem.round_id == round_id)).one())


def _too_few_raters(experts: int, items: int, size: int, min_raters: int) -> Message:
    return Message(
        "With %(experts)s experts answering %(size)s of the %(items)s items each, the fewest raters an "
        "item is sure of is %(raters)s, below the %(min)s asked: give each expert more items, ask fewer "
        "raters or invite more experts.",
        experts=experts,
        size=size,
        items=items,
        raters=scoring.guaranteed_raters(experts, items, size),
        min=min_raters,
    )


def configure(
    session: Session,
    study: Study,
    round_: Round,
    items_per_expert: int | None,
    min_raters_per_item: int | None,
    panel_size: int,
    researcher: Researcher | None,
) -> Round:
    """Set (or, with ``items_per_expert`` None, remove) the round's subset design: a draft's only."""
    if round_.status != RoundStatus.DRAFT:
        raise Conflict(
            Message(
                "Round %(number)s is %(status)s: the items each expert answers are drawn as it opens "
                "and cannot change after.",
                number=round_.number,
                status=Message(round_.status),
            )
        )
    if items_per_expert is None:
        if min_raters_per_item is not None:
            raise InvalidInput(
                Message("Say how many items each expert answers, or leave both empty."), fields=("items_per_expert",)
            )
    else:
        items = _round_size(session, round_.id)
        if not 1 <= items_per_expert < items:
            raise InvalidInput(
                Message(
                    "Each expert answers between 1 and %(most)s of the round's %(items)s items "
                    "(leave it empty for every item).",
                    most=items - 1,
                    items=items,
                ),
                fields=("items_per_expert",),
            )
        if min_raters_per_item is not None:
            if min_raters_per_item < 1:
                raise InvalidInput(Message("The minimum of raters is at least 1."), fields=("min_raters_per_item",))
            if scoring.guaranteed_raters(panel_size, items, items_per_expert) < min_raters_per_item:
                raise InvalidInput(
                    _too_few_raters(panel_size, items, items_per_expert, min_raters_per_item),
                    fields=("min_raters_per_item",),
                )
    round_.items_per_expert, round_.min_raters_per_item = items_per_expert, min_raters_per_item
    session.add(round_)
    audit.record(
        session,
        study.id,
        researcher,
        "round.subsets",
        f"round:{round_.number}",
        items_per_expert=items_per_expert,
        min_raters_per_item=min_raters_per_item,
    )
    session.flush()
    return round_


def draw(session: Session, round_: Round, experts: list[Expert]) -> None:
    """Draw each invited expert's items as the round opens (reproducible: seeded by the round).
    Refused when the panel that is invited cannot give every item its minimum of raters."""
    if round_.items_per_expert is None or round_.status != RoundStatus.DRAFT:  # drawn once, as it opens
        return
    item_ids = list(
        session.exec(
            select(RoundItem.item_id).where(RoundItem.round_id == round_.id).order_by(col(RoundItem.position))
        ).all()
    )
    size = min(round_.items_per_expert, len(item_ids))
    minimum = round_.min_raters_per_item
    if minimum is not None and scoring.guaranteed_raters(len(experts), len(item_ids), size) < minimum:
        raise Conflict(_too_few_raters(len(experts), len(item_ids), size, minimum))
    ordered = sorted(experts, key=lambda e: e.id)
    groups = [expert.stakeholder_group for expert in ordered]
    subsets = scoring.balanced_subsets(len(ordered), len(item_ids), size, seed=round_.id, groups=groups)
    pool = np.asarray(item_ids, dtype=np.int64)
    rows = [
        {"round_id": round_.id, "expert_id": expert.id, "item_id": int(item_id)}
        for expert, chosen in zip(ordered, subsets, strict=True)
        for item_id in pool[chosen]
    ]
    if rows:
        session.execute(insert(RoundAssignment.__table__), rows)  # type: ignore[attr-defined]


def expected_raters(experts: int, items: int, size: int) -> tuple[int, int]:
    """The fewest and most raters an item gets when ``experts`` each answer ``size`` of ``items``."""
    fewest = scoring.guaranteed_raters(experts, items, size)
    return fewest, fewest + int(items > 0 and experts * min(size, items) % items > 0)


def assigned_pairs(session: Session, round_id: int) -> set[tuple[int, int]]:
    """(expert, item) for every item drawn in the round."""
    return {
        (int(e), int(i))
        for e, i in session.exec(
            select(RoundAssignment.expert_id, RoundAssignment.item_id).where(RoundAssignment.round_id == round_id)
        ).all()
    }


def drawn_items(session: Session, round_: Round, expert_ids: np.ndarray, item_ids: np.ndarray) -> DrawnItems:
    """The round's draw as its analysis reads it: the design with each item's raters, each expert's
    count of items, and which of the analysed experts (rows, ``expert_ids``) were asked which rating
    items (columns, ``item_ids``); a withdrawn expert is not analysed, so not asked."""
    pairs = assigned_pairs(session, round_.id)
    asked = np.zeros((len(expert_ids), len(item_ids)), dtype=bool)
    row = {int(e): k for k, e in enumerate(expert_ids)}
    column = {int(i): k for k, i in enumerate(item_ids)}
    for expert_id, item_id in pairs:
        if expert_id in row and item_id in column:
            asked[row[expert_id], column[item_id]] = True
    design = SubsetDesign(
        items_per_expert=round_.items_per_expert or 0,
        min_raters_per_item=round_.min_raters_per_item,
        raters=dict(Counter(item_id for _, item_id in pairs)),
    )
    return DrawnItems(design=design, per_expert=Counter(expert_id for expert_id, _ in pairs), asked=asked)


def drawn_by_expert(session: Session, round_id: int) -> dict[int, list[int]]:
    """The items drawn for each expert in the round (item ids in increasing order)."""
    drawn: dict[int, list[int]] = {}
    for expert_id, item_id in sorted(assigned_pairs(session, round_id)):
        drawn.setdefault(expert_id, []).append(item_id)
    return drawn


def raters_per_item(session: Session, round_id: int) -> dict[int, int]:
    """How many experts each item of the round was drawn for."""
    return {
        int(item_id): int(n)
        for item_id, n in session.exec(
            select(RoundAssignment.item_id, func.count())
            .where(RoundAssignment.round_id == round_id)
            .group_by(col(RoundAssignment.item_id))
        ).all()
    }
