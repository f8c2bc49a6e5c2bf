"""E-mail addresses, checked one way wherever they enter: a researcher's account, an expert of a
panel (by hand or from a file)."""

from __future__ import annotations

import re

from app.errors import InvalidInput, Message

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_LENGTH = 320


def normalise(address: str) -> str:
    return address.strip().lower()


def is_address(address: str) -> bool:
    """One ``@``, a dot in the domain, no spaces, at most 320 characters (RFC 5321's limit)."""
    return len(address) <= MAX_LENGTH and _ADDRESS.match(address) is not None


def checked(address: str, field: str = "email") -> str:
    """The address, normalised; a clear refusal (on the form's ``field``) if it is not one."""
    normalised = normalise(address)
    if not is_address(normalised):
        raise InvalidInput(Message("“%(email)s” is not an e-mail address.", email=address.strip()), fields=(field,))
    return normalised
