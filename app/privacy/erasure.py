"""Erasing an expert's personal data, and anonymising a whole study (GDPR articles 17 and 5(1)(e)).

What is personal here: an expert's name, e-mail address, profile (organisation, role...), personal
link, and the researchers' free-text notes about them. Erasure removes all of it from every table
that holds it (the panel, the outbox, the staged panel imports, the audit log's free text, the
rendered reports kept on the server) and keeps the pseudonym, so the study's records still add up.
What happens to the expert's answers is the protocol's choice, made before round 1:

- ``keep_anonymised``: answers in closed rounds stay, under the pseudonym (others have seen them
  in the feedback); answers in a round still open, and every earlier version of an answer (the
  history), are deleted;
- ``remove_answers``: every answer is deleted and the analysed rounds are analysed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, or_
from sqlmodel import Session, col, delete, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.audit.models import AuditEvent
from app.db import utcnow
from app.errors import Conflict, Forbidden, Message
from app.mail.models import OutboxMessage
from app.panel.models import Expert, ExpertStatus, PanelImportRow
from app.reports.models import ReportFile
from app.rounds import analysis
from app.rounds.models import Answer, AnswerHistory, PanelDecisionEntry, Round, RoundResult, RoundStatus
from app.studies.models import REMOVE_ANSWERS, Study

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: no mail can go there


@dataclass(frozen=True)
class Erased:
    pseudonym: str
    answers_deleted: int
    rounds_analysed_again: list[int]


def erased_address(expert: Expert) -> str:
    """The address an erased expert keeps: unique in the study, and nobody's."""
    return f"{expert.pseudonym.lower()}@{ERASED_DOMAIN}"


def erase_expert(session: Session, study: Study, expert: Expert, by: Researcher | None) -> Erased:
    """Erase one expert's personal data (``by`` None: the expert through their link)."""
    if expert.study_id != study.id:
        raise Forbidden(Message("That expert is not on this study's panel."))
    if expert.erased_at is not None:
        raise Conflict(Message("%(expert)s's personal data were already erased.", expert=expert.pseudonym))
    rounds = {r.id: r for r in session.exec(select(Round).where(Round.study_id == study.id)).all()}
    answers = session.exec(select(Answer).where(Answer.expert_id == expert.id)).all()
    if study.erasure_policy == REMOVE_ANSWERS:
        doomed = list(answers)
    else:  # answers of rounds still open were never shown to anyone: they go
        doomed = [a for a in answers if rounds[a.round_id].status in (RoundStatus.DRAFT, RoundStatus.OPEN)]
    for answer in doomed:
        session.delete(answer)
    if study.erasure_policy == REMOVE_ANSWERS:  # what they said of themselves goes with their answers
        expert.self_assessment, expert.interests = {}, {}
    if expert.status == ExpertStatus.ACTIVE:  # an erased expert leaves the panel
        expert.withdraw(utcnow(), "erased")
        session.add(expert)
    session.flush()
    again: list[int] = []
    if study.erasure_policy == REMOVE_ANSWERS and doomed:
        for round_ in sorted(rounds.values(), key=lambda r: r.number):
            if round_.analysed_at is not None and any(a.round_id == round_.id for a in doomed):
                analysis.analyse_round(session, study, round_, by)
                again.append(round_.number)
    # last: the analyses just stored quote other experts' reasons, which may name this one
    _forget_identities(session, study, [expert])
    audit.record(
        session,
        study.id,
        by,
        "expert.erased",
        f"expert:{expert.pseudonym}",
        policy=study.erasure_policy,
        answers_deleted=len(doomed),
        by_the_expert=by is None,
    )
    session.flush()
    return Erased(expert.pseudonym, len(doomed), again)


def anonymise_study(session: Session, study: Study, by: Researcher | None) -> int:
    """Remove every name, address, profile and link of the study's panel (answers stay, under the
    pseudonyms): at the end of the retention period, or by hand once no round is open. Returns how
    many experts were anonymised."""
    if study.anonymised_at is not None:
        raise Conflict(Message("The study is anonymised already."))
    open_round = session.exec(select(Round).where(Round.study_id == study.id, Round.status == RoundStatus.OPEN)).first()
    if open_round is not None:
        raise Conflict(
            Message(
                "Round %(number)s is open: its experts still need their links. Close it first.",
                number=open_round.number,
            )
        )
    if study.ended_at is None:
        raise Conflict(Message("Only a study that has ended (finished or archived) can be anonymised."))
    experts = session.exec(select(Expert).where(Expert.study_id == study.id, col(Expert.erased_at).is_(None))).all()
    _forget_identities(session, study, list(experts))
    session.exec(delete(OutboxMessage).where(col(OutboxMessage.study_id) == study.id))  # type: ignore[call-overload]
    study.anonymised_at = utcnow()
    session.add(study)
    audit.record(session, study.id, by, "study.anonymised", f"study:{study.id}", experts=len(experts))
    session.flush()
    return len(experts)


@dataclass(frozen=True)
class ErasureRecord:
    """What the report says: how many experts were erased, and when."""

    count: int
    first: datetime | None
    last: datetime | None
    policy: str
    anonymised_at: datetime | None


def erasure_record(session: Session, study: Study) -> ErasureRecord:
    times = sorted(
        t
        for t in session.exec(
            select(Expert.erased_at).where(Expert.study_id == study.id, col(Expert.erased_at).is_not(None))
        ).all()
        if t is not None
    )
    return ErasureRecord(
        len(times), times[0] if times else None, times[-1] if times else None, study.erasure_policy, study.anonymised_at
    )


# --- the parts -----------------------------------------------------------------------------------


def _identifiers(expert: Expert) -> list[str]:
    """The strings that identify the expert in free text: their address, and their name when it
    has at least two words ("Anne Martin"): a one-word name ("Hope", "Will") would also match
    ordinary words in other people's text, which must not be touched."""
    found = [expert.email]
    if len(expert.name.split()) >= 2:
        found.append(" ".join(expert.name.split()))
    return [f for f in found if f and not f.endswith("@" + ERASED_DOMAIN)]


def _scrub(text: str | None, identifiers: list[str], replacement: str = "[…]") -> str | None:
    if not text:
        return text
    for identifier in identifiers:  # whole words ("Expert 1" is not inside "Expert 12"), any spacing
        pattern = r"\s+".join(re.escape(word) for word in identifier.split())
        text = re.sub(rf"(?<!\w){pattern}(?!\w)", replacement, text, flags=re.IGNORECASE)
    return text


def _mentions(identifiers: list[str], *columns: Any) -> Any:
    """A SQL filter for the rows whose columns may hold one of the identifiers: any of its words of
    three letters or more, in any case (the exact match is the regular expression's, in Python)."""
    words = {w for identifier in identifiers for w in identifier.split() if len(w) >= 3}
    clauses = [col(c).ilike(f"%{w}%") for c in columns for w in sorted(words)]
    return or_(*clauses) if clauses else false()


def _scrub_json(value: Any, identifiers: list[str], replacement: str) -> Any:
    if isinstance(value, str):
        return _scrub(value, identifiers, replacement)
    if isinstance(value, list):
        return [_scrub_json(v, identifiers, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(v, identifiers, replacement) for k, v in value.items()}
    return value


def _forget_identities(session: Session, study: Study, experts: list[Expert]) -> None:
    """Each expert's row keeps the pseudonym and what the analysis needs (group, weight, status,
    consent version); the rest goes, with every copy elsewhere: the e-mails written to them, the
    earlier versions of their answers, their name or address quoted in their own kept answers, in
    the frozen analyses (reasons are fed back) and in the log's free text, staged imports, and the
    rendered reports kept on the server."""
    if not experts:
        return
    now = utcnow()
    ids = [e.id for e in experts]
    words = {e.pseudonym: _identifiers(e) for e in experts}
    everyone = [w for found in words.values() for w in found]
    round_ids = _round_ids(session, study)
    session.exec(delete(AnswerHistory).where(col(AnswerHistory.expert_id).in_(ids)))  # type: ignore[call-overload]
    # their own answers, and any other expert's that quotes them (read only where a word matches)
    tables: tuple[Any, ...] = (Answer, AnswerHistory)
    for table in tables:
        quoting = _mentions(everyone, table.text, table.reason)
        for row in session.exec(
            select(table).where(col(table.round_id).in_(round_ids), col(table.expert_id).in_(ids) | quoting)
        ).all():
            text, reason = _scrub(row.text, everyone), _scrub(row.reason, everyone)
            if (text, reason) != (row.text, row.reason):
                row.text, row.reason = text, reason
                session.add(row)
    # the narrowing's notes about each expert (the researchers' reasons for keeping or dropping)
    for entry in session.exec(select(PanelDecisionEntry).where(col(PanelDecisionEntry.expert_id).in_(ids))).all():
        reason, override = _scrub(entry.reason, everyone) or "", _scrub(entry.override_reason, everyone) or ""
        if (reason, override) != (entry.reason, entry.override_reason):
            entry.reason, entry.override_reason = reason, override
            session.add(entry)
    for result in session.exec(select(RoundResult).where(col(RoundResult.round_id).in_(round_ids))).all():
        data = _scrub_json(result.data, everyone, "[…]")
        if data != result.data:
            result.data = data
            session.add(result)
    for event in session.exec(select(AuditEvent).where(AuditEvent.study_id == study.id)).all():
        details, target = event.details, event.target
        for pseudonym, found in words.items():  # the log names the expert by pseudonym instead
            details, target = _scrub_json(details, found, pseudonym), _scrub(target, found, pseudonym) or ""
        if details != event.details or target != event.target:
            event.details, event.target = details, target
            session.add(event)
    session.exec(  # type: ignore[call-overload]
        delete(OutboxMessage).where(
            col(OutboxMessage.expert_id).in_(ids)
            | ((col(OutboxMessage.study_id) == study.id) & (col(OutboxMessage.to_address).in_(everyone)))
        )
    )
    session.exec(  # type: ignore[call-overload]
        delete(PanelImportRow).where(col(PanelImportRow.study_id) == study.id, col(PanelImportRow.email).in_(everyone))
    )
    session.exec(delete(ReportFile).where(col(ReportFile.study_id) == study.id))  # type: ignore[call-overload]
    for expert in experts:
        found = words[expert.pseudonym]
        expert.name = ""
        expert.email = erased_address(expert)
        expert.profile = {}
        if expert.interests.get("text"):  # what they declared may name employers or clients
            expert.interests = {**expert.interests, "text": ""}
        expert.link_nonce = expert.link_token_hash = None
        expert.weight_reason = _scrub(expert.weight_reason, found) or ""
        expert.status_reason = _scrub(expert.status_reason, found) or ""
        expert.erased_at = now
        session.add(expert)


def _round_ids(session: Session, study: Study) -> list[int]:
    return list(session.exec(select(Round.id).where(Round.study_id == study.id)).all())
