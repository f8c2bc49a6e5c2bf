"""WCAG 2.1 AA and valid HTML on every page, in both languages, on a desktop and a phone.

A populated instance (a study with every question kind, round 1 closed, analysed and coded, round 2
open with feedback; a draft study with its protocol unlocked; a round 1 open on every kind; every
error state a page shows) is served, and every researcher and expert page is opened in Debian's
Chromium at 1280x800 and 390x844, in English and in French. axe-core runs its WCAG 2.0/2.1 A and
AA rules on each; the Nu HTML Checker (vnu) checks the HTML each response carried. Both come from
the npm registry at set-up (``make test`` runs ``npm ci``); nothing is downloaded here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import select

from app.accounts.models import Researcher
from app.db import session_scope, utcnow
from app.panel import expertise
from app.panel import service as panel
from app.rounds import answers, coding, service
from app.studies import information
from app.studies.models import Item
from app.studies.schemas import InformationSheetIn
from tests.browser.conftest import log_in
from tests.conftest import TEST_SECRET, settings_for
from tests.factories import add_member, make_item, make_panel_study, make_theme
from tests.rounds.helpers import invited, open_round
from tests.rounds.test_every_kind import all_kinds_study, answer_everything

pytestmark = pytest.mark.browser

TOOLS = Path(__file__).parents[2] / "node_modules"
AXE = TOOLS / "axe-core" / "axe.min.js"
VNU = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
NO_TOOLS = f"axe-core or vnu-jar is missing from {TOOLS}: the conformance checks did not run (make test runs npm ci)"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# What a page must show to be in the state it stands for (the check would pass on the wrong page).
SHOWS = {
    "expert: welcome (consent)": "form[action$='/consent'] input[name=interests]",
    "expert: round 2 form with feedback": "#answers .feedback svg",
    "expert: round 1 form, every kind": "#answers [data-kind=ranking] select, #answers details.evidence",
    "expert: submitted": ".alert.ok",
    "expert: not valid": "main h1",
    "results": "table",
    "coding": "form",
    "narrowing": "table",
    "preview (round 2, with feedback)": "#answers .feedback svg",
    "preview (round 1, draft)": "#save-bar button[disabled]",
    "panel": "td a[href*='/panel/']",
    "translations": "textarea[lang=en]",
    "expert page (answering)": "form[action$='/remind']",
    "expert: self-assessment of expertise": "form[action$='/expertise'] .scale",
    "expert page (self-assessed)": "#self-assessment",
}
# The pages that answer with an error status on purpose (the results of a round not analysed yet
# say so with 409); every other page must answer 200.
STATUS = {"expert: not valid": 404, "expert: withdrawn": 410, "not found": 404, "results (open round)": 409}
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def checkers() -> None:
    if not (AXE.exists() and VNU.exists()):
        if os.environ.get("DELPHI_TEST_REQUIRE_BROWSER"):
            pytest.fail(NO_TOOLS + " (required here: DELPHI_TEST_REQUIRE_BROWSER is set)")
        pytest.skip(NO_TOOLS)


@dataclass
class Instance:
    """What the populated instance holds: the researcher pages by name, the expert links by state."""

    researcher_pages: dict[str, str] = field(default_factory=dict)
    expert_links: dict[str, str] = field(default_factory=dict)
    refusals: dict[str, tuple[str, str]] = field(default_factory=dict)


def populate(live_app) -> Instance:  # type: ignore[no-untyped-def]
    settings = settings_for(live_app.url, base_url=live_app.base)
    found = Instance()
    with session_scope(live_app.engine) as session:
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()

        # A study in French with every kind: round 1 closed, analysed and coded; round 2 open.
        _, study = all_kinds_study(session, experts=8, language="fr")
        study.title = "Réseaux sociaux et commerce électronique"
        study.narrowing = {"target": 5, "keep_group_share": True, "composite": {"weight": 1.0}}
        session.add(study)
        add_member(session, study, rita, "owner")
        information.save_sheet(session, study, InformationSheetIn(asks_interests=True), None)  # a declaration too
        round1 = open_round(session, study, settings)
        experts = invited(session, round1)
        answer_everything(session, study, round1, experts)
        service.close_round(session, study, round1, None)
        opened = coding.open_answers(session, round1)
        item, sources = opened[0]
        coding.create_statement(
            session, study, round1, "Les délais de livraison comptent", [a.id for a, _ in sources[:2]], None, [], None
        )
        round2 = open_round(session, study, settings)
        for expert in experts[1:4]:
            expert.consent_at = utcnow()
            session.add(expert)
        answers.submit(session, round2, experts[3])
        panel.withdraw(session, study, experts[4], "left", None)
        s = f"/studies/{study.id}"
        found.researcher_pages |= {
            "overview": s,
            "settings": f"{s}/settings",
            "protocol (locked)": f"{s}/protocol",
            "design (locked)": f"{s}/design",
            "panel": f"{s}/panel",
            "rounds": f"{s}/rounds",
            "round 1 (closed)": f"{s}/rounds/1",
            "round 2 (open)": f"{s}/rounds/2",
            "results": f"{s}/rounds/1/results",
            "results (open round)": f"{s}/rounds/2/results",
            "narrowing": f"{s}/rounds/1/narrowing",
            "coding": f"{s}/rounds/1/coding",
            "mailbox": f"{s}/mailbox",
            "audit": f"{s}/audit",
            "report": f"{s}/report",
            "preview (round 2, with feedback)": f"{s}/preview",
            "translations": f"{s}/translations",
            "expert page (answering)": f"{s}/panel/{experts[1].id}",
            "expert page (withdrawn)": f"{s}/panel/{experts[4].id}",
        }
        for item in answers.round_items(session, round1.id):
            found.researcher_pages.setdefault(f"item ({item.kind}, locked)", f"{s}/items/{item.id}")

        def link(expert) -> str:  # type: ignore[no-untyped-def]
            return f"/e/{panel.current_link(session, expert, TEST_SECRET)}"

        found.expert_links |= {
            "welcome (consent)": link(experts[0]),
            "round 2 form with feedback": link(experts[1]),
            "submitted": link(experts[3]),
            "withdrawn": link(experts[4]),
            "not valid": "/e/this-link-is-not-valid",
        }

        # A draft study in English: protocol unlocked, everything editable.
        draft = make_panel_study(session, experts=4, items=2, language="en", title="Draft study")
        add_member(session, draft, rita, "owner")
        theme = make_theme(session, draft, "Channels")
        make_item(session, draft, theme, "Which channel?", kind="choice", options=["Email", "Ads"])
        make_item(session, draft, theme, "Order these", kind="ranking", options=["Price", "Trust", "Speed"])
        d = f"/studies/{draft.id}"
        found.researcher_pages |= {
            "draft overview": d,
            "protocol (unlocked)": f"{d}/protocol",
            "design (editable)": f"{d}/design",
            "panel (editable)": f"{d}/panel",
            "rounds (none)": f"{d}/rounds",
            "preview (round 1, draft)": f"{d}/preview",
            "studies": "/studies",
            "not found": "/studies/987654",
        }
        first_item = session.exec(select(Item).where(Item.study_id == draft.id)).first()
        assert first_item is not None
        found.researcher_pages["item (editable)"] = f"{d}/items/{first_item.id}"

        # Round 1 open on every kind: the expert's first form.
        # It asks each expert's competence coefficient K first; the third expert has not given it yet.
        _, fresh = all_kinds_study(session, experts=3, language="en")
        fresh.narrowing = {"self_assessment": "competence"}
        with_evidence = session.exec(select(Item).where(Item.study_id == fresh.id)).first()
        assert with_evidence is not None
        with_evidence.evidence = "Two surveys (2023, n = 1,200) found that fast replies doubled repeat purchases."
        session.add(with_evidence)
        add_member(session, fresh, rita, "owner")
        first = open_round(session, fresh, settings)
        fresh_experts = invited(session, first)
        for expert in fresh_experts:
            expert.consent_at = utcnow()
            session.add(expert)
        for expert in fresh_experts[:2]:
            expertise.record(
                session, fresh, expert, {"knowledge": 7} | {f"source_{s}": "medium" for s in expertise.table(fresh)}
            )
        found.expert_links["round 1 form, every kind"] = link(fresh_experts[0])
        found.expert_links["round 1 form, refused"] = link(fresh_experts[1])
        found.expert_links["self-assessment of expertise"] = link(fresh_experts[2])
        found.researcher_pages["expert page (self-assessed)"] = f"/studies/{fresh.id}/panel/{fresh_experts[0].id}"

    found.refusals = {
        "design, new item refused": (f"{d}/design", f"form[action='{d}/items'] button[type=submit]"),
        "panel, new expert refused": (f"{d}/panel", f"form[action='{d}/panel'] button[type=submit]"),
        "expert page, weight refused": (
            found.researcher_pages["expert page (answering)"],
            "form[action$='/weight'] button[type=submit]",
        ),
        "expert: consent refused": (
            found.expert_links["welcome (consent)"],
            "form[action$='/consent'] button[type=submit]",
        ),
        "expert: self-assessment refused": (
            found.expert_links["self-assessment of expertise"],
            "form[action$='/expertise'] button[type=submit]",
        ),
        "expert: incomplete submission": (
            found.expert_links["round 1 form, refused"],
            "#save-bar button[formaction$='/submit']",
        ),
    }
    return found


def refuse(page, base: str, path: str, button: str) -> str:  # type: ignore[no-untyped-def]
    """Send a form with its required fields left empty (past the browser's own check), wait for the
    page that says what is wrong, and return the HTML it was served with."""
    page.goto(f"{base}{path}")
    page.eval_on_selector_all("form", "forms => forms.forEach(f => { f.noValidate = true; })")
    with page.expect_response(lambda r: r.request.method == "POST" and r.status < 500) as refused:
        page.click(button)
    page.wait_for_selector(".alert.error, .alert.warn, .field-error")
    return str(refused.value.text())


def refused_login(page, base: str) -> str:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#email", "rita@example.org")
    page.fill("#password", "not the password")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click("button[type=submit]")
    page.wait_for_selector(".alert.error, .field-error")
    return str(refused.value.text())


@dataclass
class Findings:
    axe: dict[str, list[str]] = field(default_factory=dict)
    html: dict[str, str] = field(default_factory=dict)  # file name -> what page it is

    def keep_html(self, folder: Path, text: str, where: str) -> None:
        """The HTML a response carried, for the Nu HTML Checker's one run at the end."""
        name = f"{len(self.html) + 1:03d}.html"
        (folder / name).write_text(text, encoding="utf-8")
        self.html[name] = where

    def check(self, page, label: str) -> None:  # type: ignore[no-untyped-def]
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            WCAG_AA,
        )
        problems = [
            f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
            for v in result["violations"]
        ]
        if problems:
            self.axe[label] = problems


def pages_to_visit(found: Instance) -> Iterator[tuple[str, str, bool]]:
    """(label, path, needs a researcher)"""
    for name, path in found.expert_links.items():
        yield f"expert: {name}", path, False
    yield "login", "/login", False
    for name, path in found.researcher_pages.items():
        yield name, path, True


def test_every_page_meets_wcag_21_aa_and_is_valid_html(chromium, live_app, checkers, tmp_path):
    found = populate(live_app)
    findings = Findings()
    visited = 0
    for language in ("en", "fr"):
        for viewport_name, viewport in VIEWPORTS.items():
            context = chromium.new_context(
                viewport=viewport, locale=f"{language}-FR", is_mobile=viewport_name == "phone", bypass_csp=True
            )
            context.add_cookies([{"name": "delphi_lang", "value": language, "url": live_app.base}])
            page = context.new_page()
            page.set_default_timeout(15_000)
            logged_in = False
            for label, path, researcher in pages_to_visit(found):
                if researcher and not logged_in:
                    log_in(page, live_app.base)
                    logged_in = True
                response = page.goto(f"{live_app.base}{path}")
                assert response is not None and page.url.endswith(path), (label, page.url)
                assert response.status == STATUS.get(label, 200), (label, response.status)
                assert page.evaluate("document.documentElement.lang") == language, label
                if label in SHOWS:  # the state this page is meant to be in
                    assert page.locator(SHOWS[label]).count(), (label, SHOWS[label])
                where = f"{label} [{language}, {viewport_name}] {path}"
                findings.check(page, where)
                visited += 1
                if viewport_name == "desktop":
                    findings.keep_html(tmp_path, response.text(), where)
            for label, (path, button) in found.refusals.items():
                served = refuse(page, live_app.base, path, button)
                where = f"{label} [{language}, {viewport_name}] {path}"
                findings.check(page, where)
                if viewport_name == "desktop":
                    findings.keep_html(tmp_path, served, where)
            context.close()
            context = chromium.new_context(viewport=viewport, locale=f"{language}-FR", bypass_csp=True)
            context.add_cookies([{"name": "delphi_lang", "value": language, "url": live_app.base}])
            page = context.new_page()
            served = refused_login(page, live_app.base)
            findings.check(page, f"login refused [{language}, {viewport_name}]")
            if viewport_name == "desktop":
                findings.keep_html(tmp_path, served, f"login refused [{language}]")
            context.close()
    html_errors = _vnu(tmp_path, findings.html)
    pages = len(list(pages_to_visit(found)))
    assert visited == 4 * pages and pages >= 35, (visited, pages)
    axe_errors = [f"- {where}\n    " + "\n    ".join(problems) for where, problems in findings.axe.items()]
    assert (axe_errors, html_errors) == ([], []), (
        "axe-core found WCAG 2.1 A/AA violations:\n"
        + "\n".join(axe_errors)
        + "\nthe Nu HTML Checker found errors:\n"
        + "\n".join(html_errors)
    )


def _vnu(folder: Path, labels: dict[str, str]) -> list[str]:
    """Every error the Nu HTML Checker finds in the saved pages, in one run of the checker."""
    files = sorted(folder.glob("*.html"))
    run = subprocess.run(  # noqa: S603 - the checker from node_modules, on files this test wrote
        ["java", "-jar", str(VNU), "--format", "json", "--errors-only", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(run.stderr or run.stdout)
    return [
        f"- {labels.get(Path(m.get('url', '')).name, m.get('url'))} line {m.get('lastLine')}: {m['message']}"
        f" ({m.get('extract', '').strip()[:80]!r})"
        for m in report["messages"]
        if m.get("type") in ("error", "non-document-error")  # the latter: a file it could not read
    ]
