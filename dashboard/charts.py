"""Server-side SVG charts (no JavaScript, no chart library): stacked monthly bars and
proportions with their 95 % intervals against a reference line. Every label is escaped; the
markup uses presentation attributes only (the pages' CSP forbids inline styles)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34
COLOURS = {
    "completed": "#2e7d32",
    "pending": "#f9a825",
    "failed": "#c62828",
    "rejected": "#6d4c41",
    "sensitivity": "#1565c0",
    "specificity": "#6a1b9a",
    "reference": "#555555",
}


def _frame(title: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text below went through escape()
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def stacked_bars(*, title: str, labels: list[str], series: dict[str, list[int]]) -> SafeString:
    """One bar per label, stacked by series (e.g. completed / pending / failed per month)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    bar = step * 0.7
    body = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end" font-size="10">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, label in enumerate(labels):
        x = LEFT + i * step + (step - bar) / 2
        y = TOP + plot_h
        for name, values in series.items():
            h = plot_h * values[i] / top
            if h > 0:
                y -= h
                body.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{COLOURS.get(name, "#888")}"><title>{escape(label)}: '
                    f"{escape(name)} {values[i]}</title></rect>"
                )
        body.append(
            f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    x = LEFT
    for name in series:
        body.append(
            f'<rect x="{x}" y="{HEIGHT - 12}" width="10" height="10" '
            f'fill="{COLOURS.get(name, "#888")}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 3}" font-size="10">{escape(name)}</text>'
        )
        x += 90
    return _frame(title, body)


def proportions_with_intervals(
    *,
    title: str,
    labels: list[str],
    series: dict[str, list[tuple[float | None, float | None, float | None]]],
    references: dict[str, float | None],
) -> SafeString:
    """Points (value) with whiskers (low-high) per label, on a 0-100 % axis, and a dashed line
    at each series' reference (the model card's figure)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v)

    body = [
        f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{y(0):.1f}" stroke="#999"/>',
        f'<text x="{LEFT - 6}" y="{y(1) + 8:.1f}" text-anchor="end" font-size="10">100%</text>',
        f'<text x="{LEFT - 6}" y="{y(0):.1f}" text-anchor="end" font-size="10">0%</text>',
    ]
    for name, ref in references.items():
        if ref is not None:
            body.append(
                f'<line x1="{LEFT}" y1="{y(ref):.1f}" x2="{WIDTH - RIGHT}" y2="{y(ref):.1f}" '
                f'stroke="{COLOURS.get(name, "#888")}" stroke-dasharray="4 3" opacity="0.6">'
                f"<title>model card {escape(name)} {ref:.1%}</title></line>"
            )
    offsets = {name: (k - (len(series) - 1) / 2) * 8 for k, name in enumerate(series)}
    for i, label in enumerate(labels):
        cx = LEFT + i * step + step / 2
        for name, points in series.items():
            value, low, high = points[i]
            if value is None:
                continue
            x = cx + offsets[name]
            colour = COLOURS.get(name, "#888")
            body.append(
                f'<line x1="{x:.1f}" y1="{y(low):.1f}" x2="{x:.1f}" y2="{y(high):.1f}" '
                f'stroke="{colour}"/><circle cx="{x:.1f}" cy="{y(value):.1f}" r="3.5" '
                f'fill="{colour}"><title>{escape(label)}: {escape(name)} {value:.1%} '
                f"({low:.1%}-{high:.1%})</title></circle>"
            )
        body.append(
            f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    x = LEFT
    for name in series:
        body.append(
            f'<circle cx="{x + 5}" cy="{HEIGHT - 7}" r="4" fill="{COLOURS.get(name, "#888")}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 3}" font-size="10">{escape(name)}</text>'
        )
        x += 100
    return _frame(title, body)
