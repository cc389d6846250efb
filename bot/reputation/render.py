"""Embeds and texts for reputation: /rep show, /rep top, thank-you notes and log-channel
reports. Mentions in them are display only: every send uses NO_MENTIONS."""

from __future__ import annotations

import discord

from bot.edge.embeds import EMBED_DESCRIPTION_MAX, FIELD_VALUE_MAX, clip
from bot.ideas.privacy import PUBLIC, credit
from bot.ideas.ranking import Period
from bot.ideas.rules import Idea, Status
from bot.reputation.service import Profile

MEDALS = ("🥇", "🥈", "🥉")


def signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)


def profile_embed(profile: Profile) -> discord.Embed:
    embed = discord.Embed(title="Reputation", colour=discord.Colour.gold())
    rank = f"#{profile.rank} of {profile.ranked_members}" if profile.rank is not None else "not ranked yet"
    embed.description = f"<@{profile.user_id}> · **{profile.total}** points · rank {rank}"
    if profile.reached:
        embed.add_field(
            name="Roles earned",
            value=clip(" ".join(f"<@&{role.role_id}>" for role in profile.reached), FIELD_VALUE_MAX),
            inline=False,
        )
    if profile.next_role is not None and profile.to_go is not None:
        embed.add_field(
            name="Next role",
            value=f"<@&{profile.next_role.role_id}> at {profile.next_role.points} points: {profile.to_go} to go",
            inline=False,
        )
    if profile.recent:
        lines = [f"`{signed(row.delta):>4}` {row.reason} · <t:{int(row.at.timestamp())}:R>" for row in profile.recent]
        embed.add_field(name="Recent", value=clip("\n".join(lines), FIELD_VALUE_MAX), inline=False)
    else:
        embed.add_field(name="Recent", value="No points yet: submit an idea, or get upvotes on yours.", inline=False)
    return embed


def leaderboard_embed(period: Period, rows: list[tuple[int, int]]) -> discord.Embed:
    heading = "all time" if period is Period.ALL else f"this {period.value}"
    embed = discord.Embed(title=f"Top contributors · {heading}", colour=discord.Colour.gold())
    if not rows:
        embed.description = "Nobody has earned points in this period yet."
        return embed
    lines = []
    for place, (user_id, points) in enumerate(rows, start=1):
        badge = MEDALS[place - 1] if place <= len(MEDALS) else f"{place}."
        lines.append(f"{badge} <@{user_id}> · **{points}**")
    embed.description = clip("\n".join(lines), EMBED_DESCRIPTION_MAX)
    return embed


def thank_you_text(idea: Idea, status: Status, people: list[int]) -> str:
    """Posted in the idea's public thread: people behind it anonymously are thanked unnamed."""
    seen = credit(idea, PUBLIC, people)
    credited = [f"<@{user_id}>" for user_id in seen.shown]
    if seen.hidden:
        credited.append("its anonymous author" if seen.hidden == 1 else "its anonymous authors")
    names = ", ".join(credited)
    if status is Status.IMPLEMENTED:
        return f"🎉 #{idea.number} is implemented! Thank you {names} for bringing it to the community."
    return f"🙌 #{idea.number} is planned. Thank you {names}: the community backed it and it is on the way."


def serial_voting_text(voter_id: int, author_id: int, votes: int, window_minutes: int) -> str:
    return (
        f"<@{voter_id}> up-voted {votes} ideas of <@{author_id}> within {window_minutes} minutes. "
        "Those upvotes still show on the cards but earn no reputation for the next day."
    )


def role_unsafe_text(role_id: int, permissions: str) -> str:
    return (
        f"I no longer give the reward role <@&{role_id}>: it now carries {clip(permissions, 300)}, which a role "
        "earned with points may not have. Remove those permissions from the role in Server Settings → Roles, or "
        "stop awarding it with /ideamod role remove. Members who already hold it keep it."
    )


def role_refused_text(role_id: int, user_id: int, adding: bool, detail: str) -> str:
    verb = "give" if adding else "take back"
    return (
        f"I could not {verb} the reward role <@&{role_id}> for <@{user_id}>: Discord refused ({clip(detail, 200)}). "
        "To fix it: give ideabot the Manage Roles permission and drag ideabot's role above the reward role "
        "in Server Settings → Roles. Role changes resume on the next points change."
    )
