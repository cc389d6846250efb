-- Full-text search over ideas with SQLite FTS5: bm25 ranking, English word forms through the
-- Porter stemmer, prefix queries, snippets. The index reads its text from the ideas table
-- (external content, through a view that adds the guild as a token so a query is confined to
-- one guild inside the index) and triggers keep it in step in the same transaction as every
-- write to an idea's text.
CREATE VIEW idea_search_source AS SELECT id, 'g' || guild_id AS guild, title, body FROM ideas;

CREATE VIRTUAL TABLE idea_search USING fts5(
    guild, title, body,
    content = 'idea_search_source', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO idea_search (idea_search) VALUES ('rebuild');

CREATE TRIGGER idea_search_insert AFTER INSERT ON ideas BEGIN
    INSERT INTO idea_search (rowid, guild, title, body) VALUES (new.id, 'g' || new.guild_id, new.title, new.body);
END;

CREATE TRIGGER idea_search_delete AFTER DELETE ON ideas BEGIN
    INSERT INTO idea_search (idea_search, rowid, guild, title, body)
    VALUES ('delete', old.id, 'g' || old.guild_id, old.title, old.body);
END;

CREATE TRIGGER idea_search_update AFTER UPDATE OF title, body ON ideas BEGIN
    INSERT INTO idea_search (idea_search, rowid, guild, title, body)
    VALUES ('delete', old.id, 'g' || old.guild_id, old.title, old.body);
    INSERT INTO idea_search (rowid, guild, title, body) VALUES (new.id, 'g' || new.guild_id, new.title, new.body);
END;
