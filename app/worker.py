"""The background pass, composed from the domains' own steps: close rounds whose deadline passed and
queue due reminders (rounds), deliver the outbox (mail), render queued reports (reports), anonymise
studies at the end of their retention period (privacy), and forget what has expired (accounts,
panel, rounds). Run by ``delphi worker`` and, on a single-process install, by a thread of the
server."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app.accounts import email_links, throttle
from app.accounts import service as accounts
from app.config import Settings
from app.db import session_scope
from app.mail.mailer import Mailer
from app.mail.sender import deliver_due
from app.panel import panel_file
from app.privacy import retention
from app.reports import jobs
from app.rounds import ratelimit, scheduler

log = logging.getLogger("delphi.worker")


@dataclass
class PassReport:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    rounds_closed: int = 0
    reminders: int = 0
    reports: int = 0
    anonymisation_steps: int = 0  # owners warned, or studies anonymised, at the end of their retention period
    forgotten: int = 0  # expired researcher sessions, failures past their window, abandoned imports
    errors: list[str] = field(default_factory=list)


def run_worker_pass(engine: Engine, settings: Settings, mailer: Mailer | None = None) -> PassReport:
    """One pass of the background work; a step that fails is tried again at the next pass. A
    long-running worker builds its ``mailer`` once (``run_sender_loop``)."""
    mailer = mailer or Mailer.from_settings(settings)
    report = PassReport()
    with _next_pass_on_error(report, "scheduled round work"):
        report.rounds_closed = scheduler.close_due_rounds(engine, settings)
        report.reminders = scheduler.queue_due_reminders(engine, mailer)
    delivery = deliver_due(engine, settings)
    report.sent, report.failed, report.retried = delivery.sent, delivery.failed, delivery.retried
    report.errors.extend(delivery.errors)
    with _next_pass_on_error(report, "report rendering"):
        report.reports = jobs.render_queued(engine, settings, templates=mailer.templates)
    with _next_pass_on_error(report, "retention periods (warnings and anonymisations)"):
        report.anonymisation_steps = retention.run_due(engine, mailer)
    with _next_pass_on_error(report, "housekeeping (expired sessions and failures)"):
        report.forgotten = forget_expired(engine)
    return report


@contextlib.contextmanager
def _next_pass_on_error(report: PassReport, work: str) -> Iterator[None]:
    """Keep the worker alive: a step that fails is tried again at the next pass. A busy database
    (SQLite's lock held past the busy timeout) is an ordinary wait, said in one line; anything else
    is logged with its traceback."""
    try:
        yield
    except OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            log.exception("%s failed", work)
        else:
            log.warning("%s postponed to the next pass: the database is busy", work)
        report.errors.append(str(exc).splitlines()[0])
    except Exception as exc:
        log.exception("%s failed", work)
        report.errors.append(str(exc))


def forget_expired(engine: Engine) -> int:
    """Delete what has no use any more: researcher sessions past their time-out, failed link
    look-ups and logins older than their throttle's window, lines of panel imports that never ended."""

    with session_scope(engine) as session:
        return (
            accounts.purge_expired_sessions(session)
            + accounts.forget_old_submissions(session)
            + ratelimit.forget_old_failures(session)
            + throttle.forget_old_failures(session)
            + email_links.forget_spent_tokens(session)
            + panel_file.forget_abandoned_imports(session)
        )


def run_sender_loop(
    engine: Engine, settings: Settings, stop: threading.Event, verbose: bool = False, mailer: Mailer | None = None
) -> None:
    mailer = mailer or Mailer.from_settings(settings)
    while not stop.is_set():
        try:
            report = run_worker_pass(engine, settings, mailer)
            if verbose and (report.sent or report.failed or report.rounds_closed or report.reminders):
                log.warning(
                    "sent %s, failed %s, rounds closed %s, reminders %s",
                    report.sent,
                    report.failed,
                    report.rounds_closed,
                    report.reminders,
                )
        except Exception:
            log.exception("worker pass failed")
        stop.wait(settings.worker_interval_seconds)
