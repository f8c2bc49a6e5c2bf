"""Conflicts of interest declared by the experts as they agree to take part, where the information
for participants asks for them: refused whole when unanswered, shown to the researchers, reported
under pseudonyms (ACCORD O2), exported, and forgotten with the expert's other personal data."""

from __future__ import annotations

import html
import re

from app.panel import service as panel
from app.privacy import erasure
from app.reports import checklists, exports
from app.reports.results import final_results
from app.reports.service import render_html
from app.studies import information
from app.studies.schemas import InformationSheetIn
from app.templating import default_templates
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import invited, open_round


def test_experts_declare_their_interests_as_they_agree_and_the_report_lists_them(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1, language="en")
    csrf = page_login(client, owner.email)
    saved = client.post(
        f"/studies/{study.id}/information",
        data={"csrf_token": csrf, "purpose": "Why we ask", "asks_interests": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    sheet = information.current_sheet(session, study.id)
    assert sheet is not None and sheet.asks_interests and sheet.version == 1
    assert 'name="asks_interests" value="1" checked' in client.get(f"/studies/{study.id}/settings").text
    client.cookies.clear()

    experts = invited(session, open_round(session, study, settings))
    url = f"/e/{panel.current_link(session, experts[0], TEST_SECRET)}"
    welcome = client.get(url).text
    assert "Declaration of interests" in welcome and 'name="interests" value="some"' in welcome
    french = html.unescape(client.get(f"{url}?lang=fr").text)
    assert "Déclaration d’intérêts" in french
    client.cookies.clear()
    token = csrf_from(welcome)
    unanswered = client.post(f"{url}/consent", data={"csrf_token": token, "consent": "1", "sheet_version": "1"})
    assert unanswered.status_code == 400 and "whether you have interests to declare" in html.unescape(unanswered.text)
    empty = client.post(
        f"{url}/consent", data={"csrf_token": token, "consent": "1", "sheet_version": "1", "interests": "some"}
    )
    assert empty.status_code == 400 and 'value="some" checked' in empty.text and 'aria-invalid="true"' in empty.text
    session.refresh(experts[0])
    assert experts[0].consent_at is None and experts[0].interests == {}  # nothing kept from a refused form
    declared = "Paid adviser to an online retailer (2024-2025)"
    agreed = client.post(
        f"{url}/consent",
        data={
            "csrf_token": token,
            "consent": "1",
            "sheet_version": "1",
            "interests": "some",
            "interests_text": declared,
        },
        follow_redirects=False,
    )
    assert agreed.status_code == 303
    session.refresh(experts[0])
    assert experts[0].consent_at is not None and experts[0].interests["declared"] == "some"
    assert experts[0].interests["text"] == declared and experts[0].interests["version"] == 1
    other = f"/e/{panel.current_link(session, experts[1], TEST_SECRET)}"
    client.post(
        f"{other}/consent",
        data={
            "csrf_token": csrf_from(client.get(other).text),
            "consent": "1",
            "sheet_version": "1",
            "interests": "none",
        },
    )

    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    expert_page = html.unescape(client.get(f"/studies/{study.id}/panel/{experts[0].id}").text)
    assert f"Declared interests: {declared}" in expert_page
    session.expire_all()  # the consents were written through the app's own session
    report = html.unescape(render_html(session, study.id, "en", default_templates()))
    assert "2 experts declared their interests as they agreed to take part: 1 declared none, 1 declared some." in report
    assert f"{experts[0].pseudonym}: {declared}" in report
    accord = checklists.facts(final_results(session, study.id), "en")["interests"]
    assert accord == "the experts declared their interests as they agreed: 1 none, 1 some (listed)"
    rows = {row["expert"]: row for row in exports.panel_rows(session, study)}
    assert rows[experts[0].pseudonym]["interests"] == declared
    assert (
        rows[experts[1].pseudonym]["interests_declared"] == "none" and rows[experts[2].pseudonym]["interests"] is None
    )

    erasure.erase_expert(session, study, experts[0], owner)
    session.refresh(experts[0])
    assert experts[0].interests["declared"] == "some" and experts[0].interests["text"] == ""
    after = re.sub(r"<[^>]+>", "", html.unescape(render_html(session, study.id, "en", default_templates())))
    assert f"{experts[0].pseudonym}: erased with the expert's personal data" in after and declared not in after


def test_a_study_that_does_not_ask_takes_consent_without_a_declaration(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    information.save_sheet(session, study, InformationSheetIn(purpose="Why"), owner)
    expert = invited(session, open_round(session, study, settings))[0]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    welcome = client.get(url).text
    assert "Declaration of interests" not in welcome
    agreed = client.post(
        f"{url}/consent",
        data={"csrf_token": csrf_from(welcome), "consent": "1", "sheet_version": "1"},
        follow_redirects=False,
    )
    assert agreed.status_code == 303
    session.refresh(expert)
    assert expert.interests == {} and checklists.facts(final_results(session, study.id), "en")["interests"] == ""
