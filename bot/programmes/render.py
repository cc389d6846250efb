"""Embeds of the innovation programmes (thresholds, challenges, terms, review queue).
Kept beside bot/ideas/render.py, with the same rules: user text only in embeds, never pings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot.edge.embeds import EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, FIELD_VALUE_MAX, clip
from bot.i18n import _, ngettext
from bot.ideas.privacy import PUBLIC
from bot.ideas.render import author_text, card_link, idea_line
from bot.ideas.rules import Idea
from bot.programmes.rules import Stage
from bot.programmes.storage import Challenge, Winner

PLACE_MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def when(moment: datetime) -> str:
    """An absolute UTC time members can read in any client, plus Discord's local-time tag."""
    return _("{moment:%Y-%m-%d %H:%M} UTC (<t:{timestamp}:R>)").format(moment=moment, timestamp=int(moment.timestamp()))


def terms_embed(text: str, version: str) -> discord.Embed:
    embed = discord.Embed(
        title=clip(_("Contribution terms · version {version}").format(version=version), EMBED_TITLE_MAX),
        description=clip(text, EMBED_DESCRIPTION_MAX),
        colour=discord.Colour.dark_teal(),
    )
    embed.set_footer(text=_("Accept these terms to submit your idea. You are asked again only when they change."))
    return embed


def stage_reached_embed(idea: Idea, stage: Stage, upcoming: Stage | None) -> discord.Embed:
    embed = discord.Embed(
        title=clip(
            _("#{number} reached support stage {number2}").format(number=idea.number, number2=stage.number),
            EMBED_TITLE_MAX,
        ),
        description=(
            _(
                "{upvotes} members support this idea: it passed {votes} 👍 within {days} days. It is now **under "
                "review** by the moderators."
            ).format(upvotes=idea.upvotes, votes=stage.votes, days=stage.days)
        ),
        colour=discord.Colour.gold(),
    )
    if upcoming is not None:
        embed.add_field(
            name=_("Next stage"),
            value=_("{votes} 👍 within {days} days of submission").format(votes=upcoming.votes, days=upcoming.days),
            inline=False,
        )
    embed.add_field(name=_("Idea"), value=card_link(idea), inline=False)
    return embed


def idea_expired_embed(idea: Idea, missed: Stage) -> discord.Embed:
    embed = discord.Embed(
        title=clip(_("#{number} expired").format(number=idea.number), EMBED_TITLE_MAX),
        description=(
            _(
                "It needed {votes} 👍 within {days} days and has {upvotes}. Voting is closed; a moderator can revive "
                "it."
            ).format(votes=missed.votes, days=missed.days, upvotes=idea.upvotes)
        ),
        colour=discord.Colour.dark_grey(),
    )
    embed.add_field(name=_("Idea"), value=card_link(idea), inline=False)
    return embed


def challenge_opened_embed(challenge: Challenge) -> discord.Embed:
    embed = discord.Embed(
        title=clip(
            _("Challenge #{number}: {title}").format(number=challenge.number, title=challenge.title), EMBED_TITLE_MAX
        ),
        description=clip(challenge.brief, EMBED_DESCRIPTION_MAX),
        colour=discord.Colour.purple(),
    )
    embed.add_field(name=_("Deadline"), value=when(challenge.deadline), inline=True)
    if challenge.award:
        embed.add_field(name=_("Award"), value=clip(challenge.award, FIELD_VALUE_MAX), inline=True)
    embed.add_field(
        name=_("Take part"), value=_("`/idea submit challenge:{number}`").format(number=challenge.number), inline=False
    )
    return embed


def challenge_line(challenge: Challenge, now: datetime) -> str:
    title = discord.utils.escape_markdown(clip(challenge.title, 80))
    if challenge.closed_at is not None:
        state = _("closed {closed_at:%Y-%m-%d}").format(closed_at=challenge.closed_at)
    elif challenge.deadline <= now:
        state = _("closing now")
    else:
        state = _("open until {when}").format(when=when(challenge.deadline))
    entries = ngettext("{entries} idea", "{entries} ideas", challenge.entries).format(entries=challenge.entries)
    line = f"**#{challenge.number}** {title} · {state} · {entries}"
    if challenge.award:
        line += _(" · award: {award}").format(award=discord.utils.escape_markdown(clip(challenge.award, 60)))
    return line


def challenge_list_embed(challenges: Sequence[Challenge], now: datetime) -> discord.Embed:
    embed = discord.Embed(title=_("Challenges"), colour=discord.Colour.purple())
    lines = [challenge_line(c, now) for c in challenges]
    embed.description = (
        clip("\n".join(lines), EMBED_DESCRIPTION_MAX) if lines else _("No challenge yet: moderators open one.")
    )
    return embed


def author_mention(idea: Idea) -> str:
    """The people behind a winning idea, as the public may see them."""
    return author_text(idea, PUBLIC)


def challenge_closed_embed(challenge: Challenge, winners: Sequence[tuple[Winner, Idea]], entries: int) -> discord.Embed:
    embed = discord.Embed(
        title=clip(
            _("Challenge #{number} closed: {title}").format(number=challenge.number, title=challenge.title),
            EMBED_TITLE_MAX,
        ),
        colour=discord.Colour.purple(),
    )
    if winners:
        lines = []
        for winner, idea in winners:
            medal = PLACE_MEDALS.get(winner.place, f"{winner.place}.")
            title = discord.utils.escape_markdown(clip(idea.title, 80))
            lines.append(
                _(
                    "{medal} **[#{number}]({card_link})** {title} · 👍 {upvotes} 👎 {downvotes} · by {author_mention} "
                    "· +{points} reputation"
                ).format(
                    medal=medal,
                    number=idea.number,
                    card_link=card_link(idea),
                    title=title,
                    upvotes=idea.upvotes,
                    downvotes=idea.downvotes,
                    author_mention=author_mention(idea),
                    points=winner.points,
                )
            )
        embed.description = clip(
            ngettext(
                "{entries} idea took part. Ranked by the Wilson lower bound of their votes:\n",
                "{entries} ideas took part. Ranked by the Wilson lower bound of their votes:\n",
                entries,
            ).format(entries=entries)
            + "\n".join(lines),
            EMBED_DESCRIPTION_MAX,
        )
    else:
        embed.description = ngettext(
            "{entries} idea took part; none was upvoted, so no winner.",
            "{entries} ideas took part; none was upvoted, so no winner.",
            entries,
        ).format(entries=entries)
    if challenge.award:
        embed.add_field(name=_("Award"), value=clip(challenge.award, FIELD_VALUE_MAX), inline=False)
    return embed


def review_queue_embed(entries: Sequence[tuple[Idea, int]]) -> discord.Embed:
    embed = discord.Embed(title=_("Review queue"), colour=discord.Colour.gold())
    lines = [
        _("{idea_line} · stage {stage}").format(idea_line=idea_line(idea), stage=stage) if stage else idea_line(idea)
        for idea, stage in entries
    ]
    embed.description = (
        clip("\n".join(lines), EMBED_DESCRIPTION_MAX)
        if lines
        else _("Nothing is waiting for review. Ideas arrive here when they reach a support threshold.")
    )
    return embed
