"""Reputation use cases: the ledger fed by domain events, trust and serial-voting checks,
reward roles reconciled in coalesced bursts, profiles and leaderboards.

Every write is one transaction appending rows to the ledger; totals are sums. Discord is
reached only through the `ReputationOutlet` port (roles, the log channel, thank-you notes),
and those calls run outside the transactions, after the points are durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from bot.core.errors import NotFound, UserFacingError
from bot.core.shards import EVERY_GUILD
from bot.events.bus import Clock, system_clock
from bot.events.types import IdeasMerged, IdeaStatusChanged, IdeaSubmitted, IdeaWithdrawn, VoteChanged
from bot.i18n import _
from bot.ideas import storage as idea_queries
from bot.ideas.privacy import PUBLIC, Viewer, may_see, sees_all_credit_of, sees_everyone
from bot.ideas.ranking import Period
from bot.ideas.rules import Idea, Status
from bot.reputation import storage as rep_queries
from bot.reputation.rules import (
    DAY,
    ReputationRules,
    RewardRole,
    Source,
    SumAfter,
    Trust,
    VoteCredit,
    next_role,
    rank_of,
    role_changes,
    serial_lookback,
    status_bonus,
    submission_points,
    upvote_verdict,
    vote_change_credit,
    vote_trust,
)
from bot.reputation.storage import LedgerRow, NewLedgerRow, SerialFlag
from bot.storage import Conn, Database, SyncConn
from bot.votes import storage as vote_queries

log = logging.getLogger(__name__)

MAX_REWARD_ROLES = 25
MAX_ROLE_POINTS = 1_000_000
REFUSAL_REPORT_INTERVAL = timedelta(hours=1)
# How far back the start-up repairs look for points a crash may have left unwritten.
REPAIR_WINDOW = timedelta(days=2)


class RoleRefused(Exception):
    """Discord refused a role change (403: Manage Roles missing, or the role is above ours)."""


class RoleUnsafe(RoleRefused):
    """The role carries permissions a reward role may not have (checked again at every award:
    a role's permissions can change after it was accepted). The message names them."""


class MemberGone(Exception):
    """The member left the guild (or the role was deleted): nothing to change."""


class ReputationOutlet(Protocol):
    """What the service needs from Discord; the cog implements it with REST calls."""

    async def add_role(self, guild_id: int, user_id: int, role_id: int) -> None: ...

    async def remove_role(self, guild_id: int, user_id: int, role_id: int) -> None: ...

    async def report_serial_voting(self, guild_id: int, voter_id: int, author_id: int, votes: int) -> None: ...

    async def report_role_refused(
        self, guild_id: int, role_id: int, user_id: int, adding: bool, detail: str
    ) -> None: ...

    async def report_role_unsafe(self, guild_id: int, role_id: int, permissions: str) -> None: ...

    async def thank(self, idea: Idea, status: Status, people: list[int]) -> None: ...


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    total: int
    rank: int | None  # None: no points yet
    ranked_members: int
    recent: list[LedgerRow]
    reached: list[RewardRole]
    next_role: RewardRole | None
    to_go: int | None


@dataclass(frozen=True, slots=True)
class SerialVoting:
    guild_id: int
    voter_id: int
    author_id: int
    votes: int


def _vote_reason(credit: VoteCredit, event: VoteChanged, number: int) -> str:
    if credit.source is Source.UPVOTE:
        return f"Upvote on #{number}"
    if event.new_value == -1:
        return f"Vote on #{number} switched to 👎"
    return f"Upvote on #{number} withdrawn"


class VoteBatchReplay:
    """A batch of vote changes credited in one transaction on the database thread.

    Everything the events read is loaded up front in a fixed handful of statements and kept
    current in memory as rows are written, so each event sees what the ones before it wrote
    (outstanding credit, the rolling daily cap, serial-voting flags), exactly as if each were
    handled in a transaction of its own. The new rows go in with one statement at the end."""

    def __init__(self, conn: SyncConn, events: list[VoteChanged]) -> None:
        self.conn = conn
        self.events = events
        self.rules = rep_queries.rules_of(conn, {event.guild_id for event in events})
        self.numbers = rep_queries.idea_numbers(conn, {event.idea_id for event in events})
        self.credits = rep_queries.vote_credits(conn, {(e.idea_id, e.voter_id, e.author_id) for e in events})
        day_starts: dict[tuple[int, int], datetime] = {}
        for event in events:
            _keep_earliest(day_starts, (event.guild_id, event.author_id), event.at - DAY)
        self.vote_points = {
            key: SumAfter(entries) for key, entries in rep_queries.vote_points_by_moment(conn, day_starts).items()
        }
        self.flagged: dict[tuple[int, int, int], datetime] = {}
        self.upvote_times: dict[tuple[int, int, int], list[datetime]] = {}
        self.ideas_posted: dict[tuple[int, int], SumAfter] = {}
        self._load_serial_inputs()
        self.rows: list[NewLedgerRow] = []
        self.flags: list[SerialFlag] = []
        self.changed: set[tuple[int, int]] = set()
        self.serial: list[SerialVoting] = []

    def _load_serial_inputs(self) -> None:
        """What the serial-voting check reads, for every upvote that may reach it."""
        window_starts: dict[tuple[int, int, int], datetime] = {}
        recent_starts: dict[tuple[int, int], datetime] = {}
        for event in self.events:
            rules = self.rules[event.guild_id]
            if event.new_value != 1 or rules.serial_min_votes <= 0:
                continue
            if vote_trust(event.voter_id, event.voter_joined_at, event.at, rules) is not Trust.TRUSTED:
                continue
            lookback = serial_lookback(rules, event.at)
            _keep_earliest(window_starts, (event.guild_id, event.voter_id, event.author_id), lookback.upvotes_since)
            _keep_earliest(recent_starts, (event.guild_id, event.author_id), lookback.ideas_since)
        if not window_starts:
            return
        self.flagged = rep_queries.latest_serial_flags(self.conn, window_starts)
        self.upvote_times = rep_queries.upvote_times_by_pair(self.conn, window_starts)
        self.ideas_posted = {
            key: SumAfter((moment, 1) for moment in created)
            for key, created in rep_queries.ideas_posted_by_author(self.conn, recent_starts).items()
        }

    def run(self) -> VoteBatchReplay:
        for event in self.events:
            self._replay(event)
        rep_queries.append_rows(self.conn, self.rows)
        rep_queries.flag_serial_votings(self.conn, self.flags)
        return self

    def _replay(self, event: VoteChanged) -> None:
        rules = self.rules[event.guild_id]
        outstanding = self.credits[(event.idea_id, event.voter_id, event.author_id)]
        earns = False
        if event.new_value == 1 and outstanding <= 0:
            earns, serial = self._upvote_earns(rules, event)
            if serial is not None:
                self._take_back_serial(rules, event)
                self.serial.append(SerialVoting(event.guild_id, event.voter_id, event.author_id, serial))
        credit = vote_change_credit(
            event.old_value,
            event.new_value,
            outstanding,
            earns=earns,
            rules=rules,
            vote_points_last_day=self.vote_points[(event.guild_id, event.author_id)].after(event.at - DAY),
        )
        if credit.source is not None:
            reason = _vote_reason(credit, event, self.numbers.get(event.idea_id, 0))
            self._append(
                NewLedgerRow(
                    event.guild_id,
                    event.author_id,
                    credit.delta,
                    reason,
                    credit.source,
                    event.at,
                    event.idea_id,
                    event.voter_id,
                )
            )

    def _upvote_earns(self, rules: ReputationRules, event: VoteChanged) -> tuple[bool, int | None]:
        """(earns, votes) where votes is set when this upvote newly reveals serial voting."""
        pair = (event.guild_id, event.voter_id, event.author_id)
        flagged = self.flagged.get(pair)
        posted = self.ideas_posted.get((event.guild_id, event.author_id))  # loaded only where the check runs
        lookback = serial_lookback(rules, event.at)
        earns, serial = upvote_verdict(
            rules,
            event.voter_id,
            event.voter_joined_at,
            event.at,
            flagged_at=flagged,
            upvote_times=self.upvote_times.get(pair, ()),
            author_recent_ideas=posted.after(lookback.ideas_since) if posted is not None else 0,
        )
        if serial is not None:
            self.flags.append(SerialFlag(*pair, serial, event.at))
            self.flagged[pair] = max(event.at, flagged) if flagged is not None else event.at
        return earns, serial

    def _take_back_serial(self, rules: ReputationRules, event: VoteChanged) -> None:
        """Upvotes from a serial voter already credited in the window earn nothing either.
        Rare, so it asks the database, with the rows so far written first."""
        rep_queries.append_rows(self.conn, self.rows)
        self.rows = []
        since = event.at - timedelta(minutes=rules.serial_window_minutes)
        for idea_id, outstanding in rep_queries.outstanding_votes_between(
            self.conn, event.guild_id, event.voter_id, event.author_id, since
        ):
            self._append(
                NewLedgerRow(
                    event.guild_id,
                    event.author_id,
                    -outstanding,
                    "Serial voting detected: those upvotes earn nothing",
                    Source.REVERSAL,
                    event.at,
                    idea_id,
                    event.voter_id,
                )
            )

    def _append(self, row: NewLedgerRow) -> None:
        self.rows.append(row)
        self.changed.add((row.guild_id, row.user_id))
        key = (row.idea_id, row.voter_id, row.user_id)
        if key in self.credits:
            self.credits[key] += row.delta
        points = self.vote_points.get((row.guild_id, row.user_id))
        if points is not None:
            points.add(row.at, row.delta)


K = TypeVar("K")


def _keep_earliest(earliest: dict[K, datetime], key: K, moment: datetime) -> None:
    if key not in earliest or moment < earliest[key]:
        earliest[key] = moment


# A member's role change that keeps failing is retried this many times, one coalescing delay apart.
MAX_ROLE_ATTEMPTS = 5


class ReputationService:
    def __init__(
        self, db: Database, outlet: ReputationOutlet, clock: Clock = system_clock, role_delay: float = 2.0
    ) -> None:
        self.db = db
        self.outlet = outlet
        self.clock = clock
        self.shards = EVERY_GUILD  # the guilds whose repairs and roles this process runs (bot/app.py sets it)
        # Role changes wait this long after the first point moves, so a burst of votes costs
        # at most one reconciliation per member.
        self.role_delay = role_delay
        self._dirty: set[tuple[int, int]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._refusals_reported: dict[tuple[int, int], datetime] = {}
        self.reconciliations = 0
        self.role_calls = 0
        self._failed_attempts: dict[tuple[int, int], int] = {}
        self._stopping = asyncio.Event()  # set on shutdown: pending role changes go out at once

    # --- reading ---------------------------------------------------------------------------

    async def rules(self, guild_id: int) -> ReputationRules:
        return await rep_queries.get_rules(self.db.conn, guild_id)

    async def total(self, guild_id: int, user_id: int) -> int:
        return await rep_queries.total(self.db.conn, guild_id, user_id)

    async def ledger(self, guild_id: int) -> list[LedgerRow]:
        return await rep_queries.ledger(self.db.conn, guild_id)

    async def reward_roles(self, guild_id: int) -> list[RewardRole]:
        return await rep_queries.reward_roles(self.db.conn, guild_id)

    async def role_awards(self, guild_id: int) -> list[tuple[int, int, str, datetime]]:
        return await rep_queries.role_awards(self.db.conn, guild_id)

    async def leaderboard(
        self, guild_id: int, period: Period = Period.ALL, limit: int = 10, viewer: Viewer = PUBLIC
    ) -> list[tuple[int, int]]:
        """Points earned through anonymous ideas count only where `viewer` may see everyone's:
        a place on the board next to an anonymous idea's points would single out its author."""
        since = None if period.days is None else self.clock() - timedelta(days=period.days)
        return await rep_queries.totals(
            self.db.conn, guild_id, since=since, limit=limit, include_anonymous=sees_everyone(viewer)
        )

    async def profile(self, guild_id: int, user_id: int, recent: int = 8, viewer: Viewer = PUBLIC) -> Profile:
        """`user_id`'s reputation as `viewer` may see it: others see neither the rows nor the
        points of ideas `user_id` is behind anonymously; they and moderators see everything.
        The rank compares with everyone else's points as `viewer` may see them."""
        conn = self.db.conn
        full = sees_all_credit_of(viewer, user_id)
        total = await rep_queries.total(conn, guild_id, user_id, include_anonymous=full)
        board = dict(await rep_queries.totals(conn, guild_id, include_anonymous=sees_everyone(viewer)))
        board.pop(user_id, None)
        everyone = [*board.values(), total] if total > 0 else list(board.values())
        roles = await rep_queries.reward_roles(conn, guild_id)
        upcoming = next_role(total, roles)
        rows = await rep_queries.recent_events(conn, guild_id, user_id, recent, include_anonymous=full)
        return Profile(
            user_id=user_id,
            total=total,
            rank=rank_of(total, everyone) if total > 0 else None,
            ranked_members=len(everyone),
            recent=[row for row in rows if may_see(viewer, row.user_id, row.anonymous)],
            reached=[role for role in roles if total >= role.points and total > 0],
            next_role=upcoming[0] if upcoming else None,
            to_go=upcoming[1] if upcoming else None,
        )

    # --- writing: the public award API (challenges, ...) ------------------------------------

    async def award(
        self, guild_id: int, user_id: int, points: int, reason: str, source: str, idea_id: int | None = None
    ) -> None:
        """Append one row to the ledger (negative points take back) and reconcile roles."""
        if points == 0:
            return
        async with self.db.transaction() as conn:
            await rep_queries.append(conn, guild_id, user_id, points, reason, source, self.clock(), idea_id=idea_id)
        self.mark_dirty(guild_id, user_id)

    async def set_rules(self, guild_id: int, **changes: int) -> ReputationRules:
        try:
            rules = (await self.rules(guild_id)).replace(**changes)
        except ValueError as exc:
            raise UserFacingError(str(exc)) from exc
        async with self.db.transaction() as conn:
            await rep_queries.save_rules(conn, guild_id, rules, self.clock())
        return rules

    # --- event handlers -------------------------------------------------------------------

    async def on_idea_submitted(self, event: IdeaSubmitted) -> None:
        rules = await self.rules(event.guild_id)
        async with self.db.transaction() as conn:
            idea = await idea_queries.get_idea(conn, event.idea_id)
            counted = await rep_queries.counted_since(
                conn, event.guild_id, event.author_id, Source.SUBMISSION, event.at - DAY
            )
            points = submission_points(rules, counted)
            if points:
                number = idea.number if idea else "?"
                await rep_queries.append(
                    conn,
                    event.guild_id,
                    event.author_id,
                    points,
                    f"Submitted idea #{number}",
                    Source.SUBMISSION,
                    event.at,
                    idea_id=event.idea_id,
                )
        if points:
            self.mark_dirty(event.guild_id, event.author_id)

    async def credit_pending_merges(self) -> None:
        """Start-up repair: merges committed before a crash whose moved votes were never
        credited (their merge_effects rows are still there)."""
        for event in await rep_queries.owed_merge_credits(self.db.conn):
            if self.shards.owns(event.guild_id):
                await self.on_ideas_merged(event)

    async def repair_submissions_and_withdrawals(self) -> None:
        """Start-up repair: points a submission or a withdrawal committed just before a crash
        never wrote. Idempotent: an idea with a submission row is skipped, and a withdrawal
        takes back only what is still credited."""
        since = self.clock() - REPAIR_WINDOW
        for guild_id, idea_id, author_id, at in await rep_queries.submitted_without_credit(self.db.conn, since):
            if self.shards.owns(guild_id):
                await self.on_idea_submitted(IdeaSubmitted(guild_id, idea_id, author_id, at))
        for guild_id, idea_id, author_id, at in await rep_queries.withdrawn_with_credit(self.db.conn, since):
            if self.shards.owns(guild_id):
                await self.on_idea_withdrawn(IdeaWithdrawn(guild_id, idea_id, author_id, at))

    async def on_votes_changed(self, events: list[VoteChanged]) -> None:
        """A batch of vote changes (in order) in one transaction; see VoteBatchReplay. The
        batch's queued effects row (bot/votes/storage.py) is deleted in that transaction."""
        if not events:
            return
        document = vote_queries.encode_changes(events)

        def credit(conn: SyncConn) -> VoteBatchReplay:
            replay = VoteBatchReplay(conn, events).run()
            rep_queries.take_vote_effects(conn, document)
            return replay

        self._after_credit([await self.db.transaction_in_thread(credit)])

    async def credit_pending_votes(self) -> int:
        """Start-up repair: credit the vote batches committed before a crash whose credit was
        never written (their effects rows are still queued). Run before the vote writer starts.
        Returns how many batches it credited."""

        def credit_all(conn: SyncConn) -> list[VoteBatchReplay]:
            replays = []
            for row_id, document in rep_queries.pending_vote_effects(conn):
                events = vote_queries.decode_changes(document)
                # A batch holds one process's events, so of its owner's guilds: another
                # process's batch may be being credited by that process right now.
                if events and not self.shards.owns(events[0].guild_id):
                    continue
                if events:
                    replays.append(VoteBatchReplay(conn, events).run())
                rep_queries.drop_vote_effects(conn, row_id)
            return replays

        replays = await self.db.transaction_in_thread(credit_all)
        self._after_credit(replays)
        if replays:
            log.info("credited %d vote batches left owed by an interrupted run", len(replays))
        return len(replays)

    def _after_credit(self, replays: list[VoteBatchReplay]) -> None:
        for replay in replays:
            for guild_id, user_id in replay.changed:
                self.mark_dirty(guild_id, user_id)
            for found in replay.serial:
                self._spawn(
                    self.outlet.report_serial_voting(found.guild_id, found.voter_id, found.author_id, found.votes)
                )

    async def _upvote_earns(
        self,
        conn: Conn,
        rules: ReputationRules,
        guild_id: int,
        voter_id: int,
        author_id: int,
        joined_at: datetime | None,
        at: datetime,
    ) -> tuple[bool, int | None]:
        """(earns, votes) where votes is set when this upvote newly reveals serial voting."""
        lookback = serial_lookback(rules, at)
        earns, serial = upvote_verdict(
            rules,
            voter_id,
            joined_at,
            at,
            flagged_at=await rep_queries.latest_flag(conn, guild_id, voter_id, author_id),
            upvote_times=await rep_queries.upvote_times_between(
                conn, guild_id, voter_id, author_id, lookback.upvotes_since
            ),
            author_recent_ideas=await rep_queries.ideas_posted_since(conn, guild_id, author_id, lookback.ideas_since),
        )
        if serial is not None:
            await rep_queries.flag_serial_voting(conn, guild_id, voter_id, author_id, serial, at)
        return earns, serial

    async def on_status_changed(self, event: IdeaStatusChanged) -> None:
        await self._credit_status_bonus(event, thank_anyway=True)

    async def repair_status_bonuses(self) -> None:
        """Start-up repair: a bonus whose status change committed just before a crash is
        credited now. Idempotent: a bonus is paid once per idea and kind."""
        since = self.clock() - REPAIR_WINDOW
        for guild_id, idea_id, author_id, new, at in await rep_queries.bonus_status_changes_since(self.db.conn, since):
            if not self.shards.owns(guild_id):
                continue
            status = Status(new)
            await self._credit_status_bonus(
                IdeaStatusChanged(guild_id, idea_id, author_id, status, status, None, None, at), thank_anyway=False
            )

    async def _credit_status_bonus(self, event: IdeaStatusChanged, *, thank_anyway: bool) -> None:
        rules = await self.rules(event.guild_id)
        bonus = status_bonus(rules, event.new_status)
        if bonus is None:
            return
        source, points = bonus
        credited: list[int] = []
        async with self.db.transaction() as conn:
            idea = await idea_queries.get_idea(conn, event.idea_id)
            if idea is None:
                return
            people = list(dict.fromkeys([idea.author_id, *idea.coauthor_ids]))
            for user_id in people:
                # Once per idea and kind: going planned → open → planned pays once.
                if points <= 0 or await rep_queries.idea_source_credit(conn, idea.id, user_id, source) > 0:
                    continue
                label = "planned" if source is Source.PLANNED else "implemented"
                await rep_queries.append(
                    conn, event.guild_id, user_id, points, f"#{idea.number} {label}", source, event.at, idea_id=idea.id
                )
                credited.append(user_id)
            thanks = bool(credited) or (thank_anyway and points <= 0 and event.old_status is not event.new_status)
            if thanks:
                await rep_queries.owe_thanks(conn, idea.id, event.new_status.value, people)
        for user_id in credited:
            self.mark_dirty(event.guild_id, user_id)
        if thanks:
            self._spawn(self._thank(idea, event.new_status, people))

    async def _thank(self, idea: Idea, status: Status, people: list[int]) -> None:
        await self.outlet.thank(idea, status, people)
        async with self.db.transaction() as conn:
            await rep_queries.thanked(conn, idea.id, status.value)

    async def send_owed_thanks(self) -> None:
        """Start-up repair: thank-you notes owed for bonuses credited before a crash."""
        for idea_id, status, people in await rep_queries.owed_thanks(self.db.conn):
            idea = await idea_queries.get_idea(self.db.conn, idea_id)
            if idea is not None and not self.shards.owns(idea.guild_id):
                continue
            if idea is None:
                async with self.db.transaction() as conn:
                    await rep_queries.thanked(conn, idea_id, status)
                continue
            self._spawn(self._thank(idea, Status(status), people))

    async def on_idea_withdrawn(self, event: IdeaWithdrawn) -> None:
        """Everything still credited on the idea moves back (submission, votes, bonuses)."""
        changed: set[int] = set()
        async with self.db.transaction() as conn:
            idea = await idea_queries.get_idea(conn, event.idea_id)
            number = idea.number if idea else 0
            for user_id, voter_id, outstanding in await rep_queries.outstanding_on_idea(conn, event.idea_id):
                await rep_queries.append(
                    conn,
                    event.guild_id,
                    user_id,
                    -outstanding,
                    f"Idea #{number} withdrawn",
                    Source.REVERSAL,
                    event.at,
                    idea_id=event.idea_id,
                    voter_id=voter_id,
                )
                changed.add(user_id)
        for user_id in changed:
            self.mark_dirty(event.guild_id, user_id)

    async def on_ideas_merged(self, event: IdeasMerged) -> None:
        """Votes moved by a merge: what they credited the source's author goes back; kept
        upvotes now credit the target's author (under the same trust rules and daily cap)."""
        rules = await self.rules(event.guild_id)
        changed: set[int] = set()
        async with self.db.transaction() as conn:
            await rep_queries.take_merge_credit(conn, event)  # owed since the merge (merge_effects)
            source = await idea_queries.get_idea(conn, event.source_id)
            target = await idea_queries.get_idea(conn, event.target_id)
            s_number = source.number if source else 0
            t_number = target.number if target else 0
            for moved in event.moved_votes:
                outstanding = await rep_queries.vote_credit(
                    conn, event.source_id, moved.voter_id, event.source_author_id
                )
                if outstanding:
                    await rep_queries.append(
                        conn,
                        event.guild_id,
                        event.source_author_id,
                        -outstanding,
                        f"#{s_number} merged into #{t_number}: its votes moved",
                        Source.REVERSAL,
                        event.at,
                        idea_id=event.source_id,
                        voter_id=moved.voter_id,
                    )
                    changed.add(event.source_author_id)
                if not moved.kept or moved.value != 1:
                    continue
                if await rep_queries.vote_credit(conn, event.target_id, moved.voter_id, event.target_author_id) > 0:
                    continue
                earns, __ = await self._upvote_earns(
                    conn,
                    rules,
                    event.guild_id,
                    moved.voter_id,
                    event.target_author_id,
                    moved.voter_joined_at,
                    event.at,
                )
                credit = vote_change_credit(
                    None,
                    1,
                    0,
                    earns=earns,
                    rules=rules,
                    vote_points_last_day=await rep_queries.vote_points_since(
                        conn, event.guild_id, event.target_author_id, event.at - DAY
                    ),
                )
                if credit.delta:
                    await rep_queries.append(
                        conn,
                        event.guild_id,
                        event.target_author_id,
                        credit.delta,
                        f"Upvote moved to #{t_number} from #{s_number}",
                        Source.UPVOTE,
                        event.at,
                        idea_id=event.target_id,
                        voter_id=moved.voter_id,
                    )
                    changed.add(event.target_author_id)
        for user_id in changed:
            self.mark_dirty(event.guild_id, user_id)

    # --- reward roles ----------------------------------------------------------------------

    async def add_reward_role(self, guild_id: int, moderator_id: int | None, role_id: int, points: int) -> bool:
        """Returns True when the role is new, False when its threshold was changed."""
        if not 0 <= points <= MAX_ROLE_POINTS:
            raise UserFacingError(
                _("The threshold must be between 0 and {max_role_points} points.").format(
                    max_role_points=MAX_ROLE_POINTS
                )
            )
        roles = await self.reward_roles(guild_id)
        existing = any(role.role_id == role_id for role in roles)
        if not existing and len(roles) >= MAX_REWARD_ROLES:
            raise UserFacingError(
                _("A server can have at most {max_reward_roles} reward roles; remove one first.").format(
                    max_reward_roles=MAX_REWARD_ROLES
                )
            )
        async with self.db.transaction() as conn:
            await rep_queries.put_reward_role(conn, guild_id, role_id, points, moderator_id, self.clock())
        await self.reconcile_guild(guild_id)
        return not existing

    async def remove_reward_role(self, guild_id: int, role_id: int) -> None:
        """Stop awarding a role. Members who hold it keep it (the bot no longer manages it)."""
        async with self.db.transaction() as conn:
            removed = await rep_queries.delete_reward_role(conn, guild_id, role_id)
        if not removed:
            raise NotFound(_("That role is not a reward role here."))

    async def reconcile_guild(self, guild_id: int) -> None:
        """Queue every member with points, or with a reward role the bot gave, for a reconcile."""
        conn = self.db.conn
        people = set(await rep_queries.members_with_points(conn, guild_id))
        people |= {user for user, _, _, _ in await rep_queries.role_awards(conn, guild_id)}
        for user_id in people:
            self.mark_dirty(guild_id, user_id)

    async def reconcile_all(self) -> None:
        """Start-up repair: role changes queued in memory die with the process, and reward
        roles are state (what the totals reach), so every guild with reward roles is
        reconciled once; members already right cost no Discord call."""
        for guild_id in await rep_queries.guilds_with_reward_roles(self.db.conn):
            if self.shards.owns(guild_id):
                await self.reconcile_guild(guild_id)

    def mark_dirty(self, guild_id: int, user_id: int) -> None:
        self._dirty.add((guild_id, user_id))
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile_later(), name="reputation-roles")

    async def _reconcile_later(self) -> None:
        while self._dirty:
            if self.role_delay and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.role_delay)
            batch, self._dirty = self._dirty, set()
            for key in sorted(batch):
                guild_id, user_id = key
                try:
                    await self.reconcile(guild_id, user_id)
                except Exception:
                    # A transient failure (5xx after discord.py's own retries, a stray 429):
                    # try again on a later round instead of waiting for the next point change.
                    attempts = self._failed_attempts.get(key, 0) + 1
                    if attempts < MAX_ROLE_ATTEMPTS:
                        self._failed_attempts[key] = attempts
                        self._dirty.add(key)
                        log.warning(
                            "reward roles of %s in %s failed (attempt %d); retrying", user_id, guild_id, attempts
                        )
                    else:
                        self._failed_attempts.pop(key, None)
                        log.exception("giving up on the reward roles of %s in %s for now", user_id, guild_id)
                else:
                    self._failed_attempts.pop(key, None)

    async def reconcile(self, guild_id: int, user_id: int) -> None:
        """Give or take reward roles so the member holds exactly those their total reaches.
        Idempotent: with nothing to change, no Discord call is made."""
        self.reconciliations += 1
        conn = self.db.conn
        roles = await rep_queries.reward_roles(conn, guild_id)
        held = await rep_queries.held_roles(conn, guild_id, user_id)
        if not roles and not held:
            return
        total = await rep_queries.total(conn, guild_id, user_id)
        changes = role_changes(total, roles, held)
        for role_id, adding in [(r, True) for r in changes.add] + [(r, False) for r in changes.remove]:
            try:
                self.role_calls += 1
                if adding:
                    await self.outlet.add_role(guild_id, user_id, role_id)
                else:
                    await self.outlet.remove_role(guild_id, user_id, role_id)
            except MemberGone:
                log.info("member %s or role %s is gone from guild %s; skipped", user_id, role_id, guild_id)
                continue
            except RoleUnsafe as exc:
                await self._report_refusal(guild_id, role_id, user_id, adding, str(exc), unsafe=True)
                continue
            except RoleRefused as exc:
                await self._report_refusal(guild_id, role_id, user_id, adding, str(exc))
                continue
            async with self.db.transaction() as conn:
                await rep_queries.record_role_award(
                    conn, guild_id, user_id, role_id, "added" if adding else "removed", self.clock()
                )

    async def _report_refusal(
        self, guild_id: int, role_id: int, user_id: int, adding: bool, detail: str, unsafe: bool = False
    ) -> None:
        now = self.clock()
        last = self._refusals_reported.get((guild_id, role_id))
        if last is not None and now - last < REFUSAL_REPORT_INTERVAL:
            return
        self._refusals_reported[(guild_id, role_id)] = now
        try:
            if unsafe:
                await self.outlet.report_role_unsafe(guild_id, role_id, detail)
            else:
                await self.outlet.report_role_refused(guild_id, role_id, user_id, adding, detail)
        except Exception:
            log.exception("could not report a refused role change in %s", guild_id)

    # --- background work ---------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reputation notice failed", exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Until every queued role change and notice is done."""
        while self._tasks or (self._reconciler is not None and not self._reconciler.done()):
            if self._reconciler is not None and not self._reconciler.done():
                await asyncio.gather(self._reconciler, return_exceptions=True)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, timeout: float = 5) -> None:
        """Finish pending work (bounded, without the coalescing delay), then cancel whatever is left."""
        self._stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.wait_idle(), timeout=timeout)
        for task in [*self._tasks, self._reconciler]:
            if task is not None and not task.done():
                task.cancel()
