"""An expert sees and takes away what the study holds about them (JSON, and their answers as CSV),
through their own link only, also after leaving the study."""

from __future__ import annotations

import csv
import io
import json

from app.panel import service as panel
from app.rounds import answers
from app.rounds.answers import AnswerIn
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_item, make_panel_study, make_researcher
from tests.rounds.helpers import invited, open_round


def test_an_expert_downloads_their_own_data_and_nobody_else_s(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    question = make_item(session, study, None, "What else matters?", kind="open")
    round_ = open_round(session, study, settings)
    me, other = invited(session, round_)
    rated = next(i for i in answers.round_items(session, round_.id) if i.kind == "rating")
    url = f"/e/{panel.current_link(session, me, TEST_SECRET)}"
    welcome = client.get(url).text
    client.post(f"{url}/consent", data={"csrf_token": csrf_from(welcome), "consent": "1"})
    page = client.get(url).text
    assert f'href="{url}/my-data.json"' in page and f'href="{url}/my-data.csv"' in page
    answers.save_answers(
        session,
        study,
        round_,
        me,
        {rated.id: AnswerIn(value=7, reason='=HYPERLINK("x")'), question.id: AnswerIn(text="Mine")},
        language="en",
    )
    answers.save_answers(session, study, round_, other, {question.id: AnswerIn(text="Someone else's")})

    response = client.get(f"{url}/my-data.json")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["expert"]["email"] == me.email and data["expert"]["name"] == me.name
    assert data["consent"]["version"] == 1 and data["consent"]["agreed_at"]
    assert data["rounds"][0]["round"] == 1 and data["rounds"][0]["opened_at"]
    assert {a["statement"]: a["value"] or a["text"] for a in data["answers"]} == {
        rated.text: 7,
        "What else matters?": "Mine",
    }
    assert other.email not in response.text and "Someone else's" not in response.text

    rows = list(csv.DictReader(io.StringIO(client.get(f"{url}/my-data.csv").content.decode("utf-8-sig"))))
    assert [r["statement"] for r in rows] == [rated.text, "What else matters?"]
    assert any(r["reason"].startswith("'=HYPERLINK") for r in rows)  # a formula is defused
    assert client.get(f"{url}/my-data.xml").status_code == 404
    assert client.get("/e/not-a-valid-link-at-all-000000000/my-data.json").status_code == 404


def test_an_expert_who_left_the_study_can_still_take_their_data(client, session, settings):
    study = make_panel_study(session, experts=1, items=1, language="en")
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    panel.withdraw(session, study, expert, "moved on", None)
    assert client.get(url).status_code == 410
    data = json.loads(client.get(f"{url}/my-data.json").content)
    assert data["expert"]["status"] == "withdrawn" and data["expert"]["pseudonym"] == expert.pseudonym
