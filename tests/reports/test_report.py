"""The consensus report: its parts are there (read back from the PDF), in both languages, with
and without weights; nothing is fetched; user text is escaped; pages render to images."""

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from sqlmodel import select

from app import __version__
from app.db import make_engine, session_scope
from app.panel.models import Expert
from app.reports import service
from app.reports.results import final_results
from tests.conftest import settings_for
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
    "Reporting checklist",
    "ACCORD",
    "CREDES",
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
    size = service.write_report(engine, study_id, tmp_path / "r.pdf", "en", tmp_path / "r.html")
    engine.dispose()
    assert size > 10_000 and (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    assert "Results per item" in (tmp_path / "r.html").read_text()


def test_chart_text_is_plain_text_even_with_dollar_signs():
    """matplotlib reads "$...$" as mathtext: an unbalanced or odd title made the PDF fail."""
    from app.reports import charts

    svg = charts.theme_weights_svg(["Prices from $5 to $10", "Odd $x^{ title"], [0.6, 0.4])
    assert "Prices from $5 to $10" in svg and "Odd $x^{ title" in svg
