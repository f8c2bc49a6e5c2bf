"""Report rendering as background work: requested from the pages, rendered by the worker (or the
sender inside `delphi serve`) in a child process with a time limit, cached per analysed snapshot."""

from __future__ import annotations

import hashlib
import multiprocessing
import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.accounts.models import Researcher
from app.config import Settings
from app.db import reading_scope, session_scope, utcnow
from app.errors import InvalidInput, Message, NotFound
from app.reports.checklists import GUIDELINES
from app.reports.models import ReportFile, ReportStatus
from app.reports.service import render_html, render_pdf
from app.rounds.models import Round, RoundResult
from app.studies.models import Study
from app.templating import Templates


def cache_key(session: Session, study: Study, language: str, guideline: str = "ACCORD") -> str:
    """Changes whenever a snapshot is (re)computed or the study's text changes."""
    stamps = session.exec(
        select(RoundResult.computed_at)
        .join(Round, col(Round.id) == col(RoundResult.round_id))
        .where(Round.study_id == study.id)
        .order_by(col(Round.number))
    ).all()
    raw = "|".join([language, guideline, study.updated_at.isoformat(), *(s.isoformat() for s in stamps)])
    return hashlib.sha256(raw.encode()).hexdigest()


def request_report(
    session: Session, study: Study, language: str, researcher: Researcher | None, guideline: str = "ACCORD"
) -> ReportFile:
    """Reuse the report of the same snapshots if there is one; otherwise queue a new one."""
    if guideline not in GUIDELINES:
        raise InvalidInput(Message("Choose ACCORD, DELPHISTAR or CREDES."), fields=("guideline",))
    key = cache_key(session, study, language, guideline)
    existing = session.exec(
        select(ReportFile).where(
            ReportFile.study_id == study.id,
            ReportFile.cache_key == key,
            col(ReportFile.status).in_((ReportStatus.QUEUED, ReportStatus.RENDERING, ReportStatus.DONE)),
        )
    ).first()
    if existing is not None:
        return existing
    report = ReportFile(
        study_id=study.id,
        language=language,
        guideline=guideline,
        cache_key=key,
        requested_by=researcher.id if researcher else None,
    )
    session.add(report)
    session.flush()
    return report


def latest_reports(session: Session, study_id: int, limit: int = 5) -> list[ReportFile]:
    return list(
        session.exec(
            select(ReportFile).where(ReportFile.study_id == study_id).order_by(col(ReportFile.id).desc()).limit(limit)
        ).all()
    )


def get_report(session: Session, study_id: int, report_id: int) -> ReportFile:
    report = session.get(ReportFile, report_id)
    if report is None or report.study_id != study_id:
        raise NotFound(Message("No such report."))
    return report


def _render_child(html_path: str, pdf_path: str) -> None:
    pdf, pages = render_pdf(Path(html_path).read_text(encoding="utf-8"))
    Path(pdf_path).write_bytes(pdf)
    Path(pdf_path + ".pages").write_text(str(pages))


def pdf_with_time_limit(html: str, seconds: float) -> tuple[bytes, int]:
    """Render in a child process, killed if it takes longer than ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="delphi-report-") as folder:
        html_path, pdf_path = Path(folder) / "report.html", Path(folder) / "report.pdf"
        html_path.write_text(html, encoding="utf-8")
        process = multiprocessing.get_context("spawn").Process(
            target=_render_child, args=(str(html_path), str(pdf_path)), daemon=True
        )
        process.start()
        process.join(seconds)
        if process.is_alive():
            process.kill()
            process.join()
            raise TimeoutError(f"the report took longer than {seconds:g} s to render")
        if process.exitcode != 0 or not pdf_path.exists():
            raise RuntimeError(f"the renderer stopped with exit code {process.exitcode}")
        return pdf_path.read_bytes(), int(Path(str(pdf_path) + ".pages").read_text())


def render_queued(engine: Engine, settings: Settings, limit: int = 2, templates: Templates | None = None) -> int:
    """Render up to ``limit`` queued reports, each claimed in its own short transaction."""
    done = 0
    for _ in range(limit):
        with session_scope(engine) as session:
            query = (
                select(ReportFile).where(ReportFile.status == ReportStatus.QUEUED).order_by(col(ReportFile.id)).limit(1)
            )
            if engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            report = session.exec(query).first()
            if report is None:
                return done
            report.status, report.started_at = ReportStatus.RENDERING, utcnow()
            session.add(report)
            report_id, study_id, language, guideline = report.id, report.study_id, report.language, report.guideline
        try:
            with reading_scope(engine) as session:  # reads for seconds: not inside a write transaction
                html = render_html(session, study_id, language, templates, guideline)
            pdf, pages = pdf_with_time_limit(html, settings.report_time_limit_seconds)
            status, error = ReportStatus.DONE, ""
        except Exception as exc:  # any failure is shown on the report page; the worker goes on
            pdf, pages, status, error = None, None, ReportStatus.FAILED, str(exc)[:2000]
        with session_scope(engine) as session:
            report = session.get(ReportFile, report_id)
            if report is not None:
                report.status, report.error, report.pdf, report.finished_at = status, error, pdf, utcnow()
                report.pages = pages
                session.add(report)
        done += 1
    return done
