"""Embeds and texts for reputation: /rep show, /rep top, thank-you notes and log-channel
reports. Mentions in them are display only: every send uses NO_MENTIONS."""

from __future__ import annotations

import discord

from bot.edge.embeds import EMBED_DESCRIPTION_MAX, FIELD_VALUE_MAX, clip
from bot.i18n import _
from bot.ideas.privacy import PUBLIC, credit
from bot.ideas.ranking import Period
from bot.ideas.rules import Idea, Status
from bot.reputation.service import Profile

MEDALS = ("🥇", "🥈", "🥉")


def signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)


def profile_embed(profile: Profile) -> discord.Embed:
    embed = discord.Embed(title=_("Reputation"), colour=discord.Colour.gold())
    rank = (
        _("#{rank} of {ranked_members}").format(rank=profile.rank, ranked_members=profile.ranked_members)
        if profile.rank is not None
        else _("not ranked yet")
    )
    embed.description = _("<@{user_id}> · **{total}** points · rank {rank}").format(
        user_id=profile.user_id, total=profile.total, rank=rank
    )
    if profile.reached:
        embed.add_field(
            name=_("Roles earned"),
            value=clip(" ".join(f"<@&{role.role_id}>" for role in profile.reached), FIELD_VALUE_MAX),
            inline=False,
        )
    if profile.next_role is not None and profile.to_go is not None:
        embed.add_field(
            name=_("Next role"),
            value=_("<@&{role_id}> at {points} points: {to_go} to go").format(
                role_id=profile.next_role.role_id, points=profile.next_role.points, to_go=profile.to_go
            ),
            inline=False,
        )
    if profile.recent:
        lines = [f"`{signed(row.delta):>4}` {row.reason} · <t:{int(row.at.timestamp())}:R>" for row in profile.recent]
        embed.add_field(name=_("Recent"), value=clip("\n".join(lines), FIELD_VALUE_MAX), inline=False)
    else:
        embed.add_field(
            name=_("Recent"), value=_("No points yet: submit an idea, or get upvotes on yours."), inline=False
        )
    return embed


def leaderboard_embed(period: Period, rows: list[tuple[int, int]]) -> discord.Embed:
    heading = {Period.ALL: _("all time"), Period.WEEK: _("this week"), Period.MONTH: _("this month")}[period]
    embed = discord.Embed(title=_("Top contributors · {heading}").format(heading=heading), colour=discord.Colour.gold())
    if not rows:
        embed.description = _("Nobody has earned points in this period yet.")
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
        credited.append(_("its anonymous author") if seen.hidden == 1 else _("its anonymous authors"))
    names = ", ".join(credited)
    if status is Status.IMPLEMENTED:
        return _("🎉 #{number} is implemented! Thank you {names} for bringing it to the community.").format(
            number=idea.number, names=names
        )
    return _("🙌 #{number} is planned. Thank you {names}: the community backed it and it is on the way.").format(
        number=idea.number, names=names
    )


def serial_voting_text(voter_id: int, author_id: int, votes: int, window_minutes: int) -> str:
    return _(
        "<@{voter_id}> up-voted {votes} ideas of <@{author_id}> within {window_minutes} minutes. Those upvotes "
        "still show on the cards but earn no reputation for the next day."
    ).format(voter_id=voter_id, votes=votes, author_id=author_id, window_minutes=window_minutes)


def role_unsafe_text(role_id: int, permissions: str) -> str:
    return _(
        "I no longer give the reward role <@&{role_id}>: it now carries {permissions}, which a role earned with "
        "points may "
        "not have. Remove those permissions from the role in Server Settings → Roles, or stop awarding it with "
        "/ideamod role remove. Members who already hold it keep it."
    ).format(role_id=role_id, permissions=clip(permissions, 300))


def role_refused_text(role_id: int, user_id: int, adding: bool, detail: str) -> str:
    verb = _("give") if adding else _("take back")
    return _(
        "I could not {verb} the reward role <@&{role_id}> for <@{user_id}>: Discord refused ({detail}). To fix it: "
        "give ideabot the Manage Roles permission and drag ideabot's role above the reward role in Server Settings "
        "→ Roles. Role changes resume on the next points change."
    ).format(verb=verb, role_id=role_id, user_id=user_id, detail=clip(detail, 200))
