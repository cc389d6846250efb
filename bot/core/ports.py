"""What the services need from the outside world, as protocols the Discord layer implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.ideas.rules import Idea


@dataclass(frozen=True, slots=True)
class PostedCard:
    channel_id: int
    message_id: int
    thread_id: int | None


class IdeaBoard(Protocol):
    async def post_card(self, idea: Idea, ideas_channel_id: int) -> PostedCard:
        """Post the card with its voting reactions and discussion thread."""
        ...

    def card_posted(self, idea_id: int) -> None:
        """The card's idea is saved with its card: the card gets its first edit soon, before
        other cards' (it adds what only exists once the card does, such as the thread link)."""
        ...

    def card_changed(self, idea_id: int) -> None:
        """The card's content changed; it will be re-rendered from the database, coalesced."""
        ...


class ReactionReader(Protocol):
    async def users_with_reaction(self, channel_id: int, message_id: int, emoji: str) -> set[int]:
        """Every user holding `emoji` on the message (all pages)."""
        ...
