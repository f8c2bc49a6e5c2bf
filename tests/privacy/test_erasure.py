"""Erasing an expert's personal data, anonymising a study, and the retention period: afterwards the
name and the address appear in no text column of any table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import LargeBinary, select
from sqlmodel import Session, SQLModel
from sqlmodel import select as sql_select

from app import models  # noqa: F401 - every table in the metadata
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict
from app.mail.models import OutboxMessage
from app.panel import service as panel
from app.panel.models import Expert, ExpertStatus, PanelImportRow
from app.privacy import erasure, retention
from app.reports.models import ReportFile, ReportStatus
from app.reports.results import final_results
from app.reports.service import render_html
from app.rounds import analysis, answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Answer, AnswerHistory, RoundResult
from app.studies import service as studies
from app.studies.schemas import DataProtection
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import add_member, mailer_for, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, invited, open_round

NAME = "Zoé Distinctname"
EMAIL = "zoe.distinct@example.org"


def holders(session: Session, *needles: str) -> list[str]:
    """Every ``table.column`` whose value contains one of the needles (any case): every text, JSON
    and binary column of every table, read in full."""
    found = []
    lowered = [n.lower() for n in needles]
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column in table.columns:
                value: Any = row[column.name]
                if value is None or isinstance(value, (int, float, bool)) or hasattr(value, "isoformat"):
                    continue
                if isinstance(column.type, LargeBinary) and isinstance(value, bytes):
                    text = value.decode("utf-8", "ignore")
                else:
                    text = str(value)
                if any(n in text.lower() for n in lowered):
                    found.append(f"{table.name}.{column.name}")
    return sorted(set(found))


def study_with_zoe(session: Session, settings, **protocol: Any):  # type: ignore[no-untyped-def]
    """Round 1 analysed and round 2 open; Zoé answered both, with reasons that name her, was
    invited and reminded, had her weight changed with a note, and appears in a staged import and a
    rendered report."""
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=4, items=2)
    zoe = invited_expert = session.exec(sql_select(Expert).where(Expert.study_id == study.id)).first()
    assert invited_expert is not None
    zoe.name, zoe.email, zoe.profile = NAME, EMAIL, {"organisation": f"Cabinet {NAME}"}
    session.add(zoe)
    if protocol:
        studies.update_data_protection(session, study, DataProtection(**protocol), owner)
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1)
    item = answers.round_items(session, round1.id)[0]
    answers.save_answers(session, study, round1, zoe, {item.id: AnswerIn(value=8, reason=f"As {NAME}, I agree.")})
    answers.save_answers(session, study, round1, zoe, {item.id: AnswerIn(value=9, reason=f"Write to {EMAIL}.")})
    colleague = next(e for e in invited(session, round1) if e.id != zoe.id)
    given = session.exec(sql_select(Answer).where(Answer.expert_id == colleague.id, Answer.item_id == item.id)).one()
    reason = f"I agree with {NAME.upper()}."  # a colleague quotes her (feedback shows it to the panel)
    answers.save_answers(session, study, round1, colleague, {item.id: AnswerIn(value=given.value, reason=reason)})
    service.close_round(session, study, round1, owner)
    round2 = open_round(session, study, settings)
    answers.save_answers(session, study, round2, zoe, {item.id: AnswerIn(value=7, reason="Still agree.")})
    panel.set_weight(session, study, zoe, 2.0, f"{NAME} chairs the national society", owner)
    audit.record(session, study.id, owner, "expert.edited", f"expert:{zoe.pseudonym}", note=f"called {NAME}")
    session.add(PanelImportRow(import_key="k", line=2, study_id=study.id, name=NAME, email=EMAIL, pseudonym="E99"))
    session.add(
        ReportFile(study_id=study.id, language="en", cache_key="x", status=ReportStatus.DONE, pdf=NAME.encode())
    )
    session.flush()
    return owner, study, zoe, round1, round2


def test_an_erased_expert_s_name_and_address_are_in_no_column_of_any_table(session, settings):
    owner, study, zoe, round1, round2 = study_with_zoe(session, settings)
    token = panel.current_link(session, zoe, TEST_SECRET)
    assert holders(session, NAME, EMAIL)  # the scan finds them before
    done = erasure.erase_expert(session, study, zoe, owner)
    assert holders(session, NAME, EMAIL) == []
    assert done.answers_deleted == 1 and done.rounds_analysed_again == []  # round 2's answer (still open)
    # the pseudonym and what the analysis needs stay; the answers of the closed round too
    session.refresh(zoe)
    assert zoe.pseudonym == "E01" and zoe.erased_at is not None and zoe.status == ExpertStatus.WITHDRAWN
    assert zoe.email == "e01@erased.invalid" and zoe.link_token_hash is None and zoe.profile == {}
    kept = session.exec(sql_select(Answer).where(Answer.expert_id == zoe.id)).all()
    assert {a.round_id for a in kept} == {round1.id} and kept[0].reason == "Write to […]."
    assert session.exec(sql_select(AnswerHistory).where(AnswerHistory.expert_id == zoe.id)).all() == []
    assert session.exec(sql_select(OutboxMessage).where(OutboxMessage.expert_id == zoe.id)).all() == []
    assert service.link_holder(session, token) is None  # the link is dead
    with pytest.raises(Conflict):
        erasure.erase_expert(session, study, zoe, owner)
    # the report says how many, and when
    results = final_results(session, study.id)
    assert [t.date() for t in results.erasures] == [zoe.erased_at.date()]
    html = render_html(session, study.id, "en")
    assert "The personal data of 1 expert were erased" in html
    assert "answers to closed rounds stay in the results under their pseudonym" in html
    assert NAME not in html and EMAIL not in html


def test_with_remove_answers_every_answer_goes_and_the_rounds_are_analysed_again(session, settings):
    owner, study, zoe, round1, _ = study_with_zoe(session, settings, erasure_policy="remove_answers")

    def responded() -> int:
        stored = session.exec(sql_select(RoundResult).where(RoundResult.round_id == round1.id)).one()
        session.refresh(stored)
        return analysis.snapshot_of(stored).responded  # type: ignore[union-attr]

    assert responded() == 4
    done = erasure.erase_expert(session, study, zoe, owner)
    assert done.answers_deleted == 3 and done.rounds_analysed_again == [1]  # both of round 1's, round 2's
    assert session.exec(sql_select(Answer).where(Answer.expert_id == zoe.id)).all() == []
    # analysed again after the erasure, round 1 quotes a colleague's reason that named her: still gone
    assert holders(session, NAME, EMAIL) == []
    assert responded() == 3  # round 1 analysed again without her


def test_an_expert_erases_their_own_data_through_their_link_where_the_protocol_allows(client, session, settings):
    owner, study, zoe, *_ = study_with_zoe(session, settings)
    url = f"/e/{panel.current_link(session, zoe, TEST_SECRET)}"
    client.cookies.set("delphi_lang", "en")
    assert client.get(f"{url}/erase").status_code == 403  # the protocol does not offer it
    assert "erase my personal data" not in client.get(url).text
    study.experts_may_erase = True
    session.add(study)
    session.flush()
    page = client.get(f"{url}/erase")
    assert page.status_code == 200 and "stay in the results, under an anonymous pseudonym" in page.text
    unconfirmed = client.post(f"{url}/erase", data={"csrf_token": csrf_from(page.text)})
    assert unconfirmed.status_code == 409 and holders(session, EMAIL)
    erased = client.post(f"{url}/erase", data={"csrf_token": csrf_from(page.text), "confirm": "1"})
    assert erased.status_code == 200 and "Your personal data are erased" in erased.text
    assert holders(session, NAME, EMAIL) == []
    assert client.get(url).status_code == 404  # the link no longer works
    logged = audit.for_study(session, study.id)[0]
    assert logged.action == "expert.erased" and logged.details["by_the_expert"] is True


def test_the_owner_erases_from_the_expert_s_page_and_editors_cannot(client, session, settings):
    owner, study, zoe, *_ = study_with_zoe(session, settings)
    editor = make_researcher(session, "ed@example.org", "Ed")
    add_member(session, study, editor, "editor")
    client.cookies.set("delphi_lang", "en")
    page_login(client, "ed@example.org")
    page = client.get(f"/studies/{study.id}/panel/{zoe.id}").text
    assert f"/panel/{zoe.id}/erase" not in page
    assert (
        client.post(f"/studies/{study.id}/panel/{zoe.id}/erase", data={"csrf_token": csrf_from(page), "confirm": "1"})
    ).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    page_login(client)
    page = client.get(f"/studies/{study.id}/panel/{zoe.id}").text
    assert f"/panel/{zoe.id}/erase" in page
    done = client.post(
        f"/studies/{study.id}/panel/{zoe.id}/erase", data={"csrf_token": csrf_from(page), "confirm": "1"}
    )
    assert (
        done.status_code == 200 and "personal data were erased" in done.text and "Personal data erased on" in done.text
    )
    assert holders(session, NAME, EMAIL) == []


def test_a_one_word_name_is_not_scrubbed_from_other_people_s_text(session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1)
    hope, other, _ = session.exec(sql_select(Expert).where(Expert.study_id == study.id).order_by(Expert.id)).all()
    hope.name = "Hope"
    session.add(hope)
    round1 = open_round(session, study, settings)
    item = answers.round_items(session, round1.id)[0]
    answers.save_answers(session, study, round1, other, {item.id: AnswerIn(value=8, reason="I hope it works.")})
    service.close_round(session, study, round1, owner)
    erasure.erase_expert(session, study, hope, owner)
    kept = session.exec(sql_select(Answer).where(Answer.expert_id == other.id)).one()
    assert kept.reason == "I hope it works."  # another expert's words are theirs
    assert hope.name == "" and hope.email == "e01@erased.invalid"


def test_anonymising_a_study_removes_every_identity_and_keeps_the_pseudonyms(session, settings):
    owner, study, zoe, round1, round2 = study_with_zoe(session, settings)
    people = [(e.name, e.email) for e in session.exec(sql_select(Expert).where(Expert.study_id == study.id)).all()]
    with pytest.raises(Conflict, match="open"):  # round 2 is open: its experts still need their links
        erasure.anonymise_study(session, study, owner)
    service.close_round(session, study, round2, owner)
    if study.finished_at is None:
        with pytest.raises(Conflict, match="ended"):  # a running study may have more rounds to come
            erasure.anonymise_study(session, study, owner)
    if study.finished_at is None:
        service.end_study(session, study, "enough", owner)
    assert erasure.anonymise_study(session, study, owner) == 4
    needles = [text for pair in people for text in pair]
    assert holders(session, *needles) == []
    pseudonyms = session.exec(sql_select(Expert.pseudonym).where(Expert.study_id == study.id)).all()
    assert sorted(pseudonyms) == ["E01", "E02", "E03", "E04"]
    assert session.exec(sql_select(Answer).join(Expert).where(Expert.study_id == study.id)).all()  # answers stay
    assert study.anonymised_at is not None
    with pytest.raises(Conflict):
        erasure.anonymise_study(session, study, owner)


def test_the_retention_period_warns_the_owners_then_anonymises(database, settings):
    from app.db import make_engine, session_scope
    from tests.conftest import settings_for

    url = database.fresh()
    engine = make_engine(url)
    local = settings_for(url)
    with session_scope(engine) as session:
        owner, study, zoe, round1, round2 = study_with_zoe(session, local, retention_months=6)
        service.close_round(session, study, round2, owner)
        if study.finished_at is None:
            service.end_study(session, study, "enough", owner)
        study.finished_at = utcnow() - timedelta(days=170)  # the period ends in about 12 days
        session.add(study)
        study_id = study.id
    mailer = mailer_for(local)
    with Session(engine) as session:
        date = session.get(type(study), study_id).anonymisation_date
    assert retention.run_due(engine, mailer, now=date - timedelta(days=20)) == 0  # too early to warn
    assert retention.run_due(engine, mailer) == 1  # warned
    with Session(engine) as session:
        warning = session.exec(sql_select(OutboxMessage).where(OutboxMessage.kind == "anonymisation_warning")).one()
        assert warning.to_address == "rita@example.org" and "anonymised" in warning.subject
        assert f"/studies/{study_id}/settings#personal-data" in warning.body_text
    assert retention.run_due(engine, mailer) == 0  # warned already; not anonymised yet
    assert retention.run_due(engine, mailer, now=date + timedelta(days=1)) == 0  # two weeks after the warning
    assert retention.run_due(engine, mailer, now=utcnow() + timedelta(days=15)) == 1
    with Session(engine) as session:
        assert holders(session, NAME, EMAIL) == []
        assert session.get(type(study), study_id).anonymised_at is not None
    assert retention.run_due(engine, mailer, now=utcnow() + timedelta(days=30)) == 0
    engine.dispose()


def test_the_protocol_s_erasure_choices_are_fixed_at_the_lock_but_not_the_retention(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1)
    client.cookies.set("delphi_lang", "en")
    page_login(client)
    page = client.get(f"/studies/{study.id}/settings").text
    saved = client.post(
        f"/studies/{study.id}/data-protection",
        data={"csrf_token": csrf_from(page), "erasure_policy": "remove_answers", "retention_months": "24"},
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    session.refresh(study)
    assert (study.erasure_policy, study.experts_may_erase, study.retention_months) == ("remove_answers", False, 24)
    bad = client.post(
        f"/studies/{study.id}/data-protection",
        data={"csrf_token": csrf_from(page), "erasure_policy": "shred", "retention_months": "0"},
    )
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    open_round(session, study, settings)  # locks the protocol
    locked = client.post(
        f"/studies/{study.id}/data-protection",
        data={"csrf_token": csrf_from(page), "erasure_policy": "keep_anonymised", "retention_months": "12"},
    )
    assert locked.status_code == 409 and "locked since round 1" in locked.text
    session.refresh(study)
    assert study.erasure_policy == "remove_answers" and study.retention_months == 24
    page = client.get(f"/studies/{study.id}/settings").text
    again = client.post(
        f"/studies/{study.id}/data-protection",
        data={"csrf_token": csrf_from(page), "erasure_policy": "remove_answers", "retention_months": "12"},
    )
    session.refresh(study)
    assert again.status_code == 200 and study.retention_months == 12
    assert [e.action for e in audit.for_study(session, study.id)].count("study.data_protection_updated") == 2
