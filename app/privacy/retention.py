"""The retention period: a study that ended is anonymised automatically when its retention period
is over, after a warning to its owners."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.accounts.models import Researcher, StudyMember
from app.audit import service as audit
from app.db import session_scope, utcnow
from app.errors import Conflict
from app.i18n import gettext
from app.mail import service as mail
from app.mail.mailer import Mailer
from app.privacy.erasure import anonymise_study
from app.studies.models import Study

log = logging.getLogger("delphi.privacy")
WARNING = timedelta(days=14)  # the owners are warned this long before the anonymisation


def run_due(engine: Engine, mailer: Mailer, now: datetime | None = None) -> int:
    """The worker's step: warn the owners of studies whose anonymisation is two weeks away, and
    anonymise those whose date has come (never sooner than two weeks after the warning). Each study
    in a transaction of its own. Returns how many studies were warned or anonymised."""
    now = now or utcnow()
    with session_scope(engine) as session:
        candidates = session.exec(
            select(Study.id).where(col(Study.retention_months).is_not(None), col(Study.anonymised_at).is_(None))
        ).all()
    acted = 0
    for study_id in candidates:
        with session_scope(engine) as session:
            study = session.get(Study, study_id)
            date = study.anonymisation_date if study is not None else None
            if study is None or date is None or now < date - WARNING:
                continue
            if study.anonymisation_warned_at is None:
                _warn_owners(session, study, mailer, date)
                study.anonymisation_warned_at = now
                session.add(study)
                acted += 1
            elif now >= max(date, study.anonymisation_warned_at + WARNING):
                try:
                    anonymise_study(session, study, None)
                except Conflict:  # a round was reopened: the next pass tries again
                    log.info("study %s: anonymisation postponed (a round is open)", study.id)
                    continue
                acted += 1
    return acted


def _warn_owners(session: Session, study: Study, mailer: Mailer, date: datetime) -> None:
    owners = session.exec(
        select(Researcher)
        .join(StudyMember, col(StudyMember.researcher_id) == col(Researcher.id))
        .where(StudyMember.study_id == study.id, StudyMember.role == "owner", col(Researcher.is_active))
    ).all()
    for owner in owners:
        language = owner.language or study.language
        rendered = mailer.render(
            "anonymisation_warning",
            language,
            gettext(language, "Delphi: the study “%(title)s” will be anonymised") % {"title": study.title},
            study=study,
            date=date,
            months=study.retention_months,
            settings_link=f"{mailer.base_url}/studies/{study.id}/settings#personal-data",
        )
        mail.queue(
            session,
            dedupe_key=f"anonymisation_warning:{study.id}:{date.date().isoformat()}:{owner.id}",
            to=owner.email,
            email=rendered,
            kind="anonymisation_warning",
            study_id=study.id,
        )
    audit.record(session, study.id, None, "study.anonymisation_announced", f"study:{study.id}", owners=len(owners))
