"""Embeds of the innovation programmes (thresholds, challenges, terms, review queue).
Kept beside bot/ideas/render.py, with the same rules: user text only in embeds, never pings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot.edge.embeds import EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, FIELD_VALUE_MAX, clip
from bot.ideas.privacy import PUBLIC
from bot.ideas.render import author_text, card_link, idea_line
from bot.ideas.rules import Idea
from bot.programmes.rules import Stage
from bot.programmes.storage import Challenge, Winner

PLACE_MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def when(moment: datetime) -> str:
    """An absolute UTC time members can read in any client, plus Discord's local-time tag."""
    return f"{moment:%Y-%m-%d %H:%M} UTC (<t:{int(moment.timestamp())}:R>)"


def terms_embed(text: str, version: str) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"Contribution terms · version {version}", EMBED_TITLE_MAX),
        description=clip(text, EMBED_DESCRIPTION_MAX),
        colour=discord.Colour.dark_teal(),
    )
    embed.set_footer(text="Accept these terms to submit your idea. You are asked again only when they change.")
    return embed


def stage_reached_embed(idea: Idea, stage: Stage, upcoming: Stage | None) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"#{idea.number} reached support stage {stage.number}", EMBED_TITLE_MAX),
        description=(
            f"{idea.upvotes} members support this idea: it passed {stage.votes} 👍 within {stage.days} days."
            " It is now **under review** by the moderators."
        ),
        colour=discord.Colour.gold(),
    )
    if upcoming is not None:
        embed.add_field(
            name="Next stage",
            value=f"{upcoming.votes} 👍 within {upcoming.days} days of submission",
            inline=False,
        )
    embed.add_field(name="Idea", value=card_link(idea), inline=False)
    return embed


def idea_expired_embed(idea: Idea, missed: Stage) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"#{idea.number} expired", EMBED_TITLE_MAX),
        description=(
            f"It needed {missed.votes} 👍 within {missed.days} days and has {idea.upvotes}. Voting is closed;"
            " a moderator can revive it."
        ),
        colour=discord.Colour.dark_grey(),
    )
    embed.add_field(name="Idea", value=card_link(idea), inline=False)
    return embed


def challenge_opened_embed(challenge: Challenge) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"Challenge #{challenge.number}: {challenge.title}", EMBED_TITLE_MAX),
        description=clip(challenge.brief, EMBED_DESCRIPTION_MAX),
        colour=discord.Colour.purple(),
    )
    embed.add_field(name="Deadline", value=when(challenge.deadline), inline=True)
    if challenge.award:
        embed.add_field(name="Award", value=clip(challenge.award, FIELD_VALUE_MAX), inline=True)
    embed.add_field(name="Take part", value=f"`/idea submit challenge:{challenge.number}`", inline=False)
    return embed


def challenge_line(challenge: Challenge, now: datetime) -> str:
    title = discord.utils.escape_markdown(clip(challenge.title, 80))
    if challenge.closed_at is not None:
        state = f"closed {challenge.closed_at:%Y-%m-%d}"
    elif challenge.deadline <= now:
        state = "closing now"
    else:
        state = f"open until {when(challenge.deadline)}"
    entries = f"{challenge.entries} idea{'s' if challenge.entries != 1 else ''}"
    line = f"**#{challenge.number}** {title} · {state} · {entries}"
    if challenge.award:
        line += f" · award: {discord.utils.escape_markdown(clip(challenge.award, 60))}"
    return line


def challenge_list_embed(challenges: Sequence[Challenge], now: datetime) -> discord.Embed:
    embed = discord.Embed(title="Challenges", colour=discord.Colour.purple())
    lines = [challenge_line(c, now) for c in challenges]
    embed.description = (
        clip("\n".join(lines), EMBED_DESCRIPTION_MAX) if lines else "No challenge yet: moderators open one."
    )
    return embed


def author_mention(idea: Idea) -> str:
    """The people behind a winning idea, as the public may see them."""
    return author_text(idea, PUBLIC)


def challenge_closed_embed(challenge: Challenge, winners: Sequence[tuple[Winner, Idea]], entries: int) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"Challenge #{challenge.number} closed: {challenge.title}", EMBED_TITLE_MAX),
        colour=discord.Colour.purple(),
    )
    if winners:
        lines = []
        for winner, idea in winners:
            medal = PLACE_MEDALS.get(winner.place, f"{winner.place}.")
            title = discord.utils.escape_markdown(clip(idea.title, 80))
            lines.append(
                f"{medal} **[#{idea.number}]({card_link(idea)})** {title} · 👍 {idea.upvotes} 👎 {idea.downvotes}"
                f" · by {author_mention(idea)} · +{winner.points} reputation"
            )
        embed.description = clip(
            f"{entries} idea{'s' if entries != 1 else ''} took part. Ranked by the Wilson lower bound of their"
            " votes:\n" + "\n".join(lines),
            EMBED_DESCRIPTION_MAX,
        )
    else:
        embed.description = f"{entries} idea{'s' if entries != 1 else ''} took part; none was upvoted, so no winner."
    if challenge.award:
        embed.add_field(name="Award", value=clip(challenge.award, FIELD_VALUE_MAX), inline=False)
    return embed


def review_queue_embed(entries: Sequence[tuple[Idea, int]]) -> discord.Embed:
    embed = discord.Embed(title="Review queue", colour=discord.Colour.gold())
    lines = [f"{idea_line(idea)} · stage {stage}" if stage else idea_line(idea) for idea, stage in entries]
    embed.description = (
        clip("\n".join(lines), EMBED_DESCRIPTION_MAX)
        if lines
        else "Nothing is waiting for review. Ideas arrive here when they reach a support threshold."
    )
    return embed
