"""A study's protocol as a TOML file: export it, or create a study from one."""

from __future__ import annotations

import tomllib
from typing import Any, cast

import tomli_w
from pydantic import ValidationError
from sqlmodel import Session, select

from app.accounts.models import Researcher
from app.errors import InvalidInput, Message, NotFound
from app.panel import service as panel
from app.panel.schemas import ExpertCreate
from app.studies import design, service, translations
from app.studies.kinds import design_kind
from app.studies.models import Study
from app.studies.schemas import ItemCreate, Language, ProtocolFile, StudyFields, ThemeCreate


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """Pydantic's errors as readable lines: 'themes.2.items.0.kind: Input should be ...'."""
    lines = []
    for error in exc.errors()[:20]:
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{prefix}{where}: {message}" if where else f"{prefix}{message}")
    return "; ".join(lines)


def parse_text(text: str, filename: str = "protocol") -> ProtocolFile:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(Message("%(filename)s is not valid TOML: %(exc)s", filename=filename, exc=exc)) from None
    try:
        return ProtocolFile.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(Message("%(filename)s: %(exc)s", filename=filename, exc=validation_message(exc))) from None


def create_from_file(session: Session, spec: ProtocolFile, owner: Researcher | None) -> Study:
    study = service.create_study(session, owner, StudyFields(**spec.study.model_dump(exclude={"translations"})))
    service.apply_protocol(study, spec.scale, spec.protocol, spec.feedback, spec.weighting, spec.narrowing, spec.groups)
    study.report_notes = dict(spec.report)
    for key, value in spec.data_protection.model_dump().items():
        setattr(study, key, value)
    session.add(study)
    session.flush()
    given: dict[str, Any] = {}  # the translations into the study's other language, by text
    other = cast(Language, translations.other_language(study))
    given |= {f"study.{f}": v for f, v in spec.study.translations.get(other, {}).items()}
    themes, items = [], []
    for theme_spec in spec.themes:
        theme = design.add_theme(
            session, study, ThemeCreate(title=theme_spec.title, description=theme_spec.description), owner
        )
        themes.append(theme)
        given |= {f"theme.{theme.id}.{f}": v for f, v in theme_spec.translations.get(other, {}).items()}
        for item_spec in theme_spec.items:
            item = design.add_item(
                session, study, ItemCreate(theme_id=theme.id, **item_spec.model_dump(exclude={"translations"})), owner
            )
            items.append(item)
            given |= {f"item.{item.id}.{f}": v for f, v in item_spec.translations.get(other, {}).items()}
    if given:
        translations.save(session, study, themes, items, given, owner)
    for expert_spec in spec.experts:
        if not expert_spec.email:
            raise InvalidInput(
                Message("Expert %(name)s has no e-mail; a panel needs one per expert.", name=expert_spec.name)
            )
        panel.add_expert(
            session,
            study,
            ExpertCreate(
                name=expert_spec.name,
                email=expert_spec.email,
                stakeholder_group=expert_spec.group,
                profile=expert_spec.profile,
            ),
            owner,
        )
    panel.recompute_weights(session, study, owner)
    return study


def create_from_text(
    session: Session,
    text: str,
    *,
    owner_email: str | None = None,
    filename: str = "protocol",
    owner: Researcher | None = None,
) -> Study:
    spec = parse_text(text, filename)
    if owner is None and owner_email:
        owner = session.exec(select(Researcher).where(Researcher.email == owner_email.strip().lower())).first()
        if owner is None:
            raise NotFound(Message("No researcher account uses %(owner_email)s.", owner_email=owner_email))
    return create_from_file(session, spec, owner)


def to_file(session: Session, study: Study, *, with_identities: bool = False) -> dict[str, Any]:
    protocol = service.protocol_of(study)
    themes = []
    for theme, items in design.themes_with_items(session, study, active_only=True):
        if theme is None:
            continue
        themes.append(
            {
                "title": theme.title,
                "description": theme.description,
                **_translations(theme, study),
                "items": [_item_entry(item, study) for item in items],
            }
        )
    experts = []
    for expert in panel.experts_of(session, study.id):
        entry: dict[str, Any] = {
            "name": expert.name if with_identities else expert.pseudonym,
            "group": expert.stakeholder_group,
            "profile": {k: v for k, v in expert.profile.items() if v is not None},  # TOML has no null
            "pseudonym": expert.pseudonym,
        }
        if with_identities:
            entry["email"] = expert.email
        experts.append(entry)
    data: dict[str, Any] = {
        "format": 1,
        "study": {
            "title": study.title,
            "question": study.question,
            "description": study.description,
            "language": study.language,
            "expert_definition": study.expert_definition,
            "invitation_note": study.invitation_note,
            "reminder_note": study.reminder_note,
            **_translations(study, study),
        },
        "scale": protocol["scale"].model_dump(),
        "protocol": protocol["protocol"].model_dump(),
        "feedback": protocol["feedback"].model_dump(),
        "weighting": protocol["weighting"].model_dump(),
        "narrowing": {k: v for k, v in protocol["narrowing"].model_dump().items() if v is not None},
        "groups": study.groups,
        "themes": themes,
        "experts": experts,
        "data_protection": {  # TOML has no null: no retention period is no key
            "erasure_policy": study.erasure_policy,
            "experts_may_erase": study.experts_may_erase,
            **({"retention_months": study.retention_months} if study.retention_months is not None else {}),
        },
    }
    if study.report_notes:
        data["report"] = study.report_notes
    data["scale"]["agree"] = list(data["scale"]["agree"])
    return data


def _item_entry(item: Any, study: Study) -> dict[str, Any]:
    entry: dict[str, Any] = {"text": item.text, "kind": item.kind}
    if item.anchors:
        entry["anchors"] = item.anchors
    if not item.allow_unable:
        entry["allow_unable"] = False
    if item.evidence:
        entry["evidence"] = item.evidence
    design_kind(item.kind).export(item, entry)
    entry.update(_translations(item, study))
    return entry


def _translations(obj: Any, study: Study) -> dict[str, Any]:
    """``{"translations": {"en": {field: text}}}`` for the translations that still fit their
    original (none if there is none)."""
    found: dict[str, dict[str, Any]] = {}
    for language, fields in (obj.translations or {}).items():
        fitting = {f: value for f in fields if (value := translations.current(obj, f, language)) is not None}
        if fitting and language != study.language:
            found[language] = fitting
    return {"translations": found} if found else {}


def export_study(session: Session, study_id: int, *, with_identities: bool = False) -> str:
    study = service.get_study(session, study_id)
    header = (
        f"# Delphi protocol: {study.title}\n"
        f"# Exported {'with' if with_identities else 'without'} experts' names and e-mails.\n"
    )
    return header + tomli_w.dumps(to_file(session, study, with_identities=with_identities))
