"""What the round-2 expert form of the demo study weighs on the wire, with and without compression.

    .venv/bin/python benchmarks/bench_page_weight.py

The demo study (43 items, 22 experts with varied answers and reasons in round 1) is loaded into a
new SQLite database, round 1 is answered and closed, round 2 is opened, and one expert's form is
fetched as a browser would, once asking for gzip and once not. Goal: <= 30 KB on the wire.
"""

from __future__ import annotations

import gzip
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app.db import make_engine, session_scope  # noqa: E402
from app.demo.service import load_demo_study  # noqa: E402
from app.main import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.panel import service as panel  # noqa: E402
from app.rounds import answers, service  # noqa: E402
from app.rounds.answers import AnswerIn  # noqa: E402
from tests.conftest import TEST_SECRET, settings_for  # noqa: E402
from tests.rounds.helpers import invited, open_round  # noqa: E402


def prepare(url: str) -> str:
    upgrade(url)
    engine = make_engine(url)
    settings = settings_for(url)
    rng = random.Random(7)
    with session_scope(engine) as session:
        study = load_demo_study(session, None)
        round1 = open_round(session, study, settings)
        experts = invited(session, round1)
        for expert in experts:
            batch = {}
            for item in answers.round_items(session, round1.id):
                if item.kind == "rating":
                    reason = "Les petites boutiques n'ont pas les moyens d'y répondre." if rng.random() < 0.2 else None
                    batch[item.id] = AnswerIn(value=rng.randint(4, 9), reason=reason)
                elif item.kind == "open":
                    batch[item.id] = AnswerIn(text="La réactivité du service client sur les réseaux.")
            answers.save_answers(session, study, round1, expert, batch)
        service.close_round(session, study, round1, None)
        study.status = "running"
        round2 = open_round(session, study, settings)
        token = panel.current_link(session, invited(session, round2)[0], TEST_SECRET)
    engine.dispose()
    return token


def main() -> None:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='delphi-weight-')}/weight.db"
    token = prepare(url)
    with TestClient(create_app(settings_for(url), run_sender=False)) as client:
        page = client.get(f"/e/{token}")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(f"/e/{token}/consent", data={"csrf_token": csrf, "consent": "1"})
        plain = client.get(f"/e/{token}", headers={"Accept-Encoding": "identity"})
        packed = client.get(f"/e/{token}", headers={"Accept-Encoding": "gzip"})
    raw = len(plain.content)
    wire = int(packed.headers.get("content-length") or len(gzip.compress(packed.content)))
    svg = sum(len(part.split("</svg>", 1)[0]) for part in plain.text.split("<svg")[1:])
    print(
        f"round-2 form of the demo study: {raw / 1000:.1f} KB of HTML ({svg / 1000:.1f} KB of it inline SVG); "
        f"on the wire with gzip: {wire / 1000:.1f} KB ({packed.headers.get('content-encoding', 'none')}); goal <= 30 KB"
    )


if __name__ == "__main__":
    main()
