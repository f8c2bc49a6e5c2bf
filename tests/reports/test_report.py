"""The consensus report: its parts are there (read back from the PDF), in both languages, with
and without weights; nothing is fetched; user text is escaped; pages render to images."""

import io
import re
import shutil
import subprocess

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from app import __version__
from app.db import make_engine, session_scope
from app.panel.models import Expert
from app.reports import checklists, exports, service
from app.reports.results import final_results
from tests.conftest import settings_for
from tests.factories import page_login
from tests.reports.conftest import two_round_study

SECTIONS_EN = [
    "Delphi study report",
    "Summary",
    "Final themes, ranked by weight",
    "Methods",
    "Definition of expert",
    "Definition of consensus",
    "Stopping rule",
    "Feedback between rounds",
    "Narrowing of the panel",
    "Anonymity",
    "Panel flow",
    "Results",
    "Consensus status per item and round",
    "Panel agreement",
    "Stability between rounds",
    "Results per item",
    "Dissent",
    "Attrition",
    "Appendix",
    "What happened to every item",
    "Narrowing decision",
    "Funding and conflicts of interest",
    "Reporting checklist: ACCORD",
]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_english_report_has_every_part(session, finished_study):
    html = service.render_html(session, finished_study.id, "en")
    pdf, pages = service.render_pdf(html)
    text = pdf_text(pdf)
    for section in SECTIONS_EN:
        assert section.lower() in text.lower(), section
    assert pages >= 8 and len(PdfReader(io.BytesIO(pdf)).pages) == pages
    assert "agreement >= 0.7 and opposition < 0.15" in text
    assert "Published or practised 2+ years" in text and "Internal funds" in text
    assert f"Delphi {__version__}" in text  # software name and version
    assert "Costly for small shops" in text  # dissent shows anonymous reasons


def _checklist_rows(text: str) -> str:
    return text[text.lower().index("reporting checklist:") :]


def test_the_checklist_appendix_lists_every_accord_item_by_its_official_number(session, finished_study):
    """ACCORD by default: its 35 items, T1, I1-I3, M1-M21, R1-R5, D1-D2, O1-O3, each with where the
    report answers it and its page; official wording only where verified in full."""
    text = _checklist_rows(pdf_text(service.html_to_pdf(service.render_html(session, finished_study.id, "en"))))
    numbers = ["T1", "I1", "I2", "I3", *(f"M{n}" for n in range(1, 22)), *(f"R{n}" for n in range(1, 6))]
    numbers += ["D1", "D2", "O1", "O2", "O3"]
    assert len(numbers) == 35
    lines = text.splitlines()
    for number in numbers:
        assert any(line.startswith(f"{number} ") for line in lines), number
    squashed = " ".join(text.split())
    assert "Explain why a consensus exercise was chosen over other approaches." in squashed  # I1, verbatim_full
    assert "For example, Delphi or nominal group technique." not in squashed  # T1: only its example was found
    assert "agreement >= 0.7 and opposition < 0.15" in squashed  # M12 answered with the study's rule
    assert "To be completed by the authors." in squashed
    m12 = text[text.index("\nM12 ") : text.index("\nM13 ")]  # the section, its page, the study's rule
    assert re.search(r"Definition of\s+consensus\s+\d+\s+consensus rule: agreement", m12), m12


@pytest.mark.parametrize(("guideline", "count", "first"), [("DELPHISTAR", 38, "1 "), ("CREDES", 16, "C1 ")])
def test_delphistar_and_credes_appendices_are_selectable(session, finished_study, guideline, count, first):
    html = service.render_html(session, finished_study.id, "en", guideline=guideline)
    assert f"Reporting checklist: {guideline}" in html
    assert html.count("<tr><td>") >= count
    rows = checklists.appendix(guideline, final_results(session, finished_study.id), "en")
    assert len(rows) == count and {r.status for r in rows} <= {"filled", "partly", "authors"}
    assert all(r.item.wording is None for r in rows) or guideline == "ACCORD"  # none verified in full


def test_the_team_s_voting_rights_and_the_reminders_are_recorded_answers(session, finished_study, settings):
    from app.accounts.models import Researcher, StudyMember
    from app.panel import service as panel
    from app.panel.schemas import ExpertCreate
    from app.rounds.models import Invitation, Round

    rows = {r.item.number: r for r in checklists.appendix("ACCORD", final_results(session, finished_study.id), "en")}
    assert rows["M19"].status == "filled"  # no member rated: the platform knows, and says so
    assert "1 owner(s)" in rows["M19"].answer and "did not rate" in rows["M19"].answer
    assert rows["M20"].status == "partly" and "round 1: 0 reminder(s) to 0 expert(s)" in rows["M20"].answer
    first = session.exec(select(Round).where(Round.study_id == finished_study.id, Round.number == 1)).one()
    for invitation in session.exec(select(Invitation).where(Invitation.round_id == first.id)).all()[:2]:
        invitation.reminder_count = 2
        session.add(invitation)
    owner = session.exec(select(Researcher).join(StudyMember).where(StudyMember.study_id == finished_study.id)).first()
    panel.add_expert(session, finished_study, ExpertCreate(name="The owner", email=owner.email), None)
    session.flush()
    rows = {r.item.number: r for r in checklists.appendix("ACCORD", final_results(session, finished_study.id), "en")}
    assert "round 1: 4 reminder(s) to 2 expert(s)" in rows["M20"].answer
    assert "1 member(s) of the research team also sat on the panel and rated" in rows["M19"].answer
    credes = {r.item.number: r for r in checklists.appendix("CREDES", final_results(session, finished_study.id), "en")}
    assert "also sat on the panel" in credes["C5"].answer  # "disclose researchers who are also panellists"


def test_the_checklist_exports_are_fillable_tables(client, session, finished_study):
    rows = exports.checklist_rows(session, finished_study, "ACCORD", "en")
    assert len(rows) == 35 and set(rows[0]) == set(exports.CHECKLIST_COLUMNS)
    by_number = {r["number"]: r for r in rows}
    assert by_number["I1"]["wording"] == "verbatim" and by_number["T1"]["wording"] == "paraphrased topic"
    assert "agreement >= 0.7" in by_number["M12"]["platform_answer"] and by_number["M12"]["status"] == "partly"
    assert by_number["R3"]["status"] == "filled" and "invited" in by_number["R3"]["platform_answer"]
    assert by_number["D2"]["status"] == "authors" and by_number["D2"]["authors_answer"] == ""
    page_login(client, "owner-en-0@example.org")
    base = f"/studies/{finished_study.id}/exports"
    csv_file = client.get(f"{base}/checklist-accord.csv")
    assert csv_file.status_code == 200 and csv_file.text.count("\nACCORD,") == 35
    workbook = load_workbook(io.BytesIO(client.get(f"{base}/checklist-delphistar.xlsx?language=fr").content))
    sheet = workbook["DELPHISTAR"]
    assert sheet.max_row == 39 and [c.value for c in sheet[1]] == list(exports.CHECKLIST_COLUMNS)
    assert "Définition du consensus" in {c.value for c in sheet["G"]}  # the report's sections, in French
    assert client.get(f"{base}/checklist-strobe.csv").status_code == 404


def test_the_report_names_no_expert(session, finished_study):
    text = pdf_text(service.html_to_pdf(service.render_html(session, finished_study.id, "en")))
    experts = session.exec(select(Expert).where(Expert.study_id == finished_study.id)).all()
    assert any(e.pseudonym in text for e in experts)
    for expert in experts:
        assert expert.email not in text and expert.name not in text


def test_user_text_is_escaped_not_interpreted(session, finished_study):
    html = service.render_html(session, finished_study.id, "en")
    assert "Social media &lt;b&gt;and&lt;/b&gt; e-commerce" in html and "<b>and</b>" not in html


def test_french_report(session, settings):
    study = two_round_study(session, settings, language="fr")
    text = pdf_text(service.html_to_pdf(service.render_html(session, study.id)))
    for section in ("Rapport d’étude Delphi", "Méthodes", "Résultats", "Annexe"):
        assert section.lower() in text.lower(), section


def test_weighted_report_shows_weighted_figures(session, settings):
    study = two_round_study(session, settings, weighted=True)
    results = final_results(session, study.id)
    assert any(o.final and getattr(o.final, "weighted_stats", None) for o in results.items)
    text = pdf_text(service.html_to_pdf(service.render_html(session, study.id, "en")))
    assert "weighted values in brackets" in text and "self_rating / 10" in text


def test_final_themes_are_ranked_by_weight(session, finished_study):
    results = final_results(session, finished_study.id)
    weights = [t.weight for t in results.themes]
    assert weights == sorted(weights, reverse=True) and sum(weights) == pytest.approx(1.0)
    assert results.panel_initial == 10 and results.panel_final == 6
    assert results.attrition is not None and results.attrition.n_left == 4


def test_the_fetcher_serves_only_bundled_files():
    fetcher = service.url_fetcher()
    assert b"@page" in fetcher.fetch("bundled:report.css").read()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.org/logo.png", "bundled:../x"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    html = (
        '<link rel="stylesheet" href="bundled:report.css"><img src="file:///etc/hostname">'
        '<img src="http://127.0.0.1:9/tracker.png"><p>fine</p>'
    )
    assert "fine" in pdf_text(service.html_to_pdf(html))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pages_render_to_images(tmp_path, session, finished_study):
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(service.html_to_pdf(service.render_html(session, finished_study.id, "en")))
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "3", str(pdf_path), str(tmp_path / "page")], check=True
    )
    from PIL import Image

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    for page in pages:
        extrema = Image.open(page).convert("L").getextrema()
        assert extrema[0] < 100 and extrema[1] > 200  # ink on paper, not a blank page


def test_write_report_from_a_database(database, tmp_path):
    url = database.fresh()
    engine = make_engine(url)
    with session_scope(engine) as session:
        study_id = two_round_study(session, settings_for(url)).id
    size = service.write_report(engine, study_id, tmp_path / "r.pdf", "en", tmp_path / "r.html", "CREDES")
    engine.dispose()
    assert size > 10_000 and (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    assert "Results per item" in (tmp_path / "r.html").read_text()
    assert "Reporting checklist: CREDES" in (tmp_path / "r.html").read_text()


def test_chart_text_is_plain_text_even_with_dollar_signs():
    """matplotlib reads "$...$" as mathtext: an unbalanced or odd title made the PDF fail."""
    from app.reports import charts

    svg = charts.theme_weights_svg(["Prices from $5 to $10", "Odd $x^{ title"], [0.6, 0.4])
    assert "Prices from $5 to $10" in svg and "Odd $x^{ title" in svg


@pytest.mark.parametrize("guideline", checklists.GUIDELINES)
def test_every_checklist_page_reference_points_at_a_section_the_report_has(session, settings, guideline):
    from tests.factories import make_panel_study

    for study in (two_round_study(session, settings), make_panel_study(session, experts=2, items=1)):
        html = service.render_html(session, study.id, "en", guideline=guideline)
        references = set(re.findall(r'class="pageref" href="#([^"]+)"', html))
        assert references and references <= set(re.findall(r' id="([^"]+)"', html)), guideline


def _has_emoji_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    families = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, check=False).stdout
    return "Noto Color Emoji" in families


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
@pytest.mark.skipif(
    not _has_emoji_font(),
    reason="no colour emoji font (apt-get install fonts-noto-color-emoji): scripts/check_system.py says so too",
)
def test_an_emoji_in_a_title_prints_in_colour_not_as_a_box(tmp_path, session, finished_study):
    from PIL import Image

    finished_study.title = "Médias sociaux 📊 et e-commerce"
    session.add(finished_study)
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(service.html_to_pdf(service.render_html(session, finished_study.id, "fr")))
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf_path), str(tmp_path / "p")], check=True
    )
    with Image.open(next(tmp_path.glob("p-*.png"))) as page:
        colours = page.convert("RGB").getcolors(maxcolors=2_000_000) or []
    # the bar-chart emoji's bars are saturated colours the cover has nowhere else (its navy is not)
    vivid = sum(n for n, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 120)
    assert vivid > 5


def test_the_contents_sit_on_the_title_page_and_leave_no_page_almost_empty(session, finished_study):
    """The table of contents used to start at the foot of the summary page and spill three lines
    onto a page of its own."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(service.html_to_pdf(service.render_html(session, finished_study.id, "en"))))
    first, second = (reader.pages[k].extract_text() for k in (0, 1))
    assert "Contents" in first and "Methods" in first and "Results per item" in first
    assert "Contents" not in second and "Summary" in second


def test_the_report_s_charts_write_numbers_as_the_report_s_language_does():
    from app.reports import charts

    french = charts.theme_weights_svg(["Stratégie", "Contenu"], [0.625, 0.375], "fr")
    english = charts.theme_weights_svg(["Strategy", "Content"], [0.625, 0.375], "en")
    assert "62,5" in french and "62.5" not in french and "10,0" in french  # values and axis ticks
    assert "62.5" in english and "62,5" not in english


def test_the_narrowing_outcome_counts_agree_with_their_nouns(session, finished_study):
    import re

    def text(language: str) -> str:  # spaces and line breaks folded; the French non-breaking spaces kept
        return re.sub(r"[ \t\n]+", " ", service.render_html(session, finished_study.id, language))

    assert re.search(r"Outcome after round \d+: \d+ experts? kept, \d+ not invited further", text("en"))
    assert re.search(r"Résultat après le tour \d+\u00a0: \d+ experts? conservés?, \d+ non réinvités?", text("fr"))
