"""Narrowing the panel between rounds: preview the declared rule's proposal, override with a
reason, confirm; the decision, its inputs and every expert's fate are recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app import scoring
from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, InvalidInput, Message
from app.i18n import gettext
from app.mail.mailer import Mailer
from app.panel import expertise
from app.panel import service as panel
from app.panel.models import Expert, ExpertStatus
from app.rounds import invitations
from app.rounds.models import Invitation, PanelDecision, PanelDecisionEntry, Round, RoundResult, RoundStatus
from app.rounds.snapshot import RoundSnapshot
from app.studies.models import Study


@dataclass(frozen=True)
class Proposal:
    rule: scoring.NarrowingRule
    result: scoring.NarrowingResult
    experts: dict[str, Expert]  # by pseudonym
    inputs: dict[str, dict[str, float]]


def fate_data(fate: scoring.narrowing.Fate) -> dict[str, Any]:
    """What a reason is made of, kept with the decision so it can be written in any language."""
    return {
        "kept": fate.kept,
        "group": fate.group,
        "rank": fate.rank,
        "pool_size": fate.pool_size,
        "seats": fate.seats,
        "score": fate.score,
        "cutoff": fate.cutoff,
        "components": fate.components,
        "tie_broken": fate.tie_broken,
    }


def _where(data: dict[str, Any], language: str, group_label: Callable[[str], str]) -> str:
    """Where an expert was ranked: in their group (by its label), or on the whole panel."""
    if data.get("group"):
        return gettext(language, "in group “%(group)s”") % {"group": group_label(data["group"])}
    return gettext(language, "on the panel")


def reason_text(data: dict[str, Any], language: str, group_label: Callable[[str], str]) -> str:
    """The reason for an expert's fate, in the page's language (from ``fate_data``)."""
    where = _where(data, language, group_label)
    parts = ", ".join(f"{gettext(language, name)} {value:.2f}" for name, value in data["components"].items())
    details = gettext(
        language, "rank %(rank)s of %(pool)s %(where)s, which keeps %(seats)s; composite score %(score)s (%(parts)s)"
    ) % {
        "rank": data["rank"],
        "pool": data["pool_size"],
        "where": where,
        "seats": data["seats"],
        "score": f"{data['score']:.3f}",
        "parts": parts,
    }
    if data["kept"]:
        text = gettext(language, "Kept: %(details)s") % {"details": details}
    elif data["seats"] == 0:
        text = gettext(language, "Dropped: %(details)s; the group has no seat at this panel size") % {
            "details": details
        }
    elif data["tie_broken"]:
        text = gettext(language, "Dropped: %(details)s") % {"details": details}
    else:
        text = gettext(language, "Dropped: %(details)s; below %(cutoff)s, the lowest score kept") % {
            "details": details,
            "cutoff": f"{data['cutoff']:.3f}",
        }
    if data["tie_broken"]:
        text += gettext(
            language, "; tied with the lowest score kept, decided by completeness, then participation, then pseudonym"
        )
    return text + "."


def dropped_reasons(
    session: Session,
    study: Study,
    language: str,
    group_label: Callable[[str], str],
    expert_id: int | None = None,
    expert_ids: list[int] | None = None,
) -> dict[int, str]:
    """A short reason for each expert left out by a narrowing (or for ``expert_id`` only, or the
    ``expert_ids`` of a page of the panel), by expert id, in ``language``: the round, and the rank
    in their group (with the group's label) or the researcher's own reason."""
    query = (
        select(PanelDecisionEntry, PanelDecision, Round, Expert.pseudonym)
        .join(Expert, col(Expert.id) == col(PanelDecisionEntry.expert_id))
        .join(PanelDecision, col(PanelDecision.id) == col(PanelDecisionEntry.decision_id))
        .join(Round, col(Round.id) == col(PanelDecision.round_id))
        .where(PanelDecision.study_id == study.id, col(PanelDecisionEntry.kept).is_(False))
    )
    if expert_id is not None:
        query = query.where(PanelDecisionEntry.expert_id == expert_id)
    if expert_ids is not None:
        query = query.where(col(PanelDecisionEntry.expert_id).in_(expert_ids))
    rows = session.exec(query).all()
    reasons = {}
    for entry, decision, round_, pseudonym in rows:
        if entry.overridden:
            text = gettext(language, "Not retained after round %(number)s: %(reason)s") % {
                "number": round_.number,
                "reason": entry.override_reason,
            }
        else:
            fate = decision.inputs.get("fates", {}).get(pseudonym, {})
            text = gettext(language, "Not retained after round %(number)s: rank %(rank)s of %(pool)s %(where)s") % {
                "number": round_.number,
                "rank": entry.rank,
                "pool": fate.get("pool_size", "?"),
                "where": _where(fate, language, group_label),
            }
        reasons[entry.expert_id] = text
    return reasons


def decision_for(session: Session, round_: Round) -> PanelDecision | None:
    return session.exec(select(PanelDecision).where(PanelDecision.round_id == round_.id)).first()


def rule_of(study: Study) -> scoring.NarrowingRule | None:
    target = study.narrowing.get("target")
    if not target:
        return None
    return scoring.NarrowingRule(
        target=int(target),
        keep_group_share=bool(study.narrowing.get("keep_group_share", True)),
        composite=study.narrowing.get("composite") or {"weight": 1.0},
    )


def propose(session: Session, study: Study, round_: Round) -> Proposal:
    """What the protocol's rule gives after this round: deterministic for the same data."""
    rule = rule_of(study)
    if rule is None:
        raise Conflict(Message("The protocol declares no narrowing rule (no target panel size)."))
    if round_.status != RoundStatus.ANALYSED:
        raise Conflict(
            Message(
                "Round %(number)s is %(status)s; narrowing follows an analysed round.",
                number=round_.number,
                status=Message(round_.status),
            )
        )
    snapshot = RoundSnapshot.load(session.exec(select(RoundResult).where(RoundResult.round_id == round_.id)).one().data)
    participation = {p.expert_id: p for p in snapshot.experts}
    cooke = {e.expert: e.combined or 0.0 for e in (snapshot.cooke.experts if snapshot.cooke else [])}
    rounds_so_far = session.exec(
        select(Round.id).where(Round.study_id == study.id, Round.number <= round_.number)
    ).all()
    submitted = session.exec(
        select(Invitation.expert_id).where(
            col(Invitation.round_id).in_(rounds_so_far), col(Invitation.submitted_at).is_not(None)
        )
    ).all()
    experts = session.exec(
        select(Expert)
        .where(col(Expert.id).in_(list(participation)), Expert.status == ExpertStatus.ACTIVE)
        .order_by(col(Expert.pseudonym))
    ).all()
    candidates, inputs = [], {}
    for expert in experts:
        p = participation[expert.id]
        values = {
            "weight": float(expert.weight),
            "participation": sum(1 for s in submitted if s == expert.id) / max(len(rounds_so_far), 1),
            "completeness": p.answered / p.items if p.items else 0.0,
            "performance": float(cooke.get(expert.pseudonym, 0.0)),
            "competence": expertise.value(study, expert) or 0.0,  # K or Cr; none given counts 0
        }
        inputs[expert.pseudonym] = values
        candidates.append(scoring.Candidate(key=expert.pseudonym, group=expert.stakeholder_group, **values))
    if not candidates:
        raise Conflict(Message("No active expert took part in this round."))
    return Proposal(
        rule=rule, result=scoring.narrow(candidates, rule), experts={e.pseudonym: e for e in experts}, inputs=inputs
    )


def confirm(
    session: Session,
    study: Study,
    round_: Round,
    overrides: dict[str, tuple[bool, str]],
    researcher: Researcher | None,
    *,
    thank_dropped: Mailer | None = None,
) -> PanelDecision:
    """Record the decision. ``overrides`` maps a pseudonym to (kept, reason) where the researcher
    departs from the rule; the dropped experts are not invited to the next round. With a mailer as
    ``thank_dropped``, each of them gets a thank-you e-mail."""
    if decision_for(session, round_) is not None:
        raise Conflict(Message("The panel was already narrowed after round %(number)s.", number=round_.number))
    later = session.exec(select(Round).where(Round.study_id == study.id, Round.number > round_.number)).first()
    if later is not None and later.status != RoundStatus.DRAFT:
        raise Conflict(
            Message("Round %(number)s has started; the panel can no longer be narrowed before it.", number=later.number)
        )
    proposal = propose(session, study, round_)
    unknown = sorted(set(overrides) - set(proposal.experts))
    if unknown:
        raise InvalidInput(
            Message("Not on this round's panel: %(names)s.", names=", ".join(unknown)), fields=("overrides",)
        )
    missing = sorted(key for key, (_, reason) in overrides.items() if not reason.strip())
    if missing:
        raise InvalidInput(
            Message("Say why each departure from the rule is made: %(names)s.", names=", ".join(missing)),
            fields=[f"reason_{key}" for key in missing],
        )
    decision = PanelDecision(
        study_id=study.id,
        round_id=round_.id,
        rule={
            "target": proposal.rule.target,
            "keep_group_share": proposal.rule.keep_group_share,
            "composite": dict(proposal.rule.composite),
        },
        inputs={
            "experts": proposal.inputs,
            "seats": proposal.result.seats,
            "fates": {f.key: fate_data(f) for f in proposal.result.fates},
        },
        researcher_id=researcher.id if researcher else None,
        decided_at=utcnow(),
    )
    session.add(decision)
    session.flush()
    kept_count = 0
    for fate in proposal.result.fates:
        expert = proposal.experts[fate.key]
        kept, reason, overridden, override_reason = fate.kept, fate.reason, False, ""
        if fate.key in overrides and overrides[fate.key][0] != fate.kept:
            kept, overridden, override_reason = overrides[fate.key][0], True, overrides[fate.key][1].strip()
        session.add(
            PanelDecisionEntry(
                decision_id=decision.id,
                expert_id=expert.id,
                kept=kept,
                rank=fate.rank,
                score=fate.score,
                reason=reason,
                overridden=overridden,
                override_reason=override_reason,
            )
        )
        if not kept:
            panel.drop_expert(session, expert, override_reason or reason)
            if thank_dropped is not None:
                invitations.queue_not_retained(session, study, round_, expert, thank_dropped)
        kept_count += kept
    audit.record(
        session,
        study.id,
        researcher,
        "panel.narrowed",
        f"round:{round_.number}",
        kept=kept_count,
        dropped=len(proposal.result.fates) - kept_count,
        overrides={k: v[0] for k, v in overrides.items()},
        thanked=thank_dropped is not None,
    )
    session.flush()
    return decision


def entries_of(session: Session, decision: PanelDecision) -> list[tuple[PanelDecisionEntry, Expert]]:
    return [
        (entry, expert)
        for entry, expert in session.exec(
            select(PanelDecisionEntry, Expert)
            .join(Expert, col(Expert.id) == col(PanelDecisionEntry.expert_id))
            .where(PanelDecisionEntry.decision_id == decision.id)
            .order_by(col(Expert.stakeholder_group), col(PanelDecisionEntry.rank))
        ).all()
    ]


def proposal_rows(proposal: Proposal) -> list[dict[str, Any]]:
    return [
        {**fate_data(f), "pseudonym": f.key, "reason": f.reason, "inputs": proposal.inputs[f.key]}
        for f in sorted(proposal.result.fates, key=lambda f: (f.group, f.rank))
    ]
