"""Full-text search over ideas: SQLite FTS5 (the index and its triggers:
migrations/0009_full_text_search.sql), or PostgreSQL full-text search (english stemming, a GIN
expression index: migrations_pg/0001_schema.sql). Both rank the title above the details, take
prefixes from three letters on, and mark matches in snippets the same way."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.search.rules import MATCH_END, MATCH_START, SearchFilters, SearchHit, SearchPage
from bot.storage import Conn, is_postgres
from bot.storage.rows import IDEA_COLUMNS, idea_from_row, to_ts

# bm25 weights per column (guild, state, title, body): a word in the title counts four times.
# (The guild and state tokens match every row in scope; ranking each row costs a few µs.)
_RANK = "bm25(idea_search, 0.0, 0.0, 4.0, 1.0)"
_IDEA_COLUMNS = ", ".join(f"i.{column.strip()}" for column in IDEA_COLUMNS.split(","))
_BODY = 3
# Ranking reads every match; past this many, only the newest this many are ranked (a query
# that common is refined by adding a word, and the answer stays fast on a board of 100,000).
RANK_WINDOW = 1_000
# Counting reads every match too: past this, the total is reported as "more than".
COUNT_CAP = 1_000


def match_expression(guild_id: int, terms: list[str], filters: SearchFilters) -> str:
    """Every term (each a run of letters and digits, so safe inside quotes) required, as a
    prefix from three letters on (two-letter prefixes match half the vocabulary), within the
    guild's posted ideas (of one status when asked)."""
    words = " AND ".join(f'"{term}"*' if len(term) >= 3 else f'"{term}"' for term in terms)
    scope = f'guild : "g{guild_id}"'
    if filters.status is not None:
        scope += f' AND state : "{filters.status.value.replace("_", "")}"'
    else:
        scope += ' NOT state : "unposted"'
    return f"({scope}) AND ({words})"


async def _one(conn: Conn, sql: str, params: Sequence[object]) -> int | None:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


# PostgreSQL: the indexed expression (title weighted A, details B) and ts_rank's weights for
# D, C, B, A, so a word in the title counts four times, as with bm25 above.
_PG_VECTOR = "(setweight(to_tsvector('english', i.title), 'A') || setweight(to_tsvector('english', i.body), 'B'))"
_PG_WEIGHTS = "'{0, 0, 0.25, 1}'"
_PG_HEADLINE = f"StartSel={MATCH_START}, StopSel={MATCH_END}, MaxWords=14, MinWords=6, ShortWord=0, MaxFragments=1"
_PIECES = re.compile(r"[^\W_]+")


def pg_query(terms: list[str], *, prefix: bool, any_word: bool = False) -> str:
    """A to_tsquery text: every term required (or any, for `any_word`), each a run of letters
    and digits, as a prefix from three letters on when `prefix`."""
    pieces = [piece for term in terms for piece in _PIECES.findall(term)]
    operator = " | " if any_word else " & "
    return operator.join(f"{p}:*" if prefix and len(p) >= 3 else p for p in pieces)


async def search_ideas(
    conn: Conn,
    guild_id: int,
    terms: list[str],
    filters: SearchFilters,
    page: int,
    page_size: int,
) -> SearchPage:
    """Posted ideas matching every term, best first (bm25), one page of them with snippets of
    their details (the title is shown whole beside it)."""
    if is_postgres(conn):
        return await _search_ideas_pg(conn, guild_id, terms, filters, page, page_size)
    match = match_expression(guild_id, terms, filters)
    where, params = "idea_search MATCH ?", list[object]([match])
    if filters.category is not None:
        where += " AND i.category = ? COLLATE NOCASE"
        params.append(filters.category)
    source = "FROM idea_search JOIN ideas i ON i.id = idea_search.rowid"
    # One pass over the newest matches gives both the count (capped) and the ranking window.
    async with conn.execute(
        f"SELECT idea_search.rowid {source} WHERE {where} ORDER BY idea_search.rowid DESC LIMIT ?",
        [*params, max(COUNT_CAP, RANK_WINDOW) + 1],
    ) as cursor:
        newest = [int(row[0]) for row in await cursor.fetchall()]
    total = len(newest)
    oldest = newest[RANK_WINDOW - 1] if total >= RANK_WINDOW else None
    if oldest is not None:
        where += " AND idea_search.rowid >= ?"
        params.append(oldest)
    sql = (
        f"SELECT {_IDEA_COLUMNS}, snippet(idea_search, {_BODY}, ?, ?, '…', 14) AS snippet {source}"
        f" WHERE {where} ORDER BY {_RANK}, i.id DESC LIMIT ? OFFSET ?"
    )
    hits: list[SearchHit] = []
    async with conn.execute(sql, [MATCH_START, MATCH_END, *params, page_size, (page - 1) * page_size]) as cursor:
        async for found in cursor:
            hits.append(SearchHit(idea_from_row(found), str(found["snippet"] or "")))
    return SearchPage(hits, total, page, page_size, more=total > COUNT_CAP)


async def _search_ideas_pg(
    conn: Conn, guild_id: int, terms: list[str], filters: SearchFilters, page: int, page_size: int
) -> SearchPage:
    query = pg_query(terms, prefix=True)
    if not query:
        return SearchPage([], 0, page, page_size)
    where = f"i.guild_id = ? AND i.message_id IS NOT NULL AND {_PG_VECTOR} @@ to_tsquery('english', ?)"
    params = list[object]([guild_id, query])
    if filters.status is not None:
        where += " AND i.status = ?"
        params.append(filters.status.value)
    if filters.category is not None:
        where += " AND lower(i.category) = lower(?)"
        params.append(filters.category)
    total = await _one(
        conn, f"SELECT COUNT(*) FROM (SELECT 1 FROM ideas i WHERE {where} LIMIT {COUNT_CAP + 1}) s", params
    )
    # Ranked among the newest RANK_WINDOW matches, as on SQLite.
    sql = (
        f"WITH m AS (SELECT i.* FROM ideas i WHERE {where} ORDER BY i.id DESC LIMIT {RANK_WINDOW})"
        f" SELECT {_IDEA_COLUMNS}, ts_headline('english', i.body, to_tsquery('english', ?), ?) AS snippet,"
        f" ts_rank({_PG_WEIGHTS}, {_PG_VECTOR}, to_tsquery('english', ?)) AS rank"
        " FROM m AS i ORDER BY rank DESC, i.id DESC LIMIT ? OFFSET ?"
    )
    hits: list[SearchHit] = []
    args = [*params, query, _PG_HEADLINE, query, page_size, (page - 1) * page_size]
    async with conn.execute(sql, args) as cursor:
        async for found in cursor:
            hits.append(SearchHit(idea_from_row(found), _clip_headline(str(found["snippet"] or ""), found["body"])))
    total = total or 0
    return SearchPage(hits, total, page, page_size, more=total > COUNT_CAP)


def _clip_headline(headline: str, body: str) -> str:
    """ts_headline gives a fragment without marking what it left out: "…" where it did, like
    FTS5's snippet."""
    plain = headline.replace(MATCH_START, "").replace(MATCH_END, "")
    if not plain or plain == body:
        return headline
    start = body.find(plain)
    prefix = "…" if start != 0 else ""
    suffix = "…" if start < 0 or start + len(plain) < len(body) else ""
    return f"{prefix}{headline}{suffix}"


# --- duplicate candidates ------------------------------------------------------------------------

OPEN_STATES = ("open", "underreview", "planned", "inprogress")  # states still open to votes
_OPEN_STATUSES = ",".join(f"'{state}'" for state in ("open", "under_review", "planned", "in_progress"))


async def document_frequencies(conn: Conn) -> tuple[dict[str, int], int]:
    """Every indexed term with the number of ideas holding it, and the number of ideas. (On
    PostgreSQL the terms are its english stems, nearly always the Porter stems of similarity.py.)"""
    if is_postgres(conn):
        async with conn.execute(
            "SELECT word, ndoc FROM ts_stat('SELECT to_tsvector(''english'', title || '' '' || body) FROM ideas')"
        ) as cursor:
            df = {str(row[0]): int(row[1]) for row in await cursor.fetchall()}
        return df, await _one(conn, "SELECT COUNT(*) FROM ideas", ()) or 0
    async with conn.execute("SELECT term, doc FROM idea_search_terms") as cursor:
        df = {str(row[0]): int(row[1]) for row in await cursor.fetchall()}
    total = await _one(conn, "SELECT COUNT(*) FROM ideas", ()) or 0
    return df, total


async def duplicate_candidates(
    conn: Conn, guild_id: int, words: list[tuple[str, float]], limit: int, per_word: int
) -> list[tuple[int, int, str, str, int]]:
    """(id, number, title, body, upvotes) of the guild's ideas open to votes that share any of
    `words` (each letters and digits only, with its weight: rarer words weigh more), those
    sharing the most weight first, at most `limit`: over the whole board. A word reads at most
    its `per_word` newest ideas, which bounds the work whatever the board's size."""
    if not words:
        return []
    if is_postgres(conn):
        query = pg_query([word for word, _ in words], prefix=False, any_word=True)
        if not query:
            return []
        sql = (
            "SELECT i.id, i.number, i.title, i.body, i.upvotes FROM ideas i"
            f" WHERE i.guild_id = ? AND i.message_id IS NOT NULL AND i.status IN ({_OPEN_STATUSES})"
            f" AND i.archived_at IS NULL AND i.expired_at IS NULL AND {_PG_VECTOR} @@ to_tsquery('english', ?)"
            f" ORDER BY ts_rank({_PG_WEIGHTS}, {_PG_VECTOR}, to_tsquery('english', ?)) DESC, i.id LIMIT ?"
        )
        async with conn.execute(sql, (guild_id, query, query, limit)) as cursor:
            return [(r[0], r[1], r[2], r[3], r[4]) for r in await cursor.fetchall()]
    # One statement, all inside SQLite: each word's postings among the guild's ideas (newest
    # first, so the index stops at per_word), summed per idea, the best few checked for being
    # open to votes by primary key. Ties go to the newest idea; room is left for closed ones.
    params: list[object] = []
    for word, weight in words:
        params += [weight, f'guild : "g{guild_id}" AND "{word}"', per_word]
    postings = " UNION ALL ".join(
        "SELECT * FROM (SELECT rowid AS id, ? AS weight FROM idea_search WHERE idea_search MATCH ?"
        " ORDER BY rowid DESC LIMIT ?)"
        for _ in words
    )
    sql = (
        f"WITH postings AS ({postings}), best AS (SELECT id, SUM(weight) AS score FROM postings"
        " GROUP BY id ORDER BY score DESC, id DESC LIMIT ?)"
        " SELECT i.id, i.number, i.title, i.body, i.upvotes FROM best JOIN ideas i ON i.id = best.id"
        f" WHERE i.message_id IS NOT NULL AND i.status IN ({_OPEN_STATUSES}) AND i.archived_at IS NULL"
        " AND i.expired_at IS NULL ORDER BY best.score DESC, i.id DESC LIMIT ?"
    )
    async with conn.execute(sql, [*params, limit * 2, limit]) as cursor:
        return [(r[0], r[1], r[2], r[3], r[4]) for r in await cursor.fetchall()]


async def open_ideas(conn: Conn, guild_id: int, idea_ids: Sequence[int]) -> list[tuple[int, int, str, str, int]]:
    """(id, number, title, body, upvotes) of those of `idea_ids` in the guild still open to votes."""
    if not idea_ids:
        return []
    marks = ",".join("?" * len(idea_ids))
    states = ",".join(f"'{state}'" for state in ("open", "under_review", "planned", "in_progress"))
    sql = (
        f"SELECT id, number, title, body, upvotes FROM ideas WHERE id IN ({marks}) AND guild_id = ?"
        f" AND message_id IS NOT NULL AND status IN ({states}) AND archived_at IS NULL AND expired_at IS NULL"
    )
    async with conn.execute(sql, (*idea_ids, guild_id)) as cursor:
        return [(r[0], r[1], r[2], r[3], r[4]) for r in await cursor.fetchall()]


async def embeddings_since(conn: Conn, guild_id: int, model: str, since: float) -> list[tuple[int, bytes, float]]:
    """(idea id, float32 vector, at) of the guild's stored embeddings saved at or after `since`."""
    sql = (
        "SELECT e.idea_id, e.vector, e.at FROM idea_embeddings e JOIN ideas i ON i.id = e.idea_id"
        " WHERE i.guild_id = ? AND e.model = ? AND e.at >= ? ORDER BY e.at"
    )
    async with conn.execute(sql, (guild_id, model, since)) as cursor:
        return [(int(r[0]), bytes(r[1]), float(r[2])) for r in await cursor.fetchall()]


# --- embeddings ---------------------------------------------------------------------------------------


async def embeddings_for(conn: Conn, idea_ids: Sequence[int], model: str) -> dict[int, tuple[str, bytes]]:
    """idea id -> (text hash, float32 vector bytes) for the given model."""
    found: dict[int, tuple[str, bytes]] = {}
    ids = list(idea_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(
            f"SELECT idea_id, text_hash, vector FROM idea_embeddings WHERE model = ? AND idea_id IN ({marks})",
            (model, *chunk),
        ) as cursor:
            for row in await cursor.fetchall():
                found[int(row[0])] = (row[1], bytes(row[2]))
    return found


async def save_embedding(
    conn: Conn, idea_id: int, model: str, text_hash: str, dims: int, vector: bytes, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO idea_embeddings (idea_id, model, text_hash, dims, vector, at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(idea_id) DO UPDATE SET model = excluded.model, text_hash = excluded.text_hash,"
        " dims = excluded.dims, vector = excluded.vector, at = excluded.at",
        (idea_id, model, text_hash, dims, vector, to_ts(now)),
    )
