"""Small inline SVG charts, generated here so the HTML report needs no script and no network.

Every value that is unknown is drawn as "no data", never as a zero-height bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

GOOD = "#2e7d32"
WARN = "#f9a825"
BAD = "#c62828"
INK = "#263238"
GRID = "#cfd8dc"
MUTED = "#78909c"
SIGNIN = "#1565c0"
BOOT = "#90caf9"

Series = tuple[str, str, Sequence[float | None]]  # name, colour, one value per label


def _nice_max(v: float) -> float:
    """A round axis maximum at or above v."""
    if v <= 0:
        return 1.0
    step = 10.0 ** (len(str(int(v))) - 1)
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if v <= m * step:
            return m * step
    return 10.0 * step


def _text(
    x: float,
    y: float,
    s: str,
    anchor: str = "middle",
    size: int = 12,
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"'
        f' fill="{fill}" font-weight="{weight}">{escape(s)}</text>'
    )


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="100%" role="img" aria-label="{escape(title)}"'
        ' font-family="system-ui, sans-serif">',
        f"<title>{escape(title)}</title>",
        _text(8, 18, title, "start", 14, weight="bold"),
    ]


def columns(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    line: tuple[float, str] | None = None,
    colour_of: Callable[[int, float], str] | None = None,
    ymax: float | None = None,
) -> str:
    """Vertical bars per label; several series stack. ``line`` = (value, label), e.g. the
    SLO; ``colour_of(index, value)`` overrides the colour of a single-series bar."""
    width, height, left, right, top, bottom = 560, 300, 56, 12, 34, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [
        None if all(s[2][i] is None for s in series) else sum(s[2][i] or 0.0 for s in series)
        for i in range(len(labels))
    ]
    top_value = max([v for v in totals if v is not None] + [line[0] if line else 0.0])
    axis_max = ymax if ymax is not None else _nice_max(top_value * 1.05)
    out = _open(width, height, title)

    def y(v: float) -> float:
        return top + plot_h * (1 - min(v, axis_max) / axis_max)

    for k in range(5):
        tick = axis_max * k / 4
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
            f' stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(_text(left - 6, y(tick) + 4, fmt(tick), "end", 11, MUTED))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, min(48.0, slot * 0.7))
    every = max(1, round(len(labels) / 8))
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_w) / 2
        if totals[i] is None:
            out.append(_text(x + bar_w / 2, y(0) - 6, "no data", size=10, fill=MUTED))
        else:
            base = 0.0
            for name, colour, values in series:
                v = values[i]
                if v is None or v <= 0:
                    continue
                fill = colour_of(i, v) if colour_of and len(series) == 1 else colour
                out.append(
                    f'<rect x="{x:.1f}" y="{y(base + v):.1f}" width="{bar_w:.1f}"'
                    f' height="{y(base) - y(base + v):.1f}" fill="{fill}">'
                    f"<title>{escape(f'{label} {name}: {fmt(v)}')}</title></rect>"
                )
                base += v
            out.append(_text(x + bar_w / 2, y(base) - 4, fmt(totals[i] or 0.0), size=10))
        if i % every == 0:
            out.append(_text(x + bar_w / 2, height - bottom + 16, label, size=11))
    if line is not None:
        ly = y(line[0])
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ly:.1f}" y2="{ly:.1f}"'
            f' stroke="{BAD}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
        out.append(_text(width - right, ly - 5, line[1], "end", 11, BAD))
    if len(series) > 1:
        lx = left
        for name, colour, _ in series:
            out.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
            out.append(_text(lx + 18, height - 12, name, "start", 11))
            lx += 30 + 8 * len(name)
    out.append("</svg>")
    return "\n".join(out)


def share_axis(values: Sequence[float | None], target: float) -> tuple[float, float]:
    """(axis minimum, tick step) for shares: 0 and 10 % when the bars spread widely, else a
    range that starts just below the lowest bar or the target, so 94.9 % and 96.1 % differ
    visibly instead of both looking full."""
    lowest = 100 * min([v for v in values if v is not None] + [target])
    span = 100 - lowest
    for step in (0.5, 1.0, 2.0, 5.0):
        if span <= 4 * step:
            break
    else:
        return 0.0, 0.1
    floor = step * ((lowest - step / 2) // step)
    return (0.0, 0.1) if floor < 40 else (floor / 100, step / 100)


def shares(title: str, labels: Sequence[str], values: Sequence[float | None], target: float) -> str:
    """Horizontal bars of a share (0..1) per label, with the target as a dashed line. The
    axis starts above 0 when every bar is in a narrow band (``share_axis``); then it says so."""
    row, left, right, top = 26, 120, 60, 48
    width = 560
    bottom = top + row * max(len(labels), 1)
    height = bottom + 44
    plot_w = width - left - right
    lo, step = share_axis(values, target)
    out = _open(width, height, title)

    def x(v: float) -> float:
        return left + plot_w * (min(max(v, lo), 1.0) - lo) / (1.0 - lo)

    tick = lo
    while tick <= 1.0 + 1e-9:
        out.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{bottom}"'
            f' stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(_text(x(tick), bottom + 14, f"{100 * tick:g}%", size=10, fill=MUTED))
        tick = round(tick + step, 6)
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        ry = top + row * i
        out.append(_text(left - 8, ry + 16, label[:18], "end", 12))
        out.append(
            f'<rect x="{left}" y="{ry + 4}" width="{plot_w}" height="{row - 8}" fill="{GRID}"'
            ' opacity="0.35"/>'
        )
        if v is None:
            out.append(_text(left + 6, ry + 16, "no data", "start", 11, MUTED))
            continue
        colour = GOOD if v >= target else BAD
        out.append(
            f'<rect x="{left}" y="{ry + 4}" width="{x(v) - left:.1f}" height="{row - 8}"'
            f' fill="{colour}"><title>{escape(f"{label}: {100 * v:.1f}%")}</title></rect>'
        )
        out.append(_text(left + plot_w + 6, ry + 16, f"{100 * v:.1f}%", "start", 11))
    tx = x(target)
    out.append(
        f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 4}" y2="{bottom}" stroke="{INK}"'
        ' stroke-width="2" stroke-dasharray="5 3"/>'
    )
    out.append(_text(tx, top - 8, f"target {100 * target:g}%", size=11, weight="bold"))
    if lo > 0:
        out.append(
            _text(left, bottom + 32, f"axis starts at {100 * lo:g}%, not 0", "start", 11, MUTED)
        )
    out.append("</svg>")
    return "\n".join(out)


def bucket_colour(upper: float, slo: float, long: float) -> str:
    if upper <= slo:
        return GOOD
    return BAD if upper > long else WARN
