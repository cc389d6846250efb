"""The digest's sections and their wording, shared by every format, and the digest as Discord
embeds split to fit Discord's limits. The chart is in chart.py, the exports in exports.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.digest.chart import CHART_FILENAME
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
from bot.i18n import _, ngettext, when
from bot.ideas.rules import Status, shown_reason
from bot.llm.synthesis import clean_untrusted

EMBEDS_PER_MESSAGE = 10
COLOUR = 0x5865F2


def status_label(value: str) -> str:
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


def place_text(place: int) -> str:
    return PLACES.get(place, f"{place}th")


def challenge_line(c: ChallengeLine, idea: Callable[[IdeaLine], str], escape: Callable[[str], str] = str) -> str:
    """'Challenge #2 Greener office (award: A day off): 1st #12 Solar panels; 2nd …'. Winning ideas
    only, never their authors (a winner may be anonymous)."""
    head = _("Challenge #{number} {title}").format(number=c.number, title=escape(c.title)) + (
        _(" (award: {award})").format(award=escape(c.award)) if c.award else ""
    )
    winners = "; ".join(
        _("{place} {idea} +{points} points").format(place=place_text(w.place), idea=idea(w.idea), points=w.points)
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
    if d.themes_from == "llm":
        return _("Themes grouped by the AI assistant.")
    if d.themes_from == "meaning":
        return _("Themes grouped by meaning (similar ideas, whatever their words).")
    return _("Themes grouped by shared keywords.")


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
        f"#{s.idea.number} {discord.utils.escape_markdown(s.idea.title)}: {status_label(s.old_status)} → "
        f"**{status_label(s.new_status)}**"
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
            [challenge_line(c, lambda i: _idea(i, note=False), escape) for c in d.challenges],
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
