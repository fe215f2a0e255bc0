"""Small charts as inline SVG, drawn on the server: no scripts, no network."""

from collections.abc import Sequence
from datetime import date

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 180, 44, 22, 10
COLOR = "#417690"


def _axis(top: float, unit: str) -> list[str]:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    parts = []
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{escape(_short(top * fraction, unit))}</text>"
        )
    return parts


def _short(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "$":
        if value and value < 1:
            return f"${value:.4f}"
        return f"${value:.2f}" if value < 100 else f"${value:,.0f}"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _labels(days: Sequence[date], step: float) -> list[str]:
    every = max(1, len(days) // 6)
    return [
        f'<text x="{PAD_LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'font-size="10">{d:%b %d}</text>'
        for i, d in enumerate(days)
        if i % every == 0
    ]


def bar_chart(
    *, title: str, days: Sequence[date], values: Sequence[float | None], unit: str = ""
) -> SafeString:
    """One bar per day; missing values leave a gap."""
    top = max([v for v in values if v is not None] + [0]) or 1
    if unit == "%":
        top = 1
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(1, len(values))
    parts = _axis(top, unit)
    for i, value in enumerate(values):
        if value is None:
            continue
        h = plot_h * value / top
        parts.append(
            f'<rect x="{PAD_LEFT + step * i + step * 0.15:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{COLOR}">'
            f"<title>{days[i]:%Y-%m-%d}: {escape(_short(value, unit))}</title></rect>"
        )
    parts += _labels(days, step)
    return _svg(title, parts)


def line_chart(
    *, title: str, days: Sequence[date], values: Sequence[float | None], unit: str = ""
) -> SafeString:
    """A line through the days that have a value, with a dot per day."""
    top = max([v for v in values if v is not None] + [0]) or 1
    if unit == "%":
        top = 1
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(1, len(values))
    points = [
        (PAD_LEFT + step * (i + 0.5), PAD_TOP + plot_h * (1 - v / top), days[i], v)
        for i, v in enumerate(values)
        if v is not None
    ]
    parts = _axis(top, unit)
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOR}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOR}">'
            f"<title>{d:%Y-%m-%d}: {escape(_short(v, unit))}</title></circle>"
            for x, y, d, v in points
        ]
    parts += _labels(days, step)
    return _svg(title, parts)


def ranking_chart(*, title: str, rows: Sequence[tuple[str, int]]) -> SafeString:
    """Horizontal bars, largest first (e.g. top topics)."""
    if not rows:
        return format_html('<p class="empty">{}: no data yet.</p>', title)
    top = max(n for _, n in rows) or 1
    bar_h, label_w = 22, 160
    height = bar_h * len(rows) + 4
    parts = []
    for i, (label, n) in enumerate(rows):
        y = i * bar_h + 2
        w = (WIDTH - label_w - 50) * n / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" '
            f'fill="{COLOR}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{n}</text>'
        )
    return _svg(title, parts, height=height)


def _svg(title: str, parts: list[str], *, height: int = HEIGHT) -> SafeString:
    # Every value interpolated above is a number, a date or escaped text.
    return mark_safe(
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
