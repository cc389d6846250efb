"""The digest's sections and their wording, shared by every format, and the digest as Discord
embeds split to fit Discord's limits. The chart is in chart.py, the exports in exports.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import discord

from bot.digest.chart import CHART_FILENAME
from bot.digest.rules import (
    ChallengeLine,
    Contributor,
    Digest,
    IdeaLine,
    Promotion,
    StatusChangeLine,
    Theme,
    compared,
    zone,
)
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

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class LineWriter(Protocol[T_co]):
    """How one format writes each kind of line of the digest: Discord markdown for the embeds,
    ExportItem for the files (exports.py)."""

    def idea(self, line: IdeaLine, *, note: bool = True) -> T_co: ...
    def decision(self, change: StatusChangeLine) -> T_co: ...
    def challenge(self, challenge: ChallengeLine) -> T_co: ...
    def contributor(self, contributor: Contributor) -> T_co: ...
    def promotion(self, promotion: Promotion) -> T_co: ...
    def theme(self, theme: Theme) -> T_co: ...
    def more(self, count: int) -> T_co: ...


@dataclass(frozen=True, slots=True)
class Section(Generic[T]):
    title: str
    lines: list[T]
    short: str  # how "Nothing this week" names it when empty, e.g. "trending ideas"


def sections(d: Digest, write: LineWriter[T]) -> list[Section[T]]:
    """The digest's sections in order, each format writing the lines its own way. A list the
    digest cuts short ends with "… and N more"."""

    def cut_short(lines: list[IdeaLine], total: int) -> list[T]:
        written = [write.idea(line) for line in lines]
        return [*written, write.more(total - len(lines))] if total > len(lines) else written

    return [
        Section(_("Top new ideas"), [write.idea(i, note=False) for i in d.top_new], _("voted new ideas")),
        Section(_("Trending"), [write.idea(i) for i in d.trending], _("trending ideas")),
        Section(_("Decisions"), [write.decision(s) for s in d.status_changes], _("decisions")),
        Section(
            _("Waiting for an answer (over {waiting_days} days)").format(waiting_days=d.waiting_days),
            cut_short(d.waiting, d.waiting_total),
            _("ideas waiting over {waiting_days} days").format(waiting_days=d.waiting_days),
        ),
        Section(
            _("Reached a support stage"),
            cut_short([c.idea for c in d.crossed], d.crossed_total),
            _("support stages reached"),
        ),
        Section(
            _("Archived (no answer and no votes for too long)"),
            cut_short(d.archived, d.archived_total),
            _("archived ideas"),
        ),
        Section(
            _("Expired (missed a support stage deadline)"),
            cut_short(d.expired, d.expired_total),
            _("expired ideas"),
        ),
        Section(_("Challenges closed"), [write.challenge(c) for c in d.challenges], _("closed challenges")),
        Section(
            _("Thank you, top contributors"),
            [write.contributor(c) for c in d.contributors],
            _("contributors with points"),
        ),
        Section(_("Role promotions"), [write.promotion(p) for p in d.promotions], _("role promotions")),
        Section(_("Themes"), [write.theme(t) for t in d.themes], _("themes")),
    ]


def shown_and_folded(all_sections: list[Section[T]]) -> tuple[list[Section[T]], list[str]]:
    """The sections with lines, and how the empty ones are named in "Nothing this week", so a
    quiet week reads as a short list, not a wall of "None"."""
    return [s for s in all_sections if s.lines], [s.short for s in all_sections if not s.lines]


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


def contributor_line(c: Contributor) -> str:
    return ngettext("{label} · {points} point", "{label} · {points} points", c.points).format(
        label=c.label, points=c.points
    )


def promotion_line(p: Promotion) -> str:
    return f"{p.label} → {p.role_label}"


class EmbedLines:
    """Lines in Discord markdown. A member never seen by name is a mention: Discord shows it as
    their name, and embeds never ping."""

    escape = staticmethod(discord.utils.escape_markdown)

    def idea(self, line: IdeaLine, *, note: bool = True) -> str:
        text = f"#{line.number} {self.escape(line.title)} · 👍 {line.upvotes} 👎 {line.downvotes}"
        return f"{text} · {line.note}" if note and line.note else text

    def decision(self, change: StatusChangeLine) -> str:
        text = (
            f"#{change.idea.number} {self.escape(change.idea.title)}: {status_label(change.old_status)} → "
            f"**{status_label(change.new_status)}**"
        )
        return text + (f" — {self.escape(shown_reason(change.reason))}" if change.reason else "")

    def challenge(self, challenge: ChallengeLine) -> str:
        return challenge_line(challenge, lambda i: self.idea(i, note=False), self.escape)

    def contributor(self, contributor: Contributor) -> str:
        name = self.escape(contributor.name) if contributor.name else f"<@{contributor.user_id}>"
        return ngettext("{name} · {points} point", "{name} · {points} points", contributor.points).format(
            name=name, points=contributor.points
        )

    def promotion(self, promotion: Promotion) -> str:
        name = self.escape(promotion.name) if promotion.name else f"<@{promotion.user_id}>"
        role = self.escape(promotion.role_name) if promotion.role_name else f"<@&{promotion.role_id}>"
        return f"{name} → {role}"

    def theme(self, theme: Theme) -> str:
        numbers = ", ".join(f"#{n}" for n in theme.idea_numbers)
        return f"**{self.escape(theme.name)}**: {numbers}" + (f" — {theme.summary}" if theme.summary else "")

    def more(self, count: int) -> str:
        return _("… and {count} more").format(count=count)


# --- Discord embeds ------------------------------------------------------------------------------------


def _fields(section: Section[str]) -> list[tuple[str, str]]:
    """A section as one or more fields of at most 1024 characters (whole lines where possible)."""
    lines = [clip(line, FIELD_VALUE_MAX) for line in section.lines]
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
    shown, folded = shown_and_folded(sections(d, EmbedLines()))
    if folded:
        listed = ", ".join(folded)
        fold = clip(listed[:1].upper() + listed[1:] + ".", FIELD_VALUE_MAX)
        shown.append(Section(_("Nothing this week"), [fold], ""))
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
