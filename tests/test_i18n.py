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
    catalogue = {m.id: m.string for m in read_po(CATALOGUE.open("rb"), locale="fr") if m.id}
    messages = source_messages()
    assert len(messages) > 500
    missing = sorted(m for m in messages if not catalogue.get(m))
    assert missing == [], f"{len(missing)} untranslated; run `make messages` and translate: {missing[:5]}"
    for msgid in messages:
        placeholders = sorted(re.findall(r"%\(\w+\)s", msgid))
        assert sorted(re.findall(r"%\(\w+\)s", catalogue[msgid])) == placeholders, msgid
        catalogue[msgid] % {name[2:-2]: "x" for name in placeholders}  # formats without error


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
