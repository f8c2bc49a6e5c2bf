"""The exports stream: the answers are read a chunk at a time and written as they come, so the
memory an export takes does not grow with the number of answers; what they say is unchanged."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from app.reports import exports
from app.rounds.models import Answer, Invitation, Round, RoundItem
from app.serialization import csv_chunks, to_csv
from app.studies import design
from tests.factories import make_panel_study, make_researcher, page_login

EXPERTS, ITEMS = 40, 50


def _rounds_of_answers(session, study, rounds: int) -> None:  # type: ignore[no-untyped-def]
    """``rounds`` closed rounds in which every expert rated every item (bulk inserted); in each
    round after the first, the even items are carried unchanged and the odd ones move."""
    now = datetime.now(UTC)
    items = [i.id for i in design.items_of(session, study.id)]
    experts = [e.id for e in study_experts(session, study)]
    for number in range(1, rounds + 1):
        round_ = Round(study_id=study.id, number=number, status="analysed", opened_at=now, closed_at=now)
        session.add(round_)
        session.flush()
        session.execute(
            insert(RoundItem), [{"round_id": round_.id, "item_id": i, "position": k} for k, i in enumerate(items)]
        )
        session.execute(
            insert(Invitation),
            [{"round_id": round_.id, "expert_id": e, "invited_at": now, "submitted_at": now} for e in experts],
        )
        session.execute(
            insert(Answer),
            [
                {
                    "round_id": round_.id,
                    "expert_id": e,
                    "item_id": i,
                    "value": float(5 + (k % 2) * (number % 3)),
                    "unable": False,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for e in experts
                for k, i in enumerate(items)
            ],
        )
    session.flush()


def study_experts(session, study):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from app.panel.models import Expert

    return session.exec(select(Expert).where(Expert.study_id == study.id).order_by(Expert.id)).all()


def _peak_of_streaming(session, study, export: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The size of an export as the server writes it (to a file), and the memory it took."""
    with tempfile.TemporaryFile() as spool:
        tracemalloc.start()
        exports.write_export(session, study, export, spool)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return spool.tell(), peak


# The XLSX is left to the benchmark (bench_exports.py, the process's resident memory): openpyxl
# writes through lxml, whose memory tracemalloc does not see.
@pytest.mark.parametrize("export", ["csv", "json"])
def test_an_export_takes_no_more_memory_for_six_times_the_answers(session, export):
    owner = make_researcher(session)
    # both at least two chunks of ``exports.ANSWER_CHUNK`` rows (what the driver holds at a time)
    small = make_panel_study(session, owner, experts=EXPERTS, items=ITEMS, title="Two rounds")
    large = make_panel_study(session, owner, experts=EXPERTS, items=ITEMS, title="Twelve rounds")
    _rounds_of_answers(session, small, 2)
    _rounds_of_answers(session, large, 12)
    session.expire_all()
    _peak_of_streaming(session, small, export)  # warm: statements compiled, caches filled
    small_size, small_peak = _peak_of_streaming(session, small, export)
    large_size, large_peak = _peak_of_streaming(session, large, export)
    assert large_size > 5.5 * small_size  # six times the answers written...
    assert large_peak < 1.5 * small_peak + 200_000, (small_peak, large_peak)  # ...in about the same memory


def test_a_streamed_export_says_what_it_said_whole(client, session):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=4, items=3, language="en")
    _rounds_of_answers(session, study, 3)
    session.commit()
    rows = list(exports.answer_rows(session, study))
    assert len(rows) == 4 * 3 * 3
    carried = {(r["round"], r["item"], r["carried"]) for r in rows if r["round"] > 1}
    items = sorted({r["item"] for r in rows})
    # even items keep their value between rounds (carried), odd items move (5 + round % 3)
    assert {(n, items[0], 1) for n in (2, 3)} <= carried and (2, items[1], 0) in carried
    assert all(r["carried"] == 0 for r in rows if r["round"] == 1)
    assert b"".join(csv_chunks(rows, exports.ANSWER_COLUMNS, lines=5)) == to_csv(rows, exports.ANSWER_COLUMNS)

    page_login(client, owner.email)
    streamed = client.get(f"/studies/{study.id}/exports/answers.csv")
    assert streamed.status_code == 200 and streamed.headers["content-disposition"].startswith("attachment")
    parsed = list(csv.DictReader(io.StringIO(streamed.content.decode("utf-8-sig"))))
    assert len(parsed) == len(rows) and parsed[0].keys() == set(exports.ANSWER_COLUMNS)
    document = json.loads(client.get(f"/studies/{study.id}/exports/study.json").content)
    assert len(document["answers"]) == len(rows) and document["answers"][0]["expert"] == rows[0]["expert"]
    assert json.loads(exports.study_json(session, study)) == document
    book = load_workbook(io.BytesIO(client.get(f"/studies/{study.id}/exports/study.xlsx").content))
    assert book["answers"].max_row == len(rows) + 1


def test_answers_past_a_sheets_row_limit_go_on_in_the_next_sheet():
    """A spreadsheet holds at most 1,048,576 rows (Excel and LibreOffice refuse a bigger sheet): a
    study's answers past that go on in "answers (2)", "answers (3)"..., each with the header, none
    lost or repeated."""
    rows = [{"round": 1, "expert": f"P{k:02d}", "value": k} for k in range(7)]
    columns = ("round", "expert", "value")
    spool = io.BytesIO()
    exports.to_xlsx({"answers": (columns, iter(rows)), "panel": (columns, [])}, spool, max_rows=3)
    book = load_workbook(io.BytesIO(spool.getvalue()), read_only=True)
    assert book.sheetnames == ["answers", "answers (2)", "answers (3)", "answers (4)", "panel"]
    values = [list(row) for name in book.sheetnames[:4] for row in book[name].iter_rows(values_only=True)]
    headers = [row for row in values if row == list(columns)]
    assert len(headers) == 4  # one per sheet
    assert [row[1] for row in values if row != list(columns)] == [r["expert"] for r in rows]
    assert all(len(list(book[name].iter_rows())) <= 3 for name in book.sheetnames)
    assert exports.EXCEL_MAX_ROWS == 1_048_576


def test_an_export_that_fails_leaves_no_rows_on_the_disk():
    """openpyxl keeps a write-only sheet's rows in a named temporary file until the workbook is
    saved: an export that fails halfway (the database gone, the client gone) removes them."""
    from openpyxl.worksheet import _writer

    def rows_then_failure():  # type: ignore[no-untyped-def]
        for k in range(50):
            yield {"expert": f"P{k}", "email": f"person{k}@example.org"}
        raise RuntimeError("the database went away")

    before = set(_writer.ALL_TEMP_FILES)
    with pytest.raises(RuntimeError, match="went away"):
        exports.to_xlsx(
            {
                "panel": (("expert", "email"), [{"expert": "P0", "email": "a@example.org"}]),
                "answers": (("expert", "email"), rows_then_failure()),
            },
            io.BytesIO(),
            max_rows=20,
        )
    left = set(_writer.ALL_TEMP_FILES) - before
    assert not left and not [path for path in left if Path(path).exists()]


def test_sheet_names_stay_distinct_and_within_31_characters():
    title = "a sheet title longer than thirty-one characters"
    sheets = {title: (("n",), [{"n": k} for k in range(5)]), "other": (("n",), [])}
    book = load_workbook(io.BytesIO(exports.to_xlsx(sheets, max_rows=2)), read_only=True)
    assert len(set(book.sheetnames)) == len(book.sheetnames) == 6
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert book.sheetnames[:2] == [title[:31], title[:27] + " (2)"]


def test_the_command_writes_each_export_as_the_page_does(database, monkeypatch, tmp_path):
    """`delphi study data` writes the same files as the exports page (a big study's workbook takes
    longer than a proxy waits for a page), whole or not at all, readable by its owner only."""
    from sqlmodel import Session
    from typer.testing import CliRunner

    from app.cli import cli
    from app.db import make_engine

    url = database.fresh()
    monkeypatch.setenv("DELPHI_DATABASE_URL", url)
    engine = make_engine(url)
    with Session(engine) as session:
        study = make_panel_study(session, make_researcher(session), experts=3, items=2, language="en")
        _rounds_of_answers(session, study, 2)
        session.commit()
        study_id = study.id
        expected = {}
        for export in exports.EXPORTS:
            spool = io.BytesIO()
            exports.write_export(session, study, export, spool)
            expected[export] = spool.getvalue()
    engine.dispose()
    for export in exports.EXPORTS:
        out = tmp_path / f"study.{export}"
        result = CliRunner().invoke(cli, ["study", "data", str(study_id), "--format", export, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_mode & 0o077 == 0  # names and answers: not for other accounts of the machine
        if export == "xlsx":  # a workbook's zip records when it was written
            written = load_workbook(out)
            assert written["answers"].max_row == 3 * 2 * 2 + 1 and written.sheetnames[0] == "answers"
        else:
            assert out.read_bytes() == expected[export]
    named = CliRunner().invoke(
        cli, ["study", "data", str(study_id), "--with-emails", "--out", str(tmp_path / "named.csv")]
    )
    assert named.exit_code == 0 and "@example.org" in (tmp_path / "named.csv").read_text(encoding="utf-8-sig")
    assert "@example.org" not in (tmp_path / "study.csv").read_text(encoding="utf-8-sig")
    missing = CliRunner().invoke(cli, ["study", "data", "999", "--out", str(tmp_path / "none.csv")])
    assert missing.exit_code == 1 and "No such study" in missing.output
    assert not (tmp_path / "none.csv").exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["named.csv", *(f"study.{e}" for e in exports.EXPORTS)]
    )  # no half-written file, no temporary one left
    wrong = CliRunner().invoke(cli, ["study", "data", str(study_id), "--format", "pdf", "--out", str(tmp_path / "x")])
    assert wrong.exit_code == 2 and "--format must be one of csv, xlsx, json" in wrong.output
    # the format follows the file's extension when not given
    by_name = CliRunner().invoke(cli, ["study", "data", str(study_id), "--out", str(tmp_path / "by-name.json")])
    assert by_name.exit_code == 0 and (tmp_path / "by-name.json").read_bytes() == expected["json"]
    # refusals in one line, before anything is read or written
    for args, said in [
        (["--out", str(tmp_path)], "is a folder"),
        (["--out", "."], "is a folder"),
        (["--format", "json", "--with-emails", "--out", str(tmp_path / "n.json")], "never names anyone"),
    ]:
        refused = CliRunner().invoke(cli, ["study", "data", str(study_id), *args])
        assert refused.exit_code == 2 and said in refused.output and refused.exception.__class__ is SystemExit
    assert not (tmp_path / "n.json").exists()
