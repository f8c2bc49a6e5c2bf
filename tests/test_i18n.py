"""French and English: every text the pages, e-mails and report show has a French translation."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.i18n import negotiate, translations

APP = Path(__file__).parent.parent / "app"
CATALOGUE = APP / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2"), ("**/templates/**.txt", "jinja2")]
OPTIONS = {
    "**/templates/**.html": {"extensions": "jinja2.ext.i18n"},
    "**/templates/**.txt": {"extensions": "jinja2.ext.i18n"},
}


def source_messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(APP),
        METHODS,
        OPTIONS,
        keywords={"_": None, "gettext": (2,), "Message": None, "N_": None, "ngettext": (1, 2)},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_is_translated_with_the_same_placeholders():
    # a plural message by its singular, with every form (French: one, many)
    catalogue: dict[str, tuple[str, ...]] = {}
    for m in read_po(CATALOGUE.open("rb"), locale="fr"):
        if m.id:
            key = m.id if isinstance(m.id, str) else m.id[0]
            forms = (m.string,) if isinstance(m.string, str) else tuple(m.string)
            catalogue[key] = forms if all(forms) else ()
    messages = source_messages()
    assert len(messages) > 500
    missing = sorted(m for m in messages if not catalogue.get(m))
    assert missing == [], f"{len(missing)} untranslated; run `make messages` and translate: {missing[:5]}"
    for msgid in messages:
        placeholders = sorted(re.findall(r"%\(\w+\)s", msgid))
        for form in catalogue[msgid]:
            assert sorted(re.findall(r"%\(\w+\)s", form)) == placeholders, msgid
            form % {name[2:-2]: "x" for name in placeholders}  # formats without error


def test_language_negotiation():
    assert negotiate("en-GB,en;q=0.9,fr;q=0.8", "fr") == "en"
    assert negotiate("de-DE,fr;q=0.5", "en") == "fr"
    assert negotiate("de", "fr") == "fr" and negotiate(None, "en") == "en" and negotiate("xx;q=abc", "fr") == "fr"
    assert translations("fr").gettext("Log in") != "Log in"
    assert translations("en").gettext("Log in") == "Log in"


def test_researcher_pages_follow_accept_language_and_the_choice(client):
    assert 'lang="fr"' in client.get("/login", headers={"Accept-Language": "fr-FR"}).text
    english = client.get("/login?lang=en", headers={"Accept-Language": "fr-FR"})
    assert 'lang="en"' in english.text and "Researcher login" in english.text
    assert 'lang="en"' in client.get("/login", headers={"Accept-Language": "fr-FR"}).text  # remembered


def test_a_malformed_page_request_is_explained_in_the_readers_language(client):
    too_long = "a" * 400 + "@example.org"
    french = client.post("/login?lang=fr", data={"email": too_long, "password": "x", "login_csrf": "t"})
    assert french.status_code == 400 and 'lang="fr"' in french.text
    assert "email : Au plus 320 caractères." in french.text.replace("\u00a0", " ")
    english = client.post("/login?lang=en", data={"email": too_long, "password": "x", "login_csrf": "t"})
    assert "email: At most 320 characters." in english.text
    assert client.get("/no-such-page?lang=fr").text.count("Cette page n’existe pas") == 1
    api = client.post("/api/auth/login", json={"email": too_long}, headers={"Accept": "application/json"})
    assert api.status_code == 422 and "email: At most 320 characters." in api.json()["detail"]


def test_counts_agree_with_their_nouns_in_both_languages(client, session, settings):
    """ngettext, not "1 items" nor "1 reasons": one item, then two, on a round's page."""
    from tests.factories import make_panel_study, make_researcher, page_login
    from tests.rounds.helpers import open_round

    owner = make_researcher(session, "plural@example.org")
    one = make_panel_study(session, owner, experts=2, items=1, language="en")
    two = make_panel_study(session, owner, experts=2, items=2, language="en")
    open_round(session, one, settings)
    open_round(session, two, settings)
    page_login(client, owner.email)
    for language, singular, plural in (("en", "1 item<", "2 items<"), ("fr", "1 item<", "2 items<")):
        assert singular in client.get(f"/studies/{one.id}/rounds/1?lang={language}").text
        assert plural in client.get(f"/studies/{two.id}/rounds/1?lang={language}").text
    french = client.get(f"/studies/{two.id}/rounds?lang=fr").text
    assert "1 items" not in french
