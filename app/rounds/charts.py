"""Small SVG bar charts for the expert pages: the group's distribution, one's own answer marked.

Hand-made rather than matplotlib: a bar chart is a dozen rectangles, drawn in microseconds per
item on a page that shows forty of them, with no image request (the page loads nothing else).
Only numbers go into the markup, so it is safe to mark it as such.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_BOTTOM, PAD_TOP = 320, 96, 18, 14
BAR = "#8fb3d9"
OWN = "#1f4e79"
MEDIAN = "#a3262a"


def distribution_svg(
    points: Sequence[int | float],
    counts: Sequence[float],
    own: float | None = None,
    median: float | None = None,
) -> Markup:
    """The bars of the group's answers, one's own in dark. Shared attributes sit on groups (a page
    of forty charts stays light: about a third of the markup of one attribute set per element).
    The picture is hidden from screen readers: the page gives the same distribution as text beside
    it (the ``distribution_text`` macro)."""
    n_points = len(points)
    if n_points == 0:
        return Markup("")
    top = max(max(counts), 1)
    step = WIDTH / n_points
    bar_width = step * 0.72
    chart_height = HEIGHT - PAD_BOTTOM - PAD_TOP
    bars, numbers, labels = [], [], []
    for k, (point, count) in enumerate(zip(points, counts, strict=True)):
        x = k * step + (step - bar_width) / 2
        h = chart_height * float(count) / top
        y = PAD_TOP + chart_height - h
        is_own = own is not None and float(point) == float(own)
        mark = f' fill="{OWN}"' if is_own else ""
        bars.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{bar_width:.0f}" height="{max(h, 1):.0f}"{mark}/>')
        middle = f"{x + bar_width / 2:.0f}"
        if count:
            shown = int(count) if float(count).is_integer() else round(float(count), 1)
            numbers.append(f'<text x="{middle}" y="{y - 2:.0f}">{shown}</text>')
        label = int(point) if float(point).is_integer() else point
        bold = ' font-weight="700"' if is_own else ""
        labels.append(f'<text x="{middle}"{bold}>{label}</text>')
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" aria-hidden="true" '
        'focusable="false" class="dist">',
        f'<g fill="{BAR}">{"".join(bars)}</g>',
        f'<g font-size="10" text-anchor="middle" fill="#1b2430">{"".join(numbers)}</g>',
        f'<g font-size="11" text-anchor="middle" fill="#1b2430" transform="translate(0 {HEIGHT - 4})">'
        f"{''.join(labels)}</g>",
    ]
    if median is not None and median == median and n_points > 1:
        low, high = float(points[0]), float(points[-1])
        x = (float(median) - low) / (high - low) * (WIDTH - step) + step / 2
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP - 4}" y2="{HEIGHT - PAD_BOTTOM}" stroke="{MEDIAN}" '
            'stroke-width="2" stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from numbers only


def chart_file(chart: Markup, title: str) -> str:
    """A page's chart as a file of its own, for slides: sized, titled (the statement), named for
    screen readers, in a font every system has."""
    opening = chart[: chart.index(">") + 1]
    standalone = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH * 3}" '
        f'height="{HEIGHT * 3}" role="img" aria-label="{escape(title)}" '
        'font-family="DejaVu Sans, Arial, Helvetica, sans-serif">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + standalone + str(chart)[len(opening) :]
