"""The consensus report: HTML from a template, PDF from WeasyPrint, no network.

WeasyPrint gets a URL fetcher that serves only the report's own stylesheet (charts are inline
data: URLs), so user text can never make it fetch a file or a remote address.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db import reading_scope, utcnow
from app.i18n import LANGUAGES, N_, gettext
from app.panel import expertise, interests
from app.panel.models import ExpertStatus
from app.reports import charts, checklists
from app.reports.results import ItemOutcome, StudyResults, final_results
from app.rounds.kinds import KINDS
from app.rounds.narrowing import reason_text
from app.templating import Templates, default_templates

ASSETS = {"bundled:report.css": Path(__file__).parent / "report.css"}
LOG_ACTIONS = (
    "protocol.locked",
    "round.opened",
    "round.closed",
    "round.reopened",
    "panel.narrowed",
    "expert.withdrawn",
    "expert.weight_changed",
    "item.reworded",
    "item.merged",
    "item.split",
    "item.retired",
    "expert.link_reissued",
    "expert.erased",
    "study.ended",
    "study.anonymised",
)


class ReportFetchRefused(ValueError):
    pass


def _fetcher_class() -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class BundledOnly(URLFetcher):  # type: ignore[misc]
        """Serves the bundled stylesheet and inline ``data:`` charts; refuses everything else
        (files, http, any other scheme), so user text cannot make the renderer fetch anything."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url in ASSETS:
                return URLFetcherResponse(url, ASSETS[url].read_bytes(), {"Content-Type": "text/css; charset=utf-8"})
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise ReportFetchRefused(f"the report may not load {url[:80]!r}")

    return BundledOnly


def url_fetcher() -> Any:
    return _fetcher_class()(allowed_protocols=("data", "bundled"), timeout=5)


def build_context(results: StudyResults, language: str, guideline: str = "ACCORD") -> dict[str, Any]:
    study = results.study
    rated = [o for o in results.items if o.item.kind == "rating" and o.rounds]
    points = list(range(study.scale_min, study.scale_max + 1))
    item_charts = {}
    for outcome in rated:
        counts = {n: [float(e.stats.count(p)) for p in points] for n, e in outcome.rounds.items() if e.stats.n}
        if counts:
            item_charts[outcome.item.id] = charts.data_uri(
                charts.item_shift_svg(points, counts, gettext(language, "R"))
            )
    others = [o for o in results.items if o.item.kind != "rating" and o.rounds]
    for outcome in others:
        chart = kind_chart(outcome, gettext(language, "R"), language)
        if chart:
            item_charts[outcome.item.id] = charts.data_uri(chart)
    theme_chart = (
        charts.data_uri(
            charts.theme_weights_svg([t.title for t in results.themes], [t.weight for t in results.themes], language)
        )
        if results.themes
        else None
    )
    analysed = results.analysed
    consensus_chart = None
    if len(analysed) > 1:
        consensus_chart = charts.data_uri(
            charts.consensus_by_round_svg(
                [f.round.number for f in analysed],
                [f.data.consensus_share for f in analysed],  # type: ignore[union-attr]
                [f.data.stable_share for f in analysed],  # type: ignore[union-attr]
                {
                    "consensus": gettext(language, "items with consensus"),
                    "stable": gettext(language, "stable items"),
                    "round": gettext(language, "Round"),
                },
                language,
            )
        )
    texts = {o.item.id: o.item.text for o in results.items}
    stability = [
        dict(s.model_dump(), text=texts.get(s.item_id, ""))
        for f in analysed
        for s in f.data.stability  # type: ignore[union-attr]
    ]
    revisions: dict[int, list[Any]] = {}
    for revision in results.revisions:
        if revision.action != "created":
            revisions.setdefault(revision.item_id, []).append(revision)
    leavers = _leavers(results)
    attrition_items = []
    if results.attrition is not None:
        asked_first = [o for o in rated if 1 in o.rounds]
        item_p = results.attrition.item_p
        if item_p is None:  # a comparison made before the per-item test
            item_p = np.full(len(results.attrition.median_difference), np.nan)
        for outcome, diff, p in zip(
            sorted(asked_first, key=lambda o: o.item.id), results.attrition.median_difference, item_p, strict=False
        ):
            if diff == diff and (abs(diff) >= 2 or p < 0.05):
                attrition_items.append((outcome.item.text, float(diff), float(p)))
    return {
        "r": results,
        "study": study,
        "kind_handlers": KINDS,
        "other_kinds": [  # in the registry's order: the answers of other kinds, then the open text
            (name, [o for o in others if o.item.kind == name])
            for name, kind in KINDS.items()
            if name != "rating" and any(o.item.kind == name for o in others)
        ],
        "kind_titles": {name: gettext(language, kind.report_title) for name, kind in KINDS.items()},
        "lang": language,
        "generated_at": results.generated_at or utcnow(),
        "rated": rated,
        "n_rated": len(rated),
        "n_consensus": sum(1 for o in rated if o.consensus_round),
        "n_items_total": len(results.items),
        "themes_count": len({o.item.theme_id for o in results.items}),
        "kinds": sorted(Counter(o.item.kind for o in results.items).items()),
        "group_sizes": sorted(Counter(e.stakeholder_group for e in results.experts).items()),
        "weighted": study.weighting.get("scheme", "equal") != "equal",
        "feedback_shown": [
            (k, gettext(language, v)) for k, v in checklists.FEEDBACK_LABELS.items() if study.feedback.get(k)
        ],
        "overrides": sum(1 for entry, _ in results.decision if entry.overridden),
        "item_charts": item_charts,
        "theme_chart": theme_chart,
        "consensus_chart": consensus_chart,
        "stability": stability,
        "revisions": revisions,
        "leavers": leavers,
        "attrition_items": attrition_items,
        "expertise": _expertise(results),
        "declarations": interests.declarations(results.experts),
        "expertise_table": expertise.table(study),
        "expertise_sources": expertise.REPORT_LABELS.get(expertise.method(study), {}),
        "guideline": guideline,
        "guideline_citation": checklists.CITATIONS[guideline],
        "checklist": checklists.appendix(guideline, results, language),
        "log": [e for e in results.audit if e.action in LOG_ACTIONS],
        "log_details": lambda event: _log_details(event, language),
        "log_target": lambda event: _log_target(event.target, texts, language),
        "revision_reason": lambda revision: _revision_reason(revision.reason, language),
        "reason": lambda pseudonym, fallback: (
            reason_text(results.decision_fates[pseudonym], language, results.group_label)
            if pseudonym in results.decision_fates
            else fallback
        ),
    }


def _expertise(results: StudyResults) -> list[tuple[str, expertise.PanelSummary]]:
    """The panel's self-assessed expertise: the whole panel, and the panel kept by the narrowing."""
    summary = expertise.panel_summary(results.study, results.experts)
    if summary is None:
        return []
    rows = [("panel", summary)]
    if results.decision:
        narrowed = expertise.panel_summary(results.study, [expert for entry, expert in results.decision if entry.kept])
        if narrowed is not None:
            rows.append(("kept", narrowed))
    return rows


def kind_chart(outcome: ItemOutcome, label: str, language: str = "en") -> str | None:
    """The PDF's chart of a choice (share choosing each option) or a ranking (Borda points as a share
    of the most an option can get), one bar per round; None for kinds shown as text."""
    item = outcome.item
    answered = {n: e for n, e in outcome.rounds.items() if e.n}
    if not answered or not item.options:
        return None
    if item.kind == "choice":
        values = {n: [e.shares.get(o) for o in item.options] for n, e in answered.items()}
        return charts.option_bars_svg(item.options, values, 1.0, label, language)
    if item.kind == "ranking":
        values = {}
        for n, e in answered.items():
            most = (len(item.options) - 1) * e.n or 1  # every expert ranking the option first
            borda = {r.option: r.borda for r in e.ranking}
            values[n] = [(borda.get(o) or 0.0) / most for o in item.options]
        return charts.option_bars_svg(item.options, values, 1.0, label, language)
    return None


CONSENSUS_REASON = re.compile(r"^consensus reached in round (\d+)$")


def _revision_reason(reason: str, language: str) -> str:
    """Reasons the platform wrote itself are shown in the report's language."""
    found = CONSENSUS_REASON.match(reason or "")
    if found:
        return gettext(language, "consensus reached in round %(number)s") % {"number": found.group(1)}
    return reason


def _log_target(target: str, texts: dict[int, str], language: str) -> str:
    kind, _, key = target.partition(":")
    if kind == "round":
        return f"{gettext(language, 'round')} {key}"
    if kind == "item" and key.isdigit():
        return f"« {texts.get(int(key), key)} »" if language == "fr" else f"“{texts.get(int(key), key)}”"
    if kind in ("expert", "theme", "statement"):
        return key
    return ""


def _log_details(event: Any, language: str) -> str:
    """What a person needs from a log entry: the reason given, or the counts of a narrowing."""
    details = event.details or {}
    parts = []
    if details.get("reason"):
        parts.append(_revision_reason(str(details["reason"]), language))
    for key, label in (
        ("invited", "invited"),
        ("kept", "experts kept"),
        ("dropped", "dropped"),
        ("consensus_items", "items with consensus"),
    ):
        if key in details:
            parts.append(f"{gettext(language, label)}: {details[key]}")
    return "; ".join(parts)


def _leavers(results: StudyResults) -> list[dict[str, Any]]:
    """Who left the panel or went silent, round by round, and why (pseudonyms only): experts who
    answered nothing in a round they were invited to, those not kept by the narrowing (saying when
    they had not answered the round it followed), and those who withdrew."""
    silent: dict[int, list[int]] = {}  # expert id -> rounds invited to and not answered
    for flow in results.analysed:
        for p in flow.data.non_respondents() if flow.data else []:
            silent.setdefault(p.expert_id, []).append(flow.round.number)
    rows = []
    for expert in results.experts:
        quiet = silent.get(expert.id, [])
        if expert.status == ExpertStatus.DROPPED:
            decided = results.decision_round
            why = (
                N_("did not answer round %(number)s; not kept when the panel was narrowed")
                if decided in quiet
                else N_("not kept when the panel was narrowed")
            )
            rows.append(_leaver(expert, decided or "—", why, decided))
            quiet = [n for n in quiet if n != decided]
        elif expert.status == ExpertStatus.WITHDRAWN:
            rows.append(_leaver(expert, "—", N_("withdrew"), None))
        rows.extend(_leaver(expert, n, N_("did not answer round %(number)s"), n) for n in quiet)
    return sorted(rows, key=lambda r: (str(r["round"]), r["pseudonym"]))


def _leaver(expert: Any, round_number: Any, why: str, number: int | None) -> dict[str, Any]:
    return {
        "pseudonym": expert.pseudonym,
        "group": expert.stakeholder_group,
        "round": round_number,
        "why": why,
        "number": number,
    }


def render_html(
    session: Session,
    study_id: int,
    language: str | None = None,
    templates: Templates | None = None,
    guideline: str = "ACCORD",
) -> str:
    """The report's HTML, with the checklist appendix of ``guideline`` (ACCORD, DELPHISTAR, CREDES)."""
    results = final_results(session, study_id)
    language = language if language in LANGUAGES else results.study.language
    templates = templates or default_templates()
    context = build_context(results, language, guideline)
    return templates.render("reports/report.html", language, **context)  # type: ignore[arg-type]


def render_pdf(html: str) -> tuple[bytes, int]:
    """The PDF and its number of pages."""
    from weasyprint import HTML

    document = HTML(string=html, url_fetcher=url_fetcher(), base_url="bundled:").render()
    return document.write_pdf(), len(document.pages)


def html_to_pdf(html: str) -> bytes:
    return render_pdf(html)[0]


def write_report(
    engine: Engine,
    study_id: int,
    path: Path,
    language: str | None = None,
    html_path: Path | None = None,
    guideline: str = "ACCORD",
) -> int:
    """Render the study's report to ``path`` (and the HTML to ``html_path``); returns the PDF's size."""
    with reading_scope(engine) as session:
        html = render_html(session, study_id, language, guideline=guideline)
    if html_path is not None:
        html_path.write_text(html, encoding="utf-8")
    pdf = html_to_pdf(html)
    path.write_bytes(pdf)
    return len(pdf)
