"""Malformed input that used to be a 500: each is now a clear 4xx, and nothing is half-written."""

from __future__ import annotations

import tomllib

import pytest

from app.panel import service as panel
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import login, make_item, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import invited, open_round


@pytest.fixture
def owner_client(client, session):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=2, language="en")
    login(client)
    return client, study


@pytest.mark.parametrize("path", ["/api/studies/{big}", "/api/studies/{study}/items/{big}", "/studies/{big}/design"])
def test_ids_beyond_64_bits_are_a_clear_error(owner_client, path):
    client, study = owner_client
    response = client.get(path.format(big=2**63, study=study.id))
    assert 400 <= response.status_code < 500, response.text


def test_deeply_nested_json_in_an_autosave_is_refused(client, session, settings):
    study = make_panel_study(session, experts=1, items=1, language="en")
    round_ = open_round(session, study, settings)
    url = f"/e/{panel.current_link(session, invited(session, round_)[0], TEST_SECRET)}"
    csrf = csrf_from(client.get(url).text)
    body = '{"answers": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post(
        f"{url}/answers", content=body, headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["detail"] == "Malformed answers."


def test_a_deeply_nested_protocol_file_is_refused(owner_client):
    client, _ = owner_client
    nested = 'title = "Deep"\nx = ' + "[" * 50_000 + "]" * 50_000 + "\n"
    response = client.post("/api/studies/import", content=nested.encode())
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_deeply_nested_weighting_formula_is_refused(owner_client):
    client, study = owner_client
    formula = "(" * 5_000 + "self_rating" + ")" * 5_000
    response = client.put(
        f"/api/studies/{study.id}/protocol", json={"weighting": {"scheme": "formula", "formula": formula}}
    )
    assert 400 <= response.status_code < 500, response.text


def test_splitting_into_too_short_texts_is_refused(owner_client, session):
    client, study = owner_client
    item = make_item(session, study, None, "One item to split")
    response = client.post(
        f"/api/studies/{study.id}/items/{item.id}/split", json={"texts": ["ab", "cd"], "reason": "too broad"}
    )
    assert response.status_code in (400, 422) and "3 to 2000 characters" in response.text


def test_a_null_in_an_expert_profile_does_not_break_the_protocol_export(owner_client, session):
    client, study = owner_client
    expert = panel.experts_of(session, study.id)[0]
    expert.profile = {"years": None, "self_rating": 4}
    session.add(expert)
    session.flush()
    exported = client.get(f"/api/studies/{study.id}/protocol.toml")
    assert exported.status_code == 200
    experts = {e["pseudonym"]: e for e in tomllib.loads(exported.text)["experts"]}
    assert experts[expert.pseudonym]["profile"] == {"self_rating": 4}


def test_a_form_whose_sender_left_is_dropped_quietly(app, client, session, caplog):
    """A double-clicked form: the browser sends the first request, drops it half-sent and sends the
    second. The dropped one is answered 400 and logged as information, not as an error with its
    traceback."""
    import asyncio
    import logging

    from fastapi.testclient import TestClient

    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    page_login(client, owner.email)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()
    with TestClient(app):  # the lifespan: the app's state is built
        messages = [
            {"type": "http.request", "body": b"csrf_token=x&title=Half", "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict] = []

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "path": f"/studies/{study.id}/settings",
            "raw_path": f"/studies/{study.id}/settings".encode(),
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 5000),
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", b"100"),
                (b"cookie", cookie),
                (b"origin", b"http://testserver"),
            ],
        }
        with caplog.at_level(logging.INFO):
            asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
