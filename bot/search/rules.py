"""Search queries as members type them: which words to look for, and a page of results.

Only letters and digits make a term: punctuation and a search engine's own syntax (quotes,
`*`, `-`, `NEAR`, `OR`, column filters) are plain text to a member, never operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ideas.rules import Idea, Status
from bot.search.similarity import STOPWORDS

MAX_TERMS = 8
PAGE_SIZE = 5
# Snippets mark matched words with these; renderers turn them into bold after escaping the text.
MATCH_START, MATCH_END = "\x02", "\x03"

_WORD = re.compile(r"\w+")


def search_terms(query: str) -> list[str]:
    """The distinct words of `query`, case-folded, in order, at most MAX_TERMS; common words
    ("the", "for", "should") are left out when others remain: on a large board they match nearly
    every idea and add nothing but work."""
    words = list(dict.fromkeys(m.group().casefold() for m in _WORD.finditer(query) if m.group().strip("_")))
    meaningful = [word for word in words if word not in STOPWORDS]
    return (meaningful or words)[:MAX_TERMS]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    status: Status | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    idea: Idea
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    total: int
    page: int
    page_size: int = PAGE_SIZE
    more: bool = False  # more ideas match than were counted (`total` is then a lower bound)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))
