"""Random studies through their whole life over HTTP: random kinds of items, panels of 0 to 30 experts,
random answer patterns (none, some, everything, unable to rate), random narrowing, two rounds, then
the end. Whatever happens: no 5xx on any page or API route, results and feedback render for every
item, the report renders, and every answer the server acknowledged is in the export."""

from __future__ import annotations

import csv
import io
import itertools
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select
from starlette.routing import Route

from app.panel import service as panel
from app.panel.models import Expert
from app.reports.service import render_html
from app.rounds import answers
from app.rounds import service as round_service
from app.rounds.models import Invitation
from app.studies.models import Item
from app.templating import default_templates
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_expert, make_item, make_researcher, make_study, make_theme, page_login

KINDS = ("rating", "open", "choice", "multiple", "ranking", "estimate")
PATTERNS = ("nothing", "some", "everything", "unable", "submit only")
EXAMPLES = itertools.count(1)  # each example's study and researcher get their own names


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    panel_size = draw(st.integers(0, 30))
    return {
        "kinds": draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=7)),
        "panel": panel_size,
        "rounds": [draw(st.lists(st.sampled_from(PATTERNS), min_size=panel_size, max_size=panel_size)) for _ in (1, 2)],
        "narrow_to": draw(st.one_of(st.none(), st.integers(1, max(panel_size, 1)))),
        "language": draw(st.sampled_from(("en", "fr"))),
        "seed": draw(st.integers(0, 10_000)),
    }


def build(session: Any, scenario: dict[str, Any], n: int) -> tuple[Any, Any]:
    owner = make_researcher(session, f"random-{n}@example.org")
    study = make_study(session, owner, language=scenario["language"], title=f"Random study {n}")
    study.groups = [{"key": "a", "label": "A"}, {"key": "b", "label": "B"}]
    study.max_rounds = 2
    study.stopping_rule = "round >= max_rounds"
    study.feedback = dict(study.feedback, by_group=True, reasons=True)
    if scenario["narrow_to"]:
        study.narrowing = {"target": scenario["narrow_to"], "keep_group_share": True, "composite": {"weight": 1.0}}
    session.add(study)
    theme = make_theme(session, study, "Theme")
    for k, kind in enumerate(scenario["kinds"]):
        fields: dict[str, Any] = {"kind": "choice" if kind == "multiple" else kind}
        if kind in ("choice", "multiple", "ranking"):
            fields["options"] = ["Alpha", "Beta", "Gamma"]
            fields["multiple"] = kind == "multiple"
        make_item(session, study, theme if k % 2 else None, f"Question {k} ({kind})", **fields)
    for e in range(scenario["panel"]):
        make_expert(session, study, n * 100 + e, "ab"[e % 2], self_rating=1 + e % 5)
    return owner, study


def answer_for(item: Item, pattern: str, rng: int) -> dict[str, Any] | None:
    """What an expert with this pattern sends for this item (None: nothing)."""
    if pattern in ("nothing", "submit only") or (pattern == "some" and rng % 2):
        return None
    if item.kind == "rating":
        return {"unable": True} if pattern == "unable" and item.allow_unable else {"value": 1 + rng % 9}
    if item.kind == "open":
        return {"text": f"Answer {rng}"}
    if item.kind == "choice":
        chosen = item.options[: 1 + rng % len(item.options)] if item.multiple else [item.options[rng % 3]]
        return {"values": chosen}
    if item.kind == "ranking":
        order = item.options[rng % 3 :] + item.options[: rng % 3]
        return {"ranks": {o: str(k + 1) for k, o in enumerate(order)}}
    return {"values": [str(rng), str(rng + 1), str(rng + 2.5)]}


def get_routes(app: Any, study_id: int, numbers: list[int]) -> list[str]:
    """Every GET page and API route of a study that needs only the study and a round number."""
    urls = []
    for route in app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or set()):
            continue
        params = set(re.findall(r"{(\w+)}", route.path))
        if not params or not params <= {"study_id", "number"}:
            continue
        for number in numbers if "number" in params else [0]:
            urls.append(route.path.replace("{study_id}", str(study_id)).replace("{number}", str(number)))
    return urls


def assert_no_server_error(client: Any, urls: list[str]) -> None:
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, f"{url}: {response.status_code}\n{response.text[:2000]}"


def run_round(client: Any, session: Any, study: Any, number: int, patterns: list[str], seed: int, acknowledged: dict):
    """Each invited expert opens their link and answers by their pattern, through autosave, then submits."""
    round_ = round_service.get_round(session, study, number)
    items = answers.round_items(session, round_.id)
    invited = session.exec(
        select(Expert)
        .join(Invitation, col(Invitation.expert_id) == col(Expert.id))
        .where(Invitation.round_id == round_.id)
        .order_by(col(Expert.id))
    ).all()
    feedback_expected = number > 1
    for k, expert in enumerate(invited):
        pattern = patterns[k % len(patterns)] if patterns else "nothing"
        url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
        page = client.get(url)
        assert page.status_code < 500, page.text[:2000]
        if pattern == "nothing":
            continue
        csrf = csrf_from(page.text)
        client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
        form_page = client.get(url)
        assert form_page.status_code == 200, form_page.text[:2000]
        for item in items:
            assert f'id="item-{item.id}"' in form_page.text
        if feedback_expected:
            # every item asked in the round before has its feedback block
            shown = form_page.text.count('<div class="feedback">')
            assert shown >= sum(1 for i in items if i.id in acknowledged.get(("asked", number - 1), set()))
        batch = {str(i.id): a for i in items if (a := answer_for(i, pattern, seed + k + i.id)) is not None}
        if batch:
            saved = client.post(f"{url}/answers", json={"answers": batch}, headers={"X-CSRF-Token": csrf})
            assert saved.status_code == 200, saved.text
            for item_id in batch:
                acknowledged.setdefault(("answer", number), set()).add((expert.pseudonym, int(item_id)))
        submitted = client.post(
            f"{url}/submit", data={"csrf_token": csrf, "confirm_incomplete": "1"}, follow_redirects=False
        )
        assert submitted.status_code < 500
    acknowledged[("asked", number)] = {i.id for i in items}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_random_studies_never_fail_and_lose_nothing(client, session, app, scenario):
    n = next(EXAMPLES)
    owner, study = build(session, scenario, n)
    client.cookies.clear()
    csrf = page_login(client, owner.email)
    headers = {"X-CSRF-Token": csrf}
    acknowledged: dict[Any, set] = {}
    numbers: list[int] = []
    for number, patterns in enumerate(scenario["rounds"], start=1):
        created = client.post(f"/api/studies/{study.id}/rounds", json={}, headers=headers)
        if created.status_code >= 400:  # e.g. the study finished by its stopping rule
            assert created.status_code < 500, created.text
            break
        opened = client.post(f"/api/studies/{study.id}/rounds/{number}/open", headers=headers)
        assert opened.status_code < 500, opened.text
        numbers.append(number)
        if opened.status_code != 200:  # an empty panel: refused with a message
            assert scenario["panel"] == 0 and "panel is empty" in opened.json()["detail"]
            break
        run_round(client, session, study, number, patterns, scenario["seed"], acknowledged)
        closed = client.post(f"/api/studies/{study.id}/rounds/{number}/close", headers=headers)
        assert closed.status_code == 200, closed.text
        results = client.get(f"/api/studies/{study.id}/rounds/{number}/results")
        assert results.status_code == 200, results.text
        entries = results.json()["data"]["items"]
        assert {e["item_id"] for e in entries} == acknowledged[("asked", number)]
        assert all(e["kind"] in ("rating", "open", "choice", "ranking", "estimate") for e in entries)
        assert_no_server_error(client, get_routes(client.app, study.id, numbers))
        if number == 1 and scenario["narrow_to"]:
            narrowed = client.post(f"/api/studies/{study.id}/rounds/1/narrowing", json={}, headers=headers)
            assert narrowed.status_code < 500, narrowed.text
    ended = client.post(f"/api/studies/{study.id}/end", json={"reason": "random test"}, headers=headers)
    assert ended.status_code < 500, ended.text
    assert_no_server_error(client, get_routes(client.app, study.id, numbers or [1]))
    if any(r.status in ("closed", "analysed") for r in round_service.rounds_of(session, study.id)):
        language = scenario["language"]
        html = render_html(session, study.id, language, default_templates())
        assert "</html>" in html
    exported = client.get(f"/studies/{study.id}/exports/answers.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    in_export = {(int(r["round"]), r["expert"], int(r["item"])) for r in rows}
    for number in numbers:
        for pseudonym, item_id in acknowledged.get(("answer", number), set()):
            assert (number, pseudonym, item_id) in in_export
