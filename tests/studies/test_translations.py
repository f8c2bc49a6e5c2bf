"""A study in two languages: each expert reads it in theirs (the original where a translation is
missing or outdated, marked), answers keep the original options, and the exports and the report
say which language each answer was given in."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from sqlmodel import col, select

from app.errors import InvalidInput
from app.mail.models import OutboxMessage
from app.panel import service as panel
from app.panel.models import Expert
from app.reports import service as reports
from app.rounds import service
from app.rounds.models import Answer
from app.studies import design, translations
from app.studies.models import Item, Theme
from app.studies.translations import Localiser
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_item, make_panel_study, make_researcher, make_theme, page_login
from tests.rounds.helpers import invited, open_round

OPTIONS = ["Courriel", "Publicité", "Référencement"]


def _french_study(session):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=0, language="fr", title="Médias sociaux et commerce")
    study.question = "Que doivent faire les marchands ?"
    study.anchors = {"1": "pas du tout d'accord", "9": "tout à fait d'accord"}
    session.add(study)
    theme = make_theme(session, study, "Stratégie")
    rated = make_item(session, study, theme, "Répondre aux clients en temps réel")
    other = make_item(session, study, theme, "Publier chaque jour")
    choice = make_item(session, study, theme, "Quel canal d'abord ?", kind="choice", options=OPTIONS)
    return owner, study, theme, rated, other, choice


ENGLISH = {
    "study.title": "Social media and commerce",
    "study.question": "What should merchants do?",
    "study.anchors": {"1": "strongly disagree", "9": "strongly agree"},
    "theme.{theme}.title": "Strategy",
    "item.{rated}.text": "Answer customers in real time",
    "item.{choice}.text": "Which channel first?",
    "item.{choice}.options": ["E-mail", "Advertising", "Search engines"],
}


def _english(theme: Theme, rated: Item, choice: Item) -> dict[str, object]:
    return {key.format(theme=theme.id, rated=rated.id, choice=choice.id): value for key, value in ENGLISH.items()}


def _texts(session, study):  # type: ignore[no-untyped-def]
    return design.themes_of(session, study.id), design.items_of(session, study.id, active_only=True)


def test_a_reader_gets_the_translation_or_the_original_marked_and_a_reworded_item_falls_back(session):
    owner, study, theme, rated, other, choice = _french_study(session)
    assert translations.save(session, study, *_texts(session, study), _english(theme, rated, choice), owner) == 7
    english, french = Localiser(study, "en"), Localiser(study, "fr")
    assert (str(english.study("title")), english.study("title").fallback) == ("Social media and commerce", False)
    assert english.item(other).fallback and english.item(other).language == "fr"  # not translated: the original
    assert (
        english.option(choice, "Publicité").value == "Advertising"
        and english.option(choice, "Publicité").language == "en"
    )
    assert english.anchors().value == {"1": "strongly disagree", "9": "strongly agree"}
    assert str(french.item(rated)) == "Répondre aux clients en temps réel" and not french.item(rated).fallback
    rated.text = "Répondre aux clients en moins d'une heure"  # reworded after it was translated
    local = Localiser(study, "en").item(rated)
    assert (local.value, local.fallback) == ("Répondre aux clients en moins d'une heure", True)
    rows = {row.key: row for row in translations.rows(study, *_texts(session, study))}
    assert rows[f"item.{rated.id}.text"].outdated and rows[f"item.{other.id}.text"].missing
    assert sum(row.missing for row in rows.values()) == 3  # the reworded, the untranslated, a theme
    choice.options = [*OPTIONS, "Vidéo"]  # an option added: the option labels fall back, all together
    assert Localiser(study, "en").option(choice, "Publicité").value == "Publicité"


def test_a_translation_that_does_not_fit_is_refused_whole(session):
    owner, study, theme, rated, other, choice = _french_study(session)
    given = _english(theme, rated, choice) | {f"item.{choice.id}.options": ["E-mail", "Advertising"]}
    with pytest.raises(InvalidInput) as refused:
        translations.save(session, study, *_texts(session, study), given, owner)
    assert set(refused.value.fields) == {f"item.{choice.id}.options"}
    assert study.translations == {} and rated.translations == {}  # nothing of it was saved
    with pytest.raises(InvalidInput):
        translations.save(session, study, *_texts(session, study), {"item.999999.text": "x"}, owner)
    translations.save(session, study, *_texts(session, study), _english(theme, rated, choice), owner)
    translations.save(session, study, *_texts(session, study), {f"item.{rated.id}.text": ""}, owner)  # removed
    assert Localiser(study, "en").item(rated).fallback and "text" not in rated.translations["en"]


def test_an_english_expert_reads_a_french_study_in_english_and_the_answers_keep_the_original_options(
    client, session, settings
):
    owner, study, theme, rated, other, choice = _french_study(session)
    translations.save(session, study, *_texts(session, study), _english(theme, rated, choice), owner)
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    experts[0].language = "en"
    session.add(experts[0])
    open_round(session, study, settings)
    invitation = session.exec(
        select(OutboxMessage).where(OutboxMessage.expert_id == experts[0].id, OutboxMessage.kind == "invitation")
    ).one()
    assert "Social media and commerce" in invitation.subject and "What should merchants do?" in invitation.body_text
    url = f"/e/{panel.current_link(session, experts[0], TEST_SECRET)}"
    welcome = client.get(url).text
    assert "<h1>Social media and commerce</h1>" in welcome and "What should merchants do?" in welcome
    client.post(f"{url}/consent", data={"csrf_token": csrf_from(welcome), "consent": "1"})
    page = html.unescape(client.get(url).text)
    assert "Answer customers in real time" in page and "<h2>Strategy</h2>" in page
    assert re.search(
        r'<legend lang="fr">Publier chaque jour <span class="badge grey" lang="en">not translated</span>', page
    )
    assert re.search(r'value="Publicité" >\s*<span>Advertising</span>', page)  # the label translated, the value not
    assert "strongly disagree" in page and "pas du tout" not in page
    saved = client.post(
        f"{url}/save",
        data={"csrf_token": csrf_from(page), f"v{rated.id}": "8", f"c{choice.id}": "Publicité"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    answers = {a.item_id: a for a in session.exec(select(Answer).where(Answer.expert_id == experts[0].id))}
    assert answers[choice.id].values == ["Publicité"] and answers[rated.id].value == 8
    assert {a.language for a in answers.values()} == {"en"}
    french_page = client.get(f"{url}?lang=fr").text
    assert "Répondre aux clients en temps réel" in french_page and "not translated" not in french_page


def test_the_exports_and_the_report_say_in_which_language_answers_were_given(client, session, settings):
    owner, study, theme, rated, other, choice = _french_study(session)
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    round_ = open_round(session, study, settings)
    from app.rounds import answers
    from app.rounds.answers import AnswerIn

    for expert, language in zip(invited(session, round_), ("en", "fr", "fr"), strict=True):
        answers.save_answers(
            session,
            study,
            round_,
            expert,
            {rated.id: AnswerIn(value=7), other.id: AnswerIn(value=6)},
            language=language,
        )
        answers.submit(session, round_, expert)
    service.close_round(session, study, round_, None)
    page_login(client, owner.email)
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/studies/{study.id}/exports/answers.csv").content.decode("utf-8-sig")))
    )
    assert sorted(r["language"] for r in rows) == ["en", "en", "fr", "fr", "fr", "fr"]
    report = reports.render_html(session, study.id, "en")
    table = report.split("answered in their language", 1)[1].split("</table>", 1)[0]
    assert re.search(r"<th class=\"num\">English</th><th class=\"num\">French</th>", table)
    assert re.search(r"<td>1</td><td class=\"num\">2</td><td class=\"num\">4</td>", table)
    assert len(experts) == 3


def test_the_translations_page_saves_refuses_with_the_field_and_the_design_page_counts_what_is_missing(client, session):
    owner, study, theme, rated, other, choice = _french_study(session)
    csrf = page_login(client, owner.email)
    design_page = client.get(f"/studies/{study.id}/design?lang=en").text
    assert "The study in English" in design_page and "9 texts to translate" in design_page
    page = client.get(f"/studies/{study.id}/translations").text
    assert f'name="t:item.{choice.id}.options"' in page and 'lang="en"' in page
    refused = client.post(
        f"/studies/{study.id}/translations",
        data={
            "csrf_token": csrf,
            f"t:item.{rated.id}.text": "Answer in real time",
            f"t:item.{choice.id}.options": "One\nTwo",
        },
    )
    assert refused.status_code == 400 and "3 lines" in refused.text
    assert f'id="e-item.{choice.id}.options"' in refused.text and "Answer in real time" in refused.text  # kept
    session.refresh(rated)
    assert rated.translations == {}
    saved = client.post(
        f"/studies/{study.id}/translations",
        data={
            "csrf_token": csrf,
            f"t:item.{rated.id}.text": "Answer in real time",
            f"t:item.{choice.id}.options": "E-mail\nAdvertising\nSearch",
            "t:study.anchors:1": "strongly disagree",
            "t:study.anchors:9": "strongly agree",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "6 texts to translate" in client.get(f"/studies/{study.id}/design").text
    french = client.get(f"/studies/{study.id}/translations?lang=fr").text
    assert "L’étude en anglais" in french


def test_the_information_for_participants_is_read_in_the_expert_s_language_and_follows_its_versions(
    client, session, settings
):
    from app.studies import information
    from app.studies.schemas import InformationSheetIn

    owner, study, theme, rated, other, choice = _french_study(session)
    sheet = information.save_sheet(
        session,
        study,
        InformationSheetIn(purpose="Comprendre les marchands.", retention="Cinq ans.", contact_email="a@example.org"),
        owner,
    )
    translations.save(
        session,
        study,
        *_texts(session, study),
        {"sheet.purpose": "Understand merchants.", "sheet.retention": "Five years."},
        owner,
        sheet,
    )
    expert = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).first()
    expert.language = "en"
    session.add(expert)
    round_ = open_round(session, study, settings)
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    welcome = client.get(url).text
    assert "Understand merchants." in welcome and "Five years." in welcome and "Comprendre" not in welcome
    newer = information.save_sheet(
        session,
        study,
        InformationSheetIn(purpose="Comprendre les marchands.", retention="Dix ans.", contact_email="a@example.org"),
        owner,
    )
    assert newer.version == 2 and set(newer.translations["en"]) == {
        "purpose"
    }  # the unchanged field keeps its translation
    again = html.unescape(client.get(url).text)
    assert "Understand merchants." in again and re.search(r'<p class="pre-line" lang="fr">Dix ans.</p>', again)
    rows = {row.key: row for row in translations.rows(study, *_texts(session, study), newer)}
    assert rows["sheet.retention"].missing and not rows["sheet.purpose"].missing
    assert round_.number == 1


def test_translations_travel_with_the_protocol_file(session):
    import tomllib

    from app import protocol_file

    owner, study, theme, rated, other, choice = _french_study(session)
    translations.save(session, study, *_texts(session, study), _english(theme, rated, choice), owner)
    text = protocol_file.export_study(session, study.id, with_identities=True)
    data = tomllib.loads(text)
    assert data["study"]["translations"]["en"]["title"] == "Social media and commerce"
    stratégie = next(t for t in data["themes"] if t["title"] == "Stratégie")
    entries = {i["text"]: i for i in stratégie["items"]}
    assert entries["Quel canal d'abord ?"]["translations"]["en"]["options"] == [
        "E-mail",
        "Advertising",
        "Search engines",
    ]
    assert "translations" not in entries["Publier chaque jour"]
    copy = protocol_file.create_from_text(session, text, owner=owner)
    local = Localiser(copy, "en")
    copied = {i.text: i for i in design.items_of(session, copy.id)}
    assert str(local.study("title")) == "Social media and commerce"
    assert local.option(copied["Quel canal d'abord ?"], "Publicité").value == "Advertising"
    assert local.item(copied["Publier chaque jour"]).fallback
    import tomli_w

    entries["Quel canal d'abord ?"]["translations"]["en"]["options"] = ["E-mail", "Advertising"]  # two for three
    with pytest.raises(InvalidInput) as refused:
        protocol_file.create_from_text(session, tomli_w.dumps(data), owner=owner)
    assert "one translation per option" in str(refused.value.detail)


def test_a_half_translated_scale_is_refused(session):
    owner, study, theme, rated, other, choice = _french_study(session)
    with pytest.raises(InvalidInput) as refused:
        translations.save(
            session, study, *_texts(session, study), {"study.anchors": {"1": "strongly disagree", "9": ""}}, owner
        )
    assert set(refused.value.fields) == {"study.anchors"}


def test_the_language_table_counts_answers_given_in_the_round_not_carried(session, settings):
    from app.rounds import answers
    from app.rounds.answers import AnswerIn

    owner, study, theme, rated, other, choice = _french_study(session)
    study.retire_consensual = False
    session.add(study)
    round1 = open_round(session, study, settings)
    for expert in invited(session, round1):
        answers.save_answers(session, study, round1, expert, {rated.id: AnswerIn(value=7)}, language="fr")
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    someone = invited(session, round2)[0]
    answers.save_answers(session, study, round2, someone, {rated.id: AnswerIn(value=8)}, language="en")
    report = reports.render_html(session, study.id, "en")
    table = report.split("answered in their language", 1)[1].split("</table>", 1)[0]
    assert re.search(r"<td>1</td><td class=\"num\">0</td><td class=\"num\">3</td>", table)
    assert re.search(r"<td>2</td><td class=\"num\">1</td><td class=\"num\">0</td>", table)  # 2 carried, not counted


def test_the_team_s_words_in_the_e_mails_are_written_on_the_settings_page_and_read_in_each_expert_s_language(
    client, session, settings
):
    from app.rounds import invitations
    from tests.rounds.helpers import mailer_for

    owner, study, theme, rated, other, choice = _french_study(session)
    csrf = page_login(client, owner.email)
    form = {
        "csrf_token": csrf,
        "title": study.title,
        "question": study.question,
        "language": "fr",
        "description": "",
        "expert_definition": "",
        "invitation_note": "Merci de répondre avant le congrès de Lyon.\nChaque avis compte.",
        "reminder_note": "Il ne reste que trois jours.",
    }
    assert client.post(f"/studies/{study.id}/settings", data=form, follow_redirects=False).status_code == 303
    session.refresh(study)
    rows = {row.key: row for row in translations.rows(study, *_texts(session, study))}
    assert rows["study.invitation_note"].missing and rows["study.reminder_note"].missing  # the design page counts them
    given = _english(theme, rated, choice) | {"study.invitation_note": "Please answer before the Lyon congress."}
    translations.save(session, study, *_texts(session, study), given, owner)
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    experts[0].language = "en"
    session.add(experts[0])
    round_ = open_round(session, study, settings)
    sent = {
        m.expert_id: m
        for m in session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "invitation", OutboxMessage.round_id == round_.id)
        )
    }
    assert "Please answer before the Lyon congress." in sent[experts[0].id].body_text
    assert "Lyon congress" in sent[experts[0].id].body_html and "Merci de répondre" not in sent[experts[0].id].body_text
    assert "Merci de répondre avant le congrès de Lyon.\nChaque avis compte." in sent[experts[1].id].body_text
    invitations.remind(session, study, round_, mailer_for(settings))
    reminders = {
        m.expert_id: m
        for m in session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "reminder", OutboxMessage.round_id == round_.id)
        )
    }
    # no English words for the reminders: the English expert reads the French ones, marked French
    assert "Il ne reste que trois jours." in reminders[experts[0].id].body_text
    assert (
        '<p lang="fr" style="white-space: pre-line;">Il ne reste que trois jours.</p>'
        in reminders[experts[0].id].body_html
    )
    assert 'lang="fr"' not in reminders[experts[1].id].body_html.split("<body", 1)[1]
    study.invitation_note = study.reminder_note = ""
    session.add(study)
    bare = invitations.round_email(mailer_for(settings), "reminder", "fr", study, round_, experts[1], link="L")
    assert "\n\n\n" not in bare.text and "trois jours" not in bare.text  # no words, no empty paragraph


def test_the_team_s_words_travel_with_the_protocol_file(session):
    import tomllib

    from app import protocol_file

    owner, study, theme, rated, other, choice = _french_study(session)
    study.invitation_note, study.reminder_note = "Merci d'avance.", "Dernier rappel."
    given = _english(theme, rated, choice) | {"study.reminder_note": "Last reminder."}
    translations.save(session, study, *_texts(session, study), given, owner)
    text = protocol_file.export_study(session, study.id, with_identities=True)
    assert tomllib.loads(text)["study"]["invitation_note"] == "Merci d'avance."
    copy = protocol_file.create_from_text(session, text, owner=owner)
    assert (copy.invitation_note, copy.reminder_note) == ("Merci d'avance.", "Dernier rappel.")
    assert str(Localiser(copy, "en").study("reminder_note")) == "Last reminder."


def test_the_questionnaire_says_it_shows_the_original_only_for_what_it_shows(session):
    owner, study, theme, rated, other, choice = _french_study(session)
    study.description = "Une description que le questionnaire ne montre pas"
    groups = design.by_theme(session, study.id, design.items_of(session, study.id, active_only=True))
    assert Localiser(study, "fr").untranslated(groups) is False  # the study's own language
    assert Localiser(study, "en").untranslated(groups) is True  # nothing translated yet
    everything = _english(theme, rated, choice) | {f"item.{other.id}.text": "Post every day"}
    translations.save(session, study, *_texts(session, study), everything, owner)
    assert Localiser(study, "en").untranslated(groups) is False  # the description alone does not count
    other.text = "Publier chaque jour, même le dimanche"  # reworded: its translation no longer fits
    assert Localiser(study, "en").untranslated(groups) is True


def test_chart_numbers_are_written_as_the_page_s_language_writes_them():
    from markupsafe import Markup

    from app.templating import _make_env

    chart = Markup('<svg><text x="12.5">2.5</text><text>3</text></svg>')
    french = _make_env("fr").filters["chart_numbers"]
    assert str(french(chart)) == '<svg><text x="12.5">2,5</text><text>3</text></svg>'  # attributes untouched
    assert str(_make_env("en").filters["chart_numbers"](chart)) == str(chart)
    assert str(french(None)) == "" and str(french("<b>2.5</b>")) == "&lt;b&gt;2.5&lt;/b&gt;"  # text is escaped
