"""The expert's link pages over HTTP (contract: /e/{token})."""

import re
import secrets

import pytest
from sqlmodel import select

from app.panel import service as panel
from app.rounds import answers, service
from app.rounds.models import Answer, AnswerHistory, Invitation
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_item, make_panel_study
from tests.rounds.helpers import invited, open_round


@pytest.fixture
def link(session, settings):
    study = make_panel_study(session, experts=3, items=2, language="en")
    make_item(session, study, None, "Which network first?", kind="choice", options=["Twitter", "LinkedIn"])
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    token = panel.current_link(session, expert, TEST_SECRET)
    return study, round_, expert, f"/e/{token}"


def state(session, round_, expert):
    invitation = session.exec(
        select(Invitation).where(Invitation.round_id == round_.id, Invitation.expert_id == expert.id)
    ).one()
    session.refresh(invitation)
    session.refresh(expert)
    rows = session.exec(select(Answer).where(Answer.expert_id == expert.id)).all()
    return (
        invitation.opened_at,
        invitation.started_at,
        invitation.submitted_at,
        expert.consent_at,
        [(a.item_id, a.value, a.version) for a in rows],
    )


def test_get_and_head_change_nothing_as_a_mail_scanner_would(client, session, link):
    study, round_, expert, url = link
    before = state(session, round_, expert)
    for _ in range(3):
        assert client.head(url).status_code == 200
        assert client.get(url).status_code == 200
    assert state(session, round_, expert) == before


def test_link_pages_are_private_and_uncached(client, link):
    _, _, _, url = link
    response = client.get(url)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in response.headers["cache-control"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_invalid_link_gets_the_same_page_then_429(client, settings):
    first = client.get(f"/e/{secrets.token_urlsafe(32)}")
    second = client.get("/e/short")
    assert first.status_code == second.status_code == 404
    assert first.text == second.text and "not valid" in first.text
    assert first.headers["referrer-policy"] == "no-referrer" and "no-store" in first.headers["cache-control"]
    codes = [
        client.get(f"/e/{secrets.token_urlsafe(32)}").status_code for _ in range(settings.link_failures_per_minute)
    ]
    assert codes[-1] == 429 and set(codes) <= {404, 429}


def test_consent_then_answer_save_submit_with_post_redirect_get(client, session, link):
    study, round_, expert, url = link
    welcome = client.get(url)
    assert "I agree" in welcome.text
    csrf = csrf_from(welcome.text)
    assert client.post(f"{url}/consent", data={"csrf_token": csrf}).status_code == 400  # box not ticked
    assert (
        client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"}, follow_redirects=False).status_code
        == 303
    )
    page = client.get(url).text
    items = answers.round_items(session, round_.id)
    data = {
        "csrf_token": csrf,
        f"v{items[0].id}": "8",
        f"r{items[0].id}": "key for SMEs",
        f"c{items[2].id}": "LinkedIn",
    }
    response = client.post(f"{url}/save", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith(url)
    page = client.get(url).text
    assert re.search(rf'name="v{items[0].id}" value="8" checked', page) and "key for SMEs" in page
    assert "2 / 3" in page
    warned = client.post(f"{url}/submit", data=data)  # one statement unanswered: saved, asked first
    assert warned.status_code == 200 and "1 statement has no answer yet" in warned.text
    missing = re.findall(r'<ul class="unanswered"><li><a href="#item-(\d+)"', warned.text)
    assert missing == [str(items[1].id)]  # which one, linked to it
    assert re.search(rf'class="item missing" id="item-{items[1].id}"', warned.text)
    assert warned.text.count("No answer yet.") == 1
    assert state(session, round_, expert)[2] is None
    done = client.post(f"{url}/submit", data={**data, "confirm_incomplete": "1"}, follow_redirects=True)
    assert "submitted" in done.text.lower()
    assert "Submitted on" not in done.text  # one banner says it, not two
    again = client.post(f"{url}/submit", data={**data, "confirm_incomplete": "1"}, follow_redirects=False)
    assert again.status_code == 303  # idempotent, no error page
    assert state(session, round_, expert)[2] is not None


def test_a_bad_answer_comes_back_with_what_was_typed(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
    items = answers.round_items(session, round_.id)
    response = client.post(
        f"{url}/save",
        data={
            "csrf_token": csrf,
            f"v{items[0].id}": "12",
            f"r{items[0].id}": "my typed reason",
            f"v{items[1].id}": "7",
        },
    )
    assert response.status_code == 400
    assert "my typed reason" in response.text and "from 1 to 9" in response.text
    assert re.search(rf'name="v{items[1].id}" value="7" checked', response.text)
    assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).all() == []


def test_autosave_json_and_its_errors(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    items = answers.round_items(session, round_.id)
    headers = {"X-CSRF-Token": csrf}
    ok = client.post(f"{url}/answers", json={"answers": {str(items[0].id): {"value": 6}}}, headers=headers)
    assert ok.status_code == 200 and ok.json()["answered"] == 1 and ok.json()["total"] == 3
    bad = client.post(f"{url}/answers", json={"answers": {str(items[0].id): {"value": 0}}}, headers=headers)
    assert bad.status_code == 400 and f"item_{items[0].id}" in bad.json()["fields"]
    assert client.post(f"{url}/answers", json={"answers": {"x": 1}}, headers=headers).status_code == 422
    assert client.post(f"{url}/answers", json={"answers": {}}, headers={"X-CSRF-Token": "nope"}).status_code == 403


def test_autosave_progress_counts_what_the_expert_has_answered(client, session, link):
    """An autosave names one item; the progress it returns still covers the whole round."""
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    first, second, choice = answers.round_items(session, round_.id)

    def autosave(item, answer):  # type: ignore[no-untyped-def]
        response = client.post(
            f"{url}/answers", json={"answers": {str(item.id): answer}}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 200, response.text
        return response.json()["answered"], response.json()["total"]

    assert autosave(first, {"value": 6}) == (1, 3)
    assert autosave(first, {"value": 7}) == (1, 3)  # the same item again
    assert autosave(choice, {"values": ["LinkedIn"]}) == (2, 3)
    assert autosave(choice, {"values": []}) == (1, 3)  # cleared
    assert autosave(second, {"reason": "no rating yet"}) == (1, 3)  # a reason alone is not an answer
    assert autosave(second, {"value": 3}) == (2, 3)
    stored = session.exec(select(Answer).where(Answer.expert_id == expert.id)).all()
    assert sum(1 for a in stored if a.value is not None or a.values) == 2


def test_two_tabs_saving_at_once_keep_every_version(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    item = answers.round_items(session, round_.id)[0]
    for value in (3, 4, 5):
        client.post(
            f"{url}/answers", json={"answers": {str(item.id): {"value": value}}}, headers={"X-CSRF-Token": csrf}
        )
    history = session.exec(select(AnswerHistory).where(AnswerHistory.expert_id == expert.id)).all()
    assert [h.value for h in sorted(history, key=lambda h: h.version)] == [3, 4, 5]


def test_after_the_round_closes_the_expert_sees_why_and_a_late_post_is_refused(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    item = answers.round_items(session, round_.id)[0]
    client.post(f"{url}/answers", json={"answers": {str(item.id): {"value": 6}}}, headers={"X-CSRF-Token": csrf})
    service.close_round(session, study, round_, None)
    page = client.get(url)
    assert page.status_code == 200 and ("closed" in page.text or "ended" in page.text)
    late = client.post(f"{url}/answers", json={"answers": {str(item.id): {"value": 9}}}, headers={"X-CSRF-Token": csrf})
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).one().value == 6


def test_withdrawn_and_revoked_links(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    response = client.post(f"{url}/withdraw", data={"csrf_token": csrf, "confirm": "1"})
    assert response.status_code == 200 and "left the study" in response.text
    again = client.get(url)  # the old link says so, in the expert's language, and nothing more
    assert again.status_code == 410 and "You have left the study" in again.text and "<form" not in again.text
    item = answers.round_items(session, round_.id)[0]
    late = client.post(f"{url}/answers", json={"answers": {str(item.id): {"value": 9}}}, headers={"X-CSRF-Token": csrf})
    assert late.status_code == 410 and not session.exec(select(Answer).where(Answer.expert_id == expert.id)).all()
    assert client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"}).status_code == 410
    assert client.post(f"{url}/submit", data={"csrf_token": csrf}).status_code == 410
    panel.issue_link(session, expert, TEST_SECRET)  # a revoked link, though, is not valid
    session.commit()
    assert client.get(url).status_code == 404


def test_french_and_english(client, session, link):
    study, round_, expert, url = link
    assert 'lang="en"' in client.get(url).text  # the study's language
    french = client.get(f"{url}?lang=fr")
    assert 'lang="fr"' in french.text and "J’accepte" in french.text
    assert 'lang="fr"' in client.get(url).text  # the choice is remembered


def test_a_valid_link_is_never_refused_because_of_other_clients_failures(client, session, link):
    """A scan from many addresses trips the overall limit: every failing client then gets 429, but an
    expert with a valid link goes on answering."""
    study, round_, expert, url = link
    limiter = client.app.state.link_limiter
    for n in range(limiter.overall):
        limiter.record_failure(f"10.0.{n // 250}.{n % 250}")
    assert limiter.blocked("203.0.113.9")  # everyone who fails is refused now
    assert client.get(f"/e/{secrets.token_urlsafe(32)}").status_code == 429
    page = client.get(url)
    assert page.status_code == 200
    csrf = csrf_from(page.text)
    item = answers.round_items(session, round_.id)[0]
    saved = client.post(
        f"{url}/answers", json={"answers": {str(item.id): {"value": 5}}}, headers={"X-CSRF-Token": csrf}
    )
    assert saved.status_code == 200


def test_pages_are_compressed_for_browsers_that_ask(client, session, link):
    study, round_, expert, url = link
    page = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert int(page.headers["content-length"]) < len(page.content)  # httpx unpacked it for us
    assert page.headers["cache-control"] == "no-store" and "accept-encoding" in page.headers["vary"].lower()
    assert "content-encoding" not in client.get(url, headers={"Accept-Encoding": "identity"}).headers


def test_a_stale_tab_s_save_does_not_erase_what_another_tab_saved(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
    first, second = answers.round_items(session, round_.id)[:2]
    stale_page = client.get(url).text  # tab A, opened before tab B answers
    bases = dict(re.findall(r'name="(b\d+)" value="(\d+)"', stale_page))
    assert bases[f"b{first.id}"] == "0"
    saved = client.post(
        f"{url}/answers", json={"answers": {str(first.id): {"value": 7}}}, headers={"X-CSRF-Token": csrf}
    )
    assert saved.json()["versions"] == {str(first.id): 1}  # tab B, by autosave
    # tab A's Save: the first item blank (as the stale page showed it), the second answered
    posted = client.post(f"{url}/save", data={"csrf_token": csrf, **bases, f"v{second.id}": "4"})
    assert posted.status_code == 409 and "changed in another tab or device" in posted.text
    assert re.search(rf'name="v{first.id}" value="7" checked', posted.text)  # the newer answer, shown
    stored = {a.item_id: a.value for a in session.exec(select(Answer).where(Answer.expert_id == expert.id)).all()}
    assert stored == {first.id: 7.0}  # nothing of the stale page was saved, nothing erased
    # saved again from the page that came back: no conflict now
    fresh = dict(re.findall(r'name="(b\d+)" value="(\d+)"', posted.text))
    again = client.post(
        f"{url}/save",
        data={"csrf_token": csrf, **fresh, f"v{first.id}": "7", f"v{second.id}": "4"},
        follow_redirects=False,
    )
    assert again.status_code == 303


def test_the_same_tab_s_submit_after_its_autosaves_is_no_conflict(client, session, link):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
    item = answers.round_items(session, round_.id)[0]
    page = client.get(url).text
    bases = dict(re.findall(r'name="(b\d+)" value="(\d+)"', page))
    client.post(f"{url}/answers", json={"answers": {str(item.id): {"value": 6}}}, headers={"X-CSRF-Token": csrf})
    # the form still says version 0 (a page without scripts), but it sends what was saved: no conflict
    done = client.post(
        f"{url}/submit",
        data={"csrf_token": csrf, **bases, f"v{item.id}": "6", "confirm_incomplete": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_a_value_the_database_refuses_comes_back_with_what_was_typed(client, session, link, database):
    study, round_, expert, url = link
    csrf = csrf_from(client.get(url).text)
    client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
    item = answers.round_items(session, round_.id)[0]
    posted = client.post(
        f"{url}/save",
        data={"csrf_token": csrf, f"v{item.id}": "5", f"r{item.id}": "because\x00 reasons"},
        follow_redirects=False,
    )
    if database.backend == "postgres":  # PostgreSQL refuses NUL characters in text
        assert posted.status_code == 400 and "cannot be stored" in posted.text
        assert "because" in posted.text and f'name="v{item.id}" value="5" checked' in posted.text
        assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).all() == []
    else:
        assert posted.status_code == 303


def test_the_feedback_chart_is_said_as_text_beside_a_hidden_picture(client, session, settings):
    """WCAG 1.1.1: the distribution exists as text for screen readers, not only as a picture."""
    from tests.rounds.helpers import answer_all

    study = make_panel_study(session, experts=4, items=1, language="en")
    study.retire_consensual = False
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_all(session, study, round1, {e.id: [v] for e, v in zip(experts, [3, 7, 7, 8], strict=True)})
    service.close_round(session, study, round1, None)
    open_round(session, study, settings)
    token = panel.current_link(session, experts[0], TEST_SECRET)
    page = client.get(f"/e/{token}")
    if "consent" in page.text and 'name="consent"' in page.text:
        client.post(f"/e/{token}/consent", data={"csrf_token": csrf_from(page.text), "consent": "1"})
        page = client.get(f"/e/{token}")
    html = page.text
    assert "<svg" in html and 'aria-hidden="true"' in html and 'role="img"' not in html
    described = re.search(r'<p class="visually-hidden">([^<]+)</p>', html)
    assert described, "no text alternative beside the chart"
    text = described.group(1)
    assert text.startswith("Ratings of 4 experts: 1: 0, 2: 0, 3: 1,") and "7: 2, 8: 1, 9: 0" in text
    assert "median 7.0" in text and text.endswith("your previous answer 3.")
