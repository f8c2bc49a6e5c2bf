"""Importing a panel file (CSV or XLSX): every line checked before any is written, limits on
what a file may ask of the server, and large files staged in short transactions."""

from __future__ import annotations

import csv
import io
import zipfile
from contextlib import nullcontext
from datetime import timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import delete, insert, literal
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import addresses
from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import UnitsOfWork, utcnow
from app.errors import Conflict, InvalidInput, Message
from app.panel import service
from app.panel.models import Expert, ExpertStatus, PanelImportRow
from app.panel.schemas import ExpertCreate, ExpertPublic
from app.studies.models import Study

NAME_COLUMNS = ("name", "nom")
EMAIL_COLUMNS = ("email", "e-mail", "mail", "courriel")
GROUP_COLUMNS = ("group", "stakeholder_group", "groupe")
LANGUAGE_COLUMNS = ("language", "langue")
MAX_IMPORT_BYTES = 2_000_000
MAX_IMPORT_ROWS = 50_000  # experts in one file
MAX_IMPORT_COLUMNS = 100
MAX_WORKBOOK_BYTES = 100_000_000  # unpacked: a small .xlsx can unpack to gigabytes


def _table_from_upload(filename: str, content: bytes) -> list[tuple[int, list[str]]]:
    """Rows (with their line/row numbers) of a CSV or XLSX file; the first row is the header."""
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput(Message("The file is larger than 2 MB; split it."), fields=("file",))
    if not content.strip():
        raise InvalidInput(Message("The file is empty."), fields=("file",))
    if filename.lower().endswith((".xlsx", ".xlsm")) or content[:2] == b"PK":
        return _workbook_rows(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            raise InvalidInput(
                Message("The file is neither UTF-8 nor Windows text; save it as CSV UTF-8."),
                fields=("file",),
            ) from None
    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter = max((",", ";", "\t"), key=first_line.count)
    # Any line end (a file saved with CR only reads as lines too); no field may pass the file's size
    reader = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if len(rows) > MAX_IMPORT_ROWS:
                raise _too_many_rows()
            if len(row) > MAX_IMPORT_COLUMNS:
                raise _too_many_columns(reader.line_num)
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InvalidInput(
            Message("Line %(line)s cannot be read as CSV (%(problem)s).", line=reader.line_num, problem=str(exc)),
            fields=("file",),
            extra={"lines": [{"line": reader.line_num, "problem": str(exc)}]},
        ) from None
    return rows


def _too_many_rows() -> InvalidInput:
    return InvalidInput(
        Message("The file has more than %(limit)s experts; split it.", limit=f"{MAX_IMPORT_ROWS:,}"),
        fields=("file",),
    )


def _too_many_columns(line: int) -> InvalidInput:
    return InvalidInput(
        Message("Line %(line)s has more than %(limit)s columns.", line=line, limit=MAX_IMPORT_COLUMNS),
        fields=("file",),
        extra={"lines": [{"line": line, "problem": "too many columns"}]},
    )


def _workbook_rows(content: bytes) -> list[tuple[int, list[str]]]:
    """The first sheet's rows, read as a stream with bounds: the sizes a workbook declares (its
    unpacked size, its sheet's dimensions) are not trusted, so a small hostile file cannot make the
    server allocate gigabytes."""
    from openpyxl import load_workbook

    unreadable = InvalidInput(Message("This is not a readable XLSX workbook."), fields=("file",))
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise unreadable from None
    if unpacked > MAX_WORKBOOK_BYTES:
        raise InvalidInput(
            Message(
                "This workbook unpacks to more than %(limit)s MB; save the panel as CSV or in a smaller file.",
                limit=MAX_WORKBOOK_BYTES // 1_000_000,
            ),
            fields=("file",),
        )
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types for a broken workbook
        raise unreadable from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # "A1:XFD1048576" would make it pad every row to 16,384 cells
        rows: list[tuple[int, list[str]]] = []
        # Each row as long as its own last cell: a cell far to the right is refused, not padded to.
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if all(v is None for v in row):
                continue
            if len(rows) > MAX_IMPORT_ROWS:
                raise _too_many_rows()
            if any(v is not None for v in row[MAX_IMPORT_COLUMNS:]):
                raise _too_many_columns(number)
            cells = [
                "" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                for v in row[:MAX_IMPORT_COLUMNS]
            ]
            rows.append((number, cells))
        return rows
    except InvalidInput:
        raise
    except Exception:  # a broken sheet shows only as it is read
        raise unreadable from None
    finally:
        workbook.close()


def parse_panel_file(session: Session, study: Study, filename: str, content: bytes) -> list[tuple[int, ExpertCreate]]:
    """Check every row; raise one InvalidInput listing every bad line, or return what to import."""
    rows = _table_from_upload(filename, content)
    if not rows:
        raise InvalidInput(Message("The file is empty."), fields=("file",))
    header = [h.strip().lower() for h in rows[0][1]]

    def column(names: tuple[str, ...]) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    name_col, email_col = column(NAME_COLUMNS), column(EMAIL_COLUMNS)
    group_col, language_col = column(GROUP_COLUMNS), column(LANGUAGE_COLUMNS)
    if name_col is None or email_col is None:
        raise InvalidInput(
            Message(
                "Line 1: the header needs the columns name and email; found %(names)s.",
                names=", ".join(header) or "none",
            ),
            fields=("file",),
            extra={"lines": [{"line": 1, "problem": "missing columns"}]},
        )
    special = {name_col, email_col, group_col, language_col}
    existing = {e for e in session.exec(select(Expert.email).where(Expert.study_id == study.id)).all()}
    seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    parsed: list[tuple[int, ExpertCreate]] = []
    for number, cells in rows[1:]:
        if not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        name, email = cells[name_col].strip(), cells[email_col].strip().lower()
        group = cells[group_col].strip() if group_col is not None else ""
        language = cells[language_col].strip().lower() if language_col is not None else ""
        line_problems: list[Message] = []
        if not name:
            line_problems.append(Message("The name is empty."))
        if not addresses.is_address(email):
            line_problems.append(Message("“%(email)s” is not an e-mail address.", email=cells[email_col].strip()))
        elif email in seen:
            line_problems.append(Message("%(email)s is already on line %(line)s.", email=email, line=seen[email]))
        elif email in existing:
            line_problems.append(Message("%(email)s is already on the panel.", email=email))
        if group and (problem := service.check_group(study, group)):
            line_problems.append(problem)
        if language and language not in ("fr", "en"):
            line_problems.append(Message("The language “%(language)s” must be fr or en.", language=language))
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            line_problems.append(Message("More cells than header columns."))
        if line_problems:
            problems.extend((number, p) for p in line_problems)
            continue
        seen[email] = number
        profile = {
            header[i]: cells[i] for i in range(len(header)) if i not in special and header[i] and cells[i].strip()
        }
        parsed.append(
            (
                number,
                ExpertCreate(
                    name=name, email=email, stakeholder_group=group, profile=profile, language=language or None
                ),
            )
        )
    if problems:
        lines = sorted({n for n, _ in problems})
        listing = "; ".join(f"line {n}: {p}" for n, p in problems[:20])
        raise InvalidInput(
            Message(
                "Nothing was imported: %(count)s line(s) need fixing. %(listing)s", count=len(lines), listing=listing
            ),
            fields=("file",),
            extra={"lines": [{"line": n, "problem": p} for n, p in problems]},
        )
    if not parsed:
        raise InvalidInput(Message("The file has a header but no experts."), fields=("file",))
    return parsed


IMPORT_CHUNK_ROWS = 500
ABANDONED_IMPORT_AGE = timedelta(hours=1)

_STAGED = PanelImportRow.__table__  # type: ignore[attr-defined]
_EXPERTS = Expert.__table__  # type: ignore[attr-defined]
_STAGED_COLUMNS = (
    "study_id",
    "name",
    "email",
    "pseudonym",
    "stakeholder_group",
    "profile",
    "language",
    "weight",
    "weight_source",
    "created_at",
)
_NEW_EXPERT = {"weight_reason": "", "status": ExpertStatus.ACTIVE.value, "status_reason": ""}


def import_panel(
    session: Session,
    study: Study,
    filename: str,
    content: bytes,
    researcher: Researcher | None,
    transactions: UnitsOfWork | None = None,
) -> list[ExpertPublic]:
    """All or nothing: every line is checked before any is written. Linear in the lines: one read of
    the panel's e-mails and pseudonyms, bulk inserts, one log entry.

    With ``transactions`` (units of work of their own), ``session`` only reads: the checked lines
    are staged in short transactions of ``IMPORT_CHUNK_ROWS``, then one statement moves them all to
    the panel, so other studies' saves never wait for more than a chunk or the move. Without, all
    of it happens in ``session``."""
    parsed = parse_panel_file(session, study, filename, content)
    rows = _expert_rows(session, study, parsed)
    units = transactions or (lambda: nullcontext(session))
    key = str(uuid4())
    moved = False
    try:
        for start in range(0, len(rows), IMPORT_CHUNK_ROWS):
            with units() as chunk:
                chunk.execute(
                    insert(_STAGED), [dict(row, import_key=key) for row in rows[start : start + IMPORT_CHUNK_ROWS]]
                )
        with units() as move:
            ids = _move_staged(move, key)
            audit.record(
                move,
                study.id,
                researcher,
                "panel.imported",
                filename[:200],
                count=len(ids),
                pseudonyms=f"{rows[0]['pseudonym']}–{rows[-1]['pseudonym']}",
            )
        moved = True
    except IntegrityError:
        raise Conflict(
            Message(
                "The panel changed while the file was being read (an address was added meanwhile); import it again."
            )
        ) from None
    finally:
        if not moved and transactions is not None:
            with transactions() as cleanup:
                cleanup.execute(delete(_STAGED).where(_STAGED.c.import_key == key))
    return [ExpertPublic(id=ids[row["pseudonym"]], **row, **_NEW_EXPERT) for row in rows]


def _expert_rows(session: Session, study: Study, parsed: list[tuple[int, ExpertCreate]]) -> list[dict[str, Any]]:
    """The panel rows of checked lines: pseudonyms after the panel's own, weights by the protocol."""
    pseudonyms = service.next_pseudonyms(session, study.id)
    profiles = [service.clean_profile(data.profile) for _, data in parsed]
    weights, source = service.scheme_weights(study, profiles)
    return [
        {
            "line": line,
            "study_id": study.id,
            "name": data.name,
            "email": data.email.strip().lower(),
            "pseudonym": next(pseudonyms),
            "stakeholder_group": service.group_key(study, data.stakeholder_group),
            "profile": profile,
            "language": data.language,
            "weight": weight,
            "weight_source": source,
            "created_at": utcnow(),
        }
        for (line, data), profile, weight in zip(parsed, profiles, weights, strict=True)
    ]


def _move_staged(session: Session, key: str) -> dict[str, int]:
    """Staged lines to the panel in one statement (the unique e-mail and pseudonym per study guard
    a race), in file order, and the staging rows gone in the same transaction; returns the new
    experts' ids by pseudonym (little to fetch while the write lock is held)."""
    columns = [_STAGED.c[name] for name in _STAGED_COLUMNS]
    lines = (
        select(*columns, *(literal(value) for value in _NEW_EXPERT.values()))
        .where(_STAGED.c.import_key == key)
        .order_by(_STAGED.c.line)
    )
    statement = (
        insert(_EXPERTS)
        .from_select([*_STAGED_COLUMNS, *_NEW_EXPERT], lines)
        .returning(_EXPERTS.c.pseudonym, _EXPERTS.c.id)
    )
    ids = {pseudonym: id_ for pseudonym, id_ in session.execute(statement)}
    session.execute(delete(_STAGED).where(_STAGED.c.import_key == key))
    return ids


def forget_abandoned_imports(session: Session) -> int:
    """Staged lines of imports that never finished (the server stopped in the middle)."""
    old = delete(_STAGED).where(_STAGED.c.created_at < utcnow() - ABANDONED_IMPORT_AGE)
    return session.execute(old).rowcount or 0  # type: ignore[attr-defined]
