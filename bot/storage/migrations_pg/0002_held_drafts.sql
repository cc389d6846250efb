-- One table for submissions held back by a gate (the duplicate warning, the contribution terms)
-- until their author answers (SQLite migration 0015).
CREATE TABLE held_drafts (
    id             TEXT PRIMARY KEY,
    gate           TEXT NOT NULL CHECK (gate IN ('duplicates', 'terms')),
    guild_id       BIGINT NOT NULL,
    author_id      BIGINT NOT NULL,
    title          TEXT NOT NULL,
    details        TEXT NOT NULL,
    category       TEXT,
    options        TEXT NOT NULL DEFAULT '{}',
    terms_version  TEXT,
    created_at     DOUBLE PRECISION NOT NULL
);
CREATE INDEX held_drafts_by_time ON held_drafts(gate, created_at);
CREATE INDEX held_drafts_by_author ON held_drafts(guild_id, author_id, gate);

INSERT INTO held_drafts (id, gate, guild_id, author_id, title, details, category, options, created_at)
SELECT id, 'duplicates', guild_id, author_id, title, details, category, options, created_at FROM pending_submissions;

INSERT INTO held_drafts (id, gate, guild_id, author_id, title, details, category, options, terms_version, created_at)
SELECT id::text, 'terms', guild_id, user_id, title, details, options::jsonb ->> 'category', options, terms_version,
       created_at
FROM drafts_awaiting_terms;

DROP TABLE pending_submissions;
DROP TABLE drafts_awaiting_terms;
