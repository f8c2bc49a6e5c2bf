"""The information sheet and consent: versions kept, each expert's consent names the version they
read, a change may ask experts to agree again, the study's contact is on every expert page, and
the version each expert agreed to is exported."""

from __future__ import annotations

import html
import io
import json

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from app.errors import InvalidInput
from app.panel import service as panel
from app.panel.models import Expert
from app.reports import exports
from app.studies import information
from app.studies.models import InformationSheet
from app.studies.schemas import InformationSheetIn
from tests.conftest import TEST_SECRET, csrf_from, settings_for
from tests.factories import add_member, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import invited, open_round

SHEET = {
    "purpose": "Learn how merchants use social media.",
    "controller": "Université de Lorraine, CEREFIGE",
    "contact_name": "Dr Anne Martin",
    "contact_email": "anne.martin@example.org",
    "ethics": "CER Lorraine, 2026-17, 3 March 2026",
    "retention": "Five years after publication.",
}


def test_a_saved_change_is_a_new_version_and_the_same_text_is_not(session):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1)
    first = information.save_sheet(session, study, InformationSheetIn(**SHEET, asks_again=True), owner)
    assert (first.version, first.asks_again) == (1, False)  # nobody agreed to an earlier one
    assert information.save_sheet(session, study, InformationSheetIn(**SHEET), owner).id == first.id
    second = information.save_sheet(
        session, study, InformationSheetIn(**SHEET | {"retention": "Ten years."}, asks_again=True), owner
    )
    assert (second.version, second.asks_again, second.retention) == (2, True, "Ten years.")
    assert [s.version for s in information.sheets_of(session, study.id)] == [1, 2]
    assert information.sheets_of(session, study.id)[0].retention == "Five years after publication."
    with pytest.raises(InvalidInput) as refused:
        information.save_sheet(session, study, InformationSheetIn(**SHEET | {"contact_email": "anne@"}), owner)
    assert set(refused.value.fields) == {"contact_email"}
    assert len(information.sheets_of(session, study.id)) == 2


def _consent(client, url: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get(url)
    response = client.post(f"{url}/consent", data={"csrf_token": csrf_from(page.text), "consent": "1"})
    assert response.status_code == 200 and 'id="answers"' in response.text


def test_experts_read_the_sheet_agree_to_its_version_and_are_asked_again_only_when_a_change_says_so(
    client, session, settings
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"

    welcome = client.get(url).text
    assert "Information for participants" in welcome and "is responsible for your data" in welcome  # defaults
    assert "Questions about this study" not in welcome  # no contact written yet
    assert "Le responsable" not in welcome
    french = client.get(f"{url}?lang=fr").text
    assert "Informations pour les participants" in french
    client.get(f"{url}?lang=en")  # back to English (the choice is kept in a cookie)
    _consent(client, url)
    session.refresh(expert)
    assert expert.consent_version == 1 and expert.consent_at is not None
    assert information.current_sheet(session, study.id).purpose == ""  # version 1: the default texts

    information.save_sheet(session, study, InformationSheetIn(**SHEET), owner)  # version 2, not asking again
    form = client.get(url).text
    assert 'id="answers"' in form  # straight to the questionnaire
    assert "Questions about this study" in form and "anne.martin@example.org" in form  # the contact, everywhere
    information.save_sheet(
        session, study, InformationSheetIn(**SHEET | {"retention": "Ten years."}, asks_again=True), owner
    )
    again = client.get(url).text
    assert "has changed since you agreed" in again and "Ten years." in again and "version 3" in again
    _consent(client, url)
    session.refresh(expert)
    assert expert.consent_version == 3

    information.save_sheet(session, study, InformationSheetIn(**SHEET | {"ethics": "Amended."}), owner)  # 4, quiet
    assert 'id="answers"' in client.get(url).text  # still agreed: nothing since 3 asks again
    other = invited(session, round_)[1]
    other_url = f"/e/{panel.current_link(session, other, TEST_SECRET)}"
    first_visit = client.get(other_url).text
    assert "Amended." in first_visit and "has changed since" not in first_visit
    _consent(client, other_url)
    session.refresh(other)
    assert other.consent_version == 4


def test_an_expert_who_agreed_before_versions_existed_is_not_asked_again_by_a_quiet_change(session):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1)
    sheet = information.save_sheet(session, study, InformationSheetIn(**SHEET), owner)
    assert not information.needs_consent(session, sheet, True, None)
    assert information.needs_consent(session, sheet, False, None)
    loud = information.save_sheet(
        session, study, InformationSheetIn(**SHEET | {"purpose": "x"}, asks_again=True), owner
    )
    assert information.needs_consent(session, loud, True, None) and information.needs_consent(session, loud, True, 1)
    assert not information.needs_consent(session, loud, True, 2)


def test_the_settings_page_saves_versions_refuses_a_bad_address_and_is_for_editors(client, session):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    csrf = page_login(client, owner.email)
    url = f"/studies/{study.id}/information"
    saved = client.post(url, data={"csrf_token": csrf, **SHEET}, follow_redirects=False)
    assert saved.status_code == 303
    refused = client.post(url, data={"csrf_token": csrf, **SHEET | {"contact_email": "not an address"}})
    assert refused.status_code == 400 and "is not an e-mail address" in html.unescape(refused.text)
    assert 'aria-describedby="e-contact_email"' in refused.text and "not an address" in refused.text
    page = client.get(f"/studies/{study.id}/settings").text
    assert "Version 1, saved on" in page and "Dr Anne Martin" in page
    assert len(information.sheets_of(session, study.id)) == 1
    viewer = make_researcher(session, "vera@example.org", "Vera")
    add_member(session, study, viewer, "viewer")
    client.cookies.clear()
    csrf = page_login(client, viewer.email)
    assert client.post(url, data={"csrf_token": csrf, **SHEET | {"purpose": "v"}}).status_code == 403


def test_a_link_that_is_not_valid_names_the_instance_s_contact_when_there_is_one(database):
    from fastapi.testclient import TestClient

    from app.db import make_engine
    from app.main import create_app

    url = database.fresh()
    engine = make_engine(url)
    with TestClient(create_app(settings_for(url, contact_email="help@delphi.example.org"), engine=engine)) as client:
        page = client.get("/e/this-link-is-not-valid")
        assert page.status_code == 404 and 'href="mailto:help@delphi.example.org"' in page.text
    with TestClient(create_app(settings_for(url), engine=engine)) as client:
        assert "mailto:" not in client.get("/e/this-link-is-not-valid").text
    engine.dispose()


def test_the_exports_say_which_version_each_expert_agreed_to(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    _consent(client, f"/e/{panel.current_link(session, expert, TEST_SECRET)}")
    information.save_sheet(session, study, InformationSheetIn(**SHEET), owner)
    client.cookies.clear()
    page_login(client, owner.email)
    book = load_workbook(io.BytesIO(client.get(f"/studies/{study.id}/exports/study.xlsx?identities=1").content))
    assert book.sheetnames == ["answers", "panel", "statistics", "options"]
    header, *rows = [[c.value for c in row] for row in book["panel"].iter_rows()]
    assert header[:3] == ["expert", "name", "email"] and "consent_version" in header
    by_expert = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_expert[expert.pseudonym]["consent_version"] == 1 and by_expert[expert.pseudonym]["email"]
    assert {r[0] for r in rows} == {
        e.pseudonym for e in session.exec(select(Expert).where(Expert.study_id == study.id))
    }
    anonymous = load_workbook(io.BytesIO(client.get(f"/studies/{study.id}/exports/study.xlsx").content))
    assert not any("@" in str(c.value) for ws in anonymous for row in ws.iter_rows() for c in row)
    session.expire_all()  # the consent was saved through the app's own session
    data = json.loads(exports.study_json(session, study))
    assert [s["version"] for s in data["information_sheets"]] == [1, 2]
    assert data["information_sheets"][1]["ethics"] == SHEET["ethics"]
    assert {p["expert"]: p["consent_version"] for p in data["panel"]}[expert.pseudonym] == 1
    assert session.exec(select(InformationSheet).order_by(col(InformationSheet.version))).all()[-1].version == 2


def test_two_experts_agreeing_at_once_share_version_1(session, monkeypatch):
    """The first consent of a study writes version 1 of the default sheet; when another expert's
    consent wrote it in between, the unique version is not a crash: both agree to that one."""
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1)
    written_by_the_other = information.sheet_for_consent(session, study)
    real = information.current_sheet
    looks: list[int] = []

    def first_look_finds_nothing(session_, study_id):  # type: ignore[no-untyped-def]
        looks.append(study_id)  # as it found nothing for both experts before either wrote
        return None if len(looks) == 1 else real(session_, study_id)

    monkeypatch.setattr(information, "current_sheet", first_look_finds_nothing)
    mine = information.sheet_for_consent(session, study)
    assert mine.id == written_by_the_other.id and mine.version == 1
    assert len(information.sheets_of(session, study.id)) == 1


def test_an_expert_agrees_to_the_version_they_read_in_the_language_they_read_it(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    page = client.get(f"{url}?lang=fr").text
    assert 'name="sheet_version" value="0"' in page  # the default texts, not saved yet
    information.save_sheet(session, study, InformationSheetIn(**SHEET), owner)  # version 1 while they read
    refused = client.post(f"{url}/consent", data={"csrf_token": csrf_from(page), "consent": "1", "sheet_version": "0"})
    assert refused.status_code == 409 and "ont changé pendant votre lecture" in refused.text
    session.refresh(expert)
    assert expert.consent_at is None
    agreed = client.post(
        f"{url}/consent",
        data={"csrf_token": csrf_from(refused.text), "consent": "1", "sheet_version": "1"},
        follow_redirects=False,
    )
    assert agreed.status_code == 303
    session.refresh(expert)
    assert (expert.consent_version, expert.consent_language) == (1, "fr")
