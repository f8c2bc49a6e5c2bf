"""The information sheet and consent: what experts read before they agree to take part, in
versions. A saved change is a new version (the old ones are kept); each expert's consent names
the version they read, so that an ethics board can be shown exactly what each expert agreed to."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app import addresses
from app.accounts.models import Researcher
from app.audit import service as audit
from app.errors import Conflict, Message
from app.i18n import N_
from app.studies.models import InformationSheet, Study
from app.studies.schemas import InformationSheetIn

FIELDS = ("purpose", "controller", "contact_name", "contact_email", "ethics", "retention")

# What an expert reads where the research team wrote nothing (translated at display). The rights
# paragraph is always shown: it says what the platform lets an expert do.
DEFAULTS = {
    "purpose": N_(
        "This Delphi study asks a panel of experts, over several rounds, how far they agree with a set of "
        "statements. After each round you see the panel's answers, anonymously, and may revise yours."
    ),
    "controller": N_("The research team running this study is responsible for your data."),
    "ethics": "",
    "retention": N_(
        "The research team keeps your name and e-mail address while the study runs, to send you its "
        "rounds, and your answers under a pseudonym for the analysis and its publication."
    ),
}
RIGHTS = N_(
    "Taking part is voluntary. You may leave the study at any time from your personal link; your "
    "answers given until then are kept, under your pseudonym. To see, correct or erase what the study "
    "holds about you, write to the research team."
)


def current_sheet(session: Session, study_id: int) -> InformationSheet | None:
    return session.exec(
        select(InformationSheet)
        .where(InformationSheet.study_id == study_id)
        .order_by(col(InformationSheet.version).desc())
    ).first()


def sheets_of(session: Session, study_id: int) -> list[InformationSheet]:
    return list(
        session.exec(
            select(InformationSheet)
            .where(InformationSheet.study_id == study_id)
            .order_by(col(InformationSheet.version))
        ).all()
    )


def sheet_for_consent(session: Session, study: Study) -> InformationSheet:
    """The version an expert agrees to now: the current one, or version 1 (the default texts) when
    the research team has written none, stored so that the consent can name it."""
    sheet = current_sheet(session, study.id)
    if sheet is not None:
        return sheet
    try:
        with session.begin_nested():  # two experts agreeing at the same moment: one writes it
            session.add(InformationSheet(study_id=study.id, version=1))
    except IntegrityError:
        pass
    written = current_sheet(session, study.id)
    assert written is not None
    return written


def save_sheet(
    session: Session, study: Study, data: InformationSheetIn, researcher: Researcher | None
) -> InformationSheet:
    """A new version if anything changed; the current one otherwise."""
    values = data.model_dump()
    if values["contact_email"]:
        values["contact_email"] = addresses.checked(values["contact_email"], field="contact_email")
    current = current_sheet(session, study.id)
    if (
        current is not None
        and all(getattr(current, f) == values[f] for f in FIELDS)
        and current.asks_interests == data.asks_interests
    ):
        return current
    sheet = InformationSheet(
        study_id=study.id,
        asks_again=data.asks_again and current is not None,
        asks_interests=data.asks_interests,
        version=(current.version + 1) if current else 1,
        researcher_id=researcher.id if researcher else None,
        **{f: values[f] for f in FIELDS},
        # a translation still fits where its field did not change
        translations={
            language: {f: t for f, t in fields.items() if t.get("source") == values.get(f)}
            for language, fields in (current.translations if current else {}).items()
        },
    )
    try:
        with session.begin_nested():
            session.add(sheet)
    except IntegrityError:
        raise Conflict(
            Message("The information was saved by someone else at the same moment; reload the page and try again.")
        ) from None
    audit.record(
        session,
        study.id,
        researcher,
        "information.updated",
        f"study:{study.id}",
        version=sheet.version,
        asks_again=sheet.asks_again,
        asks_interests=sheet.asks_interests,
    )
    session.flush()
    return sheet


def needs_consent(session: Session, sheet: InformationSheet | None, agreed: bool, agreed_version: int | None) -> bool:
    """Whether an expert must (again) agree before answering: never agreed, or a later version
    than theirs asks those who agreed before to agree again (a consent older than the versions
    counts as version 0)."""
    if not agreed:
        return True
    consent_version = agreed_version or 0
    if sheet is None or sheet.version <= consent_version:
        return False
    if sheet.asks_again:
        return True
    return (
        session.exec(
            select(InformationSheet.id).where(
                InformationSheet.study_id == sheet.study_id,
                InformationSheet.version > consent_version,
                col(InformationSheet.asks_again).is_(True),
            )
        ).first()
        is not None
    )
