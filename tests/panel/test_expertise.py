"""The self-assessment of expertise the protocol may ask of each expert before their first round:
the competence coefficient K or the authority coefficient Cr, answered through the personal link
(in English and French), refused whole when incomplete, shown to the researchers, read by the
narrowing's composite score, reported and exported."""

from __future__ import annotations

import html
import io

import pytest
from openpyxl import load_workbook
from pydantic import ValidationError
from sqlmodel import col, select

from app.panel import expertise
from app.panel import service as panel
from app.panel.models import Expert
from app.reports import checklists, exports
from app.reports.results import final_results
from app.reports.service import render_html
from app.rounds import answers, narrowing, service
from app.scoring.competence import COMPETENCE_SOURCES
from app.studies.schemas import NarrowingSpec
from app.templating import default_templates
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, invited, open_round

OTHERS_LOW = {s: "low" for s in ("national_works", "international_works", "abroad", "intuition")}


def _competence_study(session, experts=3, **narrowing_rule):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=experts, items=2, language="en")
    study.narrowing = {"self_assessment": "competence", **narrowing_rule}
    session.add(study)
    return owner, study


def _consented(client, session, expert) -> str:  # type: ignore[no-untyped-def]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    welcome = client.get(url).text
    client.post(f"{url}/consent", data={"csrf_token": csrf_from(welcome), "consent": "1"})
    return url


def test_an_expert_assesses_their_expertise_before_the_questions_and_is_refused_whole_when_incomplete(
    client, session, settings
):
    owner, study = _competence_study(session)
    round1 = open_round(session, study, settings)
    expert = invited(session, round1)[0]
    url = _consented(client, session, expert)
    page = client.get(url)
    assert page.status_code == 200 and "<h1>Your expertise</h1>" in page.text
    assert "Your own experience" in page.text and 'name="source_experience"' in page.text
    french = html.unescape(client.get(f"{url}?lang=fr").text)
    assert "Votre expertise" in french and "Votre propre expérience" in french
    client.cookies.clear()  # ?lang= chose French for the next pages too

    incomplete = client.post(
        f"{url}/expertise", data={"csrf_token": csrf_from(page.text), "knowledge": "8", "source_theory": "high"}
    )
    assert incomplete.status_code == 400
    assert 'id="e-source_experience"' in incomplete.text and 'value="8" checked' in incomplete.text
    session.refresh(expert)
    assert expert.self_assessment == {}
    out_of_scale = client.post(
        f"{url}/expertise",
        data={"csrf_token": csrf_from(page.text), "knowledge": "11"}
        | {f"source_{s}": "high" for s in COMPETENCE_SOURCES},
    )
    assert out_of_scale.status_code == 400 and "from 0 to 10" in out_of_scale.text

    given = {"theory": "high", "experience": "medium"} | OTHERS_LOW
    saved = client.post(
        f"{url}/expertise",
        data={"csrf_token": csrf_from(page.text), "knowledge": "8"} | {f"source_{s}": v for s, v in given.items()},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(expert)
    assert expert.self_assessment["levels"] == given and expert.self_assessment["knowledge"] == 8
    found = expertise.coefficient(study, expert)
    assert found is not None and (found.kc, found.ka, found.k) == (0.8, 0.9, 0.85)
    form = client.get(url).text
    assert "<h1>Your expertise</h1>" not in form and f"{url}/expertise" in form  # the questions, and a way back
    again = client.get(f"{url}/expertise").text
    assert 'name="source_experience" value="medium" checked' in again  # what they said, to correct

    client.cookies.clear()
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    researcher_page = html.unescape(client.get(f"/studies/{study.id}/panel/{expert.id}").text)
    assert (
        "Competence coefficient K = 0.85 (knowledge Kc 0.80, argumentation Ka 0.90): high competence."
        in researcher_page
    )


def test_a_study_without_a_self_assessment_goes_straight_to_the_questions(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    expert = invited(session, open_round(session, study, settings))[0]
    url = _consented(client, session, expert)
    assert "Your expertise" not in client.get(url).text
    assert client.post(f"{url}/expertise", data={"csrf_token": "x"}).status_code == 403  # the link's token first
    assert client.get(f"{url}/expertise", follow_redirects=False).status_code == 303


def test_the_authority_coefficient_is_asked_with_familiarity(client, session, settings):
    owner, study = _competence_study(session, experts=1)
    study.narrowing = {"self_assessment": "authority"}
    session.add(study)
    expert = invited(session, open_round(session, study, settings))[0]
    url = _consented(client, session, expert)
    page = client.get(url).text
    assert "How familiar are you with the subject" in page and 'name="source_practice"' in page
    levels = {"practice": "high", "theory": "medium", "literature": "low", "intuition": "low"}
    client.post(
        f"{url}/expertise",
        data={"csrf_token": csrf_from(page), "familiarity": "familiar"} | {f"source_{s}": v for s, v in levels.items()},
    )
    session.refresh(expert)
    found = expertise.coefficient(study, expert)
    assert found is not None and found.ca == 0.9 and found.cs == 0.8 and found.cr == pytest.approx(0.85)


def test_the_narrowing_reads_the_coefficient_and_the_report_and_exports_give_it(client, session, settings):
    owner, study = _competence_study(
        session, experts=4, target=2, keep_group_share=False, composite={"competence": 1.0}
    )
    study.retire_consensual = False
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    for expert, knowledge in zip(experts, (2, 9, 5, 10), strict=True):  # one says nothing
        if knowledge != 5:
            levels = dict.fromkeys(COMPETENCE_SOURCES, "high")
            expertise.record(
                session, study, expert, {"knowledge": knowledge} | {f"source_{s}": v for s, v in levels.items()}
            )
    answer_all(session, study, round1)
    service.close_round(session, study, round1, None)
    proposal = narrowing.propose(session, study, round1)
    kept = {fate.key for fate in proposal.result.fates if fate.kept}
    assert kept == {experts[1].pseudonym, experts[3].pseudonym}  # K 0.95 and 1.0, above 0.6 and no answer
    assert proposal.inputs[experts[2].pseudonym]["competence"] == 0.0
    narrowing.confirm(session, study, round1, {}, None)

    report = html.unescape(render_html(session, study.id, "en", default_templates()))
    assert "Self-assessed expertise" in report and "Cabero Almenara and Barroso Osuna 2013" in report
    assert "3 / 4" in report and "2 / 2" in report  # the panel, and the two the narrowing kept
    mean_k = (0.6 + 0.95 + 1.0) / 3
    assert f"{mean_k:.2f}" in report
    credes = checklists.facts(final_results(session, study.id), "en")["panel_expertise"]
    assert f"competence coefficient K: mean {mean_k:.2f} (assessed: 3; high 2, medium 1, low 0)" in credes
    rows = {row["expert"]: row for row in exports.panel_rows(session, study)}
    assert rows[experts[3].pseudonym]["k"] == 1.0 and rows[experts[3].pseudonym]["self_assessment"] == "competence"
    assert rows[experts[2].pseudonym]["k"] is None
    page_login(client, owner.email)
    book = load_workbook(io.BytesIO(client.get(f"/studies/{study.id}/exports/study.xlsx").content))
    header = [c.value for c in next(book["panel"].iter_rows())]
    assert {"self_assessment", "k", "kc", "ka", "cr", "ca", "cs"} <= set(header)


def test_the_protocol_refuses_a_competence_component_without_a_self_assessment_and_keeps_its_own_points(session):
    with pytest.raises(ValidationError, match="needs a self-assessment"):
        NarrowingSpec(target=5, composite={"competence": 1.0})
    with pytest.raises(ValidationError, match="not a source"):
        NarrowingSpec(self_assessment="competence", self_assessment_points={"astrology": {"high": 0.5}})
    with pytest.raises(ValidationError, match="from 0 to 1"):
        NarrowingSpec(self_assessment="authority", self_assessment_points={"practice": {"high": 2}})

    import tomllib

    from app import protocol_file
    from app.studies import service as studies
    from app.studies.schemas import ProtocolUpdate

    owner, study = _competence_study(session, experts=1)
    points = {"experience": {"high": 0.6, "medium": 0.4, "low": 0.2}, "theory": {"high": 0.2}}
    studies.update_protocol(
        session,
        study,
        ProtocolUpdate(narrowing=NarrowingSpec(self_assessment="competence", self_assessment_points=points)),
        owner,
    )
    assert expertise.table(study)["experience"]["high"] == 0.6 and expertise.table(study)["theory"]["medium"] == 0.2
    text = protocol_file.export_study(session, study.id, with_identities=True)
    assert tomllib.loads(text)["narrowing"]["self_assessment_points"]["experience"]["high"] == 0.6
    copy = protocol_file.create_from_text(session, text, owner=owner)
    assert expertise.table(copy) == expertise.table(study)
    # the protocol form has no field for the points: saving it keeps them
    studies.update_protocol(
        session, study, ProtocolUpdate(narrowing=NarrowingSpec(self_assessment="competence", target=3)), owner
    )
    assert study.narrowing["self_assessment_points"] == points and study.narrowing["target"] == 3
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).all()
    expertise.record(
        session, study, experts[0], {"knowledge": 10} | {f"source_{s}": "high" for s in COMPETENCE_SOURCES}
    )
    assert expertise.coefficient(study, experts[0]).ka == pytest.approx(0.6 + 0.3 - 0.3 + 0.2 + 0.2)  # type: ignore[union-attr]


def test_no_answer_is_taken_before_the_assessment_and_it_stays_once_a_round_closed(client, session, settings):
    owner, study = _competence_study(session, experts=2)
    round1 = open_round(session, study, settings)
    assert study.narrowing["self_assessment_points"] == COMPETENCE_SOURCES  # the whole table, fixed at the lock
    expert = invited(session, round1)[0]
    url = _consented(client, session, expert)
    token = csrf_from(client.get(url).text)
    item_id = answers.round_items(session, round1.id)[0].id
    skipped = client.post(f"{url}/save", data={"csrf_token": token, f"v{item_id}": "7"})
    assert skipped.status_code == 409 and "questions about your expertise first" in skipped.text
    autosaved = client.post(
        f"{url}/answers", content=f'{{"answers": {{"{item_id}": {{"value": 7}}}}}}', headers={"x-csrf-token": token}
    )
    assert autosaved.status_code == 409
    assert answers.answers_of(session, round1.id, expert.id) == {}
    every_high = {f"source_{s}": "high" for s in COMPETENCE_SOURCES}
    client.post(f"{url}/expertise", data={"csrf_token": token, "knowledge": "6"} | every_high)
    assert client.post(f"{url}/save", data={"csrf_token": token, f"v{item_id}": "7"}).status_code in (200, 303)
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    assert expert.id in {e.id for e in invited(session, round2)}
    assert client.get(f"{url}/expertise", follow_redirects=False).status_code == 303  # to the questions
    refused = client.post(f"{url}/expertise", data={"csrf_token": token, "knowledge": "10"} | every_high)
    assert refused.status_code == 409 and "stay as they were" in refused.text
    session.refresh(expert)
    assert expert.self_assessment["knowledge"] == 6
    assert f"{url}/expertise" not in client.get(url).text


def test_the_authority_coefficient_in_the_report_in_french_and_erasure_with_the_answers(session, settings):
    from app.privacy import erasure
    from app.studies.models import REMOVE_ANSWERS

    owner, study = _competence_study(session, experts=3)
    study.narrowing = {"self_assessment": "authority"}
    study.erasure_policy = REMOVE_ANSWERS
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    levels = {"source_practice": "high", "source_theory": "high", "source_literature": "low", "source_intuition": "low"}
    for expert, familiarity in zip(experts, ("very_familiar", "familiar", "somewhat_familiar"), strict=True):
        expertise.record(session, study, expert, {"familiarity": familiarity} | levels)
    answer_all(session, study, round1)
    service.close_round(session, study, round1, None)
    report = html.unescape(render_html(session, study.id, "fr", default_templates()))
    assert "Expertise auto-évaluée" in report and "coefficient d’autorité Cr = (Ca + Cs) / 2" in report
    assert "0,800" in report and "Expérience pratique" in report  # Cs (1 + 0.8 + 0.6) / 3, Ca 1.0
    fact = checklists.facts(final_results(session, study.id), "fr")["panel_expertise"]
    assert "coefficient d’autorité Cr\u00a0: 0,900 (évalués\u00a0: 3\u00a0; Ca 1,000, Cs 0,800)" in fact
    erasure.erase_expert(session, study, experts[0], owner)
    session.refresh(experts[0])
    assert experts[0].self_assessment == {} and experts[0].interests == {}


def test_a_table_whose_points_do_not_go_down_or_add_up_to_more_than_one_is_refused():
    with pytest.raises(ValidationError, match="go down from high"):
        NarrowingSpec(self_assessment="competence", self_assessment_points={"theory": {"high": 0.1, "low": 0.2}})
    with pytest.raises(ValidationError, match="add up to 1 at most"):
        NarrowingSpec(self_assessment="competence", self_assessment_points={"intuition": {"high": 0.5}})
