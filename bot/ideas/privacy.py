"""Anonymity: the one rule deciding who may see who is behind an idea.

A person's link to an idea is *anonymous* when they submitted it anonymously, or when they
were made its co-author through an anonymous idea (a merge of an anonymous duplicate).
An anonymous link is seen only by the person themself and by moderators; everyone else
(a public channel, another member, the digest and its exports) sees "an anonymous idea".
Points still go to the person: only what others are shown changes.

Every renderer that names the people behind an idea, and every view of the reputation
ledger, asks this module. The database applies the same rule to aggregates (leaderboards)
with `bot.db.reputation.anonymous_credit_sql`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.ideas.rules import Idea


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking. `user_id` None: anyone at all (a public message, the digest, an export)."""

    user_id: int | None = None
    moderator: bool = False


PUBLIC = Viewer()
MODERATORS = Viewer(moderator=True)


def member(user_id: int, *, moderator: bool = False) -> Viewer:
    return Viewer(user_id, moderator)


def is_anonymous_link(idea: Idea, person_id: int) -> bool:
    """Whether `person_id` is behind `idea` anonymously (as its author or a co-author)."""
    if person_id == idea.author_id:
        return idea.anonymous
    return person_id in idea.anonymous_coauthor_ids


def coauthor_link_is_anonymous(source: Idea, person_id: int) -> bool:
    """A person credited on a merge's target through `source` keeps the anonymity of their link
    to `source`: an anonymous duplicate must not name its author on the surviving card."""
    return is_anonymous_link(source, person_id)


def sees_all_credit_of(viewer: Viewer, person_id: int) -> bool:
    """Whether `viewer` may see every link of `person_id`, the anonymous ones included."""
    return viewer.moderator or viewer.user_id == person_id


def may_see(viewer: Viewer, person_id: int, anonymous_link: bool) -> bool:
    """The rule: an anonymous link is shown to the person themself and to moderators only."""
    return not anonymous_link or sees_all_credit_of(viewer, person_id)


def sees_everyone(viewer: Viewer) -> bool:
    """Whether aggregates over many people (a leaderboard) may include anonymous credit."""
    return viewer.moderator


@dataclass(frozen=True, slots=True)
class Credit:
    """The people behind an idea as `viewer` may see them: `shown` in order (author first),
    and how many are `hidden` from this viewer."""

    shown: tuple[int, ...]
    hidden: int


def credit(idea: Idea, viewer: Viewer, people: Iterable[int] | None = None) -> Credit:
    """The author and co-authors (or just `people` of them) that `viewer` may see."""
    everyone = [idea.author_id, *idea.coauthor_ids] if people is None else list(people)
    shown: list[int] = []
    hidden = 0
    for person in dict.fromkeys(everyone):
        if may_see(viewer, person, is_anonymous_link(idea, person)):
            shown.append(person)
        else:
            hidden += 1
    return Credit(tuple(shown), hidden)


def hidden_people(idea: Idea) -> tuple[int, ...]:
    """Everyone behind `idea` whose link the public may not see (what moderators are told)."""
    return tuple(p for p in dict.fromkeys([idea.author_id, *idea.coauthor_ids]) if is_anonymous_link(idea, p))


def may_ping_in_public(idea: Idea, person_id: int) -> bool:
    """A mention in a public channel names the person next to the idea: only for visible links."""
    return may_see(PUBLIC, person_id, is_anonymous_link(idea, person_id))
