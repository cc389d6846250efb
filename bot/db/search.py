"""Full-text search over ideas (SQLite FTS5; the index and its triggers: migrations/0009_full_text_search.sql)."""

from __future__ import annotations

import aiosqlite

from bot.db.rows import IDEA_COLUMNS, idea_from_row
from bot.domain.search import MATCH_END, MATCH_START, SearchFilters, SearchHit, SearchPage

# bm25 weights per column (guild, title, body): a word in the title counts four times one in the body.
_RANK = "bm25(idea_search, 0.0, 4.0, 1.0)"
_IDEA_COLUMNS = ", ".join(f"i.{column.strip()}" for column in IDEA_COLUMNS.split(","))


def match_expression(guild_id: int, terms: list[str]) -> str:
    """Every term (each a run of letters and digits, so safe inside quotes) as a prefix, all
    required, within the guild's own rows of the index."""
    words = " AND ".join(f'"{term}"*' for term in terms)
    return f'guild : "g{guild_id}" AND ({words})'


async def search_ideas(
    conn: aiosqlite.Connection,
    guild_id: int,
    terms: list[str],
    filters: SearchFilters,
    page: int,
    page_size: int,
) -> SearchPage:
    """Posted ideas matching every term, best first (bm25), one page of them with snippets of
    their details (the title is shown whole beside it)."""
    where = ["idea_search MATCH ?", "i.message_id IS NOT NULL"]
    params: list[object] = [match_expression(guild_id, terms)]
    if filters.status is not None:
        where.append("i.status = ?")
        params.append(filters.status.value)
    if filters.category is not None:
        where.append("i.category = ? COLLATE NOCASE")
        params.append(filters.category)
    condition = " AND ".join(where)
    source = "FROM idea_search JOIN ideas i ON i.id = idea_search.rowid"
    async with conn.execute(f"SELECT COUNT(*) {source} WHERE {condition}", params) as cursor:
        row = await cursor.fetchone()
    total = int(row[0]) if row else 0
    sql = (
        f"SELECT {_IDEA_COLUMNS}, snippet(idea_search, 2, ?, ?, '…', 14) AS snippet {source}"
        f" WHERE {condition} ORDER BY {_RANK}, i.id DESC LIMIT ? OFFSET ?"
    )
    hits: list[SearchHit] = []
    async with conn.execute(sql, [MATCH_START, MATCH_END, *params, page_size, (page - 1) * page_size]) as cursor:
        async for found in cursor:
            hits.append(SearchHit(idea_from_row(found), str(found["snippet"] or "")))
    return SearchPage(hits, total, page, page_size)
