"""Jinja environments, one per language, autoescaped everywhere (pages, e-mails, reports)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from app.i18n import LANGUAGE_LABELS, LANGUAGE_NAMES, LANGUAGES, punctuation, translations
from app.i18n_terms import action_label

TEMPLATES_DIR = Path(__file__).parent / "templates"
LINK = re.compile(r"https?://[^\s<>&\"']+")
CHART_NUMBER = re.compile(r">(-?\d+\.\d+)<")  # a decimal number alone in an SVG text element


def _make_env(language: str, instance_contact: str = "") -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # HTML, SVG and XML are escaped; plain-text e-mails (.txt) are not HTML, so escaping would
        # only garble them ("&amp;").
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml", "svg"), disabled_extensions=("txt",), default=True
        ),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]

    @pass_context
    def datetime_filter(context: Context, value: datetime | None, fmt: str = "medium") -> str:
        """A moment in the reader's time zone (``tz``, UTC where unknown, as in e-mails), without
        seconds: "short" for tables; "medium" and "long" name the day, "long" the time zone too."""
        if value is None:
            return "—"
        local = _in_reader_zone(context, value)
        if fmt == "short":
            return format_datetime(local, format="short", locale=language, tzinfo=local.tzinfo)
        text = f"{format_date(local, 'long' if fmt == 'long' else 'medium', locale=language)}, " + format_time(
            local, "short", locale=language
        )
        return f"{text} ({zone_label(local)})" if fmt == "long" else text

    @pass_context
    def local_input(context: Context, value: datetime | None) -> str:
        """A moment as a ``datetime-local`` field shows it: in the reader's time zone."""
        if value is None:
            return ""
        return _in_reader_zone(context, value).strftime("%Y-%m-%dT%H:%M")

    def number_filter(value: float | int | None, digits: int = 2) -> str:
        if value is None or value != value:  # None or NaN
            return "—"
        rounded = round(float(value), digits) + 0.0  # + 0.0: a value that rounds to zero prints as 0, never -0
        return format_decimal(rounded, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=language)

    def p_value_filter(value: float | None, digits: int = 3) -> str:
        """A p-value to ``digits`` places; one too small to show is "< 0.001", never "0.000"."""
        if value is not None and value == value and float(value) < 10**-digits:
            return "<\u00a0" + number_filter(10**-digits, digits)
        return number_filter(value, digits)

    def percent_filter(value: float | None, digits: int = 0) -> str:
        if value is None or value != value:
            return "—"
        return format_decimal(round(100 * float(value), digits) + 0.0, locale=language) + "\u00a0%"

    def chart_numbers(svg: Markup | str | None) -> Markup:
        """A hand-drawn chart's numbers (its ``<text>`` elements: counts, scale points) written as
        the page's language writes them: ``2,5`` on a French page. A chart is markup built from
        numbers; anything else given here is escaped like any text."""
        chart = svg if isinstance(svg, Markup) else escape(svg or "")
        if language == "en":
            return chart
        return Markup(CHART_NUMBER.sub(lambda m: ">" + format_decimal(m.group(1), locale=language) + "<", str(chart)))  # noqa: S704

    def translate(value: Any) -> str:
        """Translate a message (a ``Message`` keeps its values apart from its template)."""
        if value is None:
            return ""
        template = getattr(value, "template", None)
        if template is not None:
            translated = translations(language).gettext(template)
            if not value.params:
                return translated
            return translated % {k: translate(v) if hasattr(v, "template") else v for k, v in value.params.items()}
        return translations(language).gettext(str(value))

    def linkify(text: str, base_url: str) -> Markup:
        """Escape text, then make the platform's own web addresses clickable (the mailbox shows
        experts' links); any other address stays text (an expert's name may hold one)."""
        escaped = str(escape(text))
        own = base_url.rstrip("/") + "/"

        def link(found: re.Match[str]) -> str:
            address = found.group(0)
            return f'<a href="{address}">{address}</a>' if address.startswith(own) else address

        return Markup(LINK.sub(link, escaped))  # noqa: S704

    env.filters["dt"] = datetime_filter
    env.filters["local_input"] = local_input
    env.filters["linkify"] = linkify
    env.filters["tr"] = translate
    env.filters["num"] = number_filter
    env.filters["pct"] = percent_filter
    env.filters["pval"] = p_value_filter
    env.filters["chart_numbers"] = chart_numbers
    env.globals["lang"] = language
    env.globals["action_label"] = action_label
    env.globals["language_names"] = LANGUAGE_NAMES  # each in itself, for language menus
    env.globals["language_labels"] = LANGUAGE_LABELS  # to translate: "the study in %(language)s"
    env.globals["punctuation"] = lambda mark: punctuation(language, mark)
    # the instance's contact address, shown to experts where no study is known (a link not valid)
    env.globals["instance_contact"] = instance_contact

    def lang_of(text_language: str | None) -> Markup:
        """`` lang="xx"`` for an element holding text written in another language than the page's
        (a French study read on an English page): screen readers then pronounce it right."""
        if text_language in LANGUAGES and text_language != language:
            return Markup(f' lang="{text_language}"')  # noqa: S704 - one of our own language codes
        return Markup("")

    env.globals["lang_of"] = lang_of
    # each researcher form carries a one-time key: a double click on "Add" adds once
    env.globals["new_form_key"] = lambda: secrets.token_urlsafe(16)
    return env


def _in_reader_zone(context: Context, value: datetime) -> datetime:
    """A stored moment (UTC; naive ones are UTC too) in the page's ``tz``, UTC where it has none."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(context.get("tz") or UTC)


def zone_label(moment: datetime) -> str:
    """UTC, or its offset from UTC at that moment (UTC+1, UTC−5, UTC+5:30): the same in every language."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "\u2212"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


class Templates:
    """Owned by the app's lifespan; ``render`` picks the environment of the asked language."""

    def __init__(self, instance_contact: str = "") -> None:
        self.envs = {language: _make_env(language, instance_contact) for language in LANGUAGES}

    def render(self, name: str, language: str, **context: Any) -> str:
        return self.envs[language].get_template(name).render(**context)


_default: Templates | None = None


def default_templates() -> Templates:
    """For code that runs outside a request (the worker, the CLI)."""
    global _default
    if _default is None:
        _default = Templates()
    return _default
