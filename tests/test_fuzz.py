"""Fuzzing: schemathesis over the OpenAPI schema finds no 5xx; hypothesis on panel imports."""

import csv
import io

import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlmodel import select

from app.errors import AppError
from app.panel import panel_file
from app.panel.models import Expert
from tests.factories import login, make_panel_study, make_researcher

pytestmark = pytest.mark.slow


def test_no_api_operation_answers_5xx(app, client, session):
    """Every operation of /api/openapi.json, with generated inputs, as an owner and on a real study."""
    researcher = make_researcher(session)
    study = make_panel_study(session, researcher, experts=4, items=3)
    csrf = login(client)
    cookies = dict(client.cookies)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(), real_study=st.booleans())
        def call(case, real_study):  # type: ignore[no-untyped-def]
            if real_study and case.path_parameters and "study_id" in case.path_parameters:
                case.path_parameters["study_id"] = study.id
            response = case.call(headers={"X-CSRF-Token": csrf}, cookies=cookies)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.status_code,
                response.text[:300],
            )

        call()
        checked += 1
    assert checked > 30


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=6), max_size=8),
    header=st.sampled_from([["name", "email", "group"], ["name", "email", "years"], ["nom", "courriel"], ["x"]]),
)
def test_any_csv_imports_whole_or_not_at_all(database, rows, header):
    from sqlmodel import Session

    with database.engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            study = make_panel_study(session, experts=0, items=1)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(header)
            writer.writerows(rows)
            try:
                imported = panel_file.import_panel(session, study, "panel.csv", buffer.getvalue().encode(), None)
            except AppError as exc:
                assert exc.status_code == 400 and exc.detail
                assert session.exec(select(Expert).where(Expert.study_id == study.id)).all() == []
            else:
                assert len(session.exec(select(Expert).where(Expert.study_id == study.id)).all()) == len(imported) > 0
        transaction.rollback()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cells=st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.integers(-5, 5),
                st.floats(allow_nan=False, allow_infinity=False, width=32),
                st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=8),
            ),
            min_size=1,
            max_size=4,
        ),
        max_size=6,
    )
)
@example(cells=[["Ann", "ann@example.org", 3], ["Bob", "bob@example.org", None]])  # the success branch runs
def test_any_xlsx_imports_whole_or_not_at_all(database, cells):
    from sqlmodel import Session

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "email", "years"])
    for row in cells:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    with database.engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            study = make_panel_study(session, experts=0, items=1)
            try:
                imported = panel_file.import_panel(session, study, "panel.xlsx", buffer.getvalue(), None)
            except AppError as exc:
                assert exc.status_code == 400
                assert session.exec(select(Expert).where(Expert.study_id == study.id)).all() == []
            else:  # every line went in, as itself
                stored = session.exec(select(Expert).where(Expert.study_id == study.id)).all()
                assert len(stored) == len(imported) == sum(1 for row in cells if any(c is not None for c in row))
                assert {e.email for e in stored} == {e.email for e in imported}
        transaction.rollback()
