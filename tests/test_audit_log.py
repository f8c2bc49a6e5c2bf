"""The study's log in words, in the reader's language: no keys, no Python values."""

from __future__ import annotations

import html
import re

from app.pages.audit_log import describe_details, describe_target
from app.rounds import narrowing, service
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, open_round


def test_details_and_targets_are_said_in_words():
    assert describe_details({"overrides": {"E07": True, "E02": False}}, "en") == (
        "departures from the rule: E02 dropped, E07 kept"
    )
    assert describe_details({"stop": False, "consensus_items": 3}, "en") == (
        "items at consensus: 3; the stopping rule says stop: no"
    )
    assert describe_details({"fields": ["name", "email"], "language": {"before": None, "after": "fr"}}, "fr") == (
        "modifié\u00a0: nom, courriel\u00a0; langue\u00a0: — → fr"
    )
    assert describe_target("expert:E07", "fr") == "expert E07" and describe_target("round:2", "en") == "round 2"
    assert describe_details({"unknown_key": 1.5}, "en") == "unknown_key: 1.5"


def test_the_log_page_has_no_keys_nor_python_values_in_either_language(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=6, items=2, language="en")
    study.narrowing = {"target": 2, "keep_group_share": True, "composite": {"weight": 1.0}}
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1)
    service.close_round(session, study, round1, owner)
    proposal = narrowing.propose(session, study, round1)
    dropped = next(f.key for f in proposal.result.fates if not f.kept)
    narrowing.confirm(session, study, round1, {dropped: (True, "the only retailer")}, owner)
    page_login(client, owner.email)
    for language, words in (
        ("en", ("Panel narrowed", f"{dropped} kept", "Round analysed")),
        ("fr", ("Panel resserré", f"{dropped} conservé", "Tour analysé")),
    ):
        text = html.unescape(client.get(f"/studies/{study.id}/audit?lang={language}").text)
        body = text.split("<table", 1)[1]
        for word in words:
            assert word in body, (language, word)
        assert not re.search(r"\{'|\bTrue\b|\bFalse\b|\bNone\b|>\s*(round|panel|expert)\.[a-z_]+\s*<", body), language
