"""The whole `delphi report` run against WeasyPrint alone rendering the same HTML, in one run, for a
study of 300 items over 3 rounds (40 experts); pages, seconds and peak memory.

    .venv/bin/python benchmarks/bench_report.py [--items 300] [--rounds 3] [--experts 40] [--kinds all]
    .venv/bin/python benchmarks/bench_report.py --demo DIR   # the demo study of `delphi demo --simulate --out DIR`

``--kinds all``: of every ten items, six ratings, a choice, a ranking, an estimate and an open
question (asked in round 1 only, as the platform does). WeasyPrint alone is measured twice: in this
process, warm, and as its own command on the same HTML and stylesheet (a fresh process, as the
report command is).
"""

from __future__ import annotations

import argparse
import json
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

from app.db import make_engine, reading_scope, session_scope  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.reports.service import ASSETS, render_html, render_pdf  # noqa: E402
from app.rounds import answers, service  # noqa: E402
from app.rounds.answers import AnswerIn  # noqa: E402
from tests.conftest import settings_for  # noqa: E402
from tests.factories import make_item, make_panel_study, make_theme  # noqa: E402
from tests.rounds.helpers import invited, open_round  # noqa: E402

KIND_CYCLE = ("rating",) * 6 + ("choice", "ranking", "estimate", "open")
OPTIONS = ["Facebook", "LinkedIn", "Instagram", "TikTok"]


def an_answer(item, number: int, rng: np.random.Generator, centre: float) -> AnswerIn:  # type: ignore[no-untyped-def]
    """An answer to ``item`` of any kind in round ``number`` (ratings around ``centre``, closer in later rounds)."""
    reason = "A reason" if rng.random() < 0.02 else None
    if item.kind == "choice":
        return AnswerIn(values=[OPTIONS[int(rng.integers(0, 4))]], reason=reason)
    if item.kind == "ranking":
        order = list(rng.permutation(OPTIONS))
        return AnswerIn(ranks={o: str(n + 1) for n, o in enumerate(order)}, reason=reason)
    if item.kind == "estimate":
        mid = float(rng.uniform(20, 60))
        return AnswerIn(values=[mid - 10, mid, mid + 15], reason=reason)
    if item.kind == "open":
        return AnswerIn(text=f"An idea about delivery and reviews number {int(rng.integers(0, 50))}")
    value = float(np.clip(np.round(centre + rng.normal(0, 2.2 / number)), 1, 9))
    return AnswerIn(value=value, reason=reason)


def build(url: str, n_items: int, n_rounds: int, n_experts: int, all_kinds: bool = False) -> int:
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
            kind = KIND_CYCLE[i % len(KIND_CYCLE)] if all_kinds else "rating"
            extra: dict = {"options": OPTIONS} if kind in ("choice", "ranking") else {}
            if kind == "estimate":
                extra = {"quantiles": [0.05, 0.5, 0.95]}
            make_item(
                session,
                study,
                themes[i % 10],
                f"Statement {i + 1} about social media and e-commerce",
                kind=kind,
                **extra,
            )
        for number in range(1, n_rounds + 1):
            round_ = open_round(session, study, settings)
            items = answers.round_items(session, round_.id)
            centre = rng.uniform(3, 9, len(items))
            for expert in invited(session, round_):
                answers.save_answers(
                    session,
                    study,
                    round_,
                    expert,
                    {item.id: an_answer(item, number, rng, c) for item, c in zip(items, centre, strict=True)},
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
    parser.add_argument("--kinds", choices=("rating", "all"), default="rating")
    parser.add_argument("--demo", type=Path, help="the folder of `delphi demo --simulate --out DIR`")
    parser.add_argument("--command-only", action="store_true", help="time the report command once, nothing else")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.demo:
        folder = args.demo
        url = f"sqlite:///{(folder / 'delphi.db').resolve()}"
        study_id = int(json.loads((folder / "summary.json").read_text())["study_id"])
        print(f"study: the demo study of {folder}")
    else:
        folder = Path(tempfile.mkdtemp(prefix="delphi-report-"))
        url = f"sqlite:///{folder / 'report.db'}"
        started = time.perf_counter()
        study_id = build(url, args.items, args.rounds, args.experts, args.kinds == "all")
        print(
            f"study: {args.items} items ({args.kinds}) x {args.rounds} rounds, {args.experts} experts (built in "
            f"{time.perf_counter() - started:.0f} s)"
        )
    env = dict(os.environ, DELPHI_DATABASE_URL=url)
    delphi = str(ROOT / ".venv" / "bin" / "delphi")
    # the whole command, as a user runs it (a fresh process: imports, database, charts, HTML, PDF)
    whole = []
    for _ in range(1 if args.command_only else 2):
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
    if args.command_only:
        pages = subprocess.run(["pdfinfo", str(folder / "r.pdf")], capture_output=True, text=True, check=True).stdout
        count = next(line.split()[-1] for line in pages.splitlines() if line.startswith("Pages:"))
        print(f"pages: {count}; delphi report (whole command): {min(whole):.1f} s, peak memory {peak_kb / 1024:.0f} MB")
        return
    # WeasyPrint's own command on the same HTML and stylesheet: a fresh process, as the report is
    standalone = folder / "standalone.html"
    standalone.write_text(html.replace('href="bundled:report.css"', f'href="{ASSETS["bundled:report.css"].as_uri()}"'))
    command = []
    for _ in range(2):
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "%M",
                str(ROOT / ".venv" / "bin" / "weasyprint"),
                str(standalone),
                str(folder / "w.pdf"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        command.append(time.perf_counter() - t0)
        command_kb = int(done.stderr.strip().splitlines()[-1])
    # WeasyPrint alone on the same HTML, in this process (its import and fonts already warm)
    render_pdf(html)
    alone = []
    for _ in range(2):
        t0 = time.perf_counter()
        pdf, pages = render_pdf(html)
        alone.append(time.perf_counter() - t0)
    # the report as the server makes it (the download on the study's page): a warm process, its
    # queries, charts, HTML and PDF
    engine = make_engine(url)
    served = []
    for _ in range(2):
        t0 = time.perf_counter()
        with reading_scope(engine) as session:
            page = render_html(session, study_id, "en")
        render_pdf(page)
        served.append(time.perf_counter() - t0)
    engine.dispose()
    here = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"pages: {pages}, PDF {len(pdf) / 1e6:.1f} MB, HTML {len(html) / 1e6:.1f} MB")
    print(f"delphi report (whole command): {min(whole):6.1f} s, peak memory {peak_kb / 1024:.0f} MB")
    print(f"WeasyPrint command, same HTML: {min(command):6.1f} s, peak memory {command_kb / 1024:.0f} MB")
    print(f"WeasyPrint alone, same HTML:   {min(alone):6.1f} s (in this process, warm; peak {here / 1024:.0f} MB)")
    print(f"the report in a warm process (as served): {min(served):6.1f} s")
    ratios = f"{min(whole) / min(command):.2f} to the WeasyPrint command, {min(whole) / min(alone):.2f} to it warm"
    print(f"ratio of the command: {ratios}; of the served report to WeasyPrint warm: {min(served) / min(alone):.2f}")


if __name__ == "__main__":
    main()
