"""Single-use links sent to researchers by e-mail: a password reset, and an invitation to a study
that creates the account on first use (SECURITY.md 1 and 6, OWASP's Forgot Password cheat sheet).

A link's token is derived from the secret key and a random nonce; the outbox keeps the nonce, the
``account_token`` row the token's hash. A link works once, for a short time, and asking for one
answers the same whether or not the address has an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, delete, select

from app.accounts import service
from app.accounts.models import ROLES, AccountToken, Researcher, StudyMember
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, Gone, InvalidInput, Message
from app.i18n import gettext
from app.mail import service as mail
from app.mail.mailer import Mailer
from app.security import account_link_token, hash_token, new_link_nonce

RESET = "reset"
INVITATION = "invitation"
EMAIL_CHANGE = "email"
EMAIL_CHANGE_LIFETIME = timedelta(days=1)
RESET_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
RESETS_PER_HOUR = 3  # e-mails to one address; more requests are answered the same and send nothing
LINK_NOT_VALID = Message("This link is not valid: it was used already, has expired, or was replaced by a newer one.")


def _mail_link(
    session: Session,
    mailer: Mailer,
    fields: dict[str, Any],
    template: str,
    language: str,
    subject: str,
    path: str,
    **context: object,
) -> AccountToken:
    """A new token (``fields``; its hash stored) and its e-mail (``emails/<template>``, also the
    outbox's kind) to the token's address, with the link ``/<path>/<token>``: the outbox keeps the
    nonce, the link is derived at delivery."""
    nonce = new_link_nonce()
    token = AccountToken(token_hash=hash_token(account_link_token(mailer.secret_key, nonce)), **fields)
    session.add(token)
    session.flush()
    link = f"{mailer.base_url}/{path}/{mail.PERSONAL_LINK}"
    mail.queue(
        session,
        dedupe_key=f"account:{token.token_hash}",
        to=token.email,
        email=mailer.render(template, language, subject, link=link, **context),
        kind=template,
        study_id=token.study_id,
        link_nonce=nonce,
    )
    return token


def request_password_reset(session: Session, email: str, mailer: Mailer, language: str) -> None:
    """Queue a reset link to an active account with this address, at most ``RESETS_PER_HOUR`` an
    hour. Returns nothing and raises nothing about the address: the page says the same either way."""
    address = service.normalise_email(email)
    researcher = session.exec(select(Researcher).where(Researcher.email == address)).first()
    if researcher is None or not researcher.is_active:
        return
    now = utcnow()
    recent = session.exec(
        select(func.count())
        .select_from(AccountToken)
        .where(
            AccountToken.researcher_id == researcher.id,
            AccountToken.purpose == RESET,
            col(AccountToken.created_at) > now - timedelta(hours=1),
        )
    ).one()
    if recent >= RESETS_PER_HOUR:
        return
    # a new link replaces the earlier ones (which still count in the hour): only the latest works
    _revoke(session, RESET, researcher_id=researcher.id)
    language = researcher.language or language
    _mail_link(
        session,
        mailer,
        {"purpose": RESET, "email": address, "researcher_id": researcher.id, "expires_at": now + RESET_LIFETIME},
        "password_reset",
        language,
        gettext(language, "Delphi: choose a new password"),
        "password/reset",
        minutes=int(RESET_LIFETIME.total_seconds() // 60),
    )
    audit.record(session, None, researcher, "account.password_reset_asked")


def valid_token(session: Session, raw_token: str, purpose: str) -> AccountToken:
    """The unused, unexpired token behind a link, or ``Gone`` with one message for every failure."""
    token = session.exec(select(AccountToken).where(AccountToken.token_hash == hash_token(raw_token))).first()
    if token is None or token.purpose != purpose or token.spent_at is not None or token.expires_at <= utcnow():
        raise Gone(LINK_NOT_VALID)
    return token


def reset_password(session: Session, raw_token: str, password: str) -> Researcher:
    """Set the new password, spend the link, and end every session of the account (whoever asked
    for the reset may not be the only one who knew the old password)."""
    token = valid_token(session, raw_token, RESET)
    researcher = session.get(Researcher, token.researcher_id)
    if researcher is None or not researcher.is_active:
        raise Gone(LINK_NOT_VALID)
    service.set_password(session, researcher, password)
    token.spent_at = utcnow()
    session.add(token)
    service.end_sessions(session, researcher.id)
    audit.record(session, None, researcher, "account.password_reset")
    return researcher


def request_email_change(session: Session, researcher: Researcher, email: str, mailer: Mailer, language: str) -> None:
    """Send the new address a link that makes it the account's login (a link sent earlier stops
    working). Refused at once when another account uses the address."""
    address = service.validate_email(email)
    if address == researcher.email:
        raise InvalidInput(Message("This is your address already."), fields=("email",))
    service.refuse_taken(session, address)
    _revoke(session, EMAIL_CHANGE, researcher_id=researcher.id)
    language = researcher.language or language
    fields = {
        "purpose": EMAIL_CHANGE,
        "email": address,
        "researcher_id": researcher.id,
        "expires_at": utcnow() + EMAIL_CHANGE_LIFETIME,
    }
    subject = gettext(language, "Delphi: confirm your new address")
    _mail_link(
        session, mailer, fields, "email_change", language, subject, "account/email", old_address=researcher.email
    )


def confirm_email_change(session: Session, raw_token: str, mailer: Mailer, language: str) -> Researcher:
    """Make the confirmed address the account's login, and tell the old address."""
    token = valid_token(session, raw_token, EMAIL_CHANGE)
    researcher = session.get(Researcher, token.researcher_id)
    if researcher is None or not researcher.is_active:
        raise Gone(LINK_NOT_VALID)
    old = researcher.email
    service.change_email(session, researcher, token.email)
    token.spent_at = utcnow()
    session.add(token)
    language = researcher.language or language
    rendered = mailer.render(
        "email_changed",
        language,
        gettext(language, "Delphi: your login address was changed"),
        new_address=researcher.email,
    )
    mail.queue(session, dedupe_key=f"email-changed:{token.token_hash}", to=old, email=rendered, kind="email_changed")
    audit.record(session, None, researcher, "account.email_changed")
    return researcher


# --- invitations to a study ----------------------------------------------------------------------


@dataclass(frozen=True)
class StudyInvitation:
    """What the invitation e-mail says about the study (the accounts domain does not read studies)."""

    id: int
    title: str


def invite(
    session: Session,
    study: StudyInvitation,
    email: str,
    role: str,
    inviter: Researcher,
    mailer: Mailer,
    language: str,
) -> StudyMember | AccountToken:
    """Add a researcher to a study: an existing account at once; any other address gets an e-mail
    whose link creates the account and the membership. Inviting again replaces the earlier link."""
    if role not in ROLES:
        raise InvalidInput(Message("Role must be one of %(names)s.", names=", ".join(ROLES)), fields=("role",))
    address = service.validate_email(email)
    if session.exec(select(Researcher).where(Researcher.email == address)).first() is not None:
        member = service.add_member(session, study.id, address, role)
        audit.record(session, study.id, inviter, "member.added", role=role)
        return member
    _revoke(session, INVITATION, study_id=study.id, email=address)
    token = _mail_link(
        session,
        mailer,
        {
            "purpose": INVITATION,
            "email": address,
            "study_id": study.id,
            "role": role,
            "invited_by": inviter.id,
            "expires_at": utcnow() + INVITATION_LIFETIME,
        },
        "researcher_invitation",
        language,
        gettext(language, "Delphi: an invitation to the study “%(title)s”") % {"title": study.title},
        "invitation",
        study_title=study.title,
        inviter=inviter.name or inviter.email,
        role=role,
        days=INVITATION_LIFETIME.days,
    )
    audit.record(session, study.id, inviter, "member.invited", role=role)
    return token


def pending_invitations(session: Session, study_id: int) -> list[AccountToken]:
    return list(
        session.exec(
            select(AccountToken)
            .where(
                AccountToken.study_id == study_id,
                AccountToken.purpose == INVITATION,
                col(AccountToken.spent_at).is_(None),
                col(AccountToken.expires_at) > utcnow(),
            )
            .order_by(col(AccountToken.created_at))
        ).all()
    )


def withdraw_invitation(session: Session, study_id: int, token_id: int, by: Researcher) -> None:
    token = session.get(AccountToken, token_id)
    if token is None or token.study_id != study_id or token.purpose != INVITATION or token.spent_at is not None:
        raise Conflict(Message("That invitation was already used or withdrawn."))
    token.spent_at = utcnow()
    session.add(token)
    audit.record(session, study_id, by, "member.invitation_withdrawn")


def accept_invitation(session: Session, raw_token: str, name: str, password: str) -> Researcher:
    """Create the account the invitation was sent for, and make it a member of the study."""
    token = valid_token(session, raw_token, INVITATION)
    if token.study_id is None or token.role is None:
        raise Gone(LINK_NOT_VALID)
    if session.exec(select(Researcher).where(Researcher.email == token.email)).first() is not None:
        raise Conflict(
            Message("An account with this address exists already: log in, and ask the study's owner to add you.")
        )
    researcher = service.create_researcher(session, token.email, password, name, admin=False)
    service.add_member(session, token.study_id, token.email, token.role)
    token.spent_at = utcnow()
    session.add(token)
    audit.record(session, token.study_id, researcher, "member.invitation_accepted", role=token.role)
    return researcher


def _revoke(session: Session, purpose: str, **where: object) -> None:
    """Spend the unspent links of this purpose for the same account (or study and address)."""
    statement = (
        update(AccountToken)
        .where(
            col(AccountToken.purpose) == purpose,
            col(AccountToken.spent_at).is_(None),
            *(getattr(AccountToken, name) == value for name, value in where.items()),
        )
        .values(spent_at=utcnow())
    )
    session.exec(statement)  # type: ignore[call-overload]


def forget_spent_tokens(session: Session) -> int:
    """Delete links used or expired more than a day ago (the worker does it now and then)."""
    cutoff = utcnow() - timedelta(days=1)
    result = session.exec(  # type: ignore[call-overload]
        delete(AccountToken).where((col(AccountToken.expires_at) < cutoff) | (col(AccountToken.spent_at) < cutoff))
    )
    return int(result.rowcount or 0)
