"""One route per action, one way to refuse a form: a refused change re-renders its page with what
was typed and what is wrong (400 or 409), and nothing of it is saved; each action has its own URL."""

from __future__ import annotations

import re

from sqlmodel import select

from app.panel.models import Expert
from app.studies.models import Item, ItemStatus, Theme
from tests.factories import make_item, make_panel_study, make_researcher, make_theme, page_login


def _study(session):  # type: ignore[no-untyped-def]
    """A study of rita@example.org (its owner): two experts, two items in one theme."""
    return make_panel_study(session, make_researcher(session), experts=2, items=2, language="en")


def test_a_refused_split_shows_the_item_again_with_what_was_typed_and_saves_nothing(client, session):
    study = _study(session)
    item = session.exec(select(Item).where(Item.study_id == study.id)).first()
    csrf = page_login(client)
    response = client.post(
        f"/studies/{study.id}/items/{item.id}/split",
        data={"csrf_token": csrf, "split_texts": "only one new item", "split_reason": "too broad"},
    )
    assert response.status_code == 400
    assert "Please correct the fields" in response.text and "only one new item" in response.text
    session.refresh(item)
    assert item.status == ItemStatus.ACTIVE
    assert len(session.exec(select(Item).where(Item.study_id == study.id)).all()) == 2


def test_retiring_moving_and_splitting_items_each_have_their_route(client, session):
    study = _study(session)
    first, second = session.exec(select(Item).where(Item.study_id == study.id).order_by(Item.position)).all()
    csrf = page_login(client)
    moved = client.post(f"/studies/{study.id}/items/{second.id}/up", data={"csrf_token": csrf}, follow_redirects=False)
    assert moved.status_code == 303
    session.refresh(first), session.refresh(second)
    assert second.position < first.position
    assert client.post(f"/studies/{study.id}/items/{first.id}/sideways", data={"csrf_token": csrf}).status_code in (
        400,
        422,
    )
    split = client.post(
        f"/studies/{study.id}/items/{first.id}/split",
        data={"csrf_token": csrf, "split_texts": "One part\nAnother part", "split_reason": "two ideas in one"},
        follow_redirects=False,
    )
    assert split.status_code == 303
    session.refresh(first)
    assert first.status == ItemStatus.SPLIT
    retired = client.post(
        f"/studies/{study.id}/items/{second.id}/retire",
        data={"csrf_token": csrf, "reason": "off topic"},
        follow_redirects=False,
    )
    assert retired.status_code == 303
    session.refresh(second)
    assert second.status == ItemStatus.RETIRED


def test_deleting_a_theme_that_holds_items_is_refused_on_the_design_page(client, session):
    study = _study(session)
    theme = session.exec(select(Theme).where(Theme.study_id == study.id)).first()
    make_item(session, study, theme=theme, text="Kept by its theme")
    csrf = page_login(client)
    response = client.post(f"/studies/{study.id}/themes/{theme.id}/delete", data={"csrf_token": csrf})
    assert response.status_code in (400, 409)
    assert "Kept by its theme" in response.text  # the design page, again
    assert session.get(Theme, theme.id) is not None


def test_a_weight_that_is_not_a_number_is_refused_on_the_expert_s_page_and_changes_nothing(client, session):
    study = _study(session)
    expert = session.exec(select(Expert).where(Expert.study_id == study.id)).first()
    csrf = page_login(client)
    response = client.post(
        f"/studies/{study.id}/panel/{expert.id}/weight",
        data={"csrf_token": csrf, "weight": "heavy", "reason": "chairs the society"},
    )
    assert response.status_code == 400
    assert f"<h2>{expert.pseudonym}" in response.text and "is not a number" in response.text
    assert 'id="f-weight" name="weight"' in response.text and 'aria-describedby="e-weight"' in response.text
    session.refresh(expert)
    assert expert.weight == 1.0
    withdrawn = client.post(
        f"/studies/{study.id}/panel/{expert.id}/withdraw",
        data={"csrf_token": csrf, "reason": "moved abroad"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    session.refresh(expert)
    assert expert.status == "withdrawn"


def test_every_field_of_the_item_page_has_its_own_id(client, session):
    study = _study(session)
    item = session.exec(select(Item).where(Item.study_id == study.id)).first()
    page_login(client)
    html = client.get(f"/studies/{study.id}/items/{item.id}").text
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert 'id="f-split_reason"' in html and 'for="f-split_reason"' in html  # the split's "Why" has its label


def test_a_choice_without_options_is_refused_under_its_options_in_the_reader_s_language(client, session):
    study = _study(session)
    csrf = page_login(client)
    theme = session.exec(select(Theme).where(Theme.study_id == study.id)).first()
    refused = client.post(
        f"/studies/{study.id}/items?lang=fr",
        data={"csrf_token": csrf, "theme_id": str(theme.id), "text": "Quel réseau ?", "kind": "choice", "options": ""},
    )
    assert refused.status_code == 400
    options_field = re.search(r'<textarea id="f-options".*?</div>', refused.text, re.S).group(0)
    assert 'id="e-options"' in options_field and "choix" in options_field and "choice" not in options_field
    assert 'id="e-text"' not in refused.text  # not under the statement


def test_the_theme_of_the_last_item_added_stays_chosen_and_themes_come_first(client, session):
    study = _study(session)
    csrf = page_login(client)
    other = make_theme(session, study, "Second theme")
    added = client.post(
        f"/studies/{study.id}/items",
        data={"csrf_token": csrf, "theme_id": str(other.id), "text": "Another statement", "kind": "rating"},
    )
    assert added.status_code == 200  # followed to the design page
    chosen = re.search(r'<select id="f-theme_id".*?</select>', added.text, re.S).group(0)
    assert re.search(rf'<option value="{other.id}" selected>', chosen)
    assert added.text.index("Add the theme") < added.text.index("Add the item")
