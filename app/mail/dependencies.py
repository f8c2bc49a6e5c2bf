"""The process's Mailer, for routes that queue mail."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.mail.mailer import Mailer


def get_mailer(request: Request) -> Mailer:
    return request.app.state.mailer  # type: ignore[no-any-return]


MailerDep = Annotated[Mailer, Depends(get_mailer)]
