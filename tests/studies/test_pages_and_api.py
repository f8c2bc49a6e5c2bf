"""The researcher workspace through HTTP: pages re-show what was typed, the API, and access rules."""

import re

import pytest
from sqlmodel import select

from app.studies import design as study_design
from app.studies.models import Item, Study
from tests.factories import add_member, login, make_item, make_panel_study, make_researcher, make_study, page_login


def test_create_a_study_then_themes_and_items_through_pages(client, session):
    make_researcher(session)
    csrf = page_login(client)
    response = client.post(
        "/studies",
        data={
            "csrf_token": csrf,
            "title": "Mobile commerce",
            "language": "en",
            "question": "What matters?",
            "description": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    study = session.exec(select(Study).where(Study.title == "Mobile commerce")).one()
    client.post(f"/studies/{study.id}/themes", data={"csrf_token": csrf, "title": "Strategy", "description": ""})
    design = client.get(f"/studies/{study.id}/design").text
    theme_id = re.search(r'<option value="(\d+)" >Strategy', design).group(1)
    client.post(
        f"/studies/{study.id}/items",
        data={
            "csrf_token": csrf,
            "theme_id": theme_id,
            "kind": "rating",
            "text": "Answer customers in real time",
            "allow_unable": "1",
        },
    )
    assert "Answer customers in real time" in client.get(f"/studies/{study.id}/design").text


def test_a_bad_form_comes_back_with_what_was_typed_and_the_errors(client, session):
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    csrf = page_login(client)
    response = client.post(
        f"/studies/{study.id}/items",
        data={"csrf_token": csrf, "kind": "choice", "text": "Which network first?", "options": "Only one"},
    )
    assert response.status_code == 400
    assert "Which network first?" in response.text and "at least two options" in response.text
    assert session.exec(select(Item).where(Item.study_id == study.id)).all() == []
    response = client.post(
        f"/studies/{study.id}/protocol",
        data={
            "csrf_token": csrf,
            "scale_min": "1",
            "scale_max": "9",
            "agree_low": "7",
            "agree_high": "9",
            "consensus_rule": "agreement >= 0.7 andd iqr <= 1",
            "stopping_rule": "round >= max_rounds",
            "max_rounds": "3",
            "divergence_threshold": "3",
            "weighting_scheme": "equal",
            "narrowing_target": "ten",
        },
    )
    assert response.status_code == 400
    assert "agreement &gt;= 0.7 andd iqr &lt;= 1" in response.text  # re-shown, escaped
    assert "Enter a number" in response.text and "unexpected" in response.text
    french = client.post(
        f"/studies/{study.id}/items?lang=fr",
        data={"csrf_token": csrf, "kind": "choice", "text": "", "options": "Une seule"},
    )
    assert french.status_code == 400 and 'lang="fr"' in french.text
    assert "Au moins 3 caractères" in french.text and "consultez les champs signalés" in french.text
    assert "should have" not in french.text


def test_api_creates_and_edits_a_study(client, session):
    make_researcher(session)
    login(client)
    study = client.post("/api/studies", json={"title": "Via the API", "language": "fr"}).json()
    theme = client.post(f"/api/studies/{study['id']}/themes", json={"title": "Theme one"}).json()
    item = client.post(
        f"/api/studies/{study['id']}/items", json={"text": "A rated statement", "theme_id": theme["id"]}
    ).json()
    assert item["kind"] == "rating" and item["theme_id"] == theme["id"]
    protocol = client.put(
        f"/api/studies/{study['id']}/protocol",
        json={"protocol": {"consensus_rule": "iqr <= 1 and agreement >= 0.75"}, "narrowing": {"target": 5}},
    ).json()
    assert protocol["consensus_rule"] == "iqr <= 1 and agreement >= 0.75" and protocol["narrowing"]["target"] == 5
    bad = client.put(f"/api/studies/{study['id']}/protocol", json={"protocol": {"consensus_rule": "iqr <="}})
    assert bad.status_code == 422 and "stops too early" in bad.json()["detail"]
    assert client.post(f"/api/studies/{study['id']}/lock").status_code == 200
    locked = client.put(f"/api/studies/{study['id']}/protocol", json={"protocol": {"max_rounds": 2}})
    assert locked.status_code == 409 and "locked" in locked.json()["detail"]
    toml = client.get(f"/api/studies/{study['id']}/protocol.toml")
    assert toml.status_code == 200 and 'consensus_rule = "iqr <= 1 and agreement >= 0.75"' in toml.text


def test_viewers_see_but_change_nothing(client, session):
    owner = make_researcher(session, "owner@example.org")
    viewer = make_researcher(session, "viewer@example.org")
    study = make_panel_study(session, owner)
    add_member(session, study, viewer, "viewer")
    login(client, "viewer@example.org")
    assert client.get(f"/api/studies/{study.id}").status_code == 200
    assert client.get(f"/studies/{study.id}/design").status_code == 200
    assert client.patch(f"/api/studies/{study.id}", json={"title": "Renamed"}).status_code == 403
    assert client.post(f"/api/studies/{study.id}/themes", json={"title": "New"}).status_code == 403
    assert client.get(f"/studies/{study.id}/mailbox").status_code == 403  # links are for editors only


def every_route_with_ids():
    """(method, path) of every route with a study id in it."""
    from app.main import ROUTERS

    for route in (route for router in ROUTERS for route in router.routes):
        path = getattr(route, "path", "")
        if "{study_id}" not in path:
            continue
        for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
            yield method, path


def test_every_route_refuses_another_study(app, client, session):
    """Deny by default: a researcher who is not a member gets 404 (or 403), never the data."""
    owner = make_researcher(session, "owner@example.org")
    make_researcher(session, "stranger@example.org")
    theirs = make_panel_study(session, owner)
    item = session.exec(select(Item).where(Item.study_id == theirs.id)).first()
    login(client, "stranger@example.org")
    make_study(session, None)  # a study nobody of theirs is a member of either
    routes = list(every_route_with_ids())
    assert len(routes) > 40
    for method, path in routes:
        url = (
            path.replace("{study_id}", str(theirs.id))
            .replace("{item_id}", str(item.id))
            .replace("{theme_id}", str(item.theme_id))
            .replace("{number}", "1")
            .replace("{expert_id}", "1")
            .replace("{researcher_id}", "1")
            .replace("{statement_id}", "1")
            .replace("{message_id}", "1")
            .replace("{action}", "open")
        )
        response = client.request(
            method,
            url,
            json={} if path.startswith("/api") else None,
            data=None if path.startswith("/api") else {"csrf_token": client.headers["X-CSRF-Token"]},
        )
        assert response.status_code in (403, 404), (method, url, response.status_code)
        assert "Statement number" not in response.text


def test_items_of_one_study_cannot_be_reached_through_another(client, session):
    owner = make_researcher(session)
    mine = make_study(session, owner)
    other = make_study(session, None)
    foreign_item = make_item(session, other, text="Someone else's item")
    login(client)
    response = client.patch(f"/api/studies/{mine.id}/items/{foreign_item.id}", json={"text": "hijacked!"})
    assert response.status_code == 404
    session.refresh(foreign_item)
    assert foreign_item.text == "Someone else's item"


@pytest.mark.parametrize("title", ["Social media\nand e-commerce", "Tab\there", "Bell\x07"])
def test_titles_are_one_line_without_control_characters(client, session, title):
    make_researcher(session)
    login(client)
    refused = client.post("/api/studies", json={"title": title, "language": "en"})
    assert refused.status_code == 422 and "one line" in refused.text
    study = client.post("/api/studies", json={"title": "A good title", "language": "en"}).json()
    theme = client.post(f"/api/studies/{study['id']}/themes", json={"title": title})
    assert theme.status_code == 422


def test_a_double_click_on_add_adds_once(client, session):
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    csrf = page_login(client)
    page = client.get(f"/studies/{study.id}/design").text
    theme_key = re.search(r'action="/studies/\d+/themes".*?name="form_key" value="([^"]+)"', page, re.S).group(1)
    item_key = re.search(r'action="/studies/\d+/items".*?name="form_key" value="([^"]+)"', page, re.S).group(1)
    assert theme_key != item_key  # one key per form
    for _ in range(2):
        done = client.post(
            f"/studies/{study.id}/themes",
            data={"csrf_token": csrf, "form_key": theme_key, "title": "Trust"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        client.post(
            f"/studies/{study.id}/items",
            data={"csrf_token": csrf, "form_key": item_key, "text": "A statement", "kind": "rating"},
            follow_redirects=False,
        )
    themes = [t.title for t in study_design.themes_of(session, study.id)]
    assert themes.count("Trust") == 1
    items = session.exec(select(Item).where(Item.study_id == study.id)).all()
    assert [i.text for i in items] == ["A statement"]
    # a new page gives new keys: the next "Add" adds again
    page = client.get(f"/studies/{study.id}/design").text
    fresh = re.search(r'action="/studies/\d+/themes".*?name="form_key" value="([^"]+)"', page, re.S).group(1)
    client.post(f"/studies/{study.id}/themes", data={"csrf_token": csrf, "form_key": fresh, "title": "Speed"})
    assert len(study_design.themes_of(session, study.id)) == 2


def test_an_item_edited_with_an_option_twice_comes_back_with_the_reason(client, session):
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    item = make_item(session, study, None, "Order these", kind="ranking", options=["Price", "Trust"])
    session.commit()
    csrf = page_login(client)
    client.cookies.set("delphi_lang", "en")
    response = client.post(
        f"/studies/{study.id}/items/{item.id}",
        data={
            "csrf_token": csrf,
            "text": "Order these",
            "options": "Price\nTrust\nPrice",
            "reason": "",
            "theme_id": "",
        },
    )
    assert response.status_code == 400
    assert "different from each other" in response.text and "Price\nTrust\nPrice" in response.text
    session.refresh(item)
    assert item.options == ["Price", "Trust"]  # nothing changed
