-- The search index's vocabulary with each term's document frequency, read (and cached) by the
-- duplicate check to weigh words by how rare they are on the board.
CREATE VIRTUAL TABLE idea_search_terms USING fts5vocab(idea_search, 'row');
