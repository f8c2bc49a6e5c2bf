"""Researcher accounts, server-side sessions and study membership."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from app import addresses
from app.accounts.models import ROLES, AccountToken, FormSubmission, Researcher, ResearcherSession, StudyMember
from app.accounts.throttle import LoginThrottle
from app.audit import service as audit
from app.config import Settings
from app.db import session_scope, utcnow
from app.errors import Conflict, Forbidden, InvalidInput, Message, NotAuthenticated, NotFound
from app.security import hash_password, hash_token, new_csrf_token, verify_password

log = logging.getLogger("delphi.accounts")
MIN_PASSWORD_LENGTH = 10
LOGIN_FAILED = "E-mail or password is wrong."


def normalise_email(email: str) -> str:
    return addresses.normalise(email)


def validate_email(email: str) -> str:
    return addresses.checked(email)


def check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            Message(
                "The password needs at least %(MIN_PASSWORD_LENGTH)s characters.",
                MIN_PASSWORD_LENGTH=MIN_PASSWORD_LENGTH,
            ),
            fields=(field,),
        )


def check_confirmation(password: str, confirm: str) -> None:
    """A new password typed twice, the same both times."""
    if password != confirm:
        raise InvalidInput(Message("The two passwords differ."), fields=("confirm",))


def refuse_taken(session: Session, email: str) -> None:
    if session.exec(select(Researcher).where(Researcher.email == email)).first():
        raise Conflict(
            Message("A researcher with the e-mail %(email)s already exists.", email=email), fields=("email",)
        )


def create_researcher(
    session: Session, email: str, password: str, name: str = "", *, admin: bool | None = None
) -> Researcher:
    """A new account. ``admin`` None (the command line): it administers the instance if nobody
    does yet. The demo's account (its password is published) and invited colleagues say False."""
    email = validate_email(email)
    check_password(password)
    refuse_taken(session, email)
    first = session.exec(select(Researcher.id).where(col(Researcher.is_admin)).limit(1)).first() is None
    researcher = Researcher(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        is_admin=first if admin is None else admin,
    )
    session.add(researcher)
    session.flush()
    return researcher


def set_password(session: Session, researcher: Researcher, password: str, field: str = "password") -> None:
    check_password(password, field)
    researcher.password_hash = hash_password(password)
    session.add(researcher)
    _spend_reset_links(session, researcher.id)
    session.flush()


def _spend_reset_links(session: Session, researcher_id: int) -> None:
    """A new password or address makes the reset links already sent useless (one may sit in a
    mailbox the owner no longer controls)."""
    session.exec(  # type: ignore[call-overload]
        update(AccountToken)
        .where(
            col(AccountToken.researcher_id) == researcher_id,
            col(AccountToken.purpose) == "reset",
            col(AccountToken.spent_at).is_(None),
        )
        .values(spent_at=utcnow())
    )


def change_email(session: Session, researcher: Researcher, email: str) -> None:
    email = validate_email(email)
    if email != researcher.email:
        refuse_taken(session, email)
    researcher.email = email
    session.add(researcher)
    _spend_reset_links(session, researcher.id)
    session.flush()


def authenticate(
    reader: Session, email: str, password: str, throttle: LoginThrottle | None = None, client: str = ""
) -> Researcher:
    """The researcher with this e-mail and password, read through ``reader`` (a session that does
    not write: the slow password check must not hold a write lock). With a ``throttle``, refuses an
    attempt that comes before its backoff ends, and counts a failure."""
    if throttle is not None:
        throttle.refuse_if_waiting(reader, email, client)
    researcher = reader.exec(select(Researcher).where(Researcher.email == normalise_email(email))).first()
    ok = verify_password(password, researcher.password_hash if researcher else None)
    if not ok or researcher is None or not researcher.is_active:
        if throttle is not None:
            reader.rollback()  # the read is over; the failure is counted in a transaction of its own
            throttle.failed(email, client)
        raise NotAuthenticated(LOGIN_FAILED)
    return researcher


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    pending: bool = False  # the second factor is still to come


SECOND_FACTOR_WINDOW = timedelta(minutes=10)  # to type the code after the password


def start_session(
    session: Session,
    researcher: Researcher,
    settings: Settings,
    previous_cookie: str | None = None,
    client: str = "",
    *,
    pending: bool = False,
    second_factor: bool = False,
) -> NewSession:
    """Log in: a fresh random id (rotation), the old one, if any, deleted. A ``pending`` session
    (the password was right, the second factor is to come) logs nobody in and lasts ten minutes."""
    if previous_cookie:
        end_session(session, previous_cookie)
    now = utcnow()
    cookie_value = secrets.token_urlsafe(32)
    row = ResearcherSession(
        id_hash=hash_token(cookie_value),
        researcher_id=researcher.id,
        csrf_token=new_csrf_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + (SECOND_FACTOR_WINDOW if pending else timedelta(hours=settings.session_absolute_hours)),
        client=client[:200],
        second_factor_pending=pending,
        second_factor_at=now if second_factor else None,
    )
    session.add(row)
    session.flush()
    return NewSession(cookie_value=cookie_value, csrf_token=row.csrf_token, pending=pending)


TOUCH_EVERY = timedelta(minutes=1)  # keep writes rare on busy pages


def resolve_session(
    session: Session, cookie_value: str | None, settings: Settings, *, touch: bool = True
) -> tuple[Researcher, ResearcherSession] | None:
    """The researcher behind a cookie, or None when absent, unknown, idle too long or expired.

    With ``touch`` (requests that write anyway) the idle clock is reset and an expired session is
    deleted in the same transaction; read-only requests leave that to ``touch_session``.
    """
    if not cookie_value:
        return None
    row = session.get(ResearcherSession, hash_token(cookie_value))
    if row is None or row.second_factor_pending:
        return None
    now = utcnow()
    idle_limit = row.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= row.expires_at or now >= idle_limit:
        if touch:
            session.delete(row)
            session.flush()
        return None
    researcher = session.get(Researcher, row.researcher_id)
    if researcher is None or not researcher.is_active:
        return None
    if touch and needs_touch(row):
        row.last_seen_at = now
        session.add(row)
    return researcher, row


def pending_login(session: Session, cookie_value: str | None) -> tuple[Researcher, ResearcherSession] | None:
    """The researcher whose password was right and who now owes the second factor, if in time."""
    row = session.get(ResearcherSession, hash_token(cookie_value)) if cookie_value else None
    if row is None or not row.second_factor_pending or utcnow() >= row.expires_at:
        return None
    researcher = session.get(Researcher, row.researcher_id)
    if researcher is None or not researcher.is_active:
        return None
    return researcher, row


def needs_touch(row: ResearcherSession) -> bool:
    return utcnow() - row.last_seen_at > TOUCH_EVERY


def touch_session(engine: Engine, id_hash: str) -> None:
    """Reset a session's idle clock in a short transaction of its own (for read-only requests)."""
    try:
        with session_scope(engine) as session:
            session.exec(
                update(ResearcherSession)
                .where(col(ResearcherSession.id_hash) == id_hash)  # type: ignore[call-overload]
                .values(last_seen_at=utcnow())
            )
    except OperationalError:  # the database is busy: the next request will try again
        log.warning("could not refresh a researcher session's idle clock")


def end_session(session: Session, cookie_value: str) -> None:
    session.exec(delete(ResearcherSession).where(col(ResearcherSession.id_hash) == hash_token(cookie_value)))


def end_sessions(session: Session, researcher_id: int, keep_id_hash: str | None = None) -> int:
    """Log an account out everywhere (but the session ``keep_id_hash``, when given)."""
    statement = delete(ResearcherSession).where(col(ResearcherSession.researcher_id) == researcher_id)
    if keep_id_hash is not None:
        statement = statement.where(col(ResearcherSession.id_hash) != keep_id_hash)
    return session.exec(statement).rowcount or 0  # type: ignore[call-overload,no-any-return]


def purge_expired_sessions(session: Session) -> int:
    result = session.exec(delete(ResearcherSession).where(col(ResearcherSession.expires_at) < utcnow()))
    return result.rowcount or 0


# --- the instance's accounts (its administrators) ---------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    researcher: Researcher
    studies: int
    last_seen_at: datetime | None


def accounts_overview(session: Session) -> list[AccountRow]:
    """Every account, with the number of studies it belongs to and its latest activity."""
    studies = dict(
        session.exec(select(StudyMember.researcher_id, func.count()).group_by(col(StudyMember.researcher_id))).all()
    )
    seen = dict(
        session.exec(
            select(ResearcherSession.researcher_id, func.max(ResearcherSession.last_seen_at)).group_by(
                col(ResearcherSession.researcher_id)
            )
        ).all()
    )
    researchers = session.exec(select(Researcher).order_by(col(Researcher.email))).all()
    return [AccountRow(r, studies.get(r.id, 0), seen.get(r.id)) for r in researchers]


def set_admin(session: Session, researcher_id: int, admin: bool) -> Researcher:
    """Make an account the instance's administrator, or no longer (the command line's)."""
    researcher = session.get(Researcher, researcher_id)
    if researcher is None:
        raise NotFound(Message("No such account."))
    researcher.is_admin = admin
    session.add(researcher)
    audit.record(
        session, None, None, "account.admin_granted" if admin else "account.admin_revoked", target=researcher.email
    )
    session.flush()
    return researcher


def reset_two_factor(session: Session, researcher_id: int) -> Researcher:
    """Turn off an account's two-factor authentication for its owner who lost both the app and the
    recovery codes (the command line's, after checking who asks); its sessions end."""
    researcher = session.get(Researcher, researcher_id)
    if researcher is None:
        raise NotFound(Message("No such account."))
    researcher.totp_secret = researcher.totp_enabled_at = researcher.totp_last_step = None
    researcher.recovery_codes = []
    session.add(researcher)
    end_sessions(session, researcher.id)
    audit.record(session, None, None, "account.two_factor_reset", target=researcher.email)
    session.flush()
    return researcher


def set_active(session: Session, admin: Researcher | None, researcher_id: int, *, active: bool) -> Researcher:
    """Deactivate an account (it can no longer log in; its sessions end; its studies keep it as a
    member, to be replaced by their owners), or let it log in again. ``admin`` is None from the
    command line."""
    researcher = session.get(Researcher, researcher_id)
    if researcher is None:
        raise NotFound(Message("No such account."))
    if not active and admin is not None and researcher.id == admin.id:
        raise Conflict(Message("You cannot deactivate your own account."))
    researcher.is_active = active
    session.add(researcher)
    if not active:
        end_sessions(session, researcher.id)
    session.flush()
    audit.record(
        session, None, admin, "account.activated" if active else "account.deactivated", target=researcher.email
    )
    return researcher


# --- membership -------------------------------------------------------------------------------

ROLE_RANK = {"viewer": 0, "editor": 1, "owner": 2}


def membership(session: Session, study_id: int, researcher_id: int) -> StudyMember | None:
    return session.exec(
        select(StudyMember).where(StudyMember.study_id == study_id, StudyMember.researcher_id == researcher_id)
    ).first()


def require_role(session: Session, study_id: int, researcher: Researcher, role: str = "viewer") -> StudyMember:
    """Deny by default: a study the researcher is not a member of does not exist for them (404)."""
    member = membership(session, study_id, researcher.id)
    if member is None:
        raise NotFound(Message("No such study."))
    if ROLE_RANK[member.role] < ROLE_RANK[role]:
        raise Forbidden(
            Message(
                "Your role in this study is %(role)s; this needs %(role2)s rights.",
                role=Message(member.role),
                role2=Message(role),
            )
        )
    return member


def add_member(session: Session, study_id: int, email: str, role: str) -> StudyMember:
    if role not in ROLES:
        raise InvalidInput(Message("Role must be one of %(names)s.", names=", ".join(ROLES)), fields=("role",))
    researcher = session.exec(select(Researcher).where(Researcher.email == normalise_email(email))).first()
    if researcher is None:
        raise InvalidInput(
            Message("No researcher account uses %(email)s; ask them to get one first.", email=email),
            fields=("email",),
        )
    member = membership(session, study_id, researcher.id)
    if member is not None:
        if member.role == "owner" and role != "owner" and _owners(session, study_id) == 1:
            raise Conflict(
                Message("A study keeps at least one owner: make someone else owner first."),
                fields=("role",),
            )
        member.role = role
    else:
        member = StudyMember(study_id=study_id, researcher_id=researcher.id, role=role)
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, study_id: int, researcher_id: int) -> None:
    member = membership(session, study_id, researcher_id)
    if member is None:
        raise NotFound(Message("That researcher is not a member of this study."))
    if member.role == "owner" and _owners(session, study_id) == 1:
        raise Conflict(Message("A study keeps at least one owner."))
    session.delete(member)
    session.flush()


def first_submission(session: Session, form_key: str) -> bool:
    """True the first time a form's one-time key is seen (recorded in the caller's transaction, so
    it counts only if the action commits); False for a repeat. A form without a key always acts."""
    if not form_key:
        return True
    try:
        with session.begin_nested():  # the key is unique: a repeat, even at the same moment, fails here
            session.add(FormSubmission(key_hash=hash_token(form_key)))
    except IntegrityError:
        return False
    return True


def forget_old_submissions(session: Session) -> int:
    result = session.execute(
        delete(FormSubmission).where(col(FormSubmission.created_at) < utcnow() - timedelta(days=1))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _owners(session: Session, study_id: int) -> int:
    return len(
        session.exec(select(StudyMember).where(StudyMember.study_id == study_id, StudyMember.role == "owner")).all()
    )
