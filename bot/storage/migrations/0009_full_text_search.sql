-- Full-text search over ideas with SQLite FTS5: bm25 ranking, English word forms through the
-- Porter stemmer, prefix queries, snippets. The index reads its text from the ideas table
-- (external content, through a view) and triggers keep it in step in the same transaction as
-- every write to an idea's text, status or card. Besides the text it indexes two tokens, so
-- that the index itself confines a query to one guild and to the wanted statuses:
--   guild: 'g' || guild_id;   state: the status without '_', or 'unposted' before the card exists.
CREATE VIEW idea_search_source AS
SELECT id,
       'g' || guild_id AS guild,
       CASE WHEN message_id IS NULL THEN 'unposted' ELSE replace(status, '_', '') END AS state,
       title,
       body
FROM ideas;

CREATE VIRTUAL TABLE idea_search USING fts5(
    guild, state, title, body,
    content = 'idea_search_source', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO idea_search (idea_search) VALUES ('rebuild');

CREATE TRIGGER idea_search_insert AFTER INSERT ON ideas BEGIN
    INSERT INTO idea_search (rowid, guild, state, title, body)
    VALUES (new.id, 'g' || new.guild_id,
            CASE WHEN new.message_id IS NULL THEN 'unposted' ELSE replace(new.status, '_', '') END,
            new.title, new.body);
END;

CREATE TRIGGER idea_search_delete AFTER DELETE ON ideas BEGIN
    INSERT INTO idea_search (idea_search, rowid, guild, state, title, body)
    VALUES ('delete', old.id, 'g' || old.guild_id,
            CASE WHEN old.message_id IS NULL THEN 'unposted' ELSE replace(old.status, '_', '') END,
            old.title, old.body);
END;

CREATE TRIGGER idea_search_update AFTER UPDATE OF title, body, status, message_id ON ideas BEGIN
    INSERT INTO idea_search (idea_search, rowid, guild, state, title, body)
    VALUES ('delete', old.id, 'g' || old.guild_id,
            CASE WHEN old.message_id IS NULL THEN 'unposted' ELSE replace(old.status, '_', '') END,
            old.title, old.body);
    INSERT INTO idea_search (rowid, guild, state, title, body)
    VALUES (new.id, 'g' || new.guild_id,
            CASE WHEN new.message_id IS NULL THEN 'unposted' ELSE replace(new.status, '_', '') END,
            new.title, new.body);
END;
