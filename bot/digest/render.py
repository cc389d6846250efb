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
from bot.ideas.rules import Status
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
    return [*lines, f"… and {total - shown} more"] if total > shown else lines


PLACES = {1: "1st", 2: "2nd", 3: "3rd"}


def _place(place: int) -> str:
    return PLACES.get(place, f"{place}th")


def _challenge(c: ChallengeLine, idea: Callable[[IdeaLine], str], escape: Callable[[str], str] = str) -> str:
    """'Challenge #2 Greener office (award: A day off): 1st #12 Solar panels; 2nd …'. Winning ideas
    only, never their authors (a winner may be anonymous)."""
    head = f"Challenge #{c.number} {escape(c.title)}" + (f" (award: {escape(c.award)})" if c.award else "")
    winners = "; ".join(f"{_place(w.place)} {idea(w.idea)} +{w.points} points" for w in c.winners)
    return f"{head}: {winners or 'no winner (no entry had an upvote)'}"


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
        return f"The week so far · {d.week} (until {until:%a %d %b %H:%M})"
    return f"Weekly digest · {d.week}"


def overview_lines(d: Digest) -> list[str]:
    c, p = d.counts, d.previous
    return [
        f"New ideas: {compared(c.new_ideas, p.new_ideas)}",
        f"Votes: {compared(c.votes, p.votes)}",
        f"Active members: {compared(c.active_members, p.active_members)}",
    ]


def period_text(d: Digest) -> str:
    first = d.days[0].day if d.days else d.period.week.monday
    last = d.days[-1].day if d.days else first
    if d.partial and d.generated_at is not None:
        today = d.generated_at.astimezone(zone(d.timezone)).date()
        return f"{first:%a %d %b} – {today:%a %d %b %Y}, the week so far ({d.timezone})"
    return f"{first:%a %d %b} – {last:%a %d %b %Y} ({d.timezone})"


def themes_source_line(d: Digest) -> str:
    if d.fallback_note:
        return d.fallback_note
    if d.themes_from == "llm":
        return "Themes grouped by the AI assistant."
    if d.themes_from == "meaning":
        return "Themes grouped by meaning (similar ideas, whatever their words)."
    return "Themes grouped by shared keywords."


def fold_line(empty: list[Section]) -> str:
    """Empty sections in one line, so a quiet week reads as a short list, not a wall of 'None'."""
    listed = ", ".join(s.short or s.title.lower() for s in empty)
    return listed[:1].upper() + listed[1:] + "."


def split_sections(all_sections: list[Section]) -> tuple[list[Section], list[Section]]:
    return [s for s in all_sections if s.lines], [s for s in all_sections if not s.lines]


def contributor_line(c: Contributor) -> str:
    return f"{c.label} · {c.points} point{'s' if c.points != 1 else ''}"


def promotion_line(p: Promotion) -> str:
    return f"{p.label} → {p.role_label}"


def sections(d: Digest) -> list[Section]:
    changes = [
        f"#{s.idea.number} {discord.utils.escape_markdown(s.idea.title)}: {_status_label(s.old_status)} → "
        f"**{_status_label(s.new_status)}**" + (f" — {discord.utils.escape_markdown(s.reason)}" if s.reason else "")
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
            "Top new ideas", [_idea(i, note=False) for i in d.top_new], "No new idea has votes yet.", "voted new ideas"
        ),
        Section("Trending", [_idea(i) for i in d.trending], "Nothing picked up speed this week.", "trending ideas"),
        Section("Decisions", changes, "No status changes this week.", "decisions"),
        Section(
            f"Waiting for an answer (over {d.waiting_days} days)",
            waiting,
            "Every idea has had an answer in time.",
            f"ideas waiting over {d.waiting_days} days",
        ),
        Section(
            "Reached a support stage",
            _more([_idea(c.idea) for c in d.crossed], len(d.crossed), d.crossed_total),
            "No idea reached a support stage this week.",
            "support stages reached",
        ),
        Section(
            "Archived (no answer and no votes for too long)",
            _more([_idea(i) for i in d.archived], len(d.archived), d.archived_total),
            "No idea was archived this week.",
            "archived ideas",
        ),
        Section(
            "Expired (missed a support stage deadline)",
            _more([_idea(i) for i in d.expired], len(d.expired), d.expired_total),
            "No idea expired this week.",
            "expired ideas",
        ),
        Section(
            "Challenges closed",
            [_challenge(c, lambda i: _idea(i, note=False), escape) for c in d.challenges],
            "No challenge closed this week.",
            "closed challenges",
        ),
        Section(
            "Thank you, top contributors",
            # A member never seen by name is a mention: Discord shows it as their name; embeds never ping.
            [
                f"{escape(c.name) if c.name else f'<@{c.user_id}>'} · {c.points} point{'s' if c.points != 1 else ''}"
                for c in d.contributors
            ],
            "—",
            "contributors with points",
        ),
        Section(
            "Role promotions",
            [
                f"{escape(p.name) if p.name else f'<@{p.user_id}>'} → "
                + (escape(p.role_name) if p.role_name else f"<@&{p.role_id}>")
                for p in d.promotions
            ],
            "—",
            "role promotions",
        ),
        Section("Themes", themes, "Too few ideas this week to group.", "themes"),
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
        (clip(name if i == 0 else f"{name} (cont.)", FIELD_NAME_MAX), value) for i, (name, value) in enumerate(fields)
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
    head.set_footer(text="ideabot weekly digest")

    embeds = [head]
    shown, empty = split_sections(sections(d))
    if empty:
        shown.append(Section("Nothing this week", [clip(fold_line(empty), FIELD_VALUE_MAX)], ""))
    for section in shown:
        for name, value in _fields(section):
            embed = embeds[-1]
            if len(embed.fields) >= FIELDS_MAX or _embed_size(embed) + len(name) + len(value) > EMBED_TOTAL_MAX - 100:
                embed = discord.Embed(title=clip(f"{digest_title(d)} (continued)", EMBED_TITLE_MAX), colour=COLOUR)
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


def chart_png(d: Digest) -> bytes:
    """Votes and submissions per day of the week, as a PNG (matplotlib, Agg, no pyplot state).

    Two panels sharing the days, each titled, instead of one plot with twin axes and a legend:
    nothing can sit on top of a bar, and each count keeps its own scale. Each bar carries its
    number above it, with head room reserved so the label stays inside the panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [f"{day.day:%a}\n{day.day:%d %b}" for day in d.days]
    positions = list(range(len(d.days)))
    figure = Figure(figsize=(8, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    votes_axis, ideas_axis = figure.subplots(2, 1, sharex=True)
    so_far = " so far" if d.partial else ""
    figure.suptitle(f"Week {d.week}{so_far}: activity per day", fontsize=12)
    for axis, values, colour, name in (
        (votes_axis, [day.votes for day in d.days], "#4752C4", "votes"),
        (ideas_axis, [day.ideas for day in d.days], "#2E9E5B", "new ideas"),
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
    return f" [terms {line.terms_version}]" if line.terms_version else ""


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
            f" {_status_label(s.new_status)}" + (f" — {s.reason}" if s.reason else ""),
            s.idea,
            f"{_status_label(s.old_status)} → {_status_label(s.new_status)}" + (f" — {s.reason}" if s.reason else ""),
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
        ("Top new ideas", [_idea_item(i, False) for i in d.top_new], "voted new ideas"),
        ("Trending", [_idea_item(i) for i in d.trending], "trending ideas"),
        ("Decisions", decisions, "decisions"),
        (
            f"Waiting for an answer (over {d.waiting_days} days, {d.waiting_total} in all)",
            [_idea_item(i) for i in d.waiting],
            f"ideas waiting over {d.waiting_days} days",
        ),
        (
            f"Reached a support stage ({d.crossed_total} in all)",
            [_idea_item(c.idea) for c in d.crossed],
            "support stages reached",
        ),
        (f"Archived ({d.archived_total} in all)", [_idea_item(i) for i in d.archived], "archived ideas"),
        (
            f"Expired: missed a support stage deadline ({d.expired_total} in all)",
            [_idea_item(i) for i in d.expired],
            "expired ideas",
        ),
        (
            "Challenges closed",
            [ExportItem(_challenge(c, lambda i: _plain_idea(i, False))) for c in d.challenges],
            "closed challenges",
        ),
        (
            "Thank you, top contributors",
            [ExportItem(contributor_line(c)) for c in d.contributors],
            "contributors with points",
        ),
        ("Role promotions", [ExportItem(promotion_line(p)) for p in d.promotions], "role promotions"),
        ("Themes", themes, "themes"),
    ]


def _export_fold(d: Digest) -> tuple[list[tuple[str, list[ExportItem]]], str | None]:
    shown = [(title, items) for title, items, _ in _export_sections(d) if items]
    empty = [short for _, items, short in _export_sections(d) if not items]
    return shown, ("Nothing this week: " + ", ".join(empty) + ".") if empty else None


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
    out += ["", "| day | new ideas | votes |", "|---|---|---|"]
    out += [f"| {day.day:%a %d %b} | {day.ideas} | {day.votes} |" for day in d.days]
    return "\n".join(out) + "\n"


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bot.digest", "templates"),
        autoescape=True,  # every value is member text or derived from it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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
            days=[(f"{day.day:%a %d %b}", day.ideas, day.votes) for day in d.days],
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
        yield ("count", "", name, "", "", "", now, f"previous week {before}", "")
    for name, total, listed in (
        ("crossed", d.crossed_total, len(d.crossed)),
        ("archived", d.archived_total, len(d.archived)),
        ("expired", d.expired_total, len(d.expired)),
    ):
        yield ("count", "", name, "", "", "", total, f"listed {listed}", "")
    for day in d.days:
        yield ("day", "", day.day.isoformat(), "", "", "", day.votes, f"new ideas {day.ideas}", "")
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
            f"from {s.old_status}: {s.reason or ''}",
            s.idea.terms_version or "",
        )
    for challenge in d.challenges:
        award = f" (award: {challenge.award})" if challenge.award else ""
        yield (
            "challenge",
            challenge.number,
            challenge.title,
            "closed",
            "",
            "",
            len(challenge.winners),
            f"closed {challenge.closed_at:%Y-%m-%d}{award}",
            "",
        )
        for w in challenge.winners:
            yield _csv_idea("challenge_winner", w.idea, w.points, f"challenge #{challenge.number}: {_place(w.place)}")
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
