"""Exports (CSV, XLSX, JSON) and background rendering of the report."""

import csv
import io
import json
import time

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from app.db import make_engine, session_scope
from app.reports import exports, jobs
from app.reports.models import ReportFile
from app.scoring.files import read_ratings
from app.scoring_cli import score_table
from app.serialization import neutralise, to_csv
from tests.conftest import settings_for
from tests.factories import page_login
from tests.reports.conftest import two_round_study


def test_formula_cells_are_neutralised_and_numbers_kept():
    assert neutralise("=SUM(A1:A9)") == "'=SUM(A1:A9)"
    assert [neutralise(v) for v in ("+33 6", "-rm", "@cmd", "\tx", "plain")] == [
        "'+33 6",
        "'-rm",
        "'@cmd",
        "'\tx",
        "plain",
    ]
    assert neutralise(-3.0) == -3.0 and neutralise(7) == 7


def test_answers_csv_is_pseudonymous_neutralised_and_readable_by_delphi_score(session, finished_study):
    content = to_csv(exports.answer_rows(session, finished_study), exports.ANSWER_COLUMNS).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows and all(r["expert"].startswith("E") and "@" not in r["expert"] for r in rows)
    assert any(r["reason"].startswith("'=cmd") for r in rows)  # the injected formula is defused
    ratings = [r for r in rows if r["kind"] == "rating"]
    table = read_ratings(
        "expert,item,value,round\n"
        + "\n".join(f"{r['expert']},{r['item']},{r['value'].removesuffix('.0')},{r['round']}" for r in ratings),
        (1, 9),
    )
    result = score_table(table, (1, 9), (7, 9), "linear", None)
    assert {i["round"] for i in result["items"]} == {1, 2} and result["stability"]


def test_xlsx_and_json(session, finished_study):
    book = load_workbook(
        io.BytesIO(
            exports.to_xlsx(
                {
                    "answers": (exports.ANSWER_COLUMNS, exports.answer_rows(session, finished_study)),
                    "statistics": (exports.STAT_COLUMNS, exports.stat_rows(session, finished_study)),
                }
            )
        )
    )
    assert book.sheetnames == ["answers", "statistics"]
    values = [c.value for row in book["answers"].iter_rows(min_row=2) for c in row]
    assert "'=cmd|' /C calc'!A0" in values and not any(isinstance(v, str) and v.startswith("=") for v in values)
    data = json.loads(exports.study_json(session, finished_study))
    assert {"protocol", "rounds", "items", "themes", "narrowing", "answers"} <= set(data)
    assert len(data["rounds"]) == 2 and data["rounds"][0]["snapshot"]["invited"] == 10
    assert "@" not in json.dumps(data["answers"])


def test_export_links_work_for_members(client, session, finished_study):
    page_login(client, finished_study and "owner-en-0@example.org")
    for path in ("answers.csv", "statistics.csv", "study.xlsx", "study.json"):
        response = client.get(f"/studies/{finished_study.id}/exports/{path}")
        assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(client.get(f"/studies/{finished_study.id}/exports/study.xlsx").content))
    for sheet in ("answers", "statistics", "options"):
        header, *rows = [[c.value for c in row] for row in book[sheet].iter_rows()]
        ids = [row[header.index("item")] for row in rows]
        assert all(isinstance(i, int) for i in ids), sheet  # numbers in every sheet, to join them
        assert ids or sheet == "options"  # (a study of rating items only has no option rows)
    identified = client.get(f"/studies/{finished_study.id}/exports/answers.csv?identities=1").content.decode(
        "utf-8-sig"
    )
    header = next(csv.reader(io.StringIO(identified)))
    assert header[:4] == ["round", "expert", "name", "email"]  # a name and an address in their own columns
    assert "Consensus report" in client.get(f"/studies/{finished_study.id}/report").text


@pytest.fixture
def world(database):
    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url)
    with session_scope(engine) as session:
        study = two_round_study(session, settings)
        study_id = study.id
    yield engine, settings, study_id
    engine.dispose()


def test_reports_render_in_the_background_once_per_snapshot(world):
    engine, settings, study_id = world
    with session_scope(engine) as session:
        study = session.get(__import__("app.studies.models", fromlist=["Study"]).Study, study_id)
        first = jobs.request_report(session, study, "en", None)
        again = jobs.request_report(session, study, "en", None)
        french = jobs.request_report(session, study, "fr", None)
        assert first.id == again.id and french.id != first.id
    assert jobs.render_queued(engine, settings, limit=5) == 2
    with Session(engine) as session:
        reports = session.exec(select(ReportFile).order_by(ReportFile.id)).all()
        assert [r.status for r in reports] == ["done", "done"], [r.error for r in reports]
        assert reports[0].pdf[:5] == b"%PDF-" and reports[0].pages >= 8
    with session_scope(engine) as session:
        study = session.get(__import__("app.studies.models", fromlist=["Study"]).Study, study_id)
        assert jobs.request_report(session, study, "en", None).id == first.id  # cached for the same snapshots


def test_a_report_that_takes_too_long_is_stopped_and_says_so(world):
    engine, settings, study_id = world
    slow = settings_for(settings.database_url, report_time_limit_seconds=5)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="longer than"):
        jobs.pdf_with_time_limit("<p>x</p>" * 400_000, 0.2)
    assert time.monotonic() - started < 5
    del slow
