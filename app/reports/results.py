"""Everything a report needs, gathered once from the study's snapshots and history.

Nothing is recomputed from answers here except what no snapshot holds: the final weights (each
item's figures from the last round that rated it) and the attrition comparison.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, func, select

from app import __version__, scoring
from app.accounts.models import Researcher, StudyMember
from app.audit.models import AuditEvent
from app.panel.models import Expert
from app.rounds import narrowing
from app.rounds.analysis import rating_matrix
from app.rounds.models import (
    Answer,
    AnswerHistory,
    Invitation,
    PanelDecisionEntry,
    Round,
    RoundResult,
    RoundStatus,
    Statement,
    StatementSource,
    StatementStatus,
)
from app.rounds.snapshot import RatingResult, RoundSnapshot, Stats
from app.studies import design
from app.studies import service as studies
from app.studies.models import Item, ItemRevision, ItemStatus, Study, Theme


@dataclass
class ItemOutcome:
    item: Item
    rounds: dict[int, Any] = field(default_factory=dict)  # round number -> its snapshot entry (ItemResult)
    weight: float | None = None
    rank: int | None = None

    @property
    def last_round(self) -> int | None:
        return max(self.rounds) if self.rounds else None

    @property
    def final(self) -> Any:
        return self.rounds[self.last_round] if self.rounds else None  # type: ignore[index]

    @property
    def final_stats(self) -> Stats | None:
        final = self.final
        return final.shown_stats if isinstance(final, RatingResult) else None

    @property
    def answered(self) -> bool:
        """Somebody answered the item in some round."""
        return any(e.n for e in self.rounds.values())

    @property
    def reasons(self) -> list[tuple[int, str]]:
        """Every anonymous reason given for the item, with its round."""
        return [(n, reason) for n in sorted(self.rounds) for reason in self.rounds[n].reasons]

    @property
    def consensus_round(self) -> int | None:
        return next((n for n in sorted(self.rounds) if self.rounds[n].consensus), None)

    @property
    def fate(self) -> str:
        """What happened to the item, in a few words (kept, reworded, merged...)."""
        item = self.item
        if item.status == ItemStatus.MERGED:
            return "merged"
        if item.status == ItemStatus.SPLIT:
            return "split"
        if self.consensus_round is not None:
            return "consensus"
        if item.status in (ItemStatus.RETIRED, ItemStatus.DROPPED):
            return "retired"
        if not self.rounds:
            return "not asked"
        return "no consensus"


@dataclass
class ThemeOutcome:
    theme: Theme | None
    score: float
    weight: float
    rank: int
    items: list[ItemOutcome]

    @property
    def title(self) -> str:
        return self.theme.title if self.theme else "—"


@dataclass
class GroupFlow:
    invited: int = 0
    responded: int = 0
    submitted: int = 0

    @property
    def response_rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


@dataclass
class RoundOutcome:
    round: Round
    data: RoundSnapshot | None
    groups: dict[str, GroupFlow]
    total: GroupFlow
    kept_after: int | None = None
    days_since_previous: float | None = None
    # answers given in the round, by the language of the expert's page ("" where not recorded)
    languages: dict[str, int] = field(default_factory=dict)
    reminders_sent: int = 0  # reminder e-mails, and the experts they went to
    experts_reminded: int = 0


@dataclass(frozen=True)
class CodedStatement:
    text: str
    status: str
    item_id: int | None
    next_round: int


@dataclass
class StudyResults:
    study: Study
    rounds: list[RoundOutcome]
    items: list[ItemOutcome]
    themes: list[ThemeOutcome]
    experts: list[Expert]
    decision: list[tuple[PanelDecisionEntry, Expert]]
    decision_round: int | None
    decision_rule: dict[str, Any] | None
    decision_fates: dict[str, Any]
    attrition: scoring.AttritionComparison | None
    revisions: list[ItemRevision]
    audit: list[AuditEvent]
    statements: dict[int, list[CodedStatement]] = field(default_factory=dict)  # open item -> coded from it
    roles: dict[str, int] = field(default_factory=dict)  # the research team: members by role
    researchers_on_panel: int = 0  # team members who were also experts (by e-mail): they rated too
    software: str = f"Delphi {__version__}"
    generated_at: datetime | None = None

    @property
    def analysed(self) -> list[RoundOutcome]:
        return [r for r in self.rounds if r.data is not None]

    @property
    def erasures(self) -> list[datetime]:
        """When experts' personal data were erased, oldest first (the report says how many, and when)."""
        return sorted(e.erased_at for e in self.experts if e.erased_at is not None)

    @property
    def panel_initial(self) -> int:
        return self.rounds[0].total.invited if self.rounds else len(self.experts)

    @property
    def panel_final(self) -> int:
        return self.rounds[-1].total.invited if self.rounds else len(self.experts)

    @property
    def dissent(self) -> list[ItemOutcome]:
        return [
            o
            for o in self.items
            if o.item.kind == "rating" and o.rounds and o.consensus_round is None and o.final_stats and o.answered
        ]

    def group_label(self, key: str) -> str:
        return studies.group_label(self.study, key) or "—"


def final_results(session: Session, study_id: int) -> StudyResults:
    study = studies.get_study(session, study_id)
    rounds = list(session.exec(select(Round).where(Round.study_id == study.id).order_by(col(Round.number))).all())
    snapshots = {
        r.round_id: RoundSnapshot.load(r.data)
        for r in session.exec(select(RoundResult).where(col(RoundResult.round_id).in_([r.id for r in rounds]))).all()
    }
    items = design.items_of(session, study.id)
    experts = list(
        session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.pseudonym))).all()
    )
    by_expert = {e.id: e for e in experts}

    outcomes = {item.id: ItemOutcome(item) for item in items}
    for round_ in rounds:
        data = snapshots.get(round_.id)
        for entry in data.items if data else []:
            if entry.item_id in outcomes:
                outcomes[entry.item_id].rounds[round_.number] = entry

    themes = {t.id: t for t in design.themes_of(session, study.id)}
    rated = [
        o for o in outcomes.values() if o.item.kind == "rating" and o.final_stats and o.final_stats.mean is not None
    ]
    theme_outcomes: list[ThemeOutcome] = []
    if rated:
        weights = scoring.importance_weights(
            np.array([o.final_stats.mean for o in rated], dtype=np.float64),  # type: ignore[union-attr]
            [o.item.theme_id for o in rated],
            (study.scale_min, study.scale_max),
        )
        for outcome, weight, rank in zip(rated, weights.item_weight, weights.item_rank, strict=True):
            outcome.weight, outcome.rank = float(weight), int(rank)
        for k, key in enumerate(weights.theme_keys):
            members = sorted((o for o in rated if o.item.theme_id == key), key=lambda o: (o.rank or 0, o.item.id))
            theme_outcomes.append(
                ThemeOutcome(
                    themes.get(key),
                    float(weights.theme_score[k]),
                    float(weights.theme_weight[k]),
                    int(weights.theme_rank[k]),
                    members,
                )
            )
        theme_outcomes.sort(key=lambda t: (t.rank, t.title))

    flows = _flows(session, study, rounds, snapshots, by_expert)
    decision_entries: list[tuple[PanelDecisionEntry, Expert]] = []
    decision_round, decision_rule, decision_fates = None, None, {}
    for round_ in rounds:
        decision = narrowing.decision_for(session, round_)
        if decision is not None:
            decision_entries = narrowing.entries_of(session, decision)
            decision_round, decision_rule = round_.number, decision.rule
            decision_fates = decision.inputs.get("fates", {})
            for flow in flows:
                if flow.round.number == round_.number:
                    flow.kept_after = sum(entry.kept for entry, _ in decision_entries)
    return StudyResults(
        study=study,
        rounds=flows,
        items=sorted(outcomes.values(), key=lambda o: (o.item.position, o.item.id)),
        themes=theme_outcomes,
        experts=experts,
        decision=decision_entries,
        decision_round=decision_round,
        decision_rule=decision_rule,
        decision_fates=decision_fates,
        attrition=_attrition(session, rounds, rated),
        revisions=design.revisions_of(session, study.id),
        statements=_statements(session, study),
        **_team(session, study, experts),
        audit=list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.study_id == study.id)
                .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
            ).all()
        ),
    )


def _statements(session: Session, study: Study) -> dict[int, list[CodedStatement]]:
    """The statements coded from each open item's answers (merged ones are counted in the one they
    joined)."""
    rows = session.exec(
        select(Answer.item_id, Statement, Round.number)
        .join(StatementSource, col(StatementSource.answer_id) == col(Answer.id))
        .join(Statement, col(Statement.id) == col(StatementSource.statement_id))
        .join(Round, col(Round.id) == col(Statement.round_id))
        .where(Statement.study_id == study.id, Statement.status != StatementStatus.MERGED)
        .order_by(col(Statement.id))
    ).all()
    found: dict[int, list[CodedStatement]] = {}
    seen: set[tuple[int, int]] = set()
    for item_id, statement, number in rows:
        if (item_id, statement.id) not in seen:
            seen.add((item_id, statement.id))
            found.setdefault(item_id, []).append(
                CodedStatement(statement.text, statement.status, statement.item_id, number + 1)
            )
    return found


def _team(session: Session, study: Study, experts: list[Expert]) -> dict[str, Any]:
    """The research team by role, and how many of its members also sat on the panel (the report
    says who had voting rights)."""
    members = session.exec(
        select(StudyMember.role, Researcher.email)
        .join(Researcher, col(Researcher.id) == col(StudyMember.researcher_id))
        .where(StudyMember.study_id == study.id)
    ).all()
    on_panel = {e.email.lower() for e in experts if e.erased_at is None}
    return {
        "roles": dict(Counter(role for role, _ in members)),
        "researchers_on_panel": sum(1 for _, email in members if email.lower() in on_panel),
    }


def _flows(
    session: Session,
    study: Study,
    rounds: list[Round],
    snapshots: dict[int, RoundSnapshot],
    experts: dict[int, Expert],
) -> list[RoundOutcome]:
    flows = []
    previous_opened = None
    languages: dict[int, dict[str, int]] = defaultdict(dict)
    # answers given in the round (saved by the expert there), not carried forward from the round before
    given = (
        select(AnswerHistory.answer_id)
        .where(AnswerHistory.answer_id == Answer.id, AnswerHistory.source != "carried")
        .exists()
    )
    for round_id, language, count in session.exec(
        select(Answer.round_id, Answer.language, func.count())
        .where(col(Answer.round_id).in_([r.id for r in rounds]), given)
        .group_by(col(Answer.round_id), col(Answer.language))
    ).all():
        languages[round_id][language or ""] = count
    for round_ in rounds:
        invitations = session.exec(select(Invitation).where(Invitation.round_id == round_.id)).all()
        data = snapshots.get(round_.id)
        answered = {p.expert_id: p.answered > 0 for p in data.experts} if data else {}
        groups: dict[str, GroupFlow] = defaultdict(GroupFlow)
        total = GroupFlow()
        for invitation in invitations:
            expert = experts.get(invitation.expert_id)
            key = expert.stakeholder_group if expert else ""
            responded = answered.get(invitation.expert_id, invitation.started_at is not None)
            for flow in (groups[key], total):
                flow.invited += 1
                flow.responded += responded
                flow.submitted += invitation.submitted_at is not None
        days = None
        if previous_opened and round_.opened_at:
            days = (round_.opened_at - previous_opened).total_seconds() / 86400
        previous_opened = round_.opened_at or previous_opened
        flows.append(
            RoundOutcome(
                round_,
                data,
                dict(groups),
                total,
                days_since_previous=days,
                languages=languages.get(round_.id, {}),
                reminders_sent=sum(i.reminder_count for i in invitations),
                experts_reminded=sum(1 for i in invitations if i.reminder_count),
            )
        )
    return flows


def _attrition(session: Session, rounds: list[Round], rated: list[ItemOutcome]) -> scoring.AttritionComparison | None:
    """Round-1 answers of those who answered the last round against those who did not."""
    analysed = [r for r in rounds if r.status == RoundStatus.ANALYSED]
    if len(analysed) < 2:
        return None
    first, last = analysed[0], analysed[-1]
    first_ids = sorted(session.exec(select(Invitation.expert_id).where(Invitation.round_id == first.id)).all())
    stayed_ids = set(
        session.exec(
            select(Invitation.expert_id).where(
                Invitation.round_id == last.id,
                col(Invitation.started_at).is_not(None) | col(Invitation.submitted_at).is_not(None),
            )
        ).all()
    )
    item_ids = np.array(sorted(o.item.id for o in rated if 1 in o.rounds), dtype=np.float64)
    if not len(item_ids) or not first_ids:
        return None
    matrix = rating_matrix(session, first.id, np.array(first_ids, dtype=np.float64), item_ids)
    stayed = np.array([e in stayed_ids for e in first_ids])
    return scoring.attrition_bias(matrix[stayed], matrix[~stayed])
