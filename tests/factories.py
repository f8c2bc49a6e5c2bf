"""Plain functions that put things in the database for tests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import Researcher, StudyMember
from app.mail.mailer import Mailer
from app.panel import service as panel
from app.panel.models import Expert
from app.panel.schemas import ExpertCreate
from app.security import hash_password
from app.studies import design
from app.studies import service as studies
from app.studies.models import Item, Study, Theme
from app.studies.schemas import ItemCreate, StudyCreate, ThemeCreate
from app.templating import default_templates

PASSWORD = "correct-horse-battery"


@lru_cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # Argon2 is slow on purpose: hash once per test session


def make_researcher(session: Session, email: str = "rita@example.org", name: str = "Rita") -> Researcher:
    researcher = Researcher(email=email, name=name, password_hash=_password_hash())
    session.add(researcher)
    session.flush()
    return researcher


def make_study(session: Session, owner: Researcher | None = None, **fields: Any) -> Study:
    data = {"title": "Social media and e-commerce", "question": "What matters?", "language": "en"} | fields
    return studies.create_study(session, owner, StudyCreate(**data))


def add_member(session: Session, study: Study, researcher: Researcher, role: str) -> StudyMember:
    member = StudyMember(study_id=study.id, researcher_id=researcher.id, role=role)  # type: ignore[arg-type]
    session.add(member)
    session.flush()
    return member


def make_theme(session: Session, study: Study, title: str = "Strategy") -> Theme:
    return design.add_theme(session, study, ThemeCreate(title=title), None)


def make_item(
    session: Session, study: Study, theme: Theme | None = None, text: str = "An important statement", **fields: Any
) -> Item:
    return design.add_item(session, study, ItemCreate(text=text, theme_id=theme.id if theme else None, **fields), None)


def make_expert(session: Session, study: Study, n: int = 1, group: str = "", **profile: Any) -> Expert:
    return panel.add_expert(
        session,
        study,
        ExpertCreate(name=f"Expert {n}", email=f"expert{n}@example.org", stakeholder_group=group, profile=profile),
        None,
    )


def make_panel_study(
    session: Session,
    owner: Researcher | None = None,
    *,
    experts: int = 6,
    items: int = 4,
    groups: tuple[str, ...] = ("academic", "practitioner"),
    **fields: Any,
) -> Study:
    study = make_study(session, owner, **fields)
    study.groups = [{"key": g, "label": g.title()} for g in groups]
    session.add(study)
    theme = make_theme(session, study)
    for i in range(items):
        make_item(session, study, theme, f"Statement number {i + 1}")
    for n in range(experts):
        make_expert(session, study, n + 1, groups[n % len(groups)], self_rating=5 + n % 5, years=3 + n)
    return study


def login(client: TestClient, email: str = "rita@example.org", password: str = PASSWORD) -> str:
    """Log in through the API; returns the CSRF token for later unsafe requests."""
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = token
    return token


def page_login(client: TestClient, email: str = "rita@example.org") -> str:
    """Log in through the login page, as a person does; returns the CSRF token of the forms."""
    import re

    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": PASSWORD, "login_csrf": token})
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/studies").text)
    assert found, "login failed"
    return found.group(1)


def mailer_for(settings: Any) -> Mailer:
    """The Mailer a process builds once, for tests (the templates shared between tests)."""
    return Mailer.from_settings(settings, default_templates())
