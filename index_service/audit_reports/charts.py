"""Bar charts drawn by the app as inline SVG: no script, no library, no outside service.

Each chart has a title and a description for screen readers; the page shows the same
figures as a table beside it, so nothing is only in the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 640
BAR_AREA_HEIGHT = 160
LABEL_HEIGHT = 40
GOVUK_BLUE = "#1d70b8"
GOVUK_TEXT = "#0b0c0c"


def bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, int]], description: str) -> Markup:
    """Vertical bars, one per label; every bar carries its own label and value as an SVG title too."""
    highest = max((value for _, value in bars), default=0) or 1
    count = max(len(bars), 1)
    slot = WIDTH / count
    bar_width = max(slot * 0.7, 1.0)
    label_every = max(1, count // 12)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="audit-chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {BAR_AREA_HEIGHT + LABEL_HEIGHT}" aria-labelledby="{escape(chart_id)}-title '
        f'{escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<line x1="0" y1="{BAR_AREA_HEIGHT}" x2="{WIDTH}" y2="{BAR_AREA_HEIGHT}" stroke="{GOVUK_TEXT}"/>',
    ]
    for index, (label, value) in enumerate(bars):
        height = BAR_AREA_HEIGHT * value / highest
        x = index * slot + (slot - bar_width) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{BAR_AREA_HEIGHT - height:.1f}" width="{bar_width:.1f}" height="{height:.1f}" '
            f'fill="{GOVUK_BLUE}"><title>{escape(label)}: {value:,}</title></rect>'
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{index * slot + slot / 2:.1f}" y="{BAR_AREA_HEIGHT + 16}" font-size="11" '
                f'text-anchor="middle" fill="{GOVUK_TEXT}">{escape(label[:14])}</text>'
            )
    parts.append(f'<text x="2" y="12" font-size="11" fill="{GOVUK_TEXT}">{highest:,}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
