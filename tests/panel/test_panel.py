"""The panel: imports are all-or-nothing with line numbers; weights by formula; withdrawal; links."""

import io

import pytest
from openpyxl import Workbook
from sqlmodel import select

from app.errors import Conflict, InvalidInput
from app.panel import panel_file, service
from app.panel.models import Expert
from app.panel.schemas import ExpertCreate
from app.rounds.service import link_holder
from app.security import hash_token
from tests.conftest import TEST_SECRET
from tests.factories import make_researcher, make_study, page_login

GOOD = (
    "name,email,group,self_rating,years,publications\n"
    "Claire Dubois,claire@example.org,academic,8,12,9\n"
    "Marc Leroy,marc@example.org,practitioner,6,15,1\n"
)
BAD = (
    "name,email,group,self_rating,years\n"
    "Claire Dubois,claire@example.org,academic,8,12\n"
    ",nobody@example.org,academic,5,3\n"
    "Marc Leroy,not-an-email,practitioner,6,15\n"
    "Claire Again,CLAIRE@example.org,academic,7,2\n"
    "Zoé Martin,zoe@example.org,lobbyist,7,2\n"
)


@pytest.fixture
def study(session):
    study = make_study(session, make_researcher(session))
    study.groups = [{"key": "academic", "label": "Academics"}, {"key": "practitioner", "label": "Practitioners"}]
    study.weighting = {"scheme": "formula", "formula": "0.5 * self_rating / 10 + 0.5 * min(years, 20) / 20"}
    session.add(study)
    return study


def test_import_reports_every_bad_line_and_imports_nothing(session, study):
    with pytest.raises(InvalidInput) as info:
        panel_file.import_panel(session, study, "panel.csv", BAD.encode(), None)
    lines = {entry["line"]: entry["problem"] for entry in info.value.extra["lines"]}
    assert set(lines) == {3, 4, 5, 6}
    assert "name is empty" in lines[3] and "not an e-mail" in lines[4]
    assert "already on line 2" in lines[5] and "lobbyist" in lines[6]
    assert session.exec(select(Expert).where(Expert.study_id == study.id)).all() == []


def test_import_a_good_csv_with_profiles_and_formula_weights(session, study):
    experts = panel_file.import_panel(session, study, "panel.csv", GOOD.encode(), None)
    assert [e.pseudonym for e in experts] == ["E01", "E02"]
    claire = experts[0]
    assert claire.profile == {"self_rating": 8, "years": 12, "publications": 9}
    assert claire.weight == pytest.approx(0.5 * 0.8 + 0.5 * 12 / 20)
    assert claire.weight_source == "formula"
    with pytest.raises(InvalidInput) as again:
        panel_file.import_panel(session, study, "panel.csv", GOOD.encode(), None)
    assert "already on the panel" in again.value.extra["lines"][0]["problem"]


def test_import_xlsx_and_semicolon_csv(session, study):
    book = Workbook()
    sheet = book.active
    sheet.append(["Nom", "Courriel", "Groupe", "years"])
    sheet.append(["Anne Petit", "anne@example.org", "Academics", 7])
    sheet.append(["Paul Roux", "paul@example.org", "practitioner", 3.5])
    buffer = io.BytesIO()
    book.save(buffer)
    study.weighting = {"scheme": "equal"}
    experts = panel_file.import_panel(session, study, "panel.xlsx", buffer.getvalue(), None)
    assert [(e.name, e.stakeholder_group, e.profile["years"]) for e in experts] == [
        ("Anne Petit", "academic", 7),
        ("Paul Roux", "practitioner", 3.5),
    ]
    more = panel_file.import_panel(
        session, study, "more.csv", "name;email\nJo Bleu;jo@example.org\n".encode("cp1252"), None
    )
    assert more[0].email == "jo@example.org"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"email\nx@example.org\n", "needs the columns name and email"),
        (b"name,email\n", "no experts"),
        (b"PK\x03\x04garbage", "not a readable XLSX"),
    ],
)
def test_unusable_files_are_refused(session, study, content, message):
    with pytest.raises(InvalidInput, match=message):
        panel_file.import_panel(session, study, "panel.csv", content, None)


def test_weights_by_hand_need_a_reason_and_survive_recomputation(session, study):
    panel_file.import_panel(session, study, "panel.csv", GOOD.encode(), None)
    claire, marc = service.experts_of(session, study.id)
    with pytest.raises(InvalidInput):
        service.set_weight(session, study, claire, 2.0, " ", make_researcher(session, "x@example.org"))
    service.set_weight(session, study, claire, 2.0, "chairs the society", make_researcher(session, "y@example.org"))
    service.recompute_weights(session, study, None)
    assert claire.weight == 2.0 and claire.weight_source == "researcher"
    assert marc.weight_source == "formula"


def test_a_formula_that_does_not_fit_the_panel_is_a_clear_error(session, study):
    study.weighting = {"scheme": "formula", "formula": "citations / 10"}
    with pytest.raises(InvalidInput, match="unknown name 'citations'; did you mean 'publications'"):
        panel_file.import_panel(session, study, "panel.csv", GOOD.encode(), None)


def test_links_are_hashed_reissued_and_kept_on_withdrawal_to_say_so(session, study):
    expert = service.add_expert(session, study, ExpertCreate(name="Lea", email="lea@example.org"), None)
    token = service.current_link(session, expert, TEST_SECRET)
    assert len(token) >= 43 and expert.link_token_hash == hash_token(token) and token not in str(expert.model_dump())
    assert service.current_link(session, expert, TEST_SECRET) == token  # the same link in every e-mail
    assert link_holder(session, token).expert.id == expert.id
    new = service.issue_link(session, expert, TEST_SECRET)
    assert new != token and link_holder(session, token) is None
    service.withdraw(session, study, expert, "moved abroad", None)
    holder = link_holder(session, new)  # the link now leads to "you have left the study" only
    assert holder is not None and holder.expert.id == expert.id and expert.status == "withdrawn"


def test_duplicate_expert_is_refused(session, study):
    service.add_expert(session, study, ExpertCreate(name="Lea", email="lea@example.org"), None)
    with pytest.raises(Conflict):
        service.add_expert(session, study, ExpertCreate(name="Léa", email="LEA@example.org"), None)


def test_import_page_shows_the_lines_then_imports(client, session, study):
    csrf = page_login(client)
    bad = client.post(
        f"/studies/{study.id}/panel/import",
        data={"csrf_token": csrf},
        files={"file": ("panel.csv", BAD.encode(), "text/csv")},
    )
    assert bad.status_code == 400 and "line 3" in bad.text and "Nothing was imported" in bad.text
    french = client.post(
        f"/studies/{study.id}/panel/import?lang=fr",
        data={"csrf_token": csrf},
        files={"file": ("panel.csv", BAD.encode(), "text/csv")},
    )
    assert "Rien n’a été importé" in french.text and "ligne 4" in french.text
    assert "n’est pas une adresse e-mail" in french.text and "is not an e-mail" not in french.text
    good = client.post(
        f"/studies/{study.id}/panel/import",
        data={"csrf_token": csrf},
        files={"file": ("panel.csv", GOOD.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    page = client.get(f"/studies/{study.id}/panel").text
    assert "claire@example.org" in page and "E02" in page
