"""The digest as Discord embeds (split to fit Discord's limits), a PNG chart, and the exports
(Markdown, a self-contained HTML page, CSV, JSON)."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import discord
import jinja2

from bot.digest.rules import ChallengeLine, Contributor, Digest, IdeaLine, Promotion, compared, zone
from bot.edge.embeds import (
    EMBED_DESCRIPTION_MAX,
    EMBED_TITLE_MAX,
    EMBED_TOTAL_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    clip,
)
from bot.i18n import DISCORD_LOCALES, SOURCE, _, current, ngettext, use, when
from bot.ideas.rules import Status, shown_reason
from bot.llm.synthesis import clean_untrusted

EMBEDS_PER_MESSAGE = 10
CHART_FILENAME = "digest-chart.png"
COLOUR = 0x5865F2


def _status_label(value: str) -> str:
    try:
        return Status(value).label
    except ValueError:
        return value


def _idea(line: IdeaLine, *, note: bool = True) -> str:
    text = f"#{line.number} {discord.utils.escape_markdown(line.title)} · 👍 {line.upvotes} 👎 {line.downvotes}"
    if note and line.note:
        text += f" · {line.note}"
    return text


def _more(lines: list[str], shown: int, total: int) -> list[str]:
    return [*lines, _("… and {count} more").format(count=total - shown)] if total > shown else lines


PLACES = {1: "1st", 2: "2nd", 3: "3rd"}


def _place(place: int) -> str:
    return PLACES.get(place, f"{place}th")


def _challenge(c: ChallengeLine, idea: Callable[[IdeaLine], str], escape: Callable[[str], str] = str) -> str:
    """'Challenge #2 Greener office (award: A day off): 1st #12 Solar panels; 2nd …'. Winning ideas
    only, never their authors (a winner may be anonymous)."""
    head = _("Challenge #{number} {title}").format(number=c.number, title=escape(c.title)) + (
        _(" (award: {award})").format(award=escape(c.award)) if c.award else ""
    )
    winners = "; ".join(
        _("{place} {idea} +{points} points").format(place=_place(w.place), idea=idea(w.idea), points=w.points)
        for w in c.winners
    )
    return f"{head}: {winners or _('no winner (no entry had an upvote)')}"


# --- sections: the same content for every format ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: list[str]
    empty: str
    short: str = ""  # how the fold line names it when empty, e.g. "trending ideas"


def digest_title(d: Digest) -> str:
    if d.partial and d.generated_at is not None:
        until = d.generated_at.astimezone(zone(d.timezone))
        return _("The week so far · {week} (until {until})").format(
            week=d.week, until=when(until, "%a %d %b %H:%M", "MMMEdHm")
        )
    return _("Weekly digest · {week}").format(week=d.week)


def overview_lines(d: Digest) -> list[str]:
    c, p = d.counts, d.previous
    return [
        _("New ideas: {compared}").format(compared=compared(c.new_ideas, p.new_ideas)),
        _("Votes: {compared}").format(compared=compared(c.votes, p.votes)),
        _("Active members: {compared}").format(compared=compared(c.active_members, p.active_members)),
    ]


def period_text(d: Digest) -> str:
    first = d.days[0].day if d.days else d.period.week.monday
    last = d.days[-1].day if d.days else first
    if d.partial and d.generated_at is not None:
        today = d.generated_at.astimezone(zone(d.timezone)).date()
        return _("{first} – {today}, the week so far ({timezone})").format(
            first=when(first, "%a %d %b", "MMMEd"), today=when(today, "%a %d %b %Y", "yMMMEd"), timezone=d.timezone
        )
    return f"{when(first, '%a %d %b', 'MMMEd')} – {when(last, '%a %d %b %Y', 'yMMMEd')} ({d.timezone})"


def themes_source_line(d: Digest) -> str:
    if d.fallback_note:
        return d.fallback_note
    return (
        _("Themes grouped by the AI assistant.") if d.themes_from == "llm" else _("Themes grouped by shared keywords.")
    )


def fold_line(empty: list[Section]) -> str:
    """Empty sections in one line, so a quiet week reads as a short list, not a wall of 'None'."""
    listed = ", ".join(s.short or s.title.lower() for s in empty)
    return listed[:1].upper() + listed[1:] + "."


def split_sections(all_sections: list[Section]) -> tuple[list[Section], list[Section]]:
    return [s for s in all_sections if s.lines], [s for s in all_sections if not s.lines]


def contributor_line(c: Contributor) -> str:
    return ngettext("{label} · {points} point", "{label} · {points} points", c.points).format(
        label=c.label, points=c.points
    )


def promotion_line(p: Promotion) -> str:
    return f"{p.label} → {p.role_label}"


def sections(d: Digest) -> list[Section]:
    changes = [
        f"#{s.idea.number} {discord.utils.escape_markdown(s.idea.title)}: {_status_label(s.old_status)} → "
        f"**{_status_label(s.new_status)}**"
        + (f" — {discord.utils.escape_markdown(shown_reason(s.reason))}" if s.reason else "")
        for s in d.status_changes
    ]
    waiting = _more([_idea(i) for i in d.waiting], len(d.waiting), d.waiting_total)
    escape = discord.utils.escape_markdown
    themes = [
        f"**{discord.utils.escape_markdown(t.name)}**: "
        + ", ".join(f"#{n}" for n in t.idea_numbers)
        + (f" — {t.summary}" if t.summary else "")
        for t in d.themes
    ]
    return [
        Section(
            _("Top new ideas"),
            [_idea(i, note=False) for i in d.top_new],
            _("No new idea has votes yet."),
            _("voted new ideas"),
        ),
        Section(
            _("Trending"), [_idea(i) for i in d.trending], _("Nothing picked up speed this week."), _("trending ideas")
        ),
        Section(_("Decisions"), changes, _("No status changes this week."), "decisions"),
        Section(
            _("Waiting for an answer (over {waiting_days} days)").format(waiting_days=d.waiting_days),
            waiting,
            _("Every idea has had an answer in time."),
            _("ideas waiting over {waiting_days} days").format(waiting_days=d.waiting_days),
        ),
        Section(
            _("Reached a support stage"),
            _more([_idea(c.idea) for c in d.crossed], len(d.crossed), d.crossed_total),
            _("No idea reached a support stage this week."),
            _("support stages reached"),
        ),
        Section(
            _("Archived (no answer and no votes for too long)"),
            _more([_idea(i) for i in d.archived], len(d.archived), d.archived_total),
            _("No idea was archived this week."),
            _("archived ideas"),
        ),
        Section(
            _("Expired (missed a support stage deadline)"),
            _more([_idea(i) for i in d.expired], len(d.expired), d.expired_total),
            _("No idea expired this week."),
            _("expired ideas"),
        ),
        Section(
            _("Challenges closed"),
            [_challenge(c, lambda i: _idea(i, note=False), escape) for c in d.challenges],
            _("No challenge closed this week."),
            _("closed challenges"),
        ),
        Section(
            _("Thank you, top contributors"),
            # A member never seen by name is a mention: Discord shows it as their name; embeds never ping.
            [
                ngettext("{name} · {points} point", "{name} · {points} points", c.points).format(
                    name=escape(c.name) if c.name else f"<@{c.user_id}>", points=c.points
                )
                for c in d.contributors
            ],
            "—",
            _("contributors with points"),
        ),
        Section(
            _("Role promotions"),
            [
                f"{escape(p.name) if p.name else f'<@{p.user_id}>'} → "
                + (escape(p.role_name) if p.role_name else f"<@&{p.role_id}>")
                for p in d.promotions
            ],
            "—",
            _("role promotions"),
        ),
        Section(_("Themes"), themes, _("Too few ideas this week to group."), "themes"),
    ]


# --- Discord embeds ------------------------------------------------------------------------------------


def _fields(section: Section) -> list[tuple[str, str]]:
    """A section as one or more fields of at most 1024 characters (whole lines where possible)."""
    lines = [clip(line, FIELD_VALUE_MAX) for line in section.lines] or [section.empty]
    fields: list[tuple[str, str]] = []
    current: list[str] = []
    for line in lines:
        if current and len("\n".join([*current, line])) > FIELD_VALUE_MAX:
            fields.append((section.title, "\n".join(current)))
            current = []
        current.append(line)
    fields.append((section.title, "\n".join(current)))
    return [
        (clip(name if i == 0 else _("{name} (cont.)").format(name=name), FIELD_NAME_MAX), value)
        for i, (name, value) in enumerate(fields)
    ]


def _embed_size(embed: discord.Embed) -> int:
    total = len(embed.title or "") + len(embed.description or "") + len(embed.footer.text or "")
    return total + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


def digest_embeds(d: Digest, *, chart: bool = True) -> list[list[discord.Embed]]:
    """The digest as messages of embeds, each message within Discord's limits."""
    head = discord.Embed(
        title=clip(digest_title(d), EMBED_TITLE_MAX),
        colour=COLOUR,
        timestamp=d.generated_at,
    )
    description = [period_text(d), "", *overview_lines(d)]
    if d.summary:
        description += ["", clean_untrusted(d.summary, 1000)]
    description += ["", f"*{themes_source_line(d)}*"]
    head.description = clip("\n".join(description), EMBED_DESCRIPTION_MAX)
    if chart:
        head.set_image(url=f"attachment://{CHART_FILENAME}")
    head.set_footer(text=_("ideabot weekly digest"))

    embeds = [head]
    shown, empty = split_sections(sections(d))
    if empty:
        shown.append(Section(_("Nothing this week"), [clip(fold_line(empty), FIELD_VALUE_MAX)], ""))
    for section in shown:
        for name, value in _fields(section):
            embed = embeds[-1]
            if len(embed.fields) >= FIELDS_MAX or _embed_size(embed) + len(name) + len(value) > EMBED_TOTAL_MAX - 100:
                embed = discord.Embed(
                    title=clip(_("{digest_title} (continued)").format(digest_title=digest_title(d)), EMBED_TITLE_MAX),
                    colour=COLOUR,
                )
                embeds.append(embed)
            embed.add_field(name=name, value=value, inline=False)

    messages: list[list[discord.Embed]] = [[]]
    size = 0
    for embed in embeds:
        this = _embed_size(embed)
        if messages[-1] and (len(messages[-1]) >= EMBEDS_PER_MESSAGE or size + this > EMBED_TOTAL_MAX):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += this
    return messages


# --- the chart -----------------------------------------------------------------------------------------


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


# --- exports ---------------------------------------------------------------------------------------------


def _terms(line: IdeaLine) -> str:
    return _(" [terms {terms_version}]").format(terms_version=line.terms_version) if line.terms_version else ""


def _plain_idea(line: IdeaLine, note: bool = True) -> str:
    text = f"#{line.number} {line.title} (👍 {line.upvotes} 👎 {line.downvotes}){_terms(line)}"
    return text + (f" — {line.note}" if note and line.note else "")


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One line of an export: an idea (rendered per format) or plain text."""

    text: str
    idea: IdeaLine | None = None
    note: str = ""  # after the idea, e.g. the reason of a decision


def _idea_item(line: IdeaLine, note: bool = True, extra: str = "") -> ExportItem:
    shown = extra or (line.note if note else "")
    return ExportItem(_plain_idea(line, note) if not extra else f"{_plain_idea(line, False)} — {extra}", line, shown)


def _export_sections(d: Digest) -> list[tuple[str, list[ExportItem], str]]:
    """(title, items, how the fold line names it when empty)."""
    decisions = [
        ExportItem(
            f"#{s.idea.number} {s.idea.title}{_terms(s.idea)}: {_status_label(s.old_status)} →"
            f" {_status_label(s.new_status)}" + (f" — {shown_reason(s.reason)}" if s.reason else ""),
            s.idea,
            f"{_status_label(s.old_status)} → {_status_label(s.new_status)}"
            + (f" — {shown_reason(s.reason)}" if s.reason else ""),
        )
        for s in d.status_changes
    ]
    themes = [
        ExportItem(
            f"{t.name}: " + ", ".join(f"#{n}" for n in t.idea_numbers) + (f" — {t.summary}" if t.summary else "")
        )
        for t in d.themes
    ]
    return [
        (_("Top new ideas"), [_idea_item(i, False) for i in d.top_new], _("voted new ideas")),
        (_("Trending"), [_idea_item(i) for i in d.trending], _("trending ideas")),
        (_("Decisions"), decisions, "decisions"),
        (
            _("Waiting for an answer (over {waiting_days} days, {waiting_total} in all)").format(
                waiting_days=d.waiting_days, waiting_total=d.waiting_total
            ),
            [_idea_item(i) for i in d.waiting],
            _("ideas waiting over {waiting_days} days").format(waiting_days=d.waiting_days),
        ),
        (
            _("Reached a support stage ({crossed_total} in all)").format(crossed_total=d.crossed_total),
            [_idea_item(c.idea) for c in d.crossed],
            _("support stages reached"),
        ),
        (
            _("Archived ({archived_total} in all)").format(archived_total=d.archived_total),
            [_idea_item(i) for i in d.archived],
            _("archived ideas"),
        ),
        (
            _("Expired: missed a support stage deadline ({expired_total} in all)").format(
                expired_total=d.expired_total
            ),
            [_idea_item(i) for i in d.expired],
            _("expired ideas"),
        ),
        (
            _("Challenges closed"),
            [ExportItem(_challenge(c, lambda i: _plain_idea(i, False))) for c in d.challenges],
            _("closed challenges"),
        ),
        (
            _("Thank you, top contributors"),
            [ExportItem(contributor_line(c)) for c in d.contributors],
            _("contributors with points"),
        ),
        (_("Role promotions"), [ExportItem(promotion_line(p)) for p in d.promotions], _("role promotions")),
        (_("Themes"), themes, "themes"),
    ]


def _export_fold(d: Digest) -> tuple[list[tuple[str, list[ExportItem]]], str | None]:
    shown = [(title, items) for title, items, _ in _export_sections(d) if items]
    empty = [short for _, items, short in _export_sections(d) if not items]
    return shown, (_("Nothing this week: ") + ", ".join(empty) + ".") if empty else None


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in text)


def to_markdown(d: Digest) -> str:
    out = [f"# {digest_title(d)}", "", period_text(d), ""]
    out += [f"- {line}" for line in overview_lines(d)]
    if d.summary:
        out += ["", _md_escape(d.summary)]
    out += ["", f"_{themes_source_line(d)}_"]
    shown, fold = _export_fold(d)
    for title, items in shown:
        out += ["", f"## {title}", ""]
        out += [f"- {_md_escape(item.text)}" for item in items]
    if fold:
        out += ["", fold]
    out += ["", _("| day | new ideas | votes |"), "|---|---|---|"]
    out += [f"| {when(day.day, '%a %d %b', 'MMMEd')} | {day.ideas} | {day.votes} |" for day in d.days]
    return "\n".join(out) + "\n"


@cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.digest", "templates"),
        autoescape=True,  # every value is member text or derived from it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # `_("text %(name)s", name=...)` in the template, as Jinja's i18n extension writes it (babel.cfg
    # extracts it so); it reads the current language when the template runs.
    environment.globals["_"] = _template_text
    return environment


def _template_text(message: str, **values: object) -> str:
    text = _(message)
    return text % values if values else text


def to_html(d: Digest, chart: bytes | None = None, chart_src: str | None = None) -> str:
    """The digest as a web page; `chart_src` points the chart elsewhere (an email's inline part)."""
    src = None
    if chart:
        src = chart_src or "data:image/png;base64," + base64.b64encode(chart).decode("ascii")
    shown, fold = _export_fold(d)
    return (
        _templates()
        .get_template("digest.html.j2")
        .render(
            lang="en" if current() == SOURCE else DISCORD_LOCALES[current()],
            title=digest_title(d),
            period=period_text(d),
            overview=overview_lines(d),
            summary=d.summary,
            themes_source=themes_source_line(d),
            chart_src=src,
            sections=[
                (
                    title,
                    [(item, f"#{item.idea.number} {item.idea.title}" if item.idea else item.text) for item in items],
                )
                for title, items in shown
            ],
            fold=fold,
            days=[(when(day.day, "%a %d %b", "MMMEd"), day.ideas, day.votes) for day in d.days],
        )
    )


CSV_COLUMNS = (
    "section",
    "number",
    "title",
    "status",
    "upvotes",
    "downvotes",
    "score",
    "detail",
    "terms_version",
    "user_id",
    "role_id",
)


def _csv_rows(d: Digest) -> Iterable[tuple[Any, ...]]:
    c, p = d.counts, d.previous
    for name, now, before in (
        ("new_ideas", c.new_ideas, p.new_ideas),
        ("votes", c.votes, p.votes),
        ("active_members", c.active_members, p.active_members),
    ):
        yield ("count", "", name, "", "", "", now, _("previous week {before}").format(before=before), "")
    for name, total, listed in (
        ("crossed", d.crossed_total, len(d.crossed)),
        ("archived", d.archived_total, len(d.archived)),
        ("expired", d.expired_total, len(d.expired)),
    ):
        yield ("count", "", name, "", "", "", total, _("listed {listed}").format(listed=listed), "")
    for day in d.days:
        yield (
            "day",
            "",
            day.day.isoformat(),
            "",
            "",
            "",
            day.votes,
            _("new ideas {ideas}").format(ideas=day.ideas),
            "",
        )
    for section, lines in (
        ("top_new", d.top_new),
        ("trending", d.trending),
        ("waiting", d.waiting),
        ("crossed", [c.idea for c in d.crossed]),  # score: the stage; detail: the stage's requirement
        ("archived", d.archived),
        ("expired", d.expired),
    ):
        for i in lines:
            yield _csv_idea(section, i, round(i.score, 4), i.note)
    for s in d.status_changes:
        yield (
            "status_change",
            s.idea.number,
            s.idea.title,
            s.new_status,
            "",
            "",
            "",
            _("from {old_status}: {value}").format(old_status=s.old_status, value=s.reason or ""),
            s.idea.terms_version or "",
        )
    for challenge in d.challenges:
        award = _(" (award: {award})").format(award=challenge.award) if challenge.award else ""
        yield (
            "challenge",
            challenge.number,
            challenge.title,
            "closed",
            "",
            "",
            len(challenge.winners),
            _("closed {closed_at:%Y-%m-%d}{award}").format(closed_at=challenge.closed_at, award=award),
            "",
        )
        for w in challenge.winners:
            yield _csv_idea(
                "challenge_winner",
                w.idea,
                w.points,
                _("challenge #{number}: {place}").format(number=challenge.number, place=_place(w.place)),
            )
    for contributor in d.contributors:
        yield (
            "contributor",
            "",
            contributor.label,
            "",
            "",
            "",
            contributor.points,
            "",
            "",
            str(contributor.user_id),
            "",
        )
    for promotion in d.promotions:
        yield (
            "promotion",
            "",
            promotion.label,
            "",
            "",
            "",
            "",
            promotion.role_label,
            "",
            str(promotion.user_id),
            str(promotion.role_id),
        )
    for theme in d.themes:
        yield (
            "theme",
            "",
            theme.name,
            "",
            "",
            "",
            len(theme.idea_numbers),
            " ".join(f"#{n}" for n in theme.idea_numbers),
            "",
        )


def _csv_idea(section: str, i: IdeaLine, score: Any, detail: str) -> tuple[Any, ...]:
    return (section, i.number, i.title, i.status, i.upvotes, i.downvotes, score, detail, i.terms_version or "")


def _csv_safe(value: Any) -> Any:
    """Spreadsheets run cells starting with = + - @ as formulas; defuse member text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(d: Digest) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(d):
        padded = (*row, *[""] * (len(CSV_COLUMNS) - len(row)))
        writer.writerow([_csv_safe(value) for value in padded])
    return buffer.getvalue()


def _line_dict(i: IdeaLine) -> dict[str, Any]:
    return {
        "number": i.number,
        "title": i.title,
        "status": i.status,
        "upvotes": i.upvotes,
        "downvotes": i.downvotes,
        "score": round(i.score, 6),
        "note": i.note,
        "created_at": i.created_at.isoformat() if i.created_at else None,
        "terms_version": i.terms_version,
    }


def to_dict(d: Digest) -> dict[str, Any]:
    return {
        "guild_id": str(d.guild_id),
        "week": str(d.week),
        "title": digest_title(d),
        "partial": d.partial,
        "timezone": d.timezone,
        "start": d.period.start.isoformat(),
        "end": d.period.end.isoformat(),
        "generated_at": d.generated_at.isoformat() if d.generated_at else None,
        "counts": {"new_ideas": d.counts.new_ideas, "votes": d.counts.votes, "active_members": d.counts.active_members},
        "previous": {
            "new_ideas": d.previous.new_ideas,
            "votes": d.previous.votes,
            "active_members": d.previous.active_members,
        },
        "days": [{"day": day.day.isoformat(), "new_ideas": day.ideas, "votes": day.votes} for day in d.days],
        "top_new": [_line_dict(i) for i in d.top_new],
        "trending": [_line_dict(i) for i in d.trending],
        "status_changes": [
            {
                "number": s.idea.number,
                "title": s.idea.title,
                "old_status": s.old_status,
                "new_status": s.new_status,
                "reason": s.reason,
                "at": s.at.isoformat(),
                "terms_version": s.idea.terms_version,
            }
            for s in d.status_changes
        ],
        "waiting": {"days": d.waiting_days, "total": d.waiting_total, "ideas": [_line_dict(i) for i in d.waiting]},
        "crossed_stages": {
            "total": d.crossed_total,
            "crossings": [
                {
                    **_line_dict(c.idea),
                    "stage": c.stage,
                    "requirement": c.requirement or None,
                    "upvotes_when_crossed": c.votes,
                    "at": c.at.isoformat(),
                }
                for c in d.crossed
            ],
        },
        "archived": {"total": d.archived_total, "ideas": [_line_dict(i) for i in d.archived]},
        "expired": {"total": d.expired_total, "ideas": [_line_dict(i) for i in d.expired]},
        "challenges_closed": [
            {
                "number": c.number,
                "title": c.title,
                "award": c.award,
                "closed_at": c.closed_at.isoformat(),
                "winners": [{"place": w.place, "points": w.points, **_line_dict(w.idea)} for w in c.winners],
            }
            for c in d.challenges
        ],
        "top_contributors": [
            {"user_id": str(c.user_id), "name": c.name or None, "label": c.label, "points": c.points}
            for c in d.contributors
        ],
        "role_promotions": [
            {
                "user_id": str(p.user_id),
                "name": p.name or None,
                "label": p.label,
                "role_id": str(p.role_id),
                "role_name": p.role_name or None,
                "at": p.at.isoformat(),
            }
            for p in d.promotions
        ],
        "themes": [{"name": t.name, "ideas": list(t.idea_numbers), "summary": t.summary} for t in d.themes],
        "themes_from": d.themes_from,
        "summary": d.summary,
        "fallback_note": d.fallback_note,
    }


def to_json(d: Digest) -> str:
    return json.dumps(to_dict(d), ensure_ascii=False, indent=2) + "\n"


def export(d: Digest, fmt: str, chart: bytes | None = None) -> str:
    if fmt == "md":
        return to_markdown(d)
    if fmt == "html":
        return to_html(d, chart)
    if fmt == "csv":
        return to_csv(d)
    if fmt == "json":
        return to_json(d)
    raise ValueError(f"unknown format {fmt!r}")
