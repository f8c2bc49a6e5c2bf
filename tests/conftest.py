"""Test fixtures: every database test runs on SQLite and, when DELPHI_TEST_POSTGRES_URL is set,
on PostgreSQL too. Migrations run once per database per session (which also tests them); each test
runs inside a transaction that is rolled back."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session

from app.config import Settings, load_settings
from app.db import Transactions, UnitsOfWork, make_engine
from app.dependencies import get_read_session, get_session
from app.main import create_app
from app.migrate import upgrade
from app.scoring import warm_up

POSTGRES_URL = os.environ.get("DELPHI_TEST_POSTGRES_URL")
NO_POSTGRES = "DELPHI_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test did not run"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Compile the scoring kernels before any app starts. An app compiles them in a background
    thread, and numba's compiler enters ``warnings.catch_warnings``, which is not thread-safe: when
    it restores the filters while FastAPI (in the test's thread) is inside its own block ignoring a
    pydantic warning, the tests' "error" filter comes back and turns that warning into a failure."""
    warm_up()


def settings_for(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "base_url": "http://testserver",
        "run_sender_in_server": False,
        "smtp_host": None,
    }
    return load_settings(**(values | overrides))


class Database:
    """A migrated database; ``fresh()`` gives a brand-new copy for tests that need real commits."""

    def __init__(self, backend: str, tmp: Path):
        self.backend = backend
        self.tmp = tmp
        if backend == "sqlite":
            self.template = tmp / "template.db"
            self.url = f"sqlite:///{self.template}"
            upgrade(self.url)
        else:
            if not POSTGRES_URL:
                if os.environ.get("DELPHI_TEST_REQUIRE_POSTGRES"):
                    pytest.fail(NO_POSTGRES + " (required here: DELPHI_TEST_REQUIRE_POSTGRES is set)")
                pytest.skip(NO_POSTGRES)
            self.admin_url = POSTGRES_URL
            self.template_name = f"delphi_tpl_{uuid.uuid4().hex[:10]}"
            self._create_database(self.template_name)
            self.url = self._url_for(self.template_name)
            upgrade(self.url)
        self.engine = make_engine(self.url)
        self._fresh: list[str] = []

    def _url_for(self, name: str) -> str:
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)  # type: ignore[arg-type]

    def _admin(self) -> Engine:
        return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")  # type: ignore[arg-type]

    def _create_database(self, name: str, template: str | None = None) -> None:
        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        admin.dispose()

    def fresh(self) -> str:
        """URL of a new, migrated, empty database of this backend."""
        if self.backend == "sqlite":
            path = self.tmp / f"fresh-{uuid.uuid4().hex[:8]}.db"
            self.engine.dispose()
            shutil.copy(self.template, path)
            return f"sqlite:///{path}"
        self.engine.dispose()
        name = f"delphi_t_{uuid.uuid4().hex[:10]}"
        self._create_database(name, self.template_name)
        self._fresh.append(name)
        return self._url_for(name)

    def close(self) -> None:
        self.engine.dispose()
        if self.backend == "postgres":
            admin = self._admin()
            with admin.connect() as conn:
                for name in [*self._fresh, self.template_name]:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(request.param, tmp_path_factory.mktemp(request.param))
    yield db
    db.close()


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """For tests that only make sense on PostgreSQL (several servers sharing one database)."""
    db = Database("postgres", tmp_path_factory.mktemp("postgres"))
    yield db
    db.close()


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    conn = database.engine.connect()
    transaction = conn.begin()
    try:
        yield conn
    finally:
        transaction.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """A session inside the test's transaction: its commits are savepoints, all rolled back."""
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(database: Database) -> Settings:
    return settings_for(database.url)


@pytest.fixture
def transaction_sessions(connection: Connection) -> UnitsOfWork:
    """Opens sessions whose commits are savepoints of the test's transaction, all rolled back."""

    @contextmanager
    def in_test_transaction() -> Iterator[Session]:
        with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    return in_test_transaction


def app_in_test_transaction(settings: Settings, database: Database, sessions: UnitsOfWork) -> FastAPI:
    """An app whose requests (and counts of failed link look-ups) write in the test's transaction."""
    application = create_app(
        settings, engine=database.engine, run_sender=False, transactions=Transactions(write=sessions, read=sessions)
    )

    def session_in_test_transaction() -> Iterator[Session]:
        with sessions() as session:
            yield session

    def the_request_session(session: Session = Depends(get_session)) -> Session:
        # In a test both run on the test's one connection: one session, so that their savepoints
        # never interleave (in production they are two connections)
        return session

    application.dependency_overrides[get_session] = session_in_test_transaction
    application.dependency_overrides[get_read_session] = the_request_session
    return application


@pytest.fixture
def app(settings: Settings, database: Database, transaction_sessions) -> FastAPI:  # type: ignore[no-untyped-def]
    return app_in_test_transaction(settings, database, transaction_sessions)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        yield c


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)
