"""Data written for other programs: strict JSON from numpy-flavoured values (NaN and infinities
become null: PostgreSQL's JSON refuses them; numpy scalars become Python numbers), and CSV for
spreadsheets with formulas neutralised."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """Rows as CSV for a spreadsheet: UTF-8 with a BOM (spreadsheets then read it as such),
    formulas neutralised."""
    return b"".join(csv_chunks(rows, columns))


def csv_chunks(rows: Iterable[dict[str, Any]], columns: Sequence[str], lines: int = 1000) -> Iterator[bytes]:
    """``to_csv`` as it is written, ``lines`` rows at a time (a response streamed from an iterator
    of rows holds one chunk, not the file)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    buffer.write("\ufeff")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow({k: neutralise("" if row.get(k) is None else row.get(k)) for k in columns})
        if count % lines == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
