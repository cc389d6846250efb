"""Duplicate detection at submit time, the drafts waiting on the member's choice, and
"support that idea instead" (an upvote recorded without a reaction).

Similarity comes from stored embeddings when an embedding model is configured, and from TF-IDF
cosine otherwise, or whenever the embedding service fails."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.errors import NotFound, UserFacingError
from bot.core.ports import IdeaBoard
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import IdeaSubmitted, VoteChanged
from bot.i18n import _
from bot.ideas import storage as idea_queries
from bot.ideas.rules import Idea, IdeaDraft
from bot.ideas.storage import HeldDraft
from bot.llm.client import MAX_EMBED_BATCH, LLMClient, LLMError
from bot.search import storage as search_queries
from bot.search.dense import DenseIndex, fused_score, normalised
from bot.search.similarity import idea_text, informative_words, tfidf_cosines
from bot.storage import Conn, Database
from bot.votes import storage as vote_queries

log = logging.getLogger(__name__)

# Chosen on the tuning sets (tests/data/duplicate_pairs.json, duplicate_pairs_tuning_hard.json; the
# hybrid with multilingual-e5-small), never on the held-out set: see docs/duplicates.md.
LEXICAL_THRESHOLD = 0.35
# Hybrid: the dense cosine spread over [0, 1] above DENSE_FLOOR, weighed DENSE_WEIGHT against the
# lexical cosine; ideas nearest to the draft's vector join the lexical candidates.
HYBRID_THRESHOLD = 0.13
DENSE_FLOOR = 0.85
DENSE_WEIGHT = 0.7
DENSE_CANDIDATES = 20
# The search index proposes this many candidates from the whole board, found by the draft's
# rarest words: at most MAX_QUERY_WORDS of them, within POSTINGS_BUDGET board postings (and a
# word held by more ideas than that reads its newest POSTINGS_BUDGET), which bounds the index's
# work whatever the board's size.
CANDIDATE_LIMIT = 50
MAX_QUERY_WORDS = 8
POSTINGS_BUDGET = 2_000
FREQUENCIES_TTL_SECONDS = 600.0
# The member waits on the duplicate check (the interaction is deferred, not failed): past this,
# the embeddings are given up for lexical similarity.
EMBEDDING_DEADLINE_SECONDS = 2.0
PENDING_TTL = timedelta(days=7)
DRAFT_GATE = "duplicates"


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


def text_hash(text: str) -> str:
    """The hash stored with an embedding: a changed text (an edit) gets a new vector."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
        hybrid_threshold: float = HYBRID_THRESHOLD,
        candidate_limit: int = CANDIDATE_LIMIT,
        embedding_deadline: float = EMBEDDING_DEADLINE_SECONDS,
    ) -> None:
        self.db = db
        self.board = board
        self.events = events
        self.clock = clock
        self.llm = llm
        self.threshold = threshold
        self.hybrid_threshold = hybrid_threshold
        self.candidate_limit = candidate_limit
        self.embedding_deadline = embedding_deadline
        self.last_method = "lexical"
        self._document_frequencies: tuple[dict[str, int], int] | None = None
        self._frequencies_read_at = 0.0
        self._frequencies_lock = asyncio.Lock()
        self._dense: dict[tuple[int, str], DenseIndex] = {}
        self._background: set[asyncio.Task[None]] = set()

    # --- finding ---------------------------------------------------------------------------------

    async def find_similar(self, guild_id: int, title: str, details: str, limit: int = 3) -> list[SimilarIdea]:
        """Ideas open to votes most like the draft, above the threshold, best first. Candidates
        come from the search index over the whole board (the draft's rarest words), then are
        scored by TF-IDF cosine with the board's document frequencies, or by embeddings."""
        draft = idea_text(title, details)
        df, total = await self._frequencies()
        query = [
            (word, math.log(1 + total / (1 + holding)))  # idf: a rarer word weighs more
            for word, holding in informative_words(draft, df, POSTINGS_BUDGET, MAX_QUERY_WORDS)
        ]
        rows = await search_queries.duplicate_candidates(
            self.db.conn, guild_id, query, self.candidate_limit, POSTINGS_BUDGET
        )
        if self.llm is not None and self.llm.embeddings_enabled:
            try:
                found = await self._by_embeddings(guild_id, rows, draft, (df, total), limit)
            except LLMError as exc:
                log.warning("duplicate check fell back to lexical similarity: %s", exc)
            else:
                self.last_method = "hybrid"
                return found
        self.last_method = "lexical"
        if not rows:
            return []
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
        self,
        guild_id: int,
        rows: list[tuple[int, int, str, str, int]],
        draft: str,
        frequencies: tuple[dict[str, int], int],
        limit: int,
    ) -> list[SimilarIdea]:
        """Hybrid: the draft's vector finds its nearest ideas on the whole board (stored vectors,
        numpy), the search index its lexical candidates; every candidate is scored by both, fused."""
        assert self.llm is not None and self.llm.embedding_model is not None
        model = self.llm.embedding_model
        texts = {row[0]: idea_text(row[2], row[3]) for row in rows}
        stored = await search_queries.embeddings_for(self.db.conn, list(texts), model)
        missing = [key for key, text in texts.items() if stored.get(key, ("", b""))[0] != text_hash(text)]
        # The draft and the lexical candidates without a vector yet, in one request: a board whose
        # ideas have no embeddings gets them over a few checks instead of never.
        wanted = [draft] + [texts[key] for key in missing[: MAX_EMBED_BATCH - 1]]
        try:
            async with asyncio.timeout(self.embedding_deadline):
                vectors = await self.llm.embed(wanted)
        except TimeoutError:
            raise LLMError(f"embeddings missed the {self.embedding_deadline:g} s deadline") from None
        await self._save_embeddings(model, [(key, texts[key]) for key in missing], vectors[1:])
        query = normalised(vectors[0])
        index = await self._dense_index(guild_id, model)
        near = dict(await asyncio.to_thread(index.nearest, query, DENSE_CANDIDATES))
        extra = [key for key in near if key not in texts]
        rows = rows + await search_queries.open_ideas(self.db.conn, guild_id, extra)
        df, total = frequencies
        lexical = tfidf_cosines(draft, {row[0]: idea_text(row[2], row[3]) for row in rows}, df, total)
        scored = []
        for row in rows:
            vector = index.vector(row[0])
            dense = near.get(row[0], None if vector is None else float(vector @ query))
            score = fused_score(lexical[row[0]], dense, dense_floor=DENSE_FLOOR, dense_weight=DENSE_WEIGHT)
            if score >= (self.hybrid_threshold if dense is not None else self.threshold):
                scored.append(SimilarIdea(row[0], row[1], row[2], row[4], score))
        scored.sort(key=lambda s: (-s.score, s.number))
        return scored[:limit]

    async def _save_embeddings(self, model: str, items: list[tuple[int, str]], vectors: list[list[float]]) -> None:
        if not vectors:
            return
        now = self.clock()
        async with self.db.transaction() as conn:
            for (key, text), vector in zip(items, vectors, strict=False):
                packed = normalised(vector).tobytes()
                await search_queries.save_embedding(conn, key, model, text_hash(text), len(vector), packed, now)

    async def _dense_index(self, guild_id: int, model: str) -> DenseIndex:
        """The guild's stored vectors, read once and then only those saved since."""
        index = self._dense.setdefault((guild_id, model), DenseIndex())
        for key, vector, at in await search_queries.embeddings_since(self.db.conn, guild_id, model, index.watermark):
            index.put(key, normalised(vector), at)
        return index

    async def wait_idle(self) -> None:
        """Until every background embedding is stored (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def embed_new_idea(self, event: IdeaSubmitted) -> None:
        """Store a new idea's vector soon after it is posted, so the board's vectors stay complete
        (in the background: never on the member's path)."""
        if self.llm is None or not self.llm.embeddings_enabled or self.llm.embedding_model is None:
            return
        task = asyncio.create_task(self._embed_idea(event.idea_id, self.llm.embedding_model))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _embed_idea(self, idea_id: int, model: str) -> None:
        assert self.llm is not None
        idea = await idea_queries.get_idea(self.db.conn, idea_id)
        if idea is None:
            return
        text = idea_text(idea.title, idea.body)
        try:
            async with asyncio.timeout(self.embedding_deadline * 5):
                vectors = await self.llm.embed([text])
        except (LLMError, TimeoutError) as exc:
            log.info("no embedding for idea %s yet (%r): it gets one when it is next a candidate", idea_id, exc)
            return
        await self._save_embeddings(model, [(idea_id, text)], vectors)

    # --- drafts waiting on the member ------------------------------------------------------------------

    async def hold(self, guild_id: int, author_id: int, draft: IdeaDraft, options: dict[str, Any]) -> str:
        """Store the draft until the member chooses; returns the short id the buttons carry."""
        now = self.clock()
        async with self.db.transaction() as conn:
            await idea_queries.purge_held_drafts(conn, DRAFT_GATE, now - PENDING_TTL)
            return await idea_queries.hold_draft(conn, DRAFT_GATE, guild_id, author_id, draft, options, now)

    async def take(self, draft_id: str, user_id: int) -> HeldDraft:
        """The held draft, removed so it is used once; only its author may take it."""
        async with self.db.transaction() as conn:
            return await self._take(conn, draft_id, user_id)

    @staticmethod
    async def _take(conn: Conn, draft_id: str, user_id: int) -> HeldDraft:
        found = await idea_queries.held_draft(conn, draft_id, DRAFT_GATE)
        if found is not None and found.author_id != user_id:
            raise UserFacingError(_("These buttons belong to the member who wrote the draft."))
        if found is None or not await idea_queries.release_held_draft(conn, draft_id):
            raise UserFacingError(_("This draft is no longer waiting: it was already posted or dropped."))
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
        leaves their reactions as they are (the rule: bot/votes/rules.py). With `pending_id`, the
        held draft is taken in the same transaction: the vote and dropping the draft happen together
        or not at all, and never beside "Post anyway" for the same draft."""
        now = self.clock()
        async with self.db.transaction() as conn:
            if pending_id is not None:
                await self._take(conn, pending_id, user_id)
            idea = await idea_queries.get_idea(conn, idea_id)
            if idea is None or idea.guild_id != guild_id or idea.message_id is None:
                raise NotFound(_("That idea no longer exists."))
            if idea.voting_closed:
                raise UserFacingError(
                    _("#{number} is closed to votes: it can no longer be supported.").format(number=idea.number)
                )
            if idea.author_id == user_id:
                raise UserFacingError(
                    _("#{number} is your own idea: your support is already implied.").format(number=idea.number)
                )
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
        return Support(fresh or idea, True, old)
