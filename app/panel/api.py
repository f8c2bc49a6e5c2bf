"""The panel's JSON API: experts, import, weights, withdrawal."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile

from app.dependencies import ReadSessionDep, SessionDep, TransactionsDep
from app.panel import panel_file, service
from app.panel.schemas import ExpertCreate, ExpertPublic, ImportReport, StatusChange, WeightChange
from app.studies.dependencies import StudyForEditor, StudyForEditorReading, StudyForViewer

router = APIRouter()


@router.get("/api/studies/{study_id}/experts", response_model=list[ExpertPublic], tags=["panel"])
def api_experts(session: SessionDep, access: StudyForViewer) -> list[ExpertPublic]:
    """The panel; names and e-mails only for editors and owners (viewers get them empty)."""
    experts = [
        ExpertPublic.model_validate(e, from_attributes=True) for e in service.experts_of(session, access.study.id)
    ]
    if not access.can_edit:
        experts = [e.model_copy(update={"name": "", "email": ""}) for e in experts]
    return experts


@router.post("/api/studies/{study_id}/experts", response_model=ExpertPublic, status_code=201, tags=["panel"])
def api_add_expert(body: ExpertCreate, session: SessionDep, access: StudyForEditor) -> ExpertPublic:
    expert = service.add_expert(session, access.study, body, access.researcher)
    service.recompute_weights(session, access.study, access.researcher)
    return ExpertPublic.model_validate(expert, from_attributes=True)


@router.post("/api/studies/{study_id}/experts/import", response_model=ImportReport, status_code=201, tags=["panel"])
def api_import(
    file: UploadFile, reader: ReadSessionDep, transactions: TransactionsDep, access: StudyForEditorReading
) -> ImportReport:
    """A CSV or XLSX with name, email, group and profile columns; all lines or none."""
    experts = panel_file.import_panel(
        reader, access.study, file.filename or "panel.csv", file.file.read(), access.researcher, transactions.write
    )
    return ImportReport(imported=len(experts), experts=experts)


@router.put("/api/studies/{study_id}/experts/{expert_id}/weight", response_model=ExpertPublic, tags=["panel"])
def api_weight(expert_id: int, body: WeightChange, session: SessionDep, access: StudyForEditor) -> ExpertPublic:
    expert = service.get_expert(session, access.study, expert_id)
    service.set_weight(session, access.study, expert, body.weight, body.reason, access.researcher)
    return ExpertPublic.model_validate(expert, from_attributes=True)


@router.post("/api/studies/{study_id}/experts/{expert_id}/withdraw", response_model=ExpertPublic, tags=["panel"])
def api_withdraw(expert_id: int, body: StatusChange, session: SessionDep, access: StudyForEditor) -> ExpertPublic:
    expert = service.get_expert(session, access.study, expert_id)
    return ExpertPublic.model_validate(
        service.withdraw(session, access.study, expert, body.reason, access.researcher), from_attributes=True
    )
