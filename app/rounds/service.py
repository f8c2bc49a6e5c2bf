"""The round lifecycle (draft -> open -> closed -> analysed), invitations and reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case
from sqlmodel import Session, col, func, select

from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import Transactions, utcnow
from app.errors import Conflict, InvalidInput, Message, NotFound
from app.mail.mailer import Mailer
from app.panel import service as panel
from app.panel.models import Expert, ExpertStatus
from app.panel.schemas import ExpertUpdate
from app.rounds import answers, invitations, subsets
from app.rounds.models import Invitation, Round, RoundItem, RoundResult, RoundStatus
from app.security import hash_token
from app.studies import design
from app.studies import service as studies
from app.studies.models import Item, Study, StudyStatus


def rounds_of(session: Session, study_id: int) -> list[Round]:
    return list(session.exec(select(Round).where(Round.study_id == study_id).order_by(col(Round.number))).all())


def get_round(session: Session, study: Study, number: int) -> Round:
    round_ = session.exec(select(Round).where(Round.study_id == study.id, Round.number == number)).first()
    if round_ is None:
        raise NotFound(Message("This study has no round %(number)s.", number=number))
    return round_


def current_round(session: Session, study_id: int) -> Round | None:
    """The latest round of a study, whatever its state."""
    return session.exec(select(Round).where(Round.study_id == study_id).order_by(col(Round.number).desc())).first()


def follow_latest_round(session: Session, study: Study, latest: Round) -> None:
    """Keep the study's ``preparing_round`` (what changes to its design now prepare) in step with its
    latest round: that round until it is analysed, then the next."""
    study.preparing_round = latest.number + 1 if latest.status == RoundStatus.ANALYSED else latest.number
    session.add(study)
    session.flush()


def open_round_for(session: Session, study_id: int) -> Round | None:
    return session.exec(select(Round).where(Round.study_id == study_id, Round.status == RoundStatus.OPEN)).first()


# The study's open round, else the latest one that was opened (correlated with the study).
_CURRENT_ROUND_ID = (
    select(Round.id)
    .where(col(Round.study_id) == col(Study.id), col(Round.status) != RoundStatus.DRAFT)
    .order_by(case((col(Round.status) == RoundStatus.OPEN, 0), else_=1), col(Round.number).desc())
    .limit(1)
    .correlate(Study)
    .scalar_subquery()
)
# Built once: every request through a link asks it.
_LINK_HOLDER = (
    select(Expert, Study, Round, Invitation)
    .join(Study, col(Study.id) == col(Expert.study_id))
    .outerjoin(Round, col(Round.id) == _CURRENT_ROUND_ID)
    .outerjoin(
        Invitation,
        (col(Invitation.round_id) == col(Round.id)) & (col(Invitation.expert_id) == col(Expert.id)),
    )
    .where(col(Expert.link_token_hash) == bindparam("link_hash"))
)


@dataclass(frozen=True)
class LinkHolder:
    """Who a link belongs to, and where they stand: the round they answer now (the open round, else
    the latest one that was opened) and their invitation to it (None when not invited)."""

    expert: Expert
    study: Study
    round: Round | None
    invitation: Invitation | None


def link_holder(session: Session, token: str) -> LinkHolder | None:
    """Everything a request through an expert's link needs, in one query."""
    row = session.exec(_LINK_HOLDER, params={"link_hash": hash_token(token)}).first()
    return LinkHolder(*row) if row is not None else None


def analysed_result(session: Session, round_: Round) -> RoundResult:
    """The round's stored analysis; asking for it before the analysis is a conflict (409), on a page
    as in the API."""
    result = result_of(session, round_.id)
    if result is None:
        raise Conflict(Message("Round %(number)s has not been analysed yet.", number=round_.number))
    return result


def result_of(session: Session, round_id: int) -> RoundResult | None:
    return session.exec(select(RoundResult).where(RoundResult.round_id == round_id)).first()


def next_round_items(session: Session, study: Study, previous: Round | None) -> list[Item]:
    """Round 1 asks every active item. Later rounds ask the active items that are not open
    questions (those were coded into statements) and have not reached consensus when the
    protocol retires consensual items; items added since (from coding, merges, splits) join."""
    items = design.items_of(session, study.id, active_only=True)
    if previous is None:
        return items
    return [i for i in items if i.kind != "open"]


def create_round(
    session: Session,
    study: Study,
    researcher: Researcher | None,
    *,
    realtime: bool = False,
    closes_at: datetime | None = None,
    reminder_interval_hours: int | None = None,
) -> Round:
    studies.require_active(study)
    if study.status == StudyStatus.FINISHED:
        if study.stopped_reason:
            raise Conflict(
                Message(
                    "The study was ended by its researchers (%(reason)s). Reopen the last round to go on.",
                    reason=study.stopped_reason,
                )
            )
        raise Conflict(Message("The study has finished: its stopping rule was met. Reopen the last round to go on."))
    previous = current_round(session, study.id)
    if previous is not None and previous.status != RoundStatus.ANALYSED:
        raise Conflict(
            Message(
                "Round %(number)s is %(status)s; close and analyse it before preparing the next.",
                number=previous.number,
                status=Message(previous.status),
            )
        )
    number = 1 if previous is None else previous.number + 1
    if number > study.max_rounds:
        raise Conflict(Message("The protocol allows at most %(max_rounds)s rounds.", max_rounds=study.max_rounds))
    items = next_round_items(session, study, previous)
    if not items:
        raise Conflict(Message("There is no active item to ask: add items (or promote coded statements) first."))
    round_ = Round(
        study_id=study.id,
        number=number,
        realtime=realtime,
        closes_at=closes_at,
        reminder_interval_hours=reminder_interval_hours,
    )
    session.add(round_)
    session.flush()
    for position, item in enumerate(items, start=1):
        session.add(RoundItem(round_id=round_.id, item_id=item.id, position=position))
    audit.record(session, study.id, researcher, "round.created", f"round:{number}", items=len(items))
    follow_latest_round(session, study, round_)
    return round_


def update_draft(
    session: Session,
    study: Study,
    round_: Round,
    *,
    realtime: bool,
    closes_at: datetime | None,
    reminder_interval_hours: int | None,
    researcher: Researcher,
) -> Round:
    if round_.status not in (RoundStatus.DRAFT, RoundStatus.OPEN):
        raise Conflict(
            Message(
                "Round %(number)s is %(status)s; its settings cannot change now.",
                number=round_.number,
                status=Message(round_.status),
            )
        )
    if closes_at is not None and closes_at <= utcnow():
        raise InvalidInput(Message("The deadline is in the past; choose a later date."), fields=("closes_at",))
    round_.realtime, round_.closes_at, round_.reminder_interval_hours = realtime, closes_at, reminder_interval_hours
    session.add(round_)
    audit.record(session, study.id, researcher, "round.updated", f"round:{round_.number}")
    session.flush()
    return round_


def set_item_subsets(
    session: Session,
    study: Study,
    round_: Round,
    items_per_expert: int | None,
    min_raters_per_item: int | None,
    researcher: Researcher | None,
) -> Round:
    """Give each expert a random subset of the draft round's items (or every item again), checked
    against the panel that would be invited now (and again as the round opens)."""
    studies.require_active(study)
    panel_size = len(panel_for_round(session, study))
    return subsets.configure(session, study, round_, items_per_expert, min_raters_per_item, panel_size, researcher)


def subset_raters(session: Session, study: Study, round_: Round, n_items: int) -> tuple[int, int] | None:
    """The fewest and most raters of an item in a round with item subsets: as drawn once it opened,
    as the panel of now would get them while it is a draft."""
    if round_.items_per_expert is None:
        return None
    if round_.status == RoundStatus.DRAFT:
        return subsets.expected_raters(len(panel_for_round(session, study)), n_items, round_.items_per_expert)
    drawn = subsets.raters_per_item(session, round_.id).values()
    return min(drawn, default=0), max(drawn, default=0)


def panel_for_round(session: Session, study: Study) -> list[Expert]:
    """Who is invited: the active experts (the narrowing marks the others as dropped)."""
    return panel.experts_of(session, study.id, status=ExpertStatus.ACTIVE)


def open_round(
    session: Session,
    study: Study,
    round_: Round,
    researcher: Researcher | None,
    mailer: Mailer,
) -> list[Invitation]:
    """Open a round: lock the protocol (round 1), invite the panel and queue one e-mail per expert,
    all in the caller's transaction."""
    studies.require_active(study)
    experts = panel_for_round(session, study)
    if not experts:
        raise Conflict(Message("The panel is empty: add experts before opening a round."))
    if session.exec(select(func.count()).select_from(RoundItem).where(RoundItem.round_id == round_.id)).one() == 0:
        raise Conflict(Message("This round has no item."))
    other_open = open_round_for(session, study.id)
    if other_open is not None and other_open.id != round_.id:
        raise Conflict(Message("Round %(number)s is still open.", number=other_open.number))
    subsets.draw(session, round_, experts)  # refused first when the panel is too small for the design
    if round_.number == 1:
        studies.lock_protocol(session, study, researcher)
    studies.run_study(session, study)
    round_.open(utcnow())
    session.add(round_)
    invited = []
    for expert in experts:
        invitation = Invitation(round_id=round_.id, expert_id=expert.id)
        session.add(invitation)
        invited.append(invitation)
        invitations.queue_invitation(session, study, round_, expert, mailer, kind="invitation")
    session.flush()
    previous = session.exec(select(Round).where(Round.study_id == study.id, Round.number == round_.number - 1)).first()
    carried = answers.carry_forward(session, previous, round_) if previous is not None else 0
    audit.record(
        session, study.id, researcher, "round.opened", f"round:{round_.number}", invited=len(experts), carried=carried
    )
    session.flush()
    return invited


def end_study(session: Session, study: Study, reason: str, researcher: Researcher | None) -> Study:
    """End the study by hand, before or instead of its stopping rule; the reason goes into the log
    and the report's methods. No round may be open (close it first: its answers get analysed)."""
    studies.require_active(study)
    reason = reason.strip()
    if len(reason) < 3:
        raise InvalidInput(Message("Say why the study ends (a few words)."), fields=("reason",))
    if len(reason) > 2000:
        raise InvalidInput(Message("The reason is too long (at most 2000 characters)."), fields=("reason",))
    if study.status == StudyStatus.FINISHED:
        raise Conflict(Message("The study has already finished."))
    still_open = open_round_for(session, study.id)
    if still_open is not None:
        raise Conflict(Message("Round %(number)s is open: close it first.", number=still_open.number))
    studies.finish_study(session, study, researcher, reason)
    session.flush()
    return study


def close_round(session: Session, study: Study, round_: Round, researcher: Researcher | None) -> Round:
    """Close and analyse in one transaction (the demo and scripts; served requests and the worker
    use ``close_then_analyse``, which holds no write transaction while the round is analysed)."""
    from app.rounds import analysis

    _close(session, study, round_, researcher)
    analysis.analyse_round(session, study, round_, researcher)
    return round_


def study_and_round(session: Session, study_id: int, round_id: int, for_update: bool = False) -> tuple[Study, Round]:
    """A round of a study by ids, read in ``session`` (locked for update where the database can)."""
    round_ = session.get(Round, round_id, with_for_update=for_update)
    study = session.get(Study, study_id)
    if round_ is None or study is None or round_.study_id != study.id:
        raise NotFound(Message("No such round."))
    return study, round_


def close_then_analyse(transactions: Transactions, study_id: int, round_id: int, researcher: Researcher | None) -> None:
    """Close in a short transaction, then analyse apart (``analysis.analyse_apart``). Should the
    server stop in between, the round reads "closed" and its page offers to analyse it."""
    from app.rounds import analysis

    with transactions.write() as session:
        study, round_ = study_and_round(session, study_id, round_id, for_update=True)
        _close(session, study, round_, researcher)
    analysis.analyse_apart(transactions, study_id, round_id, researcher)


def _close(session: Session, study: Study, round_: Round, researcher: Researcher | None) -> None:
    round_.close(utcnow())
    session.add(round_)
    audit.record(session, study.id, researcher, "round.closed", f"round:{round_.number}")
    session.flush()


def reopen_round(
    session: Session,
    study: Study,
    round_: Round,
    reason: str,
    closes_at: datetime | None,
    researcher: Researcher | None,
) -> Round:
    later = session.exec(select(Round).where(Round.study_id == study.id, Round.number > round_.number)).first()
    if later is not None:
        raise Conflict(
            Message("Round %(number)s exists already; only the last round can be reopened.", number=later.number)
        )
    round_.reopen(utcnow(), reason, closes_at)
    studies.resume_study(session, study)  # ended by its stopping rule or by hand: it goes on
    session.add(round_)
    audit.record(session, study.id, researcher, "round.reopened", f"round:{round_.number}", reason=reason)
    follow_latest_round(session, study, round_)
    return round_


def reissue_link(session: Session, study: Study, expert: Expert, researcher: Researcher, mailer: Mailer) -> str:
    """A new link for an expert (the old one dies); if a round is open, it is e-mailed to them."""
    if expert.status == ExpertStatus.WITHDRAWN:
        raise Conflict(Message("This expert has withdrawn; reinstate them first."))
    audit.record(session, study.id, researcher, "expert.link_reissued", f"expert:{expert.pseudonym}")
    return _new_link_mailed(session, study, expert, mailer)


def edit_expert(
    session: Session, study: Study, expert: Expert, data: ExpertUpdate, researcher: Researcher, mailer: Mailer
) -> list[str]:
    """Correct an expert's details. A changed address gets a new personal link (the old address may
    have been someone else's, and the old link with it) and, if a round is open for them, its
    invitation. Returns the fields that changed."""
    changed = panel.update_expert(session, study, expert, data, researcher)
    if "email" in changed:
        if expert.status == ExpertStatus.WITHDRAWN:  # a new link, mailed only if they come back
            panel.issue_link(session, expert, mailer.secret_key)
        else:
            _new_link_mailed(session, study, expert, mailer)
    return changed


def _new_link_mailed(session: Session, study: Study, expert: Expert, mailer: Mailer) -> str:
    token = panel.issue_link(session, expert, mailer.secret_key)
    round_ = open_round_for(session, study.id)
    if round_ is not None:
        invitation = session.exec(
            select(Invitation).where(Invitation.round_id == round_.id, Invitation.expert_id == expert.id)
        ).first()
        if invitation is not None:
            invitations.queue_invitation(
                session,
                study,
                round_,
                expert,
                mailer,
                kind="invitation",
                sequence=f"link-{(expert.link_token_hash or '')[:12]}",
            )
    return token
