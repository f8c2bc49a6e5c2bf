"""What the benchmarks that talk HTTP share: a study with its experts' links, a database on SQLite
or PostgreSQL, `delphi serve` started as its own process (from this checkout or another one), and
the CPU time that process and its workers have used."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.db import make_engine, session_scope  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.panel import service as panel  # noqa: E402
from tests.factories import make_panel_study  # noqa: E402
from tests.mail.conftest import free_port  # noqa: E402
from tests.processes import delphi_environment, start_server  # noqa: E402
from tests.rounds.helpers import invited, open_round  # noqa: E402

SECRET = "benchmark-secret-key-0123456789-abcdefghij"
DEFAULT_POSTGRES = os.environ.get("DELPHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def database(kind: str, postgres: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A new empty database (a file in a temporary folder, or a PostgreSQL database dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='delphi-bench-')}/bench.db"
        return
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"delphi_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str, experts: int, items: int) -> list[str]:
    """Migrate, create a study with ``experts`` experts and ``items`` rating items, open round 1;
    returns the experts' link tokens."""
    from app.config import load_settings

    upgrade(url)
    engine = make_engine(url)
    settings = load_settings(database_url=url, secret_key=SECRET, base_url="http://127.0.0.1")
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=experts, items=items, language="en")
        round_ = open_round(session, study, settings)
        tokens = [panel.current_link(session, e, SECRET) for e in invited(session, round_)]
    engine.dispose()
    return tokens


@contextmanager
def server(url: str, workers: int = 1, code: Path | None = None, **settings: str) -> Iterator[tuple[str, int]]:
    """`delphi serve` on a free loopback port; yields its base URL and process id. ``code``: serve
    another checkout of the project (for before/after comparisons in one run)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = delphi_environment(
        url, base, secret_key=SECRET, run_sender_in_server="false", link_failures_per_minute="1000", **settings
    )
    if code is not None:
        env["PYTHONPATH"] = str(code.resolve())
    with tempfile.TemporaryFile() as log:
        process = start_server(url, port, workers=workers, env=env, log=log)
        try:
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(20)


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children (uvicorn's worker processes), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick  # user and system time
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat: the
    database server's processes count too."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick
