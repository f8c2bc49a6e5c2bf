"""Invitations and reminders: each written from the e-mail templates in the expert's language and
queued in the outbox; one reminder routine for the researcher's button and for the worker's schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, Message
from app.i18n import N_, gettext
from app.mail import service as mail
from app.mail.mailer import Mailer
from app.mail.models import OutboxMessage
from app.mail.service import RenderedEmail
from app.panel import service as panel
from app.panel.models import Expert, ExpertStatus
from app.rounds.models import Invitation, Round, RoundStatus
from app.studies.models import Study
from app.studies.translations import Localiser

SUBJECTS = {
    "invitation": N_("Delphi study “%(title)s”: round %(number)s is open"),
    "reminder": N_("Reminder: round %(number)s of the Delphi study “%(title)s”"),
    "not_retained": N_("Thank you for taking part in the Delphi study “%(title)s”"),
}


def expert_language(study: Study, expert: Expert) -> str:
    return expert.language or study.language


def subject(kind: str, language: str, study: Study, round_: Round) -> str:
    """The subject of an invitation or a reminder, in ``language``."""
    title = Localiser(study, language).study("title").value
    return gettext(language, SUBJECTS[kind]) % {"title": title, "number": round_.number}


def round_email(
    mailer: Mailer,
    kind: str,
    language: str,
    study: Study,
    round_: Round,
    expert: Expert,
    *,
    link: str = "",
    subject_prefix: str = "",
) -> RenderedEmail:
    """An e-mail of a round (invitation, reminder, thank-you) in ``language``: the one place its
    templates get their context, the study's texts in that language among it."""
    return mailer.render(
        kind,
        language,
        subject_prefix + subject(kind, language, study, round_),
        study=study,
        round=round_,
        expert=expert,
        link=link,
        closes_at=round_.closes_at,
        local=Localiser(study, language),
    )


def queue_invitation(
    session: Session,
    study: Study,
    round_: Round,
    expert: Expert,
    mailer: Mailer,
    *,
    kind: str,
    sequence: str = "0",
) -> None:
    """Queue an invitation or a reminder, written from the e-mail templates in the expert's language."""
    panel.current_link(session, expert, mailer.secret_key)  # the expert has a link (issued if need be)
    language = expert_language(study, expert)
    link = f"{mailer.base_url}/e/{mail.PERSONAL_LINK}"  # the real token is put in at delivery
    email = round_email(mailer, kind, language, study, round_, expert, link=link)
    mail.queue(
        session,
        dedupe_key=f"{kind}:{round_.id}:{expert.id}:{sequence}",
        to=expert.email,
        email=email,
        kind=kind,
        study_id=study.id,
        round_id=round_.id,
        expert_id=expert.id,
        link_nonce=expert.link_nonce,
    )


def queue_not_retained(session: Session, study: Study, round_: Round, expert: Expert, mailer: Mailer) -> None:
    """Thank an expert the narrowing after ``round_`` left out, and tell them the next rounds go on
    without them. No link: there is nothing more for them to answer."""
    email = round_email(mailer, "not_retained", expert_language(study, expert), study, round_, expert)
    mail.queue(
        session,
        dedupe_key=f"not_retained:{round_.id}:{expert.id}",
        to=expert.email,
        email=email,
        kind="not_retained",
        study_id=study.id,
        round_id=round_.id,
        expert_id=expert.id,
    )


def first_sent(session: Session, round_id: int) -> dict[int, datetime]:
    """When each expert's invitation to the round first went out, by expert id: the outbox says."""
    rows = session.exec(
        select(OutboxMessage.expert_id, func.min(OutboxMessage.sent_at))
        .where(
            OutboxMessage.round_id == round_id,
            OutboxMessage.kind == "invitation",
            col(OutboxMessage.sent_at).is_not(None),
        )
        .group_by(col(OutboxMessage.expert_id))
    ).all()
    return {expert_id: sent for expert_id, sent in rows if expert_id is not None and sent is not None}


def remind(
    session: Session,
    study: Study,
    round_: Round,
    mailer: Mailer,
    *,
    due_after: timedelta | None = None,
) -> int:
    """Queue a reminder for each invited expert still on the panel who has not submitted and has had
    fewer than the round's ``max_reminders``. With ``due_after`` (the worker's schedule), only for
    those whose invitation or last reminder went out at least that long ago. Returns how many."""
    pending = session.exec(
        select(Invitation, Expert)
        .join(Expert, col(Expert.id) == col(Invitation.expert_id))
        .where(
            Invitation.round_id == round_.id,
            col(Invitation.submitted_at).is_(None),
            Expert.status == ExpertStatus.ACTIVE,
            Invitation.reminder_count < round_.max_reminders,
        )
    ).all()
    now = utcnow()
    sent_at = first_sent(session, round_.id) if due_after is not None else {}
    queued = 0
    for invitation, expert in pending:
        if due_after is not None:
            last = invitation.last_reminder_at or sent_at.get(expert.id) or round_.opened_at
            if last is None or now - last < due_after:
                continue
        _send_reminder(session, study, round_, expert, invitation, mailer, now)
        queued += 1
    session.flush()
    return queued


def _send_reminder(
    session: Session,
    study: Study,
    round_: Round,
    expert: Expert,
    invitation: Invitation,
    mailer: Mailer,
    now: datetime,
) -> None:
    """Count the reminder on the invitation and queue it (each reminder its own message)."""
    invitation.reminder_count += 1
    invitation.last_reminder_at = now
    session.add(invitation)
    queue_invitation(session, study, round_, expert, mailer, kind="reminder", sequence=str(invitation.reminder_count))


def _require_open(round_: Round) -> None:
    if round_.status != RoundStatus.OPEN:
        raise Conflict(
            Message(
                "Round %(number)s is %(status)s; reminders are for open rounds.",
                number=round_.number,
                status=Message(round_.status),
            )
        )


def remind_expert(
    session: Session, study: Study, round_: Round, expert: Expert, researcher: Researcher | None, mailer: Mailer
) -> None:
    """One reminder to one expert, now (the panel's per-expert page). It counts among the expert's
    reminders but is not held back by the round's ``max_reminders``: the researcher chose to send it."""
    _require_open(round_)
    if expert.status != ExpertStatus.ACTIVE:
        raise Conflict(Message("%(expert)s is not on the panel.", expert=expert.pseudonym))
    invitation = session.exec(
        select(Invitation).where(Invitation.round_id == round_.id, Invitation.expert_id == expert.id)
    ).first()
    if invitation is None:
        raise Conflict(
            Message("%(expert)s is not invited to round %(number)s.", expert=expert.pseudonym, number=round_.number)
        )
    if invitation.submitted_at is not None:
        raise Conflict(Message("%(expert)s has already submitted this round.", expert=expert.pseudonym))
    _send_reminder(session, study, round_, expert, invitation, mailer, utcnow())
    audit.record(session, study.id, researcher, "expert.reminded", f"expert:{expert.pseudonym}", round=round_.number)
    session.flush()


def send_reminders(
    session: Session,
    study: Study,
    round_: Round,
    researcher: Researcher | None,
    mailer: Mailer,
) -> int:
    """The researcher's button: remind, now, those who have not submitted (up to the round's
    ``max_reminders`` each, as the schedule does)."""
    _require_open(round_)
    queued = remind(session, study, round_, mailer)
    audit.record(session, study.id, researcher, "round.reminders", f"round:{round_.number}", count=queued)
    session.flush()
    return queued
