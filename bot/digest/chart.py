"""The digest's chart: votes and new ideas per day of the week, as a PNG."""

from __future__ import annotations

import io
from functools import cache

from bot.digest.rules import Digest, zone
from bot.i18n import SOURCE, _, current, use, when

CHART_FILENAME = "digest-chart.png"


# Languages whose script matplotlib's bundled font (DejaVu Sans) cannot draw: their chart needs an
# installed CJK font, else it is drawn in English rather than as empty boxes.
_CJK_LANGUAGES = frozenset({"ja"})
_CJK_FONT_NAMES = ("CJK", "IPA", "Hiragino", "Yu Gothic", "Meiryo", "Takao", "Source Han")


@cache
def _cjk_font() -> str | None:
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if any(key in entry.name for key in _CJK_FONT_NAMES):
            return str(entry.name)
    return None


def chart_png(d: Digest) -> bytes:
    if current() not in _CJK_LANGUAGES:
        return _chart_png(d)
    font = _cjk_font()
    if font is None:
        with use(SOURCE):
            return _chart_png(d)
    import matplotlib

    with matplotlib.rc_context({"font.family": [font, "DejaVu Sans"]}):
        return _chart_png(d)


def _chart_png(d: Digest) -> bytes:
    """Votes and submissions per day of the week, as a PNG (matplotlib, Agg, no pyplot state).

    Two panels sharing the days, each titled, instead of one plot with twin axes and a legend:
    nothing can sit on top of a bar, and each count keeps its own scale. Each bar carries its
    number above it, with head room reserved so the label stays inside the panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [f"{when(day.day, '%a', 'E')}\n{when(day.day, '%d %b', 'MMMd')}" for day in d.days]
    positions = list(range(len(d.days)))
    figure = Figure(figsize=(8, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    votes_axis, ideas_axis = figure.subplots(2, 1, sharex=True)
    so_far = _(" so far") if d.partial else ""
    figure.suptitle(_("Week {week}{so_far}: activity per day").format(week=d.week, so_far=so_far), fontsize=12)
    for axis, values, colour, name in (
        (votes_axis, [day.votes for day in d.days], "#4752C4", _("votes")),
        (ideas_axis, [day.ideas for day in d.days], "#2E9E5B", _("new ideas")),
    ):
        bars = axis.bar(positions, values, width=0.6, color=colour)
        axis.bar_label(bars, labels=[str(v) if v else "" for v in values], padding=2, fontsize=9)
        axis.set_ylim(0, max(1, max(values, default=0)) * 1.3)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        axis.set_title(name, loc="left", fontsize=10)
        axis.spines[["top", "right"]].set_visible(False)
    ideas_axis.set_xticks(positions, labels)
    if d.partial and d.generated_at is not None:
        # Days still to come are greyed out, so an empty bar there does not read as a quiet day.
        today = d.generated_at.astimezone(zone(d.timezone)).date()
        for label, day in zip(ideas_axis.get_xticklabels(), d.days, strict=True):
            if day.day > today:
                label.set_color("#9a9a9a")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
