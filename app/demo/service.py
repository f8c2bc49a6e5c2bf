"""The demo study (social media and e-commerce, after the seed study) and a demo researcher."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app import protocol_file
from app.accounts import service as accounts
from app.accounts.models import Researcher, StudyMember
from app.db import session_scope
from app.studies.models import Study

DEMO_FILE = Path(__file__).parent / "demo_study.toml"
DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "delphi-demo-2026"  # noqa: S105 - printed to the person who ran `make run`


def demo_researcher(session: Session) -> Researcher:
    researcher = session.exec(select(Researcher).where(Researcher.email == DEMO_EMAIL)).first()
    if researcher is None:
        researcher = accounts.create_researcher(session, DEMO_EMAIL, DEMO_PASSWORD, "Demo researcher", admin=False)
    return researcher


def load_demo_study(session: Session, owner: Researcher | None) -> Study:
    return protocol_file.create_from_text(
        session, DEMO_FILE.read_text(encoding="utf-8"), owner=owner, filename=DEMO_FILE.name
    )


def seed_demo(engine: Engine) -> bool:
    """Create the demo researcher and, if they have no study yet, the demo study. True if created."""
    with session_scope(engine) as session:
        researcher = demo_researcher(session)
        has_study = session.exec(select(StudyMember).where(StudyMember.researcher_id == researcher.id)).first()
        if has_study is not None:
            return False
        load_demo_study(session, researcher)
        return True
