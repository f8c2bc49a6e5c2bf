"""Experts' personal links never reach a log line (SECURITY.md, rule 1): a path ``/e/<token>`` is
written ``/e/…`` in every record, whoever logs it (uvicorn's access log, our error log)."""

from __future__ import annotations

import logging
import re
from typing import Any

LINK_PATH = re.compile(r"/e/[A-Za-z0-9_\-]{8,}")
_installed = False


def mask(text: str) -> str:
    return LINK_PATH.sub("/e/…", text)


def install() -> None:
    """Mask link paths in every log record from now on (once per process)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def masking_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: left to logging
            return record
        if "/e/" in text:  # the link may be in the message or in its arguments: mask the whole line
            record.msg, record.args = mask(text), None
        return record

    logging.setLogRecordFactory(masking_record)
    _installed = True
