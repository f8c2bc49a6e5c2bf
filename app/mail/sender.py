"""Deliver the outbox over SMTP, after the commit of the action that queued each message.

A message is claimed (status ``sending`` with a lease) in a short transaction of its own, sent,
then marked ``sent``. A failure to connect or a temporary refusal puts it back with exponential
back-off; a permanent refusal marks it ``failed``. A message found ``sending`` after its lease
expired (the sender died mid-send) is marked ``uncertain`` and never re-sent on its own: a
researcher chooses to send it again. That is how nothing is sent twice. On PostgreSQL several
senders share the outbox with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app.config import Settings
from app.db import session_scope, utcnow
from app.mail.models import MessageStatus, OutboxMessage
from app.mail.service import as_delivered

log = logging.getLogger("delphi.mail")
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BATCH = 50


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


@dataclass
class Delivery:
    """What one delivery of the outbox did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(engine: Engine, limit: int) -> list[OutboxMessage]:
    now = utcnow()
    with session_scope(engine) as session:
        stale = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.status == MessageStatus.SENDING, col(OutboxMessage.lease_until) < now
            )
        ).all()
        for message in stale:
            message.status = MessageStatus.UNCERTAIN
            message.last_error = "the sender stopped while sending; it may or may not have been delivered"
            session.add(message)
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.status == MessageStatus.PENDING, col(OutboxMessage.next_attempt_at) <= now)
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = list(session.exec(query).all())
        for message in claimed:
            message.status = MessageStatus.SENDING
            message.lease_until = now + LEASE
            message.attempts += 1
            session.add(message)
        session.flush()
        for message in claimed:
            session.expunge(message)
        return claimed


def message_id(message: OutboxMessage, settings: Settings) -> str:
    """The same Message-ID at every attempt to send a message: a retry after a connection dropped
    past DATA is recognisable as the same mail (by the server, the reader's client and the log).
    Keyed with the secret, so ids cannot be guessed from the outbox's numbering."""
    domain = settings.mail_from.rsplit("@", 1)[-1].strip("> ") or "delphi.local"
    tag = hmac.new(settings.secret_key.encode(), f"outbox:{message.id}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"<delphi.{message.id}.{tag}@{domain}>"


def build_message(message: OutboxMessage, settings: Settings) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message, settings)
    email.set_content(as_delivered(message.body_text, message, settings.secret_key))
    email.add_alternative(as_delivered(message.body_html, message, settings.secret_key), subtype="html")
    return email


def _connect(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host or "",
            settings.smtp_port,
            timeout=settings.smtp_timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=settings.smtp_timeout)
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
    if settings.smtp_username:
        smtp.login(settings.smtp_username, settings.smtp_password or "")
    return smtp


def _finish(engine: Engine, message_id: int, *, sent: bool, error: str = "", permanent: bool = False) -> str:
    with session_scope(engine) as session:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            return "gone"
        now = utcnow()
        message.lease_until = None
        if sent:
            message.status, message.sent_at, message.last_error = MessageStatus.SENT, now, ""
        elif permanent or message.attempts >= MAX_ATTEMPTS:
            message.status, message.last_error = MessageStatus.FAILED, error[:2000]
        else:
            message.status, message.last_error = MessageStatus.PENDING, error[:2000]
            message.next_attempt_at = now + backoff(message.attempts)
        session.add(message)
        return message.status


def deliver_due(engine: Engine, settings: Settings) -> Delivery:
    """Send what is due. Without SMTP settings nothing is sent: messages wait in the outbox."""
    report = Delivery()
    if not settings.smtp_configured:
        return report
    while True:
        batch = _claim(engine, BATCH)
        if not batch:
            return report
        try:
            smtp = _connect(settings)
        except (OSError, smtplib.SMTPException) as exc:
            for message in batch:  # nothing was sent: put them all back for later
                _finish(engine, message.id, sent=False, error=f"cannot reach the SMTP server: {exc}")
                report.retried += 1
            report.errors.append(str(exc))
            return report
        try:
            for message in batch:
                try:
                    email = build_message(message, settings)
                except (ValueError, TypeError) as exc:  # this message cannot be written: it fails alone
                    log.warning("outbox message %s cannot be built: %s", message.id, exc)
                    _finish(engine, message.id, sent=False, error=f"cannot be written as e-mail: {exc}", permanent=True)
                    report.failed += 1
                    continue
                try:
                    refused = smtp.send_message(email)
                except smtplib.SMTPRecipientsRefused as exc:
                    _finish(engine, message.id, sent=False, error=f"refused: {exc.recipients}", permanent=True)
                    report.failed += 1
                    continue
                except smtplib.SMTPResponseException as exc:
                    permanent = 500 <= exc.smtp_code < 600
                    status = _finish(
                        engine,
                        message.id,
                        sent=False,
                        error=f"{exc.smtp_code} {exc.smtp_error!r}",
                        permanent=permanent,
                    )
                    report.failed += status == MessageStatus.FAILED
                    report.retried += status == MessageStatus.PENDING
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    _finish(engine, message.id, sent=False, error=str(exc))
                    report.retried += 1
                    raise
                if refused:
                    _finish(engine, message.id, sent=False, error=f"refused: {refused}", permanent=True)
                    report.failed += 1
                else:
                    _finish(engine, message.id, sent=True)
                    report.sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            report.errors.append(str(exc))
            _release_claimed(engine, [m.id for m in batch])
            return report
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()


def _release_claimed(engine: Engine, ids: list[int]) -> None:
    """After a dropped connection, messages still marked sending in this batch were not sent."""
    with session_scope(engine) as session:
        for message in session.exec(
            select(OutboxMessage).where(col(OutboxMessage.id).in_(ids), OutboxMessage.status == MessageStatus.SENDING)
        ).all():
            message.status, message.lease_until = MessageStatus.PENDING, None
            message.next_attempt_at = utcnow() + backoff(message.attempts)
            session.add(message)
