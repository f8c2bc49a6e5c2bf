"""`delphi demo --simulate`: a whole two-round study over HTTP and SMTP (contract: summary.json)."""

import json

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from app.db import make_engine
from app.demo.simulate import _free_port, run_simulation
from app.panel.models import Expert
from app.rounds.models import AnswerHistory


@pytest.mark.slow
def test_simulation_runs_the_seed_study_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("DELPHI_DATABASE_URL", raising=False)
    lines: list[str] = []
    port, smtp_port = _free_port(), _free_port()
    summary = run_simulation(tmp_path, seed=11, say=lines.append, port=port, smtp_port=smtp_port)
    assert f"App on http://127.0.0.1:{port}, SMTP on 127.0.0.1:{smtp_port}" in lines
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["panel"] == {"initial": 22, "final": 10}
    first, second = summary["rounds"]
    assert (first["number"], first["invited"], first["emails_sent"]) == (1, 22, 22)
    assert (second["number"], second["invited"], second["emails_sent"]) == (2, 10, 10)
    assert first["answers_via_http"] > 22 * 30 and second["answers_via_http"] > 0
    assert 0 < second["items"] < first["items"]  # consensual items retired, the rest carried forward
    weights = [t["weight"] for t in summary["themes"]]
    assert len(weights) == 7 and weights == sorted(weights, reverse=True)
    assert [t["rank"] for t in summary["themes"]][0] == 1
    assert any("narrowed 22 -> 10" in line for line in lines)
    reader = PdfReader(tmp_path / "report.pdf")
    assert len(reader.pages) > 10 and "Delphi" in reader.pages[0].extract_text()
    engine = make_engine(f"sqlite:///{tmp_path / 'delphi.db'}")
    with Session(engine) as session:
        assert len(session.exec(select(Expert).where(Expert.status == "dropped")).all()) == 12
        # each expert assessed their expertise (K) before round 1, through the link's form
        assert all(e.self_assessment.get("levels") for e in session.exec(select(Expert)).all())
        sources = {h.source for h in session.exec(select(AnswerHistory)).all()}
        # every answer came through the expert pages' forms, or was carried forward as round 2 opened
        assert {"save", "carried"} <= sources <= {"save", "submit", "carried"}
    engine.dispose()


def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    import socket

    from typer.testing import CliRunner

    from app.cli import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--simulate", "--out", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2 and f"port {port} is already in use" in result.output
    assert not (tmp_path / "delphi.db").exists()
