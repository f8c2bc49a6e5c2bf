"""The reporting guidelines item by item: ACCORD (Gattrell et al. 2024), DELPHISTAR (Niederberger et
al. 2024) and CREDES (Jünger et al. 2017), with their official numbers, where the report answers
each item and, for the items a platform can fill, the study's own figures.

``checklists.csv`` is the project's record of the guidelines (``../shared/reporting``): it says how
much of each item's wording was verified. Only wording marked ``verbatim_full`` is printed as the
guideline's; elsewhere the appendix gives the number and a topic marked as a paraphrase.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from babel.numbers import format_decimal

from app.i18n import N_, gettext
from app.panel import expertise, interests
from app.reports.results import StudyResults

GUIDELINES = ("ACCORD", "DELPHISTAR", "CREDES")
SOURCE = Path(__file__).with_name("checklists.csv")
CITATIONS = {
    "ACCORD": "Gattrell WT et al. ACCORD guideline for reporting consensus-based methods in biomedical research "
    "and clinical practice. PLOS Med 2024;21:e1004326.",
    "DELPHISTAR": "Niederberger M et al. Delphi studies in social and health sciences: recommendations for an "
    "interdisciplinary standardized reporting (DELPHISTAR). PLOS ONE 2024;19:e0304651.",
    "CREDES": "Jünger S et al. Guidance on Conducting and REporting DElphi Studies (CREDES) in palliative care. "
    "Palliat Med 2017;31:684-706.",
}

# The report's sections (anchors of reports/report.html) and their titles.
SECTIONS = {
    "summary": N_("Summary"),
    "rationale": N_("Rationale"),
    "methods": N_("Methods"),
    "participants": N_("Participants"),
    "rounds": N_("Rounds"),
    "questionnaire": N_("Questionnaire and scale"),
    "evidence": N_("Evidence shown to the panel"),
    "consensus": N_("Definition of consensus"),
    "stopping": N_("Stopping rule"),
    "feedback": N_("Feedback between rounds"),
    "weighting": N_("Weighting"),
    "anonymity": N_("Anonymity"),
    "analysis": N_("Analysis and software"),
    "flow": N_("Panel flow"),
    "results": N_("Results"),
    "items": N_("Results per item"),
    "dissent": N_("Dissent"),
    "fates": N_("What happened to every item"),
    "narrowing": N_("Narrowing of the panel"),
    "attrition": N_("Attrition"),
    "declarations": N_("Funding and conflicts of interest"),
    "log": N_("Log of decisions"),
}

# What the experts were shown between rounds (the protocol's feedback settings).
FEEDBACK_LABELS = {
    "distribution": N_("the distribution of the group's ratings"),
    "median_iqr": N_("the median and interquartile range"),
    "own_previous": N_("their own previous answer, highlighted"),
    "consensus": N_("the consensus status"),
    "weights": N_("the weights and ranks from the last round"),
    "reasons": N_("anonymous reasons from others"),
    "by_group": N_("the figures per stakeholder group"),
    "open_answers": N_("others' answers to open questions"),
}

# Where the report answers an item, and which of the study's facts (``facts``) answer it.
ANSWERS: dict[str, dict[str, tuple[str | None, str | None]]] = {
    "ACCORD": {
        "T1": ("summary", "method"),
        "I1": ("rationale", None),
        "I2": ("summary", None),
        "I3": (None, None),
        "M1": ("consensus", "locked"),
        "M2": (None, None),
        "M3": ("participants", "panel"),
        "M4": ("flow", "invited"),
        "M5": ("participants", "groups"),
        "M6": (None, None),
        "M7": (None, None),
        "M8": ("evidence", "evidence"),
        "M9": ("log", "changes"),
        "M10": ("questionnaire", "questionnaire"),
        "M11": ("rounds", "rounds"),
        "M12": ("consensus", "consensus"),
        "M13": ("consensus", "carry"),
        "M14": ("anonymity", "collection"),
        "M15": ("analysis", "analysis"),
        "M16": (None, None),
        "M17": ("feedback", "feedback"),
        "M18": ("anonymity", "anonymity"),
        "M19": ("anonymity", "roles"),
        "M20": ("flow", "reminders"),
        "M21": ("methods", "languages"),
        "R1": ("rounds", "dates"),
        "R2": ("log", "changes"),
        "R3": ("flow", "participation"),
        "R4": ("results", "outcome"),
        "R5": ("fates", "changes"),
        "D1": ("attrition", "participation"),
        "D2": (None, None),
        "O1": (None, None),
        "O2": ("declarations", "interests"),
        "O3": ("declarations", None),
    },
    "DELPHISTAR": {
        "1": ("summary", "method"),
        "2": ("summary", "method"),
        "3": (None, None),
        "4": ("declarations", None),
        "5": (None, None),
        "6": (None, None),
        "7": (None, None),
        "8": ("consensus", "locked"),
        "9": ("rationale", None),
        "10": ("summary", None),
        "11": ("participants", "groups"),
        "12": ("participants", "groups"),
        "13": ("participants", None),
        "14": ("methods", "method"),
        "15": ("stopping", "stopping"),
        "16": ("narrowing", "reinvited"),
        "17": ("participants", None),
        "18": ("flow", "invited"),
        "19": ("questionnaire", None),
        "20": ("questionnaire", "questionnaire"),
        "21": ("rounds", "rounds"),
        "22": ("rounds", "rounds"),
        "23": ("stopping", "stopping"),
        "24": ("feedback", "feedback"),
        "25": ("feedback", "feedback"),
        "26": ("feedback", "by_group"),
        "27": ("consensus", "carry"),
        "28": ("analysis", "analysis"),
        "29": ("consensus", "consensus"),
        "30": ("weighting", "weighting"),
        "31": ("flow", "participation"),
        "32": ("rounds", "dates"),
        "33": ("flow", "participation"),
        "34": ("items", "outcome"),
        "35": ("results", None),
        "36": (None, None),
        "37": ("analysis", None),
        "38": ("participants", "groups"),
    },
    "CREDES": {
        "C1": ("rationale", None),
        "C2": ("log", "changes"),
        "C3": ("consensus", "consensus"),
        "C4": ("feedback", None),
        "C5": ("anonymity", "roles"),
        "C6": ("dissent", "outcome"),
        "C7": (None, None),
        "R1": ("summary", None),
        "R2": ("participants", "panel_expertise"),
        "R3": ("methods", "analysis"),
        "R4": ("flow", "participation"),
        "R5": ("consensus", "outcome"),
        "R6": ("items", "outcome"),
        "R7": ("attrition", None),
        "R8": (None, None),
        "R9": (None, None),
    },
}


@dataclass(frozen=True)
class GuidelineItem:
    guideline: str
    number: str
    section: str
    wording: str | None  # the guideline's own words, only where verified in full
    topic: str  # otherwise: what the item is about, marked as a paraphrase
    fill: str  # AUTO, PARTIAL or HUMAN: how much a platform can fill


@dataclass(frozen=True)
class ChecklistRow:
    item: GuidelineItem
    anchor: str | None  # the report's section that answers it
    where: str
    answer: str  # the study's figures, or what the authors must add
    status: str  # "filled", "partly" (the authors complete it) or "authors"


@cache
def items_of(guideline: str) -> tuple[GuidelineItem, ...]:
    if guideline not in GUIDELINES:
        raise ValueError(f"guideline must be one of {', '.join(GUIDELINES)}")
    with SOURCE.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["guideline"] == guideline]
    return tuple(
        GuidelineItem(
            guideline=guideline,
            number=r["number"],
            section=r["section"],
            wording=r["text"] if r["text_status"] == "verbatim_full" else None,
            topic=(r["gist_unverified"] or r["text"]).removeprefix("UNVERIFIED paraphrase: "),
            fill=r["fill"],
        )
        for r in rows
    )


EVIDENCE_FACT = N_("a summary of the evidence was shown under %(count)s of %(items)s items; changes in their history")
INTERESTS_FACT = N_("the experts declared their interests as they agreed: %(none)s none, %(some)s some (listed)")
K_FACT = N_("competence coefficient K: mean %(k)s (assessed: %(n)s; high %(high)s, medium %(medium)s, low %(low)s)")
CR_FACT = N_("authority coefficient Cr: %(cr)s (assessed: %(n)s; Ca %(ca)s, Cs %(cs)s)")


def _expertise_fact(results: StudyResults, t: Callable[..., str], language: str) -> str:
    """The panel's self-assessed expertise (K or Cr), where the protocol asked for it."""
    summary = expertise.panel_summary(results.study, results.experts)
    number = lambda value, digits: format_decimal(round(value, digits), format="0." + "0" * digits, locale=language)  # noqa: E731
    if summary is not None and summary.competence is not None:
        c = summary.competence
        return t(
            K_FACT,
            k=number(c.k, 2),
            n=c.n,
            high=c.bands["high"],
            medium=c.bands["medium"],
            low=c.bands["low"],
        )
    if summary is not None and summary.authority is not None:
        a = summary.authority
        return t(CR_FACT, cr=number(a.cr, 3), n=a.n, ca=number(a.ca, 3), cs=number(a.cs, 3))
    return ""


def facts(results: StudyResults, language: str) -> dict[str, str]:
    """The study's own answers to the items a platform can fill, in the report's language."""
    t = lambda text, **values: gettext(language, text) % values if values else gettext(language, text)  # noqa: E731
    study = results.study
    rounds = [r for r in results.rounds if r.round.opened_at is not None]
    groups = Counter(e.stakeholder_group or "—" for e in results.experts)
    kinds = Counter(o.item.kind for o in results.items)
    rated = [o for o in results.items if o.item.kind == "rating" and o.rounds]

    def day(moment: datetime | None) -> str:
        return moment.date().isoformat() if moment else "…"

    participation = "; ".join(
        t(
            N_("round %(number)s: %(invited)s invited, %(responded)s answered (%(rate)s %%)"),
            number=r.round.number,
            invited=r.total.invited,
            responded=r.total.responded,
            rate=round(100 * r.total.responded / r.total.invited) if r.total.invited else 0,
        )
        for r in rounds
    )
    feedback = [gettext(language, label) for key, label in FEEDBACK_LABELS.items() if study.feedback.get(key)]
    expertise_text = _expertise_fact(results, t, language)
    declared = interests.declarations(results.experts)
    return {
        "method": t(N_("Delphi study, %(rounds)s round(s) run"), rounds=len(rounds))
        + (t(N_(", real-time rounds")) if any(r.round.realtime for r in rounds) else ""),
        "locked": t(N_("protocol locked on %(day)s"), day=day(study.locked_at)) if study.locked_at else "",
        "panel": t(N_("%(experts)s experts on the panel"), experts=len(results.experts)),
        "groups": ", ".join(f"{group}: {count}" for group, count in sorted(groups.items())),
        "invited": "; ".join(
            t(N_("round %(number)s: %(invited)s invited"), number=r.round.number, invited=r.total.invited)
            for r in rounds
        ),
        "participation": participation,
        "panel_expertise": "; ".join(part for part in (participation, expertise_text) if part),
        "interests": t(
            INTERESTS_FACT,
            none=declared.none,
            some=len(declared.some),
        )
        if declared
        else "",
        "evidence": t(
            EVIDENCE_FACT,
            count=sum(1 for o in results.items if o.item.evidence),
            items=len(results.items),
        )
        if any(o.item.evidence for o in results.items)
        else "",
        "questionnaire": t(
            N_("%(items)s items (%(kinds)s); scale %(low)s–%(high)s"),
            items=len(results.items),
            kinds=", ".join(f"{gettext(language, kind)} {count}" for kind, count in sorted(kinds.items())),
            low=study.scale_min,
            high=study.scale_max,
        ),
        "rounds": t(N_("%(rounds)s round(s), at most %(most)s planned"), rounds=len(rounds), most=study.max_rounds),
        "dates": "; ".join(f"{r.round.number}: {day(r.round.opened_at)} – {day(r.round.closed_at)}" for r in rounds),
        "consensus": t(N_("consensus rule: %(rule)s"), rule=study.consensus_rule)
        + (t(N_(", fixed on %(day)s"), day=day(study.locked_at)) if study.locked_at else ""),
        "stopping": t(
            N_("stopping rule: %(rule)s; at most %(most)s rounds"), rule=study.stopping_rule, most=study.max_rounds
        ),
        "carry": t(N_("items with consensus are not asked again"))
        if study.retire_consensual
        else t(N_("items with consensus are asked again")),
        "collection": t(N_("online, individually, through a personal link")),
        "anonymity": t(N_("anonymous to the other experts; the team saw pseudonyms")),
        "roles": (
            ", ".join(
                t(N_("%(count)s %(role)s(s)"), count=count, role=gettext(language, role))
                for role, count in sorted(results.roles.items(), key=lambda rc: ROLE_ORDER.index(rc[0]))
            )
            + "; "
            + (
                t(
                    N_("%(count)s member(s) of the research team also sat on the panel and rated"),
                    count=results.researchers_on_panel,
                )
                if results.researchers_on_panel
                else t(N_("the research team managed the study and did not rate (no member was on the panel)"))
            )
        ),
        "reminders": "; ".join(
            t(
                N_("round %(number)s: %(sent)s reminder(s) to %(experts)s expert(s)"),
                number=r.round.number,
                sent=r.reminders_sent,
                experts=r.experts_reminded,
            )
            for r in rounds
        ),
        "analysis": results.software,
        "feedback": ", ".join(feedback) if feedback else t(N_("none")),
        "by_group": t(N_("split by stakeholder group")) if study.feedback.get("by_group") else t(N_("aggregated")),
        "weighting": gettext(language, study.weighting.get("scheme", "equal")),
        "languages": t(
            N_("the study is written in %(language)s; the expert pages in French and English"),
            language=study.language.upper(),
        ),
        "changes": t(
            N_("%(count)s item revision(s) recorded"), count=sum(1 for r in results.revisions if r.action != "created")
        ),
        "outcome": t(
            N_("%(consensus)s of %(rated)s rated items reached consensus"),
            consensus=sum(1 for o in rated if o.consensus_round),
            rated=len(rated),
        ),
        "reinvited": t(N_("panel narrowed after round %(number)s"), number=results.decision_round)
        if results.decision_round
        else t(N_("every active expert is invited to each round")),
    }


ROLE_ORDER = ("owner", "editor", "viewer")
# PARTIAL items the platform now records in full as the study runs: filled, not "partly"
RECORDED = {"ACCORD": {"M19"}, "DELPHISTAR": set(), "CREDES": set()}


def appendix(guideline: str, results: StudyResults, language: str) -> list[ChecklistRow]:
    """Every item of the guideline, by its official number, with where and how this report answers it."""
    known = facts(results, language)
    to_authors = gettext(language, "To be completed by the authors.")
    rows = []
    for item in items_of(guideline):
        anchor, fact = ANSWERS[guideline].get(item.number, (None, None))
        answer = known.get(fact, "") if fact else ""
        if item.fill == "HUMAN" or not answer:
            status = "authors" if item.fill == "HUMAN" or anchor is None else "partly"
        else:
            status = "filled" if item.fill == "AUTO" or item.number in RECORDED[guideline] else "partly"
        if status != "filled":
            answer = f"{answer} — {to_authors}" if answer else to_authors
        where = gettext(language, SECTIONS[anchor]) if anchor else "—"
        rows.append(ChecklistRow(item=item, anchor=anchor, where=where, answer=answer, status=status))
    return rows
