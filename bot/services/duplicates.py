"""Duplicate detection at submit time, the drafts waiting on the member's choice, and
"support that idea instead" (an upvote recorded without a reaction).

Similarity comes from stored embeddings when an embedding model is configured, and from TF-IDF
cosine otherwise, or whenever the embedding service fails."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot.db import Database
from bot.db import digests as queries
from bot.db import ideas as idea_queries
from bot.db import search as search_queries
from bot.db import votes as vote_queries
from bot.domain.events import VoteChanged
from bot.domain.ideas import Idea
from bot.domain.similarity import dense_cosine, idea_text, informative_words, tfidf_cosines
from bot.llm.client import MAX_EMBED_BATCH, LLMClient, LLMError
from bot.services.errors import NotFound, UserFacingError
from bot.services.events import Clock, EventBus, system_clock
from bot.services.ports import IdeaBoard

log = logging.getLogger(__name__)

# Chosen on tests/data/duplicate_pairs.json: see docs/duplicates.md.
LEXICAL_THRESHOLD = 0.35
EMBEDDING_THRESHOLD = 0.85
# The search index proposes this many candidates from the whole board, found by the draft's
# rarest words: at most MAX_QUERY_WORDS of them, within POSTINGS_BUDGET board postings, which
# bounds the index's work (bm25 over the matches) whatever the board's size.
CANDIDATE_LIMIT = 50
MAX_QUERY_WORDS = 8
POSTINGS_BUDGET = 8_000
FREQUENCIES_TTL_SECONDS = 600.0
# The member waits on the duplicate check (the interaction is deferred, not failed): past this,
# the embeddings are given up for lexical similarity.
EMBEDDING_DEADLINE_SECONDS = 2.0
PENDING_TTL = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SimilarIdea:
    idea_id: int
    number: int
    title: str
    upvotes: int
    score: float


@dataclass(frozen=True, slots=True)
class Support:
    idea: Idea
    changed: bool  # False when the member already supported it
    replaced: int | None = None  # the vote it replaced (-1: their 👎 reaction vote)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _pack(vector: list[float]) -> bytes:
    return array("f", vector).tobytes()


def _unpack(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    return values.tolist()


class DuplicateService:
    def __init__(
        self,
        db: Database,
        board: IdeaBoard,
        events: EventBus,
        clock: Clock = system_clock,
        llm: LLMClient | None = None,
        *,
        threshold: float = LEXICAL_THRESHOLD,
        embedding_threshold: float = EMBEDDING_THRESHOLD,
        candidate_limit: int = CANDIDATE_LIMIT,
        embedding_deadline: float = EMBEDDING_DEADLINE_SECONDS,
    ) -> None:
        self.db = db
        self.board = board
        self.events = events
        self.clock = clock
        self.llm = llm
        self.threshold = threshold
        self.embedding_threshold = embedding_threshold
        self.candidate_limit = candidate_limit
        self.embedding_deadline = embedding_deadline
        self.last_method = "lexical"
        self._document_frequencies: tuple[dict[str, int], int] | None = None
        self._frequencies_read_at = 0.0
        self._frequencies_lock = asyncio.Lock()

    # --- finding ---------------------------------------------------------------------------------

    async def find_similar(self, guild_id: int, title: str, details: str, limit: int = 3) -> list[SimilarIdea]:
        """Ideas open to votes most like the draft, above the threshold, best first. Candidates
        come from the search index over the whole board (the draft's rarest words), then are
        scored by TF-IDF cosine with the board's document frequencies, or by embeddings."""
        draft = idea_text(title, details)
        df, total = await self._frequencies()
        query = informative_words(draft, df, POSTINGS_BUDGET, MAX_QUERY_WORDS)
        rows = await search_queries.duplicate_candidates(self.db.conn, guild_id, query, self.candidate_limit)
        if not rows:
            return []
        if self.llm is not None and self.llm.embeddings_enabled:
            try:
                found = await self._by_embeddings(rows, draft, limit)
            except LLMError as exc:
                log.warning("duplicate check fell back to lexical similarity: %s", exc)
            else:
                self.last_method = "embeddings"
                return found
        self.last_method = "lexical"
        by_id = {row[0]: row for row in rows}
        scores = tfidf_cosines(draft, {row[0]: idea_text(row[2], row[3]) for row in rows}, df, total)
        ranked = sorted(
            ((key, score) for key, score in scores.items() if score >= self.threshold), key=lambda i: (-i[1], i[0])
        )
        return [SimilarIdea(key, by_id[key][1], by_id[key][2], by_id[key][4], score) for key, score in ranked[:limit]]

    async def _frequencies(self) -> tuple[dict[str, int], int]:
        """The board's document frequencies, read from the search index at most every few minutes
        (a new idea's words weigh as rare until then, which only widens the candidates)."""
        async with self._frequencies_lock:
            now = time.monotonic()
            if self._document_frequencies is None or now - self._frequencies_read_at > FREQUENCIES_TTL_SECONDS:
                self._document_frequencies = await search_queries.document_frequencies(self.db.conn)
                self._frequencies_read_at = now
            return self._document_frequencies

    async def _by_embeddings(
        self, rows: list[tuple[int, int, str, str, int]], draft: str, limit: int
    ) -> list[SimilarIdea]:
        assert self.llm is not None and self.llm.embedding_model is not None
        model = self.llm.embedding_model
        stored = await queries.embeddings_for(self.db.conn, [row[0] for row in rows], model)
        texts = {row[0]: idea_text(row[2], row[3]) for row in rows}
        missing = [key for key, text in texts.items() if stored.get(key, ("", b""))[0] != _hash(text)]
        wanted = [draft] + [texts[key] for key in missing]
        vectors: list[list[float]] = []
        in_time = False
        try:
            async with asyncio.timeout(self.embedding_deadline):
                for start in range(0, len(wanted), MAX_EMBED_BATCH):
                    vectors.extend(await self.llm.embed(wanted[start : start + MAX_EMBED_BATCH]))
                in_time = True
        except TimeoutError:
            pass
        # The vectors that came in time are kept even when the rest did not: a board whose ideas
        # have no embeddings yet gets them over a few checks instead of never.
        fresh = vectors[1:]
        if fresh:
            now = self.clock()
            async with self.db.transaction() as conn:
                for key, vector in zip(missing, fresh, strict=False):
                    packed = _pack(vector)
                    await queries.save_embedding(conn, key, model, _hash(texts[key]), len(vector), packed, now)
                    stored[key] = (_hash(texts[key]), packed)
        if not in_time:
            raise LLMError(f"embeddings missed the {self.embedding_deadline:g} s deadline")
        # Thousands of cosines in plain Python: off the event loop.
        return await asyncio.to_thread(self._score, rows, vectors[0], stored, limit)

    def _score(
        self,
        rows: list[tuple[int, int, str, str, int]],
        query: list[float],
        stored: dict[int, tuple[str, bytes]],
        limit: int,
    ) -> list[SimilarIdea]:
        scored = []
        for row in rows:
            score = dense_cosine(query, _unpack(stored[row[0]][1]))
            if score >= self.embedding_threshold:
                scored.append(SimilarIdea(row[0], row[1], row[2], row[4], score))
        scored.sort(key=lambda s: (-s.score, s.number))
        return scored[:limit]

    # --- drafts waiting on the member ------------------------------------------------------------------

    async def hold(
        self, guild_id: int, author_id: int, title: str, details: str, category: str | None, options: dict[str, Any]
    ) -> str:
        """Store the draft until the member chooses; returns the short id the buttons carry."""
        pending_id = secrets.token_urlsafe(9)
        now = self.clock()
        async with self.db.transaction() as conn:
            await queries.purge_pending(conn, now - PENDING_TTL)
            await queries.save_pending(conn, pending_id, guild_id, author_id, title, details, category, options, now)
        return pending_id

    async def take(self, pending_id: str, user_id: int) -> dict[str, Any]:
        """The held draft, removed so it is used once; only its author may take it."""
        async with self.db.transaction() as conn:
            return await self._take(conn, pending_id, user_id)

    @staticmethod
    async def _take(conn: aiosqlite.Connection, pending_id: str, user_id: int) -> dict[str, Any]:
        found = await queries.get_pending(conn, pending_id)
        if found is not None and found["author_id"] != user_id:
            raise UserFacingError("These buttons belong to the member who wrote the draft.")
        if found is None or await queries.take_pending(conn, pending_id) is None:
            raise UserFacingError("This draft is no longer waiting: it was already posted or dropped.")
        return found

    # --- support instead -----------------------------------------------------------------------------

    async def support(
        self,
        guild_id: int,
        user_id: int,
        idea_id: int,
        joined_at: datetime | None = None,
        *,
        pending_id: str | None = None,
    ) -> Support:
        """Record an upvote from `user_id` on an idea. It replaces their reaction vote, if any, and
        leaves their reactions as they are (the rule: bot/domain/votes.py). With `pending_id`, the
        held draft is taken in the same transaction: the vote and dropping the draft happen together
        or not at all, and never beside "Post anyway" for the same draft."""
        now = self.clock()
        async with self.db.transaction() as conn:
            if pending_id is not None:
                await self._take(conn, pending_id, user_id)
            idea = await idea_queries.get_idea(conn, idea_id)
            if idea is None or idea.guild_id != guild_id or idea.message_id is None:
                raise NotFound("That idea no longer exists.")
            if idea.voting_closed:
                raise UserFacingError(f"#{idea.number} is closed to votes: it can no longer be supported.")
            if idea.author_id == user_id:
                raise UserFacingError(f"#{idea.number} is your own idea: your support is already implied.")
            old = await vote_queries.get_vote(conn, idea.id, user_id)
            if old != 1:
                await vote_queries.put_vote(conn, idea.id, user_id, old, 1, joined_at, now, reaction_backed=False)
        if old == 1:
            return Support(idea, False)
        self.board.card_changed(idea.id)
        await self.events.publish(VoteChanged(guild_id, idea.id, idea.author_id, user_id, old, 1, joined_at, now))
        fresh = await idea_queries.get_idea(self.db.conn, idea.id)
        return Support(fresh or idea, True, old)
