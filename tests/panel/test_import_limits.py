"""Panel files that try to exhaust the server: declared dimensions, zip bombs, endless rows, odd line
ends and huge fields get a clear 4xx naming the limit; a large honest file imports in one pass."""

from __future__ import annotations

import io
import re
import resource
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import event
from sqlmodel import func, select

from app.audit.models import AuditEvent
from app.db import utcnow
from app.errors import Conflict, InvalidInput
from app.panel import panel_file
from app.panel import service as panel
from app.panel.models import Expert, PanelImportRow
from app.panel.schemas import ExpertCreate
from tests.factories import make_study


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewrite_sheet(content: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The same workbook with its first sheet's XML changed."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            target.writestr(info, data)
    return out.getvalue()


def test_a_sheet_declaring_the_whole_grid_is_read_by_its_real_cells(session):
    """A1:XFD1048576 made openpyxl pad every row to 16,384 cells and a million rows (5 GB)."""
    study = make_study(session)
    honest = workbook([["name", "email"], ["Ann", "ann@example.org"], ["Bob", "bob@example.org"]])
    hostile = rewrite_sheet(
        honest, lambda xml: re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:XFD1048576"', xml)
    )
    assert len(hostile) < 10_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    experts = panel_file.import_panel(session, study, "panel.xlsx", hostile, None)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [e.email for e in experts] == ["ann@example.org", "bob@example.org"]
    assert grown_mb < 200


def test_a_cell_at_the_far_corner_is_refused_not_padded(session):
    study = make_study(session)
    honest = workbook([["name", "email"], ["Ann", "ann@example.org"]])
    far = rewrite_sheet(
        honest,
        lambda xml: xml.replace(
            "</sheetData>", '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
        ),
    )
    with pytest.raises(InvalidInput) as refused:
        panel_file.import_panel(session, study, "panel.xlsx", far, None)
    assert refused.value.status_code == 400
    assert "more than 100 columns" in refused.value.detail and "1048576" in refused.value.detail


def test_a_workbook_that_unpacks_to_gigabytes_is_refused_before_it_is_read(session):
    study = make_study(session)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<a>" + " " * 150_000_000 + "</a>")
    assert len(bomb.getvalue()) < 1_000_000
    with pytest.raises(InvalidInput, match="unpacks to more than 100 MB"):
        panel_file.import_panel(session, study, "panel.xlsx", bomb.getvalue(), None)


def test_more_rows_than_the_limit_are_refused_naming_it(session, monkeypatch):
    monkeypatch.setattr(panel_file, "MAX_IMPORT_ROWS", 50)
    study = make_study(session)
    lines = ["name,email"] + [f"E{n},e{n}@example.org" for n in range(60)]
    with pytest.raises(InvalidInput, match="more than 50 experts"):
        panel_file.import_panel(session, study, "panel.csv", "\n".join(lines).encode(), None)
    rows = [["name", "email"]] + [[f"E{n}", f"e{n}@example.org"] for n in range(60)]
    with pytest.raises(InvalidInput, match="more than 50 experts"):
        panel_file.import_panel(session, study, "panel.xlsx", workbook(rows), None)
    assert session.exec(select(func.count()).select_from(Expert)).one() == 0


def test_csv_with_cr_only_line_ends_imports(session):
    study = make_study(session)
    content = b"name,email\rAnn,ann@example.org\rBob,bob@example.org\r"
    assert [e.name for e in panel_file.import_panel(session, study, "panel.csv", content, None)] == ["Ann", "Bob"]


def test_a_csv_field_over_the_parser_s_limit_is_a_clear_error_with_its_line(session):
    study = make_study(session)
    content = ('name,email,notes\nAnn,ann@example.org,"' + "x" * 140_000 + '"\n').encode()
    with pytest.raises(InvalidInput) as refused:
        panel_file.import_panel(session, study, "panel.csv", content, None)
    assert "Line 2 cannot be read as CSV" in refused.value.detail and refused.value.extra["lines"][0]["line"] == 2


def test_a_large_panel_imports_in_one_pass_with_one_log_entry(session):
    study = make_study(session)
    study.weighting = {"scheme": "formula", "formula": "years / 10"}
    session.add(study)
    lines = ["name,email,group,years"] + [f"Expert {n},e{n}@example.org,,{n % 30}" for n in range(3000)]
    statements: list[str] = []
    engine = session.get_bind().engine

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        experts = panel_file.import_panel(session, study, "panel.csv", "\n".join(lines).encode(), None)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # a few statements, and one more per chunk of staged lines (the quadratic import ran several per
    # line: 146 s for 4,000)
    chunks = -(-3000 // panel_file.IMPORT_CHUNK_ROWS)
    assert len([s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]) <= 10 + chunks
    assert len(experts) == 3000 and experts[0].pseudonym == "E01" and experts[-1].pseudonym == "E3000"
    assert experts[7].weight == pytest.approx(0.7) and experts[7].weight_source == "formula"
    assert len({e.pseudonym for e in experts}) == 3000
    logged = session.exec(select(AuditEvent).where(AuditEvent.study_id == study.id)).all()
    assert [e.action for e in logged if e.action.startswith(("panel", "expert"))] == ["panel.imported"]
    again = panel_file.import_panel(session, study, "more.csv", b"name,email,years\nLate,late@example.org,4\n", None)
    assert again[0].pseudonym == "E3001"


def test_a_large_import_is_staged_in_short_transactions_then_moved_in_one(session, transaction_sessions):
    study = make_study(session)
    units = 0

    @contextmanager
    def counted() -> Iterator:  # type: ignore[type-arg]
        nonlocal units
        units += 1
        with transaction_sessions() as unit:
            yield unit

    lines = ["name,email"] + [f"Expert {n},e{n}@example.org" for n in range(1200)]
    experts = panel_file.import_panel(session, study, "panel.csv", "\n".join(lines).encode(), None, counted)
    assert units == 3 + 1  # chunks of 500, then the move
    assert [e.pseudonym for e in experts[:2]] == ["E01", "E02"] and experts[-1].email == "e1199@example.org"
    stored = session.exec(select(Expert.email).where(Expert.study_id == study.id).order_by(Expert.id)).all()
    assert stored == [f"e{n}@example.org" for n in range(1200)]
    assert session.exec(select(func.count()).select_from(PanelImportRow)).one() == 0


def test_an_import_that_races_an_addition_adds_nothing_and_leaves_nothing_staged(session, transaction_sessions):
    study = make_study(session)
    units = 0

    @contextmanager
    def racing() -> Iterator:  # type: ignore[type-arg]
        nonlocal units
        units += 1
        if units == 2:  # after the lines are staged, before they move: another editor adds Bob
            with transaction_sessions() as other:
                panel.add_expert(other, study, ExpertCreate(name="Bob", email="bob@example.org"), None)
        with transaction_sessions() as unit:
            yield unit

    content = b"name,email\nAnn,ann@example.org\nBob,bob@example.org\n"
    with pytest.raises(Conflict, match="import it again"):
        panel_file.import_panel(session, study, "panel.csv", content, None, racing)
    stored = session.exec(select(Expert.email).where(Expert.study_id == study.id)).all()
    assert stored == ["bob@example.org"]
    assert session.exec(select(func.count()).select_from(PanelImportRow)).one() == 0


def test_lines_of_an_import_that_never_ended_are_forgotten(session):
    study = make_study(session)
    for age, email in [(timedelta(hours=2), "old@example.org"), (timedelta(minutes=1), "new@example.org")]:
        staged = PanelImportRow(import_key="k", line=2, study_id=study.id, name="X", email=email, pseudonym="E01")
        staged.created_at = utcnow() - age
        session.add(staged)
    session.flush()
    assert panel_file.forget_abandoned_imports(session) == 1
    assert session.exec(select(PanelImportRow.email)).all() == ["new@example.org"]
