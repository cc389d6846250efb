"""Duplicate detection at submit time, the drafts waiting on the member's choice, and
"support that idea instead" (an upvote recorded without a reaction).

Similarity comes from stored embeddings when an embedding model is configured, and from TF-IDF
cosine otherwise, or whenever the embedding service fails."""

from __future__ import annotations

import hashlib
import logging
import secrets
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.db import Database
from bot.db import digests as queries
from bot.db import ideas as idea_queries
from bot.db import votes as vote_queries
from bot.domain.events import VoteChanged
from bot.domain.ideas import Idea
from bot.domain.similarity import TfidfIndex, dense_cosine, idea_text
from bot.llm.client import LLMClient, LLMError
from bot.services.errors import NotFound, UserFacingError
from bot.services.events import Clock, EventBus, system_clock
from bot.services.ports import IdeaBoard

log = logging.getLogger(__name__)

# Chosen on tests/data/duplicate_pairs.json: see docs/duplicates.md.
LEXICAL_THRESHOLD = 0.35
EMBEDDING_THRESHOLD = 0.85
CANDIDATE_LIMIT = 2000
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
    ) -> None:
        self.db = db
        self.board = board
        self.events = events
        self.clock = clock
        self.llm = llm
        self.threshold = threshold
        self.embedding_threshold = embedding_threshold
        self.candidate_limit = candidate_limit
        self.last_method = "lexical"

    # --- finding ---------------------------------------------------------------------------------

    async def find_similar(self, guild_id: int, title: str, details: str, limit: int = 3) -> list[SimilarIdea]:
        """Open ideas most like the draft, above the threshold, best first."""
        rows = await queries.open_ideas_for_matching(self.db.conn, guild_id, self.candidate_limit)
        if not rows:
            return []
        draft = idea_text(title, details)
        if self.llm is not None and self.llm.embeddings_enabled:
            try:
                found = await self._by_embeddings(rows, draft, limit)
            except LLMError as exc:
                log.warning("duplicate check fell back to lexical similarity: %s", exc)
            else:
                self.last_method = "embeddings"
                return found
        self.last_method = "lexical"
        return self._lexically(rows, draft, limit)

    def _lexically(self, rows: list[tuple[int, int, str, str, int]], draft: str, limit: int) -> list[SimilarIdea]:
        by_id = {row[0]: row for row in rows}
        index = TfidfIndex([(row[0], idea_text(row[2], row[3])) for row in rows])
        return [
            SimilarIdea(key, by_id[key][1], by_id[key][2], by_id[key][4], score)
            for key, score in index.similar(draft, limit=limit, threshold=self.threshold)
        ]

    async def _by_embeddings(
        self, rows: list[tuple[int, int, str, str, int]], draft: str, limit: int
    ) -> list[SimilarIdea]:
        assert self.llm is not None and self.llm.embedding_model is not None
        model = self.llm.embedding_model
        stored = await queries.embeddings_for(self.db.conn, [row[0] for row in rows], model)
        texts = {row[0]: idea_text(row[2], row[3]) for row in rows}
        missing = [key for key, text in texts.items() if stored.get(key, ("", b""))[0] != _hash(text)]
        vectors = await self.llm.embed([draft] + [texts[key] for key in missing])
        query, fresh = vectors[0], vectors[1:]
        if fresh:
            now = self.clock()
            async with self.db.transaction() as conn:
                for key, vector in zip(missing, fresh, strict=True):
                    packed = _pack(vector)
                    await queries.save_embedding(conn, key, model, _hash(texts[key]), len(vector), packed, now)
                    stored[key] = (_hash(texts[key]), packed)
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

    async def peek(self, pending_id: str) -> dict[str, Any] | None:
        return await queries.get_pending(self.db.conn, pending_id)

    async def take(self, pending_id: str, user_id: int) -> dict[str, Any]:
        """The held draft, removed so it is used once; only its author may take it."""
        async with self.db.transaction() as conn:
            found = await queries.get_pending(conn, pending_id)
            if found is None:
                raise UserFacingError("This draft is no longer waiting: it was already posted or dropped.")
            if found["author_id"] != user_id:
                raise UserFacingError("These buttons belong to the member who wrote the draft.")
            await queries.take_pending(conn, pending_id)
        return found

    # --- support instead -----------------------------------------------------------------------------

    async def support(self, guild_id: int, user_id: int, idea_id: int, joined_at: datetime | None = None) -> Support:
        """Record an upvote from `user_id` on an idea, as a 👍 reaction would."""
        now = self.clock()
        async with self.db.transaction() as conn:
            idea = await idea_queries.get_idea(conn, idea_id)
            if idea is None or idea.guild_id != guild_id or idea.message_id is None:
                raise NotFound("That idea no longer exists.")
            if idea.status.closes_voting:
                raise UserFacingError(f"#{idea.number} is {idea.status.label.lower()}: voting on it is closed.")
            if idea.author_id == user_id:
                raise UserFacingError(f"#{idea.number} is your own idea: your support is already implied.")
            old = await vote_queries.get_vote(conn, idea.id, user_id)
            change = VoteChanged(guild_id, idea.id, idea.author_id, user_id, old, 1, joined_at, now)
            if old != 1:
                await vote_queries.put_vote(conn, idea.id, user_id, old, 1, joined_at, now, reaction_backed=False)
                # Its reputation credit is owed from this commit on (see vote_effects).
                await vote_queries.queue_effects_async(conn, vote_queries.encode_changes([change]))
        if old == 1:
            return Support(idea, False)
        self.board.card_changed(idea.id)
        await self.events.publish(change)
        fresh = await idea_queries.get_idea(self.db.conn, idea.id)
        return Support(fresh or idea, True)
