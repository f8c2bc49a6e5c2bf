"""Reading the CSV files the scoring commands take, with errors that name the line numbers.

Pure text in, arrays out: no database. Every bad line is reported, not only the first.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.scoring.cooke import CookeData


class InputFileError(ValueError):
    """A file that cannot be used; ``problems`` lists (line number, message)."""

    def __init__(self, filename: str, problems: list[tuple[int, str]]):
        self.filename = filename
        self.problems = problems
        lines = "\n".join(f"  line {line}: {message}" if line else f"  {message}" for line, message in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{filename}: {len(problems)} problem(s)\n{lines}{more}")


def _rows(text: str, filename: str, required: Iterable[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputFileError(filename, [(1, "the file is empty")]) from None
    missing = [name for name in required if name not in header]
    if missing:
        raise InputFileError(filename, [(1, f"missing column(s) {', '.join(missing)}; found {', '.join(header)}")])
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            rows.append((number, {"__error__": f"{len(values)} fields, expected {len(header)}"}))
            continue
        rows.append((number, {h: v.strip() for h, v in zip(header, values, strict=True)}))
    return header, rows


def parse_range(text: str, option: str, *, single_point: bool = False) -> tuple[int, int]:
    """``1-9`` as (1, 9). A scale needs two points at least; a band (``single_point``) may be one
    point, ``7-7``, as ``summarize`` accepts."""
    try:
        low, high = (int(part) for part in text.replace("..", "-").split("-"))
    except ValueError:
        raise ValueError(f"{option} must look like 1-9, got {text!r}") from None
    if low > high or (low == high and not single_point):
        raise ValueError(f"{option} must go from low to high, got {text!r}")
    return low, high


@dataclass(frozen=True)
class RatingsTable:
    """Ratings per round as experts x items matrices over the same expert and item labels."""

    experts: tuple[str, ...]
    items: tuple[str, ...]
    rounds: tuple[int, ...]
    has_round_column: bool
    matrices: dict[int, NDArray[np.float64]]


def read_ratings(text: str, scale: tuple[int, int], filename: str = "ratings") -> RatingsTable:
    """Long format ``expert,item,value`` with an optional ``round`` column; a blank value is missing."""
    header, rows = _rows(text, filename, ("expert", "item", "value"))
    has_round = "round" in header
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[int, str, str], int] = {}
    parsed: list[tuple[int, str, str, float]] = []
    for line, row in rows:
        if "__error__" in row:
            problems.append((line, row["__error__"]))
            continue
        expert, item, raw = row["expert"], row["item"], row["value"]
        if not expert or not item:
            problems.append((line, "expert and item must not be blank"))
            continue
        round_number = 1
        if has_round:
            try:
                round_number = int(row["round"])
            except ValueError:
                problems.append((line, f"round {row['round']!r} is not a whole number"))
                continue
        value = math.nan
        if raw != "":
            try:
                value = float(raw.replace(",", ".")) if raw.count(",") == 1 and "." not in raw else float(raw)
            except ValueError:
                problems.append((line, f"value {raw!r} is not a number"))
                continue
            if not math.isfinite(value) or not scale[0] <= value <= scale[1]:
                problems.append((line, f"value {raw} is outside the scale {scale[0]}-{scale[1]}"))
                continue
        key = (round_number, expert, item)
        if key in seen:
            problems.append(
                (
                    line,
                    f"duplicate of line {seen[key]} (expert {expert}, item {item}"
                    + (f", round {round_number})" if has_round else ")"),
                )
            )
            continue
        seen[key] = line
        parsed.append((round_number, expert, item, value))
    if problems:
        raise InputFileError(filename, problems)
    if not parsed:
        raise InputFileError(filename, [(0, "no ratings in the file")])
    experts = tuple(dict.fromkeys(p[1] for p in parsed))
    items = tuple(dict.fromkeys(p[2] for p in parsed))
    rounds = tuple(sorted({p[0] for p in parsed}))
    e_index = {e: i for i, e in enumerate(experts)}
    i_index = {t: i for i, t in enumerate(items)}
    matrices = {r: np.full((len(experts), len(items)), np.nan) for r in rounds}
    for round_number, expert, item, value in parsed:
        matrices[round_number][e_index[expert], i_index[item]] = value
    return RatingsTable(experts, items, rounds, has_round, matrices)


def _per_expert(
    text: str, experts: Iterable[str], filename: str, column: str, parse: Callable[[str], float | str]
) -> list[float | str]:
    """``expert,<column>``: one value per expert of the ratings, in their order; ``parse`` turns a
    cell into the value or raises ValueError with the problem. Unknown, repeated or missing experts
    fail the whole file with their lines."""
    _, rows = _rows(text, filename, ("expert", column))
    known = list(experts)
    problems: list[tuple[int, str]] = []
    values: dict[str, tuple[int, float | str]] = {}
    for line, row in rows:
        if "__error__" in row:
            problems.append((line, row["__error__"]))
            continue
        expert = row["expert"]
        try:
            value = parse(row[column])
        except ValueError as exc:
            problems.append((line, str(exc)))
            continue
        if expert not in known:
            problems.append((line, f"expert {expert!r} is not in the ratings file"))
        elif expert in values:
            problems.append((line, f"duplicate of line {values[expert][0]} (expert {expert})"))
        else:
            values[expert] = (line, value)
    lacking = [e for e in known if e not in values]
    if lacking and not problems:
        problems.append((0, f"no {column} for expert(s) {', '.join(lacking[:10])}"))
    if problems:
        raise InputFileError(filename, problems)
    return [values[e][1] for e in known]


def _weight(cell: str) -> float:
    try:
        weight = float(cell)
    except ValueError:
        raise ValueError(f"weight {cell!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"weight {cell} must be a number >= 0")
    return weight


def _group(cell: str) -> str:
    if not cell.strip():
        raise ValueError("no group")
    return cell.strip()


def read_weights(text: str, experts: Iterable[str], filename: str = "weights") -> NDArray[np.float64]:
    """``expert,weight``: every expert of the ratings needs a weight; unknown experts are an error."""
    result = np.array(_per_expert(text, experts, filename, "weight", _weight), dtype=np.float64)
    if result.sum() <= 0:
        raise InputFileError(filename, [(0, "the weights are all zero")])
    return result


def read_groups(text: str, experts: Iterable[str], filename: str = "groups") -> tuple[str, ...]:
    """``expert,group``: every expert of the ratings in one stakeholder group (any label)."""
    return tuple(str(g) for g in _per_expert(text, experts, filename, "group", _group))


def read_cooke(
    assessments_text: str, items_text: str, assessments_name: str = "assessments", items_name: str = "items"
) -> CookeData:
    """Anduryl's CSV formats: items ``itemid,realization,scale,question`` (blank realization for a
    target item; scale ``uni`` or ``log``) and assessments ``expertid,itemid,<quantile columns>``
    (headers such as 0.05,0.5,0.95; 5,50,95 are read as percents)."""
    _, item_rows = _rows(items_text, items_name, ("itemid", "realization", "scale"))
    problems: list[tuple[int, str]] = []
    items: dict[str, tuple[float, bool]] = {}
    item_lines: dict[str, int] = {}
    for line, row in item_rows:
        if "__error__" in row:
            problems.append((line, row["__error__"]))
            continue
        item = row["itemid"]
        scale = row["scale"].lower()
        if scale not in ("uni", "log"):
            problems.append((line, f"scale {row['scale']!r} must be uni or log"))
            continue
        realization = math.nan
        if row["realization"] and row["realization"].lower() != "nan":  # blank or nan: a target item
            try:
                realization = float(row["realization"])
            except ValueError:
                problems.append((line, f"realization {row['realization']!r} is not a number"))
                continue
            if not math.isfinite(realization):
                problems.append((line, "the realization must be a finite number"))
                continue
            if scale == "log" and realization <= 0:
                problems.append((line, "a log-scale realization must be > 0"))
                continue
        if item in items:
            problems.append((line, f"duplicate item {item!r} (line {item_lines[item]})"))
            continue
        items[item] = (realization, scale == "log")
        item_lines[item] = line
    if problems:
        raise InputFileError(items_name, problems)

    header, rows = _rows(assessments_text, assessments_name, ("expertid", "itemid"))
    quantile_columns = [h for h in header if h not in ("expertid", "itemid")]
    try:
        levels = np.array([float(h.rstrip("%")) for h in quantile_columns])
    except ValueError:
        raise InputFileError(
            assessments_name, [(1, "quantile columns must be numbers such as 0.05,0.5,0.95")]
        ) from None
    if len(levels) and levels.max() > 1:
        levels = levels / 100
    if len(levels) < 1 or not (np.all(np.diff(levels) > 0) and levels[0] > 0 and levels[-1] < 1):
        raise InputFileError(assessments_name, [(1, "quantile columns must increase strictly between 0 and 1")])
    values: dict[tuple[str, str], tuple[int, list[float]]] = {}
    for line, row in rows:
        if "__error__" in row:
            problems.append((line, row["__error__"]))
            continue
        expert, item = row["expertid"], row["itemid"]
        if item not in items:
            problems.append((line, f"item {item!r} is not in the items file"))
            continue
        read = {c: _quantile(row[c]) for c in quantile_columns}
        bad = [c for c, x in read.items() if x is None]
        if bad:
            problems.append((line, f"quantile {bad[0]} is {row[bad[0]]!r}: quantiles must be numbers (or blank)"))
            continue
        numbers = [x for x in read.values() if x is not None]
        finite = [x for x in numbers if not math.isnan(x)]
        if any(math.isinf(x) for x in finite):
            problems.append((line, "quantiles must be finite numbers"))
        elif any(b <= a for a, b in zip(finite, finite[1:], strict=False)):
            problems.append((line, f"quantiles must increase strictly: {', '.join(row[c] for c in quantile_columns)}"))
        elif items[item][1] and any(x <= 0 for x in finite):
            problems.append((line, "log-scale items need quantiles > 0"))
        elif (expert, item) in values:
            problems.append((line, f"duplicate of line {values[(expert, item)][0]} (expert {expert}, item {item})"))
        else:
            values[(expert, item)] = (line, numbers)
    asked = _asked_quantiles(values, items, levels, problems)
    if problems:
        raise InputFileError(assessments_name, sorted(problems))
    experts = tuple(dict.fromkeys(e for e, _ in values))
    if not experts:
        raise InputFileError(assessments_name, [(0, "no assessments in the file")])
    item_ids = tuple(items)
    data = np.full((len(experts), len(item_ids), len(levels)), np.nan)
    for (expert, item), (_, numbers) in values.items():
        data[experts.index(expert), item_ids.index(item)] = numbers
    return CookeData(
        experts=experts,
        items=item_ids,
        quantiles=levels,
        assessments=data,
        realizations=np.array([items[i][0] for i in item_ids]),
        log_scale=np.array([items[i][1] for i in item_ids]),
        asked=np.array([asked.get(i, np.ones(len(levels), dtype=bool)) for i in item_ids]),
    )


def _quantile(cell: str) -> float | None:
    """A quantile's cell: its number, NaN when blank (not asked or not answered), None when not a number."""
    if cell.lower() in ("", "nan"):
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return None


def _asked_quantiles(
    values: dict[tuple[str, str], tuple[int, list[float]]],
    items: dict[str, tuple[float, bool]],
    levels: NDArray[np.float64],
    problems: list[tuple[int, str]],
) -> dict[str, NDArray[np.bool_]]:
    """The quantiles each item asks: those its experts give (partial quantiles, as Anduryl: an item
    may ask only the 95 %). An expert who gives other quantiles than the item's others is refused
    with the line, not silently left out; seed items must all ask the same quantiles."""

    def named(pattern: tuple[bool, ...]) -> str:
        return ", ".join(f"{level:g}" for level, on in zip(levels, pattern, strict=True) if on)

    given: dict[str, list[tuple[int, str, tuple[bool, ...]]]] = {}
    for (expert, item), (line, numbers) in values.items():
        pattern = tuple(not math.isnan(x) for x in numbers)
        if any(pattern):  # else no answer to this item
            given.setdefault(item, []).append((line, expert, pattern))
    first: dict[str, tuple[int, tuple[bool, ...]]] = {}  # the item's quantiles: those most of its rows give
    for item, rows in given.items():
        # rows come in line order and most_common keeps the first seen among equal counts
        usual = Counter(pattern for _, _, pattern in rows).most_common(1)[0][0]
        first[item] = (next(line for line, _, q in rows if q == usual), usual)
        for line, expert, pattern in rows:
            if pattern != usual:
                problems.append(
                    (
                        line,
                        f"expert {expert} gives the quantiles {named(pattern)} on item {item}, where line "
                        f"{first[item][0]} gives {named(usual)}: every expert gives the same quantiles of an item",
                    )
                )
    seeds = [(first[i][0], i, first[i][1]) for i in items if i in first and not math.isnan(items[i][0])]
    for line, item, pattern in seeds[1:]:
        if pattern != seeds[0][2]:
            problems.append(
                (
                    line,
                    f"seed item {item} asks the quantiles {named(pattern)}, seed item {seeds[0][1]} asks "
                    f"{named(seeds[0][2])}: calibration pools the seed items, so they must ask the same quantiles",
                )
            )
    asked = {item: np.array(pattern, dtype=bool) for item, (_, pattern) in first.items()}
    if seeds:  # a seed nobody answered asks what the other seeds ask
        for item, (realization, _) in items.items():
            if item not in asked and not math.isnan(realization):
                asked[item] = np.array(seeds[0][2], dtype=bool)
    return asked
