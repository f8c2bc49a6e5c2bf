"""Link tokens, password hashing and CSRF tokens (see ../shared/SECURITY.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

LINK_TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 bits, 43 URL-safe characters
_password_hash = PasswordHash((Argon2Hasher(),))  # Argon2id with pwdlib's (OWASP) parameters


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so both failures take the same time.
    Made on first use: hashing at import cost every process (each CLI command) a tenth of a second."""
    return _password_hash.hash(secrets.token_urlsafe(16))


def new_link_nonce() -> str:
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


def link_token(secret_key: str, expert_id: int, nonce: str) -> str:
    """An expert's link token: 256 bits, URL-safe (43 characters), unguessable without both the
    secret key and the random nonce. Deriving it, rather than storing it, lets every e-mail of the
    study carry the same link while the database keeps only its hash."""
    digest = hmac.new(secret_key.encode(), f"link:{expert_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def account_link_token(secret_key: str, nonce: str) -> str:
    """The token of a password-reset or invitation link, derived like an expert's: the outbox keeps
    the nonce, the database the token's hash; neither opens the account without the secret key."""
    digest = hmac.new(secret_key.encode(), f"account:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    """What is stored and looked up: the SHA-256 of a link token or a session id (hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    return 20 <= len(token) <= 100 and all(c.isalnum() or c in "-_" for c in token)


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _password_hash.verify(password, _dummy_hash())
        return False
    try:
        return _password_hash.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, not a crash
        return False


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def link_csrf_token(secret_key: str, link_hash: str) -> str:
    """CSRF token for the forms of an expert link page: tied to the link, not to a clock."""
    return hmac.new(secret_key.encode(), b"link:" + link_hash.encode(), hashlib.sha256).hexdigest()
