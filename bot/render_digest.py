"""The digest as Discord embeds (split to fit Discord's limits), a PNG chart, and the exports
(Markdown, a self-contained HTML page, CSV, JSON)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import discord

from bot.domain.digest import ChallengeLine, Digest, IdeaLine, change
from bot.domain.ideas import Status
from bot.llm.synthesis import clean_untrusted

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
EMBED_TOTAL_MAX = 6000
EMBEDS_PER_MESSAGE = 10
CHART_FILENAME = "digest-chart.png"
COLOUR = 0x5865F2


def _status_label(value: str) -> str:
    try:
        return Status(value).label
    except ValueError:
        return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def overview_lines(d: Digest) -> list[str]:
    c, p = d.counts, d.previous
    return [
        f"New ideas: {c.new_ideas} ({change(c.new_ideas, p.new_ideas)} vs last week)",
        f"Votes: {c.votes} ({change(c.votes, p.votes)})",
        f"Active members: {c.active_members} ({change(c.active_members, p.active_members)})",
    ]


def period_text(d: Digest) -> str:
    first = d.days[0].day if d.days else d.period.week.monday
    last = d.days[-1].day if d.days else first
    return f"{first:%a %d %b} – {last:%a %d %b %Y} ({d.timezone})"


def themes_source_line(d: Digest) -> str:
    if d.fallback_note:
        return d.fallback_note
    return "Themes grouped by the AI assistant." if d.themes_from == "llm" else "Themes grouped by shared keywords."


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
        Section("Top new ideas", [_idea(i, note=False) for i in d.top_new], "No new idea has votes yet."),
        Section("Trending", [_idea(i) for i in d.trending], "Nothing picked up speed this week."),
        Section("Decisions", changes, "No status changes this week."),
        Section(
            f"Waiting for an answer (over {d.waiting_days} days)", waiting, "Every idea has had an answer in time."
        ),
        Section(
            "Reached a support stage",
            _more([_idea(c.idea) for c in d.crossed], len(d.crossed), d.crossed_total),
            "No idea reached a support stage this week.",
        ),
        Section(
            "Archived (no answer and no votes for too long)",
            _more([_idea(i) for i in d.archived], len(d.archived), d.archived_total),
            "No idea was archived this week.",
        ),
        Section(
            "Expired (missed a support stage deadline)",
            _more([_idea(i) for i in d.expired], len(d.expired), d.expired_total),
            "No idea expired this week.",
        ),
        Section(
            "Challenges closed",
            [_challenge(c, lambda i: _idea(i, note=False), escape) for c in d.challenges],
            "No challenge closed this week.",
        ),
        Section("Top contributors", [f"<@{c.user_id}> · {c.points} points" for c in d.contributors], "—"),
        Section("Role promotions", [f"<@{p.user_id}> → <@&{p.role_id}>" for p in d.promotions], "—"),
        Section("Themes", themes, "Too few ideas this week to group."),
    ]


# --- Discord embeds ------------------------------------------------------------------------------------


def _fields(section: Section) -> list[tuple[str, str]]:
    """A section as one or more fields of at most 1024 characters (whole lines where possible)."""
    lines = [_clip(line, FIELD_VALUE_MAX) for line in section.lines] or [section.empty]
    fields: list[tuple[str, str]] = []
    current: list[str] = []
    for line in lines:
        if current and len("\n".join([*current, line])) > FIELD_VALUE_MAX:
            fields.append((section.title, "\n".join(current)))
            current = []
        current.append(line)
    fields.append((section.title, "\n".join(current)))
    return [
        (_clip(name if i == 0 else f"{name} (cont.)", FIELD_NAME_MAX), value) for i, (name, value) in enumerate(fields)
    ]


def _embed_size(embed: discord.Embed) -> int:
    total = len(embed.title or "") + len(embed.description or "") + len(embed.footer.text or "")
    return total + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)


def digest_embeds(d: Digest, *, chart: bool = True) -> list[list[discord.Embed]]:
    """The digest as messages of embeds, each message within Discord's limits."""
    head = discord.Embed(
        title=_clip(f"Weekly digest · {d.week}", TITLE_MAX),
        colour=COLOUR,
        timestamp=d.generated_at,
    )
    description = [period_text(d), "", *overview_lines(d)]
    if d.summary:
        description += ["", clean_untrusted(d.summary, 1000)]
    description += ["", f"*{themes_source_line(d)}*"]
    head.description = _clip("\n".join(description), DESCRIPTION_MAX)
    if chart:
        head.set_image(url=f"attachment://{CHART_FILENAME}")
    head.set_footer(text="ideabot weekly digest")

    embeds = [head]
    for section in sections(d):
        for name, value in _fields(section):
            embed = embeds[-1]
            if len(embed.fields) >= FIELDS_MAX or _embed_size(embed) + len(name) + len(value) > EMBED_TOTAL_MAX - 100:
                embed = discord.Embed(title=_clip(f"Weekly digest · {d.week} (continued)", TITLE_MAX), colour=COLOUR)
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
    """Votes and submissions per day of the week, as a PNG (matplotlib, Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [f"{day.day:%a}\n{day.day:%d %b}" for day in d.days]
    positions = list(range(len(d.days)))
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    votes_axis = figure.subplots()
    votes_axis.bar(
        [p - 0.2 for p in positions], [day.votes for day in d.days], width=0.4, label="votes", color="#5865F2"
    )
    ideas_axis = votes_axis.twinx()
    ideas_axis.bar(
        [p + 0.2 for p in positions], [day.ideas for day in d.days], width=0.4, label="new ideas", color="#57F287"
    )
    votes_axis.set_xticks(positions, labels)
    votes_axis.set_ylabel("votes")
    ideas_axis.set_ylabel("new ideas")
    for axis in (votes_axis, ideas_axis):
        axis.set_ylim(bottom=0)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    votes_axis.set_title(f"Week {d.week}: votes and new ideas per day")
    handles = votes_axis.get_legend_handles_labels()[0] + ideas_axis.get_legend_handles_labels()[0]
    votes_axis.legend(handles, ["votes", "new ideas"], loc="upper left", frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# --- exports ---------------------------------------------------------------------------------------------


def _terms(line: IdeaLine) -> str:
    return f" [terms {line.terms_version}]" if line.terms_version else ""


def _plain_idea(line: IdeaLine, note: bool = True) -> str:
    text = f"#{line.number} {line.title} (👍 {line.upvotes} 👎 {line.downvotes}){_terms(line)}"
    return text + (f" — {line.note}" if note and line.note else "")


def _export_sections(d: Digest) -> list[tuple[str, list[str]]]:
    return [
        ("Top new ideas", [_plain_idea(i, False) for i in d.top_new]),
        ("Trending", [_plain_idea(i) for i in d.trending]),
        (
            "Decisions",
            [
                f"#{s.idea.number} {s.idea.title}{_terms(s.idea)}: {_status_label(s.old_status)} →"
                f" {_status_label(s.new_status)}" + (f" — {s.reason}" if s.reason else "")
                for s in d.status_changes
            ],
        ),
        (
            f"Waiting for an answer (over {d.waiting_days} days, {d.waiting_total} in all)",
            [_plain_idea(i) for i in d.waiting],
        ),
        (
            f"Reached a support stage ({d.crossed_total} in all)",
            [_plain_idea(c.idea) for c in d.crossed],
        ),
        (f"Archived ({d.archived_total} in all)", [_plain_idea(i) for i in d.archived]),
        (f"Expired: missed a support stage deadline ({d.expired_total} in all)", [_plain_idea(i) for i in d.expired]),
        ("Challenges closed", [_challenge(c, lambda i: _plain_idea(i, False)) for c in d.challenges]),
        ("Top contributors", [f"user {c.user_id}: {c.points} points" for c in d.contributors]),
        ("Role promotions", [f"user {p.user_id} → role {p.role_id}" for p in d.promotions]),
        (
            "Themes",
            [
                f"{t.name}: " + ", ".join(f"#{n}" for n in t.idea_numbers) + (f" — {t.summary}" if t.summary else "")
                for t in d.themes
            ],
        ),
    ]


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in text)


def to_markdown(d: Digest) -> str:
    out = [f"# Weekly digest · {d.week}", "", period_text(d), ""]
    out += [f"- {line}" for line in overview_lines(d)]
    if d.summary:
        out += ["", _md_escape(d.summary)]
    out += ["", f"_{themes_source_line(d)}_"]
    for title, lines in _export_sections(d):
        out += ["", f"## {title}", ""]
        out += [f"- {_md_escape(line)}" for line in lines] or ["- none"]
    out += ["", "| day | new ideas | votes |", "|---|---|---|"]
    out += [f"| {day.day:%a %d %b} | {day.ideas} | {day.votes} |" for day in d.days]
    return "\n".join(out) + "\n"


def to_html(d: Digest, chart: bytes | None = None, chart_src: str | None = None) -> str:
    """The digest as a web page; `chart_src` points the chart elsewhere (an email's inline part)."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Weekly digest {e(str(d.week))}</title>",
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "h1{margin-bottom:0}.period{color:#666;margin-top:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}"
        "ul{padding-left:1.2rem}li{margin:.2rem 0}.note{color:#555;font-style:italic}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .6rem;text-align:right}"
        "</style></head><body>",
        f"<h1>Weekly digest · {e(str(d.week))}</h1>",
        f'<p class="period">{e(period_text(d))}</p>',
        "<ul>" + "".join(f"<li>{e(line)}</li>" for line in overview_lines(d)) + "</ul>",
    ]
    if d.summary:
        parts.append(f"<p>{e(d.summary)}</p>")
    parts.append(f'<p class="note">{e(themes_source_line(d))}</p>')
    if chart:
        src = chart_src or "data:image/png;base64," + base64.b64encode(chart).decode("ascii")
        parts.append(f'<img alt="Votes and new ideas per day" src="{e(src)}">')
    for title, lines in _export_sections(d):
        parts.append(f"<h2>{e(title)}</h2>")
        parts.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>" if lines else "<p>None.</p>")
    parts.append("<h2>By day</h2><table><tr><th>day</th><th>new ideas</th><th>votes</th></tr>")
    parts += [f"<tr><td>{day.day:%a %d %b}</td><td>{day.ideas}</td><td>{day.votes}</td></tr>" for day in d.days]
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


CSV_COLUMNS = ("section", "number", "title", "status", "upvotes", "downvotes", "score", "detail", "terms_version")


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
        yield ("contributor", "", contributor.user_id, "", "", "", contributor.points, "", "")
    for promotion in d.promotions:
        yield ("promotion", "", promotion.user_id, "", "", "", "", f"role {promotion.role_id}", "")
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
        writer.writerow([_csv_safe(value) for value in row])
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
        "top_contributors": [{"user_id": str(c.user_id), "points": c.points} for c in d.contributors],
        "role_promotions": [
            {"user_id": str(p.user_id), "role_id": str(p.role_id), "at": p.at.isoformat()} for p in d.promotions
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
