"""Raw data exports: answers (long format, as `delphi score` reads), statistics per round, and the
whole study as JSON. Pseudonyms unless identities are asked for; spreadsheet formulas neutralised."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app import protocol_file
from app.panel import expertise
from app.panel.models import Expert
from app.reports import checklists
from app.reports.results import final_results
from app.rounds import subsets
from app.rounds.models import Answer, Invitation, Round, RoundResult
from app.rounds.snapshot import ChoiceResult, EstimateResult, RankingResult, RoundSnapshot
from app.scoring import ItemSummary
from app.serialization import csv_chunks, json_safe, neutralise
from app.studies import design, information
from app.studies.models import Study

ANSWER_COLUMNS = (
    "round",
    "expert",
    "group",
    "item",
    "theme",
    "kind",
    "value",
    "values",
    "unable",
    "text",
    "reason",
    "carried",
    "took_part",
    "submitted",
    "item_text",
    "language",
    "updated_at",
)
OPTION_COLUMNS = (
    "round",
    "item",
    "item_text",
    "kind",
    "n",
    "option",
    "count",
    "share",
    "mean_rank",
    "borda",
    "group_rank",
    "kendall_w",
    "quantile",
    "median",
)
EXPERTISE_COLUMNS = ("k", "kc", "ka", "cr", "ca", "cs")  # the self-assessment's coefficients (K or Cr)
PANEL_COLUMNS = (
    "expert",
    "group",
    "language",
    "status",
    "weight",
    "weight_source",
    "consent_version",
    "consent_language",
    "consent_at",
    "self_assessment",
    *EXPERTISE_COLUMNS,
    "interests_declared",
    "interests",
)
IDENTITY_COLUMNS = ("name", "email")
STAT_COLUMNS = (
    "round",
    "item",
    "item_text",
    *(m for m in ItemSummary.METRICS if m != "missing"),
    "consensus",
    "weight",
    "rank",
)


ANSWER_CHUNK = 2000  # rows read from the database at a time


def answer_rows(session: Session, study: Study, *, identities: bool = False) -> Iterator[dict[str, Any]]:
    """Every answer of the study in long format, streamed: read from the database a chunk at a
    time, each row joined to the same expert's answer to the same item in the round before (to say
    whether it was carried forward unchanged), so memory stays flat in the number of answers."""
    experts = {e.id: e for e in session.exec(select(Expert).where(Expert.study_id == study.id)).all()}
    items = {i.id: i for i in design.items_of(session, study.id)}
    themes = {t.id: t.title for t in design.themes_of(session, study.id)}
    # who took part in each round (saved a change or submitted: their carried answers count), and who
    # submitted (the others' answers are partial)
    took_part: set[tuple[int, int]] = set()
    submitted: set[tuple[int, int]] = set()
    for number, expert_id, _started_at, submitted_at in session.exec(
        select(Round.number, Invitation.expert_id, Invitation.started_at, Invitation.submitted_at)
        .join(Invitation, col(Invitation.round_id) == col(Round.id))
        .where(
            Round.study_id == study.id,
            col(Invitation.started_at).is_not(None) | col(Invitation.submitted_at).is_not(None),
        )
    ).all():
        took_part.add((number, expert_id))
        if submitted_at is not None:
            submitted.add((number, expert_id))
    before, before_round = aliased(Answer), aliased(Round)
    columns = [
        col(Round.number),
        col(Answer.expert_id),
        col(Answer.item_id),
        col(Answer.value),
        col(Answer.values),
        col(Answer.text),
        col(Answer.unable),
        col(Answer.reason),
        col(Answer.version),
        col(Answer.language),
        col(Answer.updated_at),
        col(before.value),
        col(before.values),
        col(before.text),
        col(before.unable),
    ]
    rows = session.execute(
        sql_select(*columns)  # typed as a list: sqlmodel's select types at most four columns
        .select_from(Answer)
        .join(Round, col(Round.id) == col(Answer.round_id))
        .outerjoin(
            before_round,
            (col(before_round.study_id) == col(Round.study_id)) & (col(before_round.number) == col(Round.number) - 1),
        )
        .outerjoin(
            before,
            (col(before.round_id) == col(before_round.id))
            & (col(before.expert_id) == col(Answer.expert_id))
            & (col(before.item_id) == col(Answer.item_id)),
        )
        .where(col(Round.study_id) == study.id)
        .order_by(col(Round.number), col(Answer.expert_id), col(Answer.item_id))
        .execution_options(yield_per=ANSWER_CHUNK)
    )
    for number, expert_id, item_id, value, values, text, unable, reason, version, language, updated_at, *was in rows:
        expert, item = experts[expert_id], items[item_id]
        yield {
            "round": number,
            "expert": expert.pseudonym,
            **({"name": expert.name, "email": expert.email} if identities else {}),
            "group": expert.stakeholder_group,
            "item": item.id,
            "theme": themes.get(item.theme_id, ""),  # type: ignore[arg-type]
            "kind": item.kind,
            "value": value,
            "values": " | ".join(str(v) for v in values) if values else "",
            "unable": int(unable),
            "text": text or "",
            "reason": reason or "",
            # 1: carried forward from the round before and never changed since (as ``same_answer``)
            "carried": int(version == 1 and was[3] is not None and [value, values, text, unable] == was),
            "took_part": int((number, expert_id) in took_part),
            "submitted": int((number, expert_id) in submitted),
            "item_text": item.text,
            "language": language or "",  # of the expert's page when the answer was given
            "updated_at": updated_at.isoformat(),
        }


def panel_rows(session: Session, study: Study, *, identities: bool = False) -> list[dict[str, Any]]:
    """One row per expert: group, language, status, weight, and the information sheet's version
    they agreed to, and when; names and addresses only when identities are asked for."""
    experts = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.pseudonym))).all()
    return [
        {
            "expert": e.pseudonym,
            **({"name": e.name, "email": e.email} if identities else {}),
            "group": e.stakeholder_group,
            "language": e.language or study.language,
            "status": e.status,
            "weight": e.weight,
            "weight_source": e.weight_source,
            "consent_version": e.consent_version,
            "consent_language": e.consent_language,
            "consent_at": e.consent_at.isoformat() if e.consent_at else None,
            **_expertise_columns(study, e),
            "interests_declared": e.interests.get("declared"),
            "interests": e.interests.get("text") or None,
        }
        for e in experts
    ]


def _expertise_columns(study: Study, expert: Expert) -> dict[str, Any]:
    """The method of the self-assessment and the expert's coefficients (empty where not given)."""
    found = expertise.coefficient(study, expert)
    values = dict.fromkeys(EXPERTISE_COLUMNS)
    if found is not None:
        values |= {k: getattr(found, k) for k in EXPERTISE_COLUMNS if hasattr(found, k)}
    method = expertise.method(study)
    return {"self_assessment": "" if method == "none" else method} | values


def with_identities(columns: Sequence[str], identities: bool) -> tuple[str, ...]:
    """The columns, with the name and e-mail after the expert's pseudonym when identities are asked for."""
    if not identities:
        return tuple(columns)
    at = list(columns).index("expert") + 1
    return (*columns[:at], *IDENTITY_COLUMNS, *columns[at:])


def _snapshots(session: Session, study: Study) -> list[tuple[int, RoundSnapshot]]:
    rows = session.exec(
        select(RoundResult, Round)
        .join(Round, col(Round.id) == col(RoundResult.round_id))
        .where(Round.study_id == study.id)
        .order_by(col(Round.number))
    ).all()
    return [(round_.number, RoundSnapshot.load(result.data)) for result, round_ in rows]


def stat_rows(session: Session, study: Study) -> list[dict[str, Any]]:
    """One row per rating item and round: the figures the consensus rule read."""
    out = []
    for number, snapshot in _snapshots(session, study):
        for entry in snapshot.of_kind("rating"):
            stats = entry.shown_stats.model_dump()
            out.append(
                {
                    "round": number,
                    "item": entry.item_id,
                    "item_text": entry.text,
                    **{k: stats.get(k) for k in STAT_COLUMNS if k in stats},
                    "consensus": int(entry.consensus),
                    "weight": entry.weight,
                    "rank": entry.rank,
                }
            )
    return out


def option_rows(session: Session, study: Study) -> list[dict[str, Any]]:
    """One row per option (choice, ranking) or quantile (estimate) of an item and round."""
    out: list[dict[str, Any]] = []
    for number, snapshot in _snapshots(session, study):
        for entry in snapshot.items:
            base = {"round": number, "item": entry.item_id, "item_text": entry.text, "kind": entry.kind, "n": entry.n}
            if isinstance(entry, ChoiceResult):
                out.extend(
                    {**base, "option": o, "count": c, "share": entry.shares.get(o)} for o, c in entry.counts.items()
                )
            elif isinstance(entry, RankingResult):
                position = {o: k + 1 for k, o in enumerate(entry.order)}
                out.extend(
                    {
                        **base,
                        "option": r.option,
                        "count": r.n_ranked,
                        "mean_rank": r.mean_rank,
                        "borda": r.borda,
                        "group_rank": position.get(r.option),
                        "kendall_w": entry.kendall_w,
                    }
                    for r in entry.ranking
                )
            elif isinstance(entry, EstimateResult):
                medians = entry.median_of_quantiles or []
                out.extend(
                    {**base, "quantile": q, "median": medians[k] if k < len(medians) else None}
                    for k, q in enumerate(entry.quantiles)
                )
    return out


CHECKLIST_COLUMNS = (
    "guideline",
    "number",
    "section",
    "item",
    "wording",
    "fill",
    "report_section",
    "platform_answer",
    "status",
    "authors_answer",
    "page_in_manuscript",
)


def checklist_rows(session: Session, study: Study, guideline: str, language: str) -> list[dict[str, Any]]:
    """The guideline's checklist as a table for the journal submission: what the platform filled,
    and empty columns for the authors' answer and the manuscript's page."""
    rows = checklists.appendix(guideline, final_results(session, study.id), language)
    return [
        {
            "guideline": row.item.guideline,
            "number": row.item.number,
            "section": row.item.section,
            "item": row.item.wording or row.item.topic,
            "wording": "verbatim" if row.item.wording else "paraphrased topic",
            "fill": row.item.fill,
            "report_section": row.where,
            "platform_answer": row.answer,
            "status": row.status,
            "authors_answer": "",
            "page_in_manuscript": "",
        }
        for row in rows
    ]


EXPORTS = ("csv", "xlsx", "json")  # the answers CSV, the study workbook, the whole study


def write_export(session: Session, study: Study, export: str, target: IO[bytes], *, identities: bool = False) -> None:
    """One of the study's data exports written into ``target`` as the answers are read (memory flat
    however many there are): the answers CSV (``answers.csv``), the study workbook or the whole
    study as JSON (which never names anyone)."""
    if export == "csv":
        columns = with_identities(ANSWER_COLUMNS, identities)
        target.writelines(csv_chunks(answer_rows(session, study, identities=identities), columns))
    elif export == "xlsx":
        to_xlsx(study_sheets(session, study, identities=identities), target)
    elif export == "json":
        target.writelines(study_json_chunks(session, study))
    else:
        raise ValueError(f"unknown export {export!r}: one of {', '.join(EXPORTS)}")


def study_sheets(
    session: Session, study: Study, *, identities: bool = False
) -> dict[str, tuple[Sequence[str], Iterable[dict[str, Any]]]]:
    """The study workbook's sheets (for ``to_xlsx``): the answers as they are read, the panel, the
    statistics and the options."""
    return {
        "answers": (with_identities(ANSWER_COLUMNS, identities), answer_rows(session, study, identities=identities)),
        "panel": (with_identities(PANEL_COLUMNS, identities), panel_rows(session, study, identities=identities)),
        "statistics": (STAT_COLUMNS, stat_rows(session, study)),
        "options": (OPTION_COLUMNS, option_rows(session, study)),
    }


EXCEL_MAX_ROWS = 1_048_576  # the most rows a sheet holds in Excel and LibreOffice


def to_xlsx(
    sheets: dict[str, tuple[Sequence[str], Iterable[dict[str, Any]]]],
    target: Any = None,
    *,
    max_rows: int = EXCEL_MAX_ROWS,
) -> bytes:
    """A workbook written in write-only mode (rows go to disk as they come); saved into ``target``
    (a path or a file) when given, else returned as bytes. A sheet's rows past ``max_rows`` (its
    header counted) go on in "title (2)", "title (3)"..., each with the header: a spreadsheet
    program refuses a bigger sheet, and a big study's answers can pass a million."""
    workbook = Workbook(write_only=True)
    try:
        for title, (columns, rows) in sheets.items():
            sheet = _new_sheet(workbook, title, columns)
            written = 1
            for row in rows:
                if written == max_rows:
                    sheet, written = _new_sheet(workbook, title, columns), 1
                sheet.append([neutralise(row.get(k)) for k in columns])
                written += 1
        buffer = io.BytesIO() if target is None else None
        workbook.save(target if buffer is None else buffer)
    except BaseException:
        _discard(workbook)
        raise
    return b"" if buffer is None else buffer.getvalue()


def _new_sheet(workbook: Workbook, title: str, columns: Sequence[str]) -> Any:
    """A sheet named ``title``, or "title (2)", "title (3)"... when taken (at most 31 characters, as a
    spreadsheet allows), with the header row."""
    name, part = title[:31], 1
    while name in workbook.sheetnames:
        part += 1
        name = title[: 31 - len(f" ({part})")] + f" ({part})"
    sheet = workbook.create_sheet(name)
    sheet.append(list(columns))
    return sheet


def _discard(workbook: Workbook) -> None:
    """Remove the files a write-only workbook keeps its sheets' rows in until it is saved: an export
    that fails leaves none of its rows (names, addresses, answers) on the disk. openpyxl removes them
    itself only when it saves, or when the process exits."""
    for sheet in workbook.worksheets:
        writer = getattr(sheet, "_writer", None)
        if writer is None or not isinstance(writer.out, str):
            continue
        with contextlib.suppress(Exception):  # the export's own failure is the one raised
            if not sheet.closed:
                sheet.close()  # ends its XML as a save would: a half-written element cannot be closed
        with contextlib.suppress(OSError, ValueError):  # already removed
            writer.cleanup()


def _items_drawn(session: Session, round_: Round, pseudonyms: dict[int, str]) -> dict[str, list[int]]:
    return {pseudonyms[e]: items for e, items in subsets.drawn_by_expert(session, round_.id).items() if e in pseudonyms}


def study_json(session: Session, study: Study) -> bytes:
    return b"".join(study_json_chunks(session, study))


def study_json_chunks(session: Session, study: Study) -> Iterator[bytes]:
    """The whole study as JSON, streamed: everything but the answers first, then the answers as they
    are read (``answer_rows``)."""
    results = final_results(session, study.id)
    pseudonyms = {e.id: e.pseudonym for e in session.exec(select(Expert).where(Expert.study_id == study.id)).all()}
    data = {
        "protocol": protocol_file.to_file(session, study),
        "locked_at": study.locked_at.isoformat() if study.locked_at else None,
        "rounds": [
            {
                "number": f.round.number,
                "status": f.round.status,
                "realtime": f.round.realtime,
                "opened_at": f.round.opened_at.isoformat() if f.round.opened_at else None,
                "closed_at": f.round.closed_at.isoformat() if f.round.closed_at else None,
                "invited": f.total.invited,
                "responded": f.total.responded,
                "items_per_expert": f.round.items_per_expert,
                "min_raters_per_item": f.round.min_raters_per_item,
                # with random subsets: which items each expert was asked (not asked is not missing)
                "items_drawn": _items_drawn(session, f.round, pseudonyms) if f.round.items_per_expert else None,
                "snapshot": f.data.model_dump(mode="json") if f.data else None,
            }
            for f in results.rounds
        ],
        "items": [
            {
                "id": o.item.id,
                "text": o.item.text,
                "kind": o.item.kind,
                "theme_id": o.item.theme_id,
                "status": o.item.status,
                "origin": o.item.origin,
                "evidence": o.item.evidence,
                "fate": o.fate,
                "consensus_round": o.consensus_round,
                "final_weight": o.weight,
                "final_rank": o.rank,
            }
            for o in results.items
        ],
        "themes": [{"title": t.title, "weight": t.weight, "rank": t.rank} for t in results.themes],
        "narrowing": [
            {
                "expert": e.pseudonym,
                "group": e.stakeholder_group,
                "kept": entry.kept,
                "score": entry.score,
                "reason": entry.reason,
                "override": entry.override_reason or None,
            }
            for entry, e in results.decision
        ],
        "information_sheets": [
            {
                "version": sheet.version,
                **{field: getattr(sheet, field) for field in information.FIELDS},
                "asks_again": sheet.asks_again,
                "asks_interests": sheet.asks_interests,
                "created_at": sheet.created_at.isoformat(),
            }
            for sheet in information.sheets_of(session, study.id)
        ],
        "panel": panel_rows(session, study),
    }
    head = json.dumps(json_safe(data), ensure_ascii=False, indent=1)
    yield (head[: head.rindex("}")].rstrip() + ',\n "answers": [').encode("utf-8")
    separator = "\n  "
    for row in answer_rows(session, study):
        yield (separator + json.dumps(json_safe(row), ensure_ascii=False)).encode("utf-8")
        separator = ",\n  "
    yield b"\n ]\n}"
