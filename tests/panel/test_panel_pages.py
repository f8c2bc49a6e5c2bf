"""Managing the panel from its pages: each expert's progress in the current round, one page per
expert (edit, one reminder, status), the personal links for a mail merge, and the thank-you e-mail
to experts the narrowing leaves out."""

from __future__ import annotations

import csv
import html
import io
import re

from sqlmodel import col, select

from app.audit.models import AuditEvent
from app.mail.models import OutboxMessage
from app.panel import service as panel
from app.panel.models import Expert
from app.rounds import answers, narrowing, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Invitation
from app.security import hash_token
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import add_member, make_panel_study, make_researcher, page_login
from tests.mail.conftest import smtp_server  # noqa: F401 - the SMTP server fixture
from tests.rounds.helpers import invited, open_round


def _outbox(session, study_id, kind):  # type: ignore[no-untyped-def]
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.study_id == study_id, OutboxMessage.kind == kind)
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def test_the_panel_shows_each_expert_s_progress_in_the_current_round_and_links_to_their_page(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=4, items=2)
    round1 = open_round(session, study, settings)
    first, second, third, _ = invited(session, round1)
    items = answers.round_items(session, round1.id)
    answers.save_answers(session, study, round1, first, {i.id: AnswerIn(value=7) for i in items})
    answers.submit(session, round1, first)
    answers.save_answers(session, study, round1, second, {items[0].id: AnswerIn(value=5)})
    opened = session.exec(select(Invitation).where(Invitation.expert_id == third.id)).one()
    opened.opened_at = round1.opened_at
    session.add(opened)
    session.flush()
    page_login(client, owner.email)
    page = client.get(f"/studies/{study.id}/panel").text
    assert "Round 1" in page
    stages = {}
    for row in page.split('<tr id="expert-')[1:]:
        row = row.split("</tr>", 1)[0]
        pseudonym = re.search(r"<b>(E\d+)</b>", row).group(1)
        stages[pseudonym] = re.findall(r'class="badge [a-z]+">([^<]+)</span>', row)  # status, then the round's
    assert stages == {
        "E01": ["active", "answers sent"],
        "E02": ["active", "answering"],
        "E03": ["active", "link opened"],
        "E04": ["active", "not opened yet"],
    }
    assert f'href="/studies/{study.id}/panel/{first.id}"' in page
    expert_page = client.get(f"/studies/{study.id}/panel/{second.id}").text
    assert "Expert 2" in expert_page and "answering" in expert_page and "Send a reminder now" in expert_page
    viewer = make_researcher(session, "vera@example.org", "Vera")
    add_member(session, study, viewer, "viewer")
    client.cookies.clear()
    page_login(client, viewer.email)
    seen = client.get(f"/studies/{study.id}/panel/{second.id}").text
    assert "Expert 2" not in seen and "expert2@example.org" not in seen and "E02" in seen
    assert "Send a reminder now" not in seen and f'action="/studies/{study.id}/panel/' not in seen
    assert "Expert 2" not in client.get(f"/studies/{study.id}/panel").text
    assert client.post(f"/studies/{study.id}/panel/links.csv", data={"csrf_token": csrf_from(seen)}).status_code == 403


def test_editing_an_expert_is_logged_without_their_identity_and_a_new_address_gets_a_new_link(
    client, session, settings
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1)
    round1 = open_round(session, study, settings)
    expert = invited(session, round1)[0]
    old_token = panel.current_link(session, expert, TEST_SECRET)
    csrf = page_login(client, owner.email)
    url = f"/studies/{study.id}/panel/{expert.id}"
    form = {
        "csrf_token": csrf,
        "name": "Claire Dubois",
        "email": expert.email,
        "stakeholder_group": "practitioner",
        "language": "fr",
    }
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=saved")
    session.refresh(expert)
    assert (expert.name, expert.stakeholder_group, expert.language) == ("Claire Dubois", "practitioner", "fr")
    assert client.get(f"/e/{old_token}").status_code == 200  # same address: same link
    assert len(_outbox(session, study.id, "invitation")) == 3  # and no new mail
    moved = client.post(url, data={**form, "email": "claire.dubois@example.org"}, follow_redirects=False)
    assert moved.headers["location"].endswith("?done=address")
    session.refresh(expert)
    assert expert.email == "claire.dubois@example.org"
    assert client.get(f"/e/{old_token}").status_code == 404  # the old address's link is dead
    again = _outbox(session, study.id, "invitation")[-1]
    assert again.to_address == "claire.dubois@example.org" and "Bonjour Claire Dubois" in again.body_text
    events = session.exec(
        select(AuditEvent).where(AuditEvent.study_id == study.id, AuditEvent.action == "expert.edited")
    ).all()
    assert [e.details["fields"] for e in events] == [["name", "stakeholder_group", "language"], ["email"]]
    assert events[0].details["stakeholder_group"] == {"before": "academic", "after": "practitioner"}
    logged = repr([e.details for e in events]) + "".join(e.target for e in events)
    assert "Claire" not in logged and "@" not in logged and "Expert 1" not in logged
    unchanged = client.post(url, data={**form, "email": "claire.dubois@example.org"})
    assert "Nothing was changed." in unchanged.text


def test_an_expert_edit_that_is_refused_says_why_and_changes_nothing(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1)
    first, second = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    csrf = page_login(client, owner.email)
    url = f"/studies/{study.id}/panel/{first.id}"
    taken = client.post(url, data={"csrf_token": csrf, "name": "A", "email": second.email.upper(), "language": ""})
    assert taken.status_code == 409 and "is already on this panel" in taken.text
    assert 'aria-invalid="true" aria-describedby="e-email"' in taken.text
    group = client.post(url, data={"csrf_token": csrf, "name": "A", "email": "a@example.org", "stakeholder_group": "x"})
    assert group.status_code == 400 and "not one of the study's groups" in html.unescape(group.text)
    empty = client.post(url, data={"csrf_token": csrf, "name": "", "email": "a@example.org"})
    assert empty.status_code == 400
    language = client.post(url, data={"csrf_token": csrf, "name": "A", "email": "a@example.org", "language": "de"})
    assert language.status_code == 400
    session.refresh(first)
    assert (first.name, first.email) == ("Expert 1", "expert1@example.org")
    assert client.get(f"/studies/{study.id}/panel/99999").status_code == 404
    other = make_panel_study(session, owner, experts=1, items=1)
    stranger = session.exec(select(Expert).where(Expert.study_id == other.id)).one()
    assert client.get(f"/studies/{study.id}/panel/{stranger.id}").status_code == 404


def test_one_expert_is_reminded_now_and_only_while_they_have_something_to_do(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1)
    csrf = page_login(client, owner.email)
    expert = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).first()
    url = f"/studies/{study.id}/panel/{expert.id}/remind"
    nothing_open = client.post(url, data={"csrf_token": csrf})
    assert nothing_open.status_code == 409 and "No round is open." in nothing_open.text
    round1 = open_round(session, study, settings)
    for _ in range(round1.max_reminders + 1):  # the researcher's own choice: not capped by the schedule
        assert client.post(url, data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    reminders = _outbox(session, study.id, "reminder")
    assert len(reminders) == round1.max_reminders + 1 and {m.to_address for m in reminders} == {expert.email}
    invitation = session.exec(select(Invitation).where(Invitation.expert_id == expert.id)).one()
    assert invitation.reminder_count == round1.max_reminders + 1
    answers.save_answers(
        session, study, round1, expert, {i.id: AnswerIn(value=6) for i in answers.round_items(session, round1.id)}
    )
    answers.submit(session, round1, expert)
    done = client.post(url, data={"csrf_token": csrf})
    assert done.status_code == 409 and "has already submitted this round" in done.text
    assert len(_outbox(session, study.id, "reminder")) == round1.max_reminders + 1


def test_the_personal_links_file_opens_each_active_expert_s_questionnaire(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1)
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    experts[0].name = '=HYPERLINK("http://evil.example")'
    panel.withdraw(session, study, experts[2], "moved", None)
    open_round(session, study, settings)
    csrf = page_login(client, owner.email)
    assert client.get(f"/studies/{study.id}/panel/links.csv").status_code != 200  # a GET gives nothing
    response = client.post(f"/studies/{study.id}/panel/links.csv", data={"csrf_token": csrf})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["pseudonym"] for r in rows] == ["E01", "E02"]  # the withdrawn expert has nothing to answer
    assert rows[0]["name"].startswith("'=HYPERLINK") and rows[1]["group"] == "Practitioner"
    for row in rows:
        token = row["link"].rsplit("/e/", 1)[1]
        assert row["link"].startswith(settings.base_url) and client.get(f"/e/{token}").status_code == 200
        assert session.exec(select(Expert).where(Expert.link_token_hash == hash_token(token))).one()
    logged = session.exec(select(AuditEvent).where(AuditEvent.action == "panel.links_exported")).one()
    assert logged.details == {"count": 2}


def test_experts_left_out_by_the_narrowing_may_be_thanked_in_their_language_over_smtp(
    database,
    smtp_server,  # noqa: F811
):
    from fastapi.testclient import TestClient

    from app.db import make_engine, session_scope
    from app.mail import sender
    from app.main import create_app
    from tests.conftest import settings_for
    from tests.rounds.helpers import answer_all

    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    with session_scope(engine) as session:
        owner = make_researcher(session)
        study = make_panel_study(session, owner, experts=6, items=2, language="fr")
        study.groups = [{"key": "academic", "label": "Universitaires"}, {"key": "practitioner", "label": "Praticiens"}]
        study.narrowing = {"target": 2, "keep_group_share": True, "composite": {"weight": 1.0}}
        round1 = open_round(session, study, settings)
        answer_all(session, study, round1)
        service.close_round(session, study, round1, None)
        english = session.exec(select(Expert).where(Expert.study_id == study.id)).all()
        proposal = narrowing.propose(session, study, round1)
        dropped = [f.key for f in proposal.result.fates if not f.kept]
        for expert in english:
            expert.language = "en" if expert.pseudonym == dropped[0] else None
        study_id = study.id
    with TestClient(create_app(settings, engine=engine)) as client:
        page_login(client, "rita@example.org")
        page = client.get(f"/studies/{study_id}/rounds/1/narrowing?lang=fr").text
        assert 'name="thank_dropped"' in page
        confirmed = client.post(
            f"/studies/{study_id}/rounds/1/narrowing",
            data={"csrf_token": csrf_from(page), "thank_dropped": "1"},
            follow_redirects=False,
        )
        assert confirmed.status_code == 303
        panel_page = client.get(f"/studies/{study_id}/panel?lang=fr").text
        assert "Non retenu après le tour 1\u00a0: rang" in panel_page and "«\u00a0Universitaires\u00a0»" in panel_page
        assert "Dropped:" not in panel_page and ">academic<" not in panel_page
    assert sender.deliver_due(engine, settings).sent == 6 + 4  # the invitations of round 1, then the thanks
    thanks = [m for m in smtp_server.messages if "Merci" in m["Subject"] or "Thank you" in m["Subject"]]
    assert len(thanks) == 4
    with session_scope(engine) as session:
        addresses = {e.pseudonym: e.email for e in session.exec(select(Expert).where(Expert.study_id == study_id))}
    assert {m["To"] for m in thanks} == {addresses[p] for p in dropped}
    english_mail = next(m for m in thanks if m["To"] == addresses[dropped[0]])
    assert english_mail["Subject"].startswith("Thank you for taking part")
    body = english_mail.get_body(("plain",)).get_content()
    assert "go on without you" in body and "/e/" not in body
    engine.dispose()


def test_the_narrowing_thanks_nobody_unless_asked(session, settings):
    study = make_panel_study(session, experts=6, items=1)
    study.narrowing = {"target": 2, "keep_group_share": True, "composite": {"weight": 1.0}}
    from tests.rounds.helpers import answer_all

    round1 = open_round(session, study, settings)
    answer_all(session, study, round1)
    service.close_round(session, study, round1, None)
    narrowing.confirm(session, study, round1, {}, None)
    assert _outbox(session, study.id, "not_retained") == []


def test_a_withdrawn_expert_s_new_address_gets_a_new_link_too_but_no_mail(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1)
    round1 = open_round(session, study, settings)
    expert = invited(session, round1)[0]
    old_token = panel.current_link(session, expert, TEST_SECRET)
    panel.withdraw(session, study, expert, "a stranger left", None)
    csrf = page_login(client, owner.email)
    client.post(
        f"/studies/{study.id}/panel/{expert.id}",
        data={"csrf_token": csrf, "name": expert.name, "email": "right@example.org", "stakeholder_group": "academic"},
    )
    session.refresh(expert)
    assert expert.email == "right@example.org" and expert.link_token_hash != hash_token(old_token)
    assert client.get(f"/e/{old_token}").status_code == 404  # the wrong person's link is dead
    assert len(_outbox(session, study.id, "invitation")) == 2  # and nobody was mailed


def test_a_large_panel_is_paged_and_searchable(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=230, items=1)
    open_round(session, study, settings)
    page_login(client)

    def rows(url: str) -> tuple[int, str]:
        page = client.get(url).text
        return page.count('<tr id="expert-'), page

    first, page = rows(f"/studies/{study.id}/panel")
    assert first == 100 and "Page 1 of 3" in page and "Experts 1–100 of 230" in page and "(230)" in page
    assert "not opened yet" in page  # each row still shows the current round's progress
    last, page = rows(f"/studies/{study.id}/panel?page=3")
    assert last == 30 and "Experts 201–230 of 230" in page and 'rel="prev"' in page and 'rel="next"' not in page
    beyond, _ = rows(f"/studies/{study.id}/panel?page=99")
    assert beyond == 30  # past the end: the last page
    found, page = rows(f"/studies/{study.id}/panel?q=expert+17")
    assert found == 11 and "Experts 1–11 of 11" in page  # Expert 17 and Expert 170-179, by name
    by_address, _ = rows(f"/studies/{study.id}/panel?q=expert230%40example.org")
    assert by_address == 1
    none, page = rows(f"/studies/{study.id}/panel?q=nobody-at-all")
    assert none == 0 and "No expert matches." in page


def test_a_viewer_finds_experts_by_pseudonym_only(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=30, items=1)
    viewer = make_researcher(session, "vic@example.org", "Vic")
    add_member(session, study, viewer, "viewer")
    page_login(client, "vic@example.org")
    by_name = client.get(f"/studies/{study.id}/panel?q=Expert+3").text
    assert by_name.count('<tr id="expert-') == 0  # names are not theirs to search
    by_pseudonym = client.get(f"/studies/{study.id}/panel?q=E03").text
    assert by_pseudonym.count('<tr id="expert-') == 1
