"""Optional two-factor authentication: a time-based one-time code (TOTP, RFC 6238, as any
authenticator app makes it) after the password, or one of ten single-use recovery codes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import pyotp
import segno
from markupsafe import Markup
from sqlmodel import Session

from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, InvalidInput, Message

ISSUER = "Delphi"
STEP_SECONDS = 30
RECOVERY_CODES = 10
WRONG_CODE = Message("This code is not right, or was used already. Codes change every 30 seconds.")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_code(uri: str) -> Markup:
    """The ``otpauth:`` address as an inline SVG QR code for the authenticator app to scan (drawn
    here from the address alone: no text of anyone's in the markup)."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, dark="#1b2430"))  # noqa: S704


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, or one step either side for clocks that drift) whose code this is."""
    totp = pyotp.TOTP(secret)
    for step in (_step(now), _step(now) - 1, _step(now) + 1):
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _digits(code: str) -> str:
    return "".join(c for c in code if not c.isspace())


def _six_digits(code: str) -> bool:
    """Six ASCII digits (other scripts' digits pass ``isdigit`` but are not what the app shows)."""
    return len(code) == 6 and code.isascii() and code.isdigit()


def valid_secret(secret: str) -> bool:
    return len(secret) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in secret)


def _recovery_hash(code: str) -> str:
    return hashlib.sha256("".join(c for c in code.lower() if c.isalnum()).encode()).hexdigest()


def new_recovery_codes(session: Session, researcher: Researcher) -> list[str]:
    """Ten fresh codes (the earlier ones stop working), shown once; only their hashes are kept."""
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    researcher.recovery_codes = [_recovery_hash(c) for c in codes]
    session.add(researcher)
    session.flush()
    return codes


def verify(session: Session, researcher: Researcher, code: str, now: datetime | None = None) -> bool:
    """A code from the app (each works once), or an unused recovery code (spent here)."""
    if researcher.totp_secret is None or researcher.totp_enabled_at is None:
        return False
    code = _digits(code)
    if _six_digits(code):
        step = _matching_step(researcher.totp_secret, code, now or utcnow())
        if step is None or (researcher.totp_last_step is not None and step <= researcher.totp_last_step):
            return False
        researcher.totp_last_step = step
        session.add(researcher)
        return True
    hashed = _recovery_hash(code)
    if hashed in researcher.recovery_codes:
        researcher.recovery_codes = [h for h in researcher.recovery_codes if h != hashed]
        session.add(researcher)
        audit.record(session, None, researcher, "account.recovery_code_used", left=len(researcher.recovery_codes))
        return True
    return False


def enable(session: Session, researcher: Researcher, secret: str, code: str) -> list[str]:
    """Turn two-factor authentication on, once the app shows a right code for ``secret``; returns
    the recovery codes to show once."""
    if researcher.totp_enabled_at is not None:
        raise Conflict(Message("Two-factor authentication is on already."))
    if not valid_secret(secret):
        raise InvalidInput(Message("This form has expired. Reload the page and try again."))
    now = utcnow()
    code = _digits(code)
    step = _matching_step(secret, code, now) if _six_digits(code) else None
    if step is None:
        raise InvalidInput(WRONG_CODE, fields=("code",))
    researcher.totp_secret, researcher.totp_enabled_at, researcher.totp_last_step = secret, now, step
    codes = new_recovery_codes(session, researcher)
    audit.record(session, None, researcher, "account.two_factor_enabled")
    return codes


def disable(session: Session, researcher: Researcher) -> None:
    """Turn it off (the caller checked the password and a code, as for logging in)."""
    researcher.totp_secret = researcher.totp_enabled_at = researcher.totp_last_step = None
    researcher.recovery_codes = []
    session.add(researcher)
    audit.record(session, None, researcher, "account.two_factor_disabled")
    session.flush()
