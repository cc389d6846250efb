"""Reaction votes: ingest raw reaction events in batches, and recount after downtime.

Events are queued and written in one transaction per batch (a burst of hundreds of
reactions costs a handful of commits). A vote's effects (card edit, reputation) follow only
after its batch is committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from bot.core.ports import IdeaBoard, ReactionReader
from bot.core.shards import Owns, owns_every_guild
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import VoteChanged
from bot.ideas import storage as idea_queries
from bot.ideas.rules import Idea
from bot.storage import Database, SyncConn
from bot.votes import storage as vote_queries
from bot.votes.rules import (
    DOWNVOTE_EMOJI,
    UPVOTE_EMOJI,
    VOTE_EMOJI,
    after_reaction,
    after_recount,
    held_bits,
    vote_counts,
    vote_from_reactions,
)

log = logging.getLogger(__name__)

# Events per transaction at most: bounds a batch's JSON documents (a few hundred KB) and its time
# on the database thread; under a burst the writer takes whatever arrived during the last write.
MAX_BATCH = 5000


class ReactionEvent(NamedTuple):
    """One raw reaction event (a NamedTuple: built for every reaction, so it should be cheap)."""

    message_id: int
    user_id: int
    emoji: str
    added: bool
    member_joined_at: datetime | None = None


class VoteService:
    def __init__(
        self,
        db: Database,
        board: IdeaBoard,
        events: EventBus,
        clock: Clock = system_clock,
        batch_seconds: float = 0.05,
    ) -> None:
        self.db = db
        self.board = board
        self.events = events
        self.clock = clock
        self.batch_seconds = batch_seconds
        self.bot_user_id = 0
        # Accepted events wait in a plain list (appending is the only work per event on the
        # gateway's path); the writer takes them in batches. Counters tell waiters when the
        # events accepted so far are durable.
        self._inbox: list[ReactionEvent] = []
        self._inbox_filled = asyncio.Event()
        self._accepted = 0
        self._written = 0
        self._durable_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._announce: asyncio.Queue[list[VoteChanged]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        # Told how long each batch's write took (metrics); a no-op by default.
        self.on_batch_written: Callable[[float], None] = lambda seconds: None

    @property
    def written(self) -> int:
        """Reaction events written so far (including those that changed nothing)."""
        return self._written

    # --- ingest ----------------------------------------------------------------------

    def start(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="vote-writer")
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_batches(), name="vote-publisher")

    async def stop(self) -> None:
        if self._writer is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=5)
        for task in (self._writer, self._publisher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._writer = self._publisher = None

    def is_vote(self, event: ReactionEvent) -> bool:
        """Voting emoji from anyone but the bot (the author's own vote is dropped later, with
        the idea at hand)."""
        return event.emoji in VOTE_EMOJI and event.user_id != self.bot_user_id

    def accept(self, event: ReactionEvent) -> bool:
        """Queue a reaction event for the writer; other emoji and the bot's own are dropped."""
        if not self.is_vote(event):
            return False
        self._inbox.append(event)
        self._accepted += 1
        self._inbox_filled.set()
        return True

    async def flush(self) -> None:
        """Wait until every accepted event is durable and its VoteChanged handlers have run."""
        await self.wait_durable()
        await self._announce.join()

    async def wait_durable(self) -> None:
        """Wait until every event accepted so far is durable (its effects may still be running)."""
        target = self._accepted
        if self._written >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._durable_waiters.append((target, waiter))
        await waiter

    async def _write_batches(self) -> None:
        loop = asyncio.get_running_loop()
        waited_enough = False
        while True:
            await self._inbox_filled.wait()
            if self.batch_seconds and not waited_enough:
                # Gather what arrives within batch_seconds into one transaction. When the last
                # write itself took that long (a burst), the events that came in meanwhile have
                # waited enough: they go at once (group commit).
                await asyncio.sleep(self.batch_seconds)
            batch, self._inbox = self._inbox[:MAX_BATCH], self._inbox[MAX_BATCH:]
            if not self._inbox:
                self._inbox_filled.clear()
            started = loop.time()
            try:
                await self.apply_batch(batch)
            except Exception:
                log.exception("writing a batch of %d reaction events failed; the next recount repairs it", len(batch))
            finally:
                self._written += len(batch)
                self._release_durable_waiters()
                self.on_batch_written(loop.time() - started)
            waited_enough = bool(self._inbox) and loop.time() - started >= self.batch_seconds

    def _release_durable_waiters(self) -> None:
        still_waiting = []
        for target, waiter in self._durable_waiters:
            if self._written >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still_waiting.append((target, waiter))
        self._durable_waiters = still_waiting

    async def apply_batch(self, batch: list[ReactionEvent]) -> list[VoteChanged]:
        """Write a batch in one transaction with a handful of statements, then mark the cards
        dirty and hand the VoteChanged events (in order) to the publisher."""
        changes = await self._write_batch(batch)
        for idea_id in {change.idea_id for change in changes}:
            self.board.card_changed(idea_id)
        await self._announce_changes(changes)
        return changes

    async def _announce_changes(self, changes: list[VoteChanged]) -> None:
        if not changes:
            return
        if self._publisher is None or self._publisher.done():
            await self.events.publish_all(list(changes))  # not started (unit tests): publish now
        else:
            self._announce.put_nowait(changes)

    async def _write_batch(self, batch: list[ReactionEvent]) -> list[VoteChanged]:
        now = self.clock()
        bot_id = self.bot_user_id

        def decide(
            reads: vote_queries.BatchReads,
        ) -> tuple[list[VoteChanged], tuple[vote_queries.PreparedWrites, str | None]]:
            cards, stored = vote_queries.parse_cards(reads.cards), vote_queries.parse_votes(reads.votes)
            writes, changes = replay_reactions(batch, cards, stored, bot_id, now)
            return changes, (vote_queries.prepare_writes(writes, now), _effects_of(changes))

        reactions = [(event.message_id, event.user_id) for event in batch]
        if self.db.dialect == "postgresql":  # asyncpg is async: the whole batch on the event loop
            async with self.db.transaction() as conn:
                changes, (prepared, effects) = decide(await vote_queries.read_batch_pg(conn, reactions))
                await vote_queries.execute_writes_pg(conn, prepared, effects)
            return changes
        return await self.db.transaction_read_then_write(
            lambda conn: vote_queries.read_batch(conn, reactions), decide, _write_with_effects
        )

    async def _publish_batches(self) -> None:
        """Runs the VoteChanged handlers (reputation, stage thresholds) after the commit, in
        order, without holding up the next batch's write."""
        while True:
            changes = await self._announce.get()
            try:
                await self.events.publish_all(list(changes))
            except Exception:
                log.exception("publishing %d vote changes failed", len(changes))
            finally:
                self._announce.task_done()

    # --- recount -----------------------------------------------------------------------

    async def recount(self, ideas: list[Idea], reader: ReactionReader) -> int:
        """Make the stored votes match the reactions on the cards; returns votes changed.

        Discord replays missed events only on RESUME, so after downtime or a fresh session the
        reactions themselves are the truth."""
        total = 0
        for idea in ideas:
            if idea.channel_id is None or idea.message_id is None or idea.voting_closed:
                continue
            snapshot_at = self.clock()
            try:
                ups = await reader.users_with_reaction(idea.channel_id, idea.message_id, UPVOTE_EMOJI)
                downs = await reader.users_with_reaction(idea.channel_id, idea.message_id, DOWNVOTE_EMOJI)
            except Exception as exc:
                log.warning("recount of idea %s skipped: %r", idea.id, exc)
                continue
            # Events that arrived before the snapshot are applied first; later ones win over it.
            await self.flush()
            total += await self._apply_recount(idea, ups, downs, snapshot_at)
        return total

    async def _apply_recount(self, idea: Idea, ups: set[int], downs: set[int], snapshot_at: datetime) -> int:
        now = self.clock()
        ignored = {idea.author_id, self.bot_user_id}

        def decide(document: str) -> tuple[list[VoteChanged], tuple[vote_queries.PreparedWrites, str | None]]:
            stored = vote_queries.parse_card_votes(document)
            writes: list[vote_queries.VoteWrite] = []
            changes: list[VoteChanged] = []
            for voter in sorted((ups | downs | set(stored)) - ignored):
                vote = stored.get(voter)
                if vote is not None and vote.changed_after_snapshot:
                    continue  # newer than the snapshot
                has_up, has_down = voter in ups, voter in downs
                if vote is None:
                    old, held, joined_at = None, 0, None
                    new, new_held = after_recount(None, 0, has_up, has_down)
                elif vote.reactions is None:
                    # Stored before held reactions were tracked: a vote with no reaction behind it
                    # (merge, button) is kept while the member holds no voting reaction.
                    old, held, joined_at = vote.value, None, vote.voter_joined_at
                    keep = not vote.reaction_backed and not (has_up or has_down)
                    new = old if keep else vote_from_reactions(has_up, has_down, old)
                    new_held = held_bits(has_up, has_down)
                else:
                    old, held, joined_at = vote.value, vote.reactions, vote.voter_joined_at
                    new, new_held = after_recount(old, held, has_up, has_down)
                if new == old and new_held == held:
                    continue
                # No join time written: the stored one is kept (COALESCE), as a new vote has none.
                writes.append(vote_queries.VoteWrite(idea.id, voter, old, new, None, reactions=new_held))
                if new != old:
                    changes.append(VoteChanged(idea.guild_id, idea.id, idea.author_id, voter, old, new, joined_at, now))
            return changes, (vote_queries.prepare_writes(writes, now), _effects_of(changes))

        def write(conn: SyncConn, prepared: tuple[vote_queries.PreparedWrites, str | None]) -> None:
            _write_with_effects(conn, prepared)
            vote_queries.recount_tallies(conn, idea.id)

        changes = await self.db.transaction_read_then_write(
            lambda conn: vote_queries.read_card_votes(conn, idea.id, snapshot_at), decide, write
        )
        if changes:
            log.info("recount of idea %s fixed %d votes", idea.id, len(changes))
        self.board.card_changed(idea.id)
        await self._announce_changes(changes)
        return len(changes)

    async def recount_recent(self, reader: ReactionReader, since: datetime, guilds: Owns = owns_every_guild) -> int:
        """Recount the recently active cards of the guilds `guilds` accepts (a shard's own)."""
        ideas = [i for i in await idea_queries.recently_active_cards(self.db.conn, since) if guilds(i.guild_id)]
        return await self.recount(ideas, reader)


def _effects_of(changes: list[VoteChanged]) -> str | None:
    return vote_queries.encode_changes(changes) if changes else None


def _write_with_effects(conn: SyncConn, prepared: tuple[vote_queries.PreparedWrites, str | None]) -> None:
    """The votes and, in the same transaction, their effects still owed (see vote_effects)."""
    writes, effects = prepared
    vote_queries.execute_writes(conn, writes)
    if effects is not None:
        vote_queries.queue_effects(conn, effects)


def replay_reactions(
    batch: list[ReactionEvent],
    cards: dict[int, vote_queries.VotingCard],
    stored: dict[tuple[int, int], tuple[int, int | None]],
    bot_id: int,
    now: datetime,
) -> tuple[list[vote_queries.VoteWrite], list[VoteChanged]]:
    """Replay a batch of reaction events in order over the stored votes: the net write per
    (idea, voter) and one VoteChanged per event that changed a vote. Pure; runs for every
    reaction in a burst, hence the plain loops."""
    counted: list[tuple[tuple[int, int], vote_queries.VotingCard, ReactionEvent]] = []
    for event in batch:
        card = cards.get(event.message_id)
        if card is None or card.voting_closed:
            continue
        if vote_counts(event.user_id, author_id=card.author_id, bot_id=bot_id):
            counted.append(((card.idea_id, event.user_id), card, event))
    writes: dict[tuple[int, int], vote_queries.VoteWrite] = {}
    changes: list[VoteChanged] = []
    for key, card, event in counted:
        write = writes.get(key)
        if write is not None:
            old, held = write.after, write.reactions
        else:
            old, known = stored.get(key, (None, 0))
            # Not known (stored before held reactions were tracked): the vote's own reaction.
            held = known if known is not None else (0 if old is None else (1 if old == 1 else 2))
        new, new_held = after_reaction(old, held, event.emoji, event.added)
        if new == old and new_held == held:
            continue
        joined_at = event.member_joined_at
        if write is None:
            kept_joined_at = None if new is None or new == old else joined_at
            writes[key] = vote_queries.VoteWrite(card.idea_id, event.user_id, old, new, kept_joined_at, False, new_held)
        else:
            write.after = new
            write.reactions = new_held
            if new is None:
                write.voter_joined_at = None
            elif new != old:
                if old is None and write.before is not None:
                    write.recreated = True  # withdrawn and cast again within the batch: a new row
                write.voter_joined_at = joined_at or write.voter_joined_at
        if new == old:
            continue  # only the reactions held changed
        voter = event.user_id
        changes.append(VoteChanged(card.guild_id, card.idea_id, card.author_id, voter, old, new, joined_at, now))
    return list(writes.values()), changes
