"""What writing a study's e-mails needs, built once per process (the app's lifespan, the worker)
and handed to the code that queues mail, instead of settings and templates threaded everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.mail.service import RenderedEmail, render_email
from app.templating import Templates


@dataclass(frozen=True)
class Mailer:
    templates: Templates
    base_url: str  # links in e-mails point here
    secret_key: str  # personal links are derived from it (at delivery: the outbox holds no link)

    @classmethod
    def from_settings(cls, settings: Settings, templates: Templates | None = None) -> Mailer:
        return cls(templates or Templates(), settings.base_url, settings.secret_key)

    def render(self, name: str, language: str, subject: str, **context: Any) -> RenderedEmail:
        """``emails/<name>.txt`` and ``.html`` in ``language``."""
        return render_email(self.templates, name, language, subject, **context)
