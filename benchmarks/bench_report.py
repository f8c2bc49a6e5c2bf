"""The whole `delphi report` run against WeasyPrint alone rendering the same HTML, in one run, for a
study of 300 items over 3 rounds (40 experts); pages, seconds and peak memory.

    .venv/bin/python benchmarks/bench_report.py [--items 300] [--rounds 3] [--experts 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import make_engine, session_scope  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.reports.service import render_pdf  # noqa: E402
from app.rounds import answers, service  # noqa: E402
from app.rounds.answers import AnswerIn  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from tests.factories import make_item, make_panel_study, make_theme  # noqa: E402
from tests.rounds.helpers import invited, open_round  # noqa: E402


def build(url: str, n_items: int, n_rounds: int, n_experts: int) -> int:
    upgrade(url)
    engine = make_engine(url)
    settings = settings_for(url)
    rng = np.random.default_rng(5)
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=n_experts, items=0, language="en")
        study.max_rounds = n_rounds
        study.retire_consensual = False  # every item asked in every round: the largest report
        study.stopping_rule = "round >= max_rounds"
        session.add(study)
        themes = [make_theme(session, study, f"Theme {t + 1}") for t in range(10)]
        for i in range(n_items):
            make_item(session, study, themes[i % 10], f"Statement {i + 1} about social media and e-commerce")
        for number in range(1, n_rounds + 1):
            round_ = open_round(session, study, settings)
            items = answers.round_items(session, round_.id)
            centre = rng.uniform(3, 9, len(items))
            for expert in invited(session, round_):
                values = np.clip(np.round(centre + rng.normal(0, 2.2 / number, len(items))), 1, 9)
                answers.save_answers(
                    session,
                    study,
                    round_,
                    expert,
                    {
                        item.id: AnswerIn(value=float(v), reason="A reason" if rng.random() < 0.02 else None)
                        for item, v in zip(items, values, strict=True)
                    },
                )
            service.close_round(session, study, round_, None)
        study_id = study.id
    engine.dispose()
    return study_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--experts", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="delphi-report-"))
    url = f"sqlite:///{folder / 'report.db'}"
    started = time.perf_counter()
    study_id = build(url, args.items, args.rounds, args.experts)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"study: {args.items} items x {args.rounds} rounds, {args.experts} experts (built in "
        f"{time.perf_counter() - started:.0f} s)"
    )
    env = dict(os.environ, DELPHI_DATABASE_URL=url)
    delphi = str(ROOT / ".venv" / "bin" / "delphi")
    # the whole command, as a user runs it (a fresh process: imports, database, charts, HTML, PDF)
    whole = []
    for _ in range(2):
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "%M",
                delphi,
                "report",
                str(study_id),
                "--out",
                str(folder / "r.pdf"),
                "--html",
                str(folder / "r.html"),
                "--lang",
                "en",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        whole.append(time.perf_counter() - t0)
        peak_kb = int(done.stderr.strip().splitlines()[-1])
    html = (folder / "r.html").read_text()
    # WeasyPrint alone on the same HTML, in this process (its import and fonts already warm)
    render_pdf(html)
    alone = []
    for _ in range(2):
        t0 = time.perf_counter()
        pdf, pages = render_pdf(html)
        alone.append(time.perf_counter() - t0)
    here = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"pages: {pages}, PDF {len(pdf) / 1e6:.1f} MB, HTML {len(html) / 1e6:.1f} MB")
    print(f"delphi report (whole command): {min(whole):6.1f} s, peak memory {peak_kb / 1024:.0f} MB")
    print(f"WeasyPrint alone, same HTML:   {min(alone):6.1f} s (this process peak {here / 1024:.0f} MB)")
    print(f"ratio: {min(whole) / min(alone):.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
