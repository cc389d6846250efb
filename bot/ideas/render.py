"""Idea cards, lists, search results and status embeds."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.edge.embeds import EMBED_DESCRIPTION_MAX, EMBED_TITLE_MAX, FIELD_VALUE_MAX, clip
from bot.i18n import _, ngettext, number
from bot.ideas.privacy import PUBLIC, Viewer, credit, hidden_people
from bot.ideas.rules import Idea, Status, shown_reason
from bot.search.rules import MATCH_END, MATCH_START, SearchPage
from bot.votes.rules import DOWNVOTE_EMOJI, UPVOTE_EMOJI

STATUS_COLOURS = {
    Status.OPEN: discord.Colour.blurple(),
    Status.UNDER_REVIEW: discord.Colour.gold(),
    Status.PLANNED: discord.Colour.teal(),
    Status.IN_PROGRESS: discord.Colour.blue(),
    Status.IMPLEMENTED: discord.Colour.green(),
    Status.DECLINED: discord.Colour.red(),
    Status.DUPLICATE: discord.Colour.light_grey(),
    Status.WITHDRAWN: discord.Colour.dark_grey(),
}


def card_title(idea: Idea) -> str:
    return clip(f"#{idea.number} {idea.title}", EMBED_TITLE_MAX)


def tallies(idea: Idea) -> str:
    return f"{UPVOTE_EMOJI} {idea.upvotes}   {DOWNVOTE_EMOJI} {idea.downvotes}"


def status_text(idea: Idea) -> str:
    text = idea.status.label
    if idea.status_reason:
        text += f": {shown_reason(idea.status_reason)}"
    if idea.archived_at is not None:
        text += _(" · archived")
    elif idea.expired_at is not None:
        text += _(" · expired")
    return clip(text, FIELD_VALUE_MAX)


def author_text(idea: Idea, viewer: Viewer = PUBLIC) -> str:
    """The author and co-authors as `viewer` may see them; anyone hidden shows as "Anonymous"."""
    seen = credit(idea, viewer)
    people = [f"<@{user}>" for user in seen.shown]
    if seen.hidden:
        # Where the author is hidden, "Anonymous" keeps their place at the front.
        people.insert(0 if idea.author_id not in seen.shown else len(people), _("Anonymous"))
    return clip(" ".join(people), FIELD_VALUE_MAX)


def thread_link(guild_id: int, thread_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}"


def card_embed(idea: Idea) -> discord.Embed:
    embed = discord.Embed(
        title=card_title(idea),
        description=clip(idea.body, EMBED_DESCRIPTION_MAX),
        colour=STATUS_COLOURS[idea.status],
        timestamp=idea.created_at,
    )
    embed.add_field(name=_("Votes"), value=tallies(idea), inline=True)
    embed.add_field(name=_("Status"), value=status_text(idea), inline=True)
    embed.add_field(name=_("Author"), value=author_text(idea), inline=True)
    if idea.category:
        embed.add_field(name=_("Category"), value=clip(idea.category, FIELD_VALUE_MAX), inline=True)
    if idea.thread_id:
        embed.add_field(name=_("Discussion"), value=thread_link(idea.guild_id, idea.thread_id), inline=False)
    if idea.voting_closed:
        embed.set_footer(text=_("Idea #{number} · voting closed").format(number=idea.number))
    else:
        embed.set_footer(
            text=_("Idea #{number} · react {up} or {down} to vote").format(
                number=idea.number, up=UPVOTE_EMOJI, down=DOWNVOTE_EMOJI
            )
        )
    return embed


def card_link(idea: Idea) -> str:
    if idea.channel_id and idea.message_id:
        return f"https://discord.com/channels/{idea.guild_id}/{idea.channel_id}/{idea.message_id}"
    return f"#{idea.number}"


def idea_line(idea: Idea) -> str:
    title = discord.utils.escape_markdown(clip(idea.title, 80))
    return f"**[#{idea.number}]({card_link(idea)})** {title} · {tallies(idea)} · {idea.status.label}"


def idea_list_embed(heading: str, ideas: Sequence[Idea], empty: str) -> discord.Embed:
    embed = discord.Embed(title=clip(heading, EMBED_TITLE_MAX), colour=discord.Colour.blurple())
    lines = [idea_line(idea) for idea in ideas]
    embed.description = clip("\n".join(lines), EMBED_DESCRIPTION_MAX) if lines else empty
    return embed


def highlighted(snippet: str) -> str:
    """A search snippet with its matched words in bold and the member's own markdown escaped."""
    escaped = discord.utils.escape_markdown(snippet.replace("\n", " "))
    return escaped.replace(MATCH_START, "**").replace(MATCH_END, "**")


def search_results_embed(query: str, results: SearchPage) -> discord.Embed:
    heading = clip(_("Search: {query}").format(query=query.strip()), EMBED_TITLE_MAX)
    embed = discord.Embed(title=heading, colour=discord.Colour.blurple())
    if not results.hits:
        embed.description = (
            _("No idea matches every word of that search.")
            if results.total == 0
            else _("No more results on this page.")
        )
        return embed
    entries = [f"{idea_line(hit.idea)}\n> {clip(highlighted(hit.snippet), 300)}" for hit in results.hits]
    embed.description = clip("\n".join(entries), EMBED_DESCRIPTION_MAX)
    more = _(" · next: page:{page}").format(page=results.page + 1) if results.page < results.pages else ""
    count = (
        _("more than {count} ideas (add a word to narrow it)").format(count=number(results.total - 1))
        if results.more
        else ngettext("{count} idea", "{count} ideas", results.total).format(count=results.total)
    )
    page = _("{count} · page {page} of {pages}").format(count=count, page=results.page, pages=results.pages)
    embed.set_footer(text=page + more)
    return embed


def idea_detail_embed(idea: Idea, history: Sequence[dict[str, object]], reveal_author: bool = False) -> discord.Embed:
    """`reveal_author`: the viewer is a moderator, who is told who is behind an anonymous idea."""
    embed = card_embed(idea)
    hidden = hidden_people(idea)
    if hidden and reveal_author:
        names = " ".join(f"<@{user}>" for user in hidden)
        embed.add_field(name=_("Submitted anonymously by"), value=clip(names, FIELD_VALUE_MAX), inline=False)
    if history:
        steps = []
        for step in history[-5:]:
            at = int(float(str(step["at"])))
            new_status = Status(str(step["new_status"])).label
            reason = f": {clip(shown_reason(str(step['reason'])), 120)}" if step.get("reason") else ""
            steps.append(f"<t:{at}:d> → {new_status}{reason}")
        embed.add_field(name=_("History"), value=clip("\n".join(steps), FIELD_VALUE_MAX), inline=False)
    embed.add_field(name=_("Card"), value=card_link(idea), inline=False)
    return embed


def status_update_embed(idea: Idea, old: Status, reason: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=clip(_("Update on #{number} {title}").format(number=idea.number, title=idea.title), EMBED_TITLE_MAX),
        description=_("Status: **{old}** → **{new}**").format(old=old.label, new=idea.status.label),
        colour=STATUS_COLOURS[idea.status],
    )
    if reason:
        embed.add_field(name=_("Reason"), value=clip(shown_reason(reason), FIELD_VALUE_MAX), inline=False)
    embed.add_field(name=_("Idea"), value=card_link(idea), inline=False)
    return embed


def mod_log_embed(action: str, actor_id: int, details: str) -> discord.Embed:
    embed = discord.Embed(title=clip(action, EMBED_TITLE_MAX), colour=discord.Colour.dark_gold())
    embed.description = clip(_("By <@{actor}>").format(actor=actor_id) + f"\n{details}", EMBED_DESCRIPTION_MAX)
    return embed
