"""Charts of the report, as SVG.

Summary charts use matplotlib (a well-kept library; no pyplot, so it is safe in threads). The
per-item distribution charts, one per item and often hundreds, are drawn by hand: a few
rectangles each, about a hundred times faster than a matplotlib figure (see BENCHMARKS.md), which
keeps a 300-item report's rendering dominated by WeasyPrint itself.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from html import escape

import matplotlib
from babel.numbers import format_decimal

matplotlib.use("svg")
from matplotlib.figure import Figure  # noqa: E402 - the backend must be chosen first
from matplotlib.ticker import FuncFormatter  # noqa: E402

matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: searchable in the PDF, drawn in the document's font
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "svg.hashsalt": "delphi",  # identical input gives identical SVG
        "text.parse_math": False,  # a theme called "$5 to $10" is text, not a formula to typeset
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)
ROUND_COLOURS = ("#9bb8d6", "#1f4e79", "#c06c2b", "#5b8c5a", "#8a6fb0")


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _number(value: float, digits: int, language: str) -> str:
    """A number as the report's language writes it (a decimal comma in French)."""
    return format_decimal(
        round(float(value), digits) + 0.0, format="#,##0." + "0" * digits if digits else "#,##0", locale=language
    )


def _percent(share: float, language: str) -> str:
    """A share as a whole percentage, spaced as the language writes it (« 42 % » in French)."""
    return f"{round(100 * share)}\u00a0%" if language == "fr" else f"{round(100 * share)}%"


def _axis_in(language: str, digits: int) -> FuncFormatter:
    return FuncFormatter(lambda value, _position: _number(value, digits, language))


def theme_weights_svg(titles: Sequence[str], weights: Sequence[float], language: str = "en") -> str:
    """Themes ranked by weight, as horizontal bars."""
    height = 0.45 * len(titles) + 0.6
    figure = Figure(figsize=(6.3, height))
    ax = figure.add_subplot()
    positions = range(len(titles))[::-1]
    ax.barh(list(positions), [100 * w for w in weights], color="#1f4e79", height=0.6)
    ax.set_yticks(list(positions), [_wrap(t, 48) for t in titles])
    ax.set_xlabel("%")
    ax.xaxis.set_major_formatter(_axis_in(language, 1))
    for y, w in zip(positions, weights, strict=True):
        ax.text(100 * w + 0.3, y, _number(100 * w, 1, language), va="center", fontsize=8)
    ax.set_xlim(0, max(100 * max(weights, default=0) * 1.18, 1))
    return _svg(figure)


def consensus_by_round_svg(
    rounds: Sequence[int],
    shares: Sequence[float],
    stable: Sequence[float | None],
    labels: Mapping[str, str],
    language: str = "en",
) -> str:
    figure = Figure(figsize=(6.3, 2.2))
    ax = figure.add_subplot()
    ax.plot(list(rounds), [100 * s for s in shares], marker="o", color="#1f4e79", label=labels["consensus"])
    stable_points = [(r, 100 * s) for r, s in zip(rounds, stable, strict=True) if s is not None]
    if stable_points:
        ax.plot(*zip(*stable_points, strict=True), marker="s", color="#c06c2b", label=labels["stable"])
    ax.set_xticks(list(rounds), [f"{labels['round']} {r}" for r in rounds])
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(_axis_in(language, 0))
    ax.set_ylabel("%")
    ax.legend(frameon=False, loc="lower right")
    return _svg(figure)


def _wrap(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    cut = text.rfind(" ", 0, width)
    return text[: cut if cut > 0 else width] + "…"


def item_shift_svg(points: Sequence[int], counts_by_round: Mapping[int, Sequence[float]], label: str = "") -> str:
    """One item's distribution in each round, side by side per scale point (shares, so that a
    smaller later panel compares with the first)."""
    width, height, bottom, top = 300, 92, 16, 8
    rounds = sorted(counts_by_round)
    shares = {}
    for r in rounds:
        total = sum(counts_by_round[r]) or 1
        shares[r] = [c / total for c in counts_by_round[r]]
    peak = max((s for r in rounds for s in shares[r]), default=1) or 1
    step = width / max(len(points), 1)
    bar = step * 0.8 / max(len(rounds), 1)
    chart = height - bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="DejaVu Sans" font-size="9">'
    ]
    for k, point in enumerate(points):
        x0 = k * step + step * 0.1
        for j, r in enumerate(rounds):
            h = chart * shares[r][k] / peak
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + chart - h:.1f}" width="{bar - 0.8:.1f}" '
                f'height="{max(h, 0.4):.1f}" fill="{ROUND_COLOURS[j % len(ROUND_COLOURS)]}"/>'
            )
        parts.append(f'<text x="{k * step + step / 2:.1f}" y="{height - 4}" text-anchor="middle">{point}</text>')
    for j, r in enumerate(rounds):
        parts.append(
            f'<rect x="{width - 60 + j * 30}" y="0" width="8" height="7" '
            f'fill="{ROUND_COLOURS[j % len(ROUND_COLOURS)]}"/><text x="{width - 50 + j * 30}" y="7">'
            f"{label}{r}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def option_bars_svg(
    options: Sequence[str],
    values_by_round: Mapping[int, Sequence[float | None]],
    top: float,
    label: str = "",
    language: str = "en",
) -> str:
    """Options as rows, one horizontal bar per round (a choice's shares, a ranking's Borda points as a
    share of the most possible). Option texts are escaped: they are the study's own words."""
    rounds = sorted(values_by_round)
    row = 8 * max(len(rounds), 1) + 8
    width, text_width = 420, 170
    height = row * len(options) + 14
    bar_room = width - text_width - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="DejaVu Sans" font-size="9">'
    ]
    for k, option in enumerate(options):
        y0 = 14 + k * row
        parts.append(f'<text x="0" y="{y0 + row / 2 + 2:.1f}">{escape(_wrap(option, 34))}</text>')
        for j, r in enumerate(rounds):
            value = values_by_round[r][k] if k < len(values_by_round[r]) else None
            share = 0.0 if value is None or value != value or not top else float(value) / top
            w = max(bar_room * share, 0.4)
            parts.append(
                f'<rect x="{text_width}" y="{y0 + j * 8:.1f}" width="{w:.1f}" height="7" '
                f'fill="{ROUND_COLOURS[j % len(ROUND_COLOURS)]}"/>'
                f'<text x="{text_width + w + 3:.1f}" y="{y0 + j * 8 + 6.5:.1f}">{_percent(share, language)}</text>'
            )
    for j, r in enumerate(rounds):
        parts.append(
            f'<rect x="{width - 60 + j * 30}" y="0" width="8" height="7" '
            f'fill="{ROUND_COLOURS[j % len(ROUND_COLOURS)]}"/><text x="{width - 50 + j * 30}" y="7">'
            f"{escape(label)}{r}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
