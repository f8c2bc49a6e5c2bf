"""Domain errors. Services raise these; ``app.main`` maps them to HTTP in one place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Message(str):
    """Text for people, translated where it is shown: an English template and its values.

    It is a ``str`` (the English text, for the JSON API and logs); pages translate the template
    and then fill it (the ``tr`` filter), so a message built from values reads in French too.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        text = super().__new__(cls, template % params if params else template)
        text.template, text.params = template, params
        return text


class FieldValueError(ValueError):
    """A validator's refusal that belongs to one field of the form (a model-wide check, such as an
    item's kind needing options, would otherwise land on no field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class AppError(Exception):
    """A refusal a person can read. ``fields`` says what is wrong with which field, always as a
    message: a mapping of field to message, or the names of the fields the ``detail`` is about.
    ``code`` is the machine-readable kind of refusal."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        fields: Mapping[str, str] | Iterable[str] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        if fields is None:
            self.fields: dict[str, str] = {}
        elif isinstance(fields, Mapping):
            self.fields = dict(fields)
        else:
            self.fields = dict.fromkeys(fields, detail)
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. Retry-After


class InvalidInput(AppError):
    """The request was understood but its content is not acceptable (a person can fix it)."""

    status_code = 400
    code = "invalid_input"


class MalformedRequest(AppError):
    """A request no page of ours would send (a script's JSON that does not parse)."""

    status_code = 422
    code = "invalid_request"


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    """The action does not fit the current state (a locked protocol, a closed round...)."""

    status_code = 409
    code = "conflict"


class Gone(AppError):
    status_code = 410
    code = "gone"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
