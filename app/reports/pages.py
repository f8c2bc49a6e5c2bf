"""The report page: the PDF report of a study and its downloads (answers, statistics, workbook)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.dependencies import Form, SessionDep
from app.errors import Conflict, Message, NotFound
from app.i18n import LANGUAGES
from app.reports import checklists, exports, jobs
from app.reports.models import ReportStatus
from app.rounds import service as rounds
from app.rounds.models import RoundStatus
from app.serialization import to_csv
from app.studies.context import study_page
from app.studies.dependencies import StudyForViewer
from app.web import form_text, redirect, render

router = APIRouter()


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/studies/{study_id}/report", include_in_schema=False)
def report_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    study = access.study
    reports = jobs.latest_reports(session, study.id)
    working = any(r.status in (ReportStatus.QUEUED, ReportStatus.RENDERING) for r in reports)
    analysed = any(r.status == RoundStatus.ANALYSED for r in rounds.rounds_of(session, study.id))
    return render(
        request,
        "researcher/report.html",
        study_page(
            access,
            "report",
            reports=reports,
            working=working,
            analysed=analysed,
            sees_identities=access.can_edit,
            guidelines=checklists.GUIDELINES,
        ),
    )


@router.post("/studies/{study_id}/report", include_in_schema=False)
def request_report_page(session: SessionDep, access: StudyForViewer, form: Form) -> Response:
    language = form_text(form, "language", access.study.language)
    if language not in LANGUAGES:
        language = access.study.language
    guideline = form_text(form, "guideline", "ACCORD")
    jobs.request_report(session, access.study, language, access.researcher, guideline)
    return redirect(f"/studies/{access.study.id}/report")


@router.get("/studies/{study_id}/reports/{report_id}.pdf", tags=["reports"])
def download_report(session: SessionDep, access: StudyForViewer, report_id: int) -> Response:
    report = jobs.get_report(session, access.study.id, report_id)
    if report.status != ReportStatus.DONE or report.pdf is None:
        raise Conflict(Message("This report is not ready yet."))
    return _download(report.pdf, "application/pdf", f"delphi-study-{access.study.id}-{report.language}.pdf")


def _spooled(write: Callable[[IO[bytes]], object], media_type: str, filename: str) -> StreamingResponse:
    """An export written to a temporary file while the request's transaction reads the data, then
    sent from the disk a block at a time: memory stays flat however many answers there are, the
    connection goes back to the pool before the first byte is sent, a failure is an error page and
    not a cut-off file, and the file (unnamed on disk from the start) is gone once it is closed,
    even if the client went away."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response's reader
    try:
        write(spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return StreamingResponse(
        _read_closing(spool),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _read_closing(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := spool.read(1 << 16):
            yield block
    finally:
        spool.close()


@router.get("/studies/{study_id}/exports/answers.csv", tags=["reports"])
def answers_csv(session: SessionDep, access: StudyForViewer, identities: bool = False) -> Response:
    """Anonymised answers in long format (`expert,item,value,round` and more), as `delphi score` reads;
    written as they are read (``_spooled``)."""
    identities = identities and access.can_edit
    return _spooled(
        lambda spool: exports.write_export(session, access.study, "csv", spool, identities=identities),
        "text/csv; charset=utf-8",
        f"study-{access.study.id}-answers.csv",
    )


@router.get("/studies/{study_id}/exports/statistics.csv", tags=["reports"])
def statistics_csv(session: SessionDep, access: StudyForViewer) -> Response:
    return _download(
        to_csv(exports.stat_rows(session, access.study), exports.STAT_COLUMNS),
        "text/csv; charset=utf-8",
        f"study-{access.study.id}-statistics.csv",
    )


@router.get("/studies/{study_id}/exports/options.csv", tags=["reports"])
def options_csv(session: SessionDep, access: StudyForViewer) -> Response:
    """Choice shares, ranking mean ranks and Borda points, and estimates' medians, per item and round."""
    return _download(
        to_csv(exports.option_rows(session, access.study), exports.OPTION_COLUMNS),
        "text/csv; charset=utf-8",
        f"study-{access.study.id}-options.csv",
    )


@router.get("/studies/{study_id}/exports/study.xlsx", tags=["reports"])
def study_xlsx(session: SessionDep, access: StudyForViewer, identities: bool = False) -> Response:
    identities = identities and access.can_edit
    return _spooled(  # written in write-only mode to the disk: the workbook is never held in memory whole
        lambda spool: exports.write_export(session, access.study, "xlsx", spool, identities=identities),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"study-{access.study.id}.xlsx",
    )


@router.get("/studies/{study_id}/exports/checklist-{guideline}.{extension}", tags=["reports"])
def checklist_export(
    session: SessionDep, access: StudyForViewer, guideline: str, extension: str, language: str | None = None
) -> Response:
    """A reporting guideline's checklist (ACCORD, DELPHISTAR, CREDES) as CSV or XLSX, with what the
    platform filled and columns for the authors to complete."""
    guideline = guideline.upper()
    if guideline not in checklists.GUIDELINES or extension not in ("csv", "xlsx"):
        raise NotFound(Message("This page does not exist."))
    language = language if language in LANGUAGES else access.study.language
    rows = exports.checklist_rows(session, access.study, guideline, language)
    name = f"study-{access.study.id}-checklist-{guideline.lower()}.{extension}"
    if extension == "csv":
        return _download(to_csv(rows, exports.CHECKLIST_COLUMNS), "text/csv; charset=utf-8", name)
    content = exports.to_xlsx({guideline: (exports.CHECKLIST_COLUMNS, rows)})
    return _download(content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", name)


@router.get("/studies/{study_id}/exports/study.json", tags=["reports"])
def study_json(session: SessionDep, access: StudyForViewer) -> Response:
    """The whole study, its answers written as they are read (``_spooled``)."""
    return _spooled(
        lambda spool: exports.write_export(session, access.study, "json", spool),
        "application/json",
        f"study-{access.study.id}.json",
    )
