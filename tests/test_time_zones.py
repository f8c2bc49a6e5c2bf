"""Dates in the reader's time zone (their browser names it), without seconds, one format per use;
deadlines typed in the researcher's zone and stored in UTC; e-mails say UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from app.mail.models import OutboxMessage
from app.rounds import service
from app.templating import Templates, zone_label
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import open_round

MOMENT = datetime(2026, 12, 5, 7, 40, 4, tzinfo=UTC)


def _dt(language: str, fmt: str, tz: ZoneInfo | None) -> str:
    env = Templates().envs[language]
    return env.from_string("{{ when|dt(fmt) }}").render(when=MOMENT, fmt=fmt, tz=tz)


def test_dates_are_written_in_the_reader_s_zone_without_seconds():
    paris = ZoneInfo("Europe/Paris")
    assert _dt("fr", "long", paris) == "5 décembre 2026, 08:40 (UTC+1)"
    assert _dt("en", "long", None) == "December 5, 2026, 7:40\u202fAM (UTC)"
    assert _dt("fr", "short", paris) == "05/12/2026 08:40"
    assert ":04" not in _dt("en", "medium", ZoneInfo("America/Montreal")) and "2:40" in _dt(
        "en", "medium", ZoneInfo("America/Montreal")
    )
    assert zone_label(MOMENT.astimezone(ZoneInfo("Asia/Kolkata"))) == "UTC+5:30"
    assert zone_label(MOMENT.astimezone(ZoneInfo("America/Montreal"))) == "UTC\u22125"


def test_a_deadline_is_typed_in_the_researcher_s_zone_and_stored_in_utc(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    round_ = service.create_round(session, study, None)
    csrf = page_login(client, owner.email)
    client.cookies.set("delphi_tz", "Europe/Paris")
    saved = client.post(
        f"/studies/{study.id}/rounds/1/settings",
        data={"csrf_token": csrf, "closes_at": "2026-12-20T18:00", "reminder": ""},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(round_)
    assert round_.closes_at == datetime(2026, 12, 20, 17, 0, tzinfo=UTC)
    page = client.get(f"/studies/{study.id}/rounds/1").text
    assert "Deadline (Europe/Paris)" in page and 'value="2026-12-20T18:00"' in page
    client.cookies.set("delphi_tz", "Not/A_Zone")  # a zone this machine does not know: UTC, said so
    page = client.get(f"/studies/{study.id}/rounds/1").text
    assert "Deadline (UTC)" in page and 'value="2026-12-20T17:00"' in page


def test_the_invitation_gives_the_deadline_in_utc_without_seconds(session, settings):
    study = make_panel_study(session, experts=1, items=1, language="en")
    open_round(session, study, settings, closes_at=datetime(2026, 12, 20, 17, 0, 30, tzinfo=UTC))
    message = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).one()
    assert "The round closes on December 20, 2026, 5:00\u202fPM (UTC)." in message.body_text


def test_the_report_s_sentences_keep_their_spaces(session, settings):
    """The report said "…locked on 5 December 2026 07:40:04 UTC.Items that reached consensus…"."""
    import re

    from app.reports.service import render_html
    from tests.rounds.helpers import answer_all

    study = make_panel_study(session, experts=3, items=1, language="en")
    round_ = open_round(session, study, settings)
    answer_all(session, study, round_)
    service.close_round(session, study, round_, None)
    text = re.sub(r"\s+", " ", render_html(session, study.id, "en"))
    assert re.search(r"locked on [^<]+ \(UTC\)\. Items that reached consensus", text)


def test_a_deadline_is_read_in_the_zone_its_form_was_shown_in_and_an_encoded_cookie_is_understood(
    client, session, settings
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    round_ = service.create_round(session, study, None)
    csrf = page_login(client, owner.email)
    client.cookies.set("delphi_tz", "Europe%2FParis")  # as a browser may have stored it
    page = client.get(f"/studies/{study.id}/rounds/1").text
    assert "Deadline (Europe/Paris)" in page and '<input type="hidden" name="tz" value="Europe/Paris">' in page
    # the page was shown in UTC (before the browser's cookie existed): what was typed is UTC
    client.post(
        f"/studies/{study.id}/rounds/1/settings",
        data={"csrf_token": csrf, "closes_at": "2026-12-20T18:00", "reminder": "", "tz": "UTC"},
    )
    session.refresh(round_)
    assert round_.closes_at == datetime(2026, 12, 20, 18, 0, tzinfo=UTC)
