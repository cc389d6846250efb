"""The bot reads reaction events from the gateway's payload: the same values discord.py's own
objects would give."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.utils import parse_time
from hypothesis import given
from hypothesis import strategies as st

from bot.edge.reactions import reaction_from_payload

emoji_payloads = st.one_of(
    st.fixed_dictionaries({"id": st.none(), "name": st.sampled_from(["👍", "👎", "🎉", "❤️"])}),
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 2**63 - 1).map(str),
            "name": st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_]{2,32}", fullmatch=True)),
            "animated": st.booleans(),
        }
    ),
)


@given(emoji_payloads)
def test_the_emoji_is_spelled_as_discord_py_spells_it(emoji: dict[str, Any]) -> None:
    payload = {"emoji": emoji, "message_id": "2", "user_id": "3", "channel_id": "4", "guild_id": "5"}
    assert reaction_from_payload(payload, True).emoji == str(discord.PartialEmoji.from_dict(emoji))


def test_the_member_gives_join_time_name_and_whether_a_bot_reacted() -> None:
    member = {
        "user": {"id": "3", "username": "carol", "global_name": "Carol C", "bot": False},
        "nick": None,
        "joined_at": "2026-01-02T03:04:05.000000+00:00",
        "roles": [],
    }
    payload = {"emoji": {"id": None, "name": "👍"}, "message_id": "2", "user_id": "3", "guild_id": "5"}
    payload["member"] = member
    reaction = reaction_from_payload(payload, True)
    assert (reaction.guild_id, reaction.message_id, reaction.user_id, reaction.added) == (5, 2, 3, True)
    assert reaction.joined_at == parse_time(member["joined_at"])
    assert reaction.display_name == "Carol C"
    assert not reaction.by_a_bot
    assert reaction_from_payload({**payload, "member": {**member, "nick": "Caz"}}, True).display_name == "Caz"
    bot = {**member, "user": {**member["user"], "bot": True, "global_name": None}}
    assert reaction_from_payload({**payload, "member": bot}, True).by_a_bot
    assert reaction_from_payload({**payload, "member": bot}, True).display_name == "carol"


def test_a_removal_or_a_direct_message_has_no_member() -> None:
    payload = {"emoji": {"id": None, "name": "👍"}, "message_id": "2", "user_id": "3"}
    reaction = reaction_from_payload(payload, False)
    assert reaction.guild_id is None and reaction.member is None and reaction.joined_at is None
    assert reaction.display_name is None and not reaction.by_a_bot


@pytest.mark.parametrize("missing", ["emoji", "message_id", "user_id"])
def test_a_payload_without_the_fields_every_reaction_has_is_refused(missing: str) -> None:
    payload = {"emoji": {"id": None, "name": "👍"}, "message_id": "2", "user_id": "3"}
    del payload[missing]
    with pytest.raises(KeyError):
        reaction_from_payload(payload, True)
