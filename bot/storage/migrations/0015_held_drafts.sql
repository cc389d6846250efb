-- One table for submissions held back by a gate (the duplicate warning, the contribution terms)
-- until their author answers. Replaces pending_submissions and drafts_awaiting_terms, which
-- held the same thing twice.
CREATE TABLE held_drafts (
    id             TEXT PRIMARY KEY,         -- carried in the buttons' custom_id
    gate           TEXT NOT NULL CHECK (gate IN ('duplicates', 'terms')),
    guild_id       INTEGER NOT NULL,
    author_id      INTEGER NOT NULL,
    title          TEXT NOT NULL,
    details        TEXT NOT NULL,
    category       TEXT,
    options        TEXT NOT NULL DEFAULT '{}',  -- JSON of the submission options
    terms_version  TEXT,                     -- the terms gate: the version shown to the author
    created_at     REAL NOT NULL
);
CREATE INDEX held_drafts_by_time ON held_drafts(gate, created_at);
CREATE INDEX held_drafts_by_author ON held_drafts(guild_id, author_id, gate);

INSERT INTO held_drafts (id, gate, guild_id, author_id, title, details, category, options, created_at)
SELECT id, 'duplicates', guild_id, author_id, title, details, category, options, created_at FROM pending_submissions;

-- Buttons already shown carry the old integer id, which reads back as the same text.
INSERT INTO held_drafts (id, gate, guild_id, author_id, title, details, category, options, terms_version, created_at)
SELECT CAST(id AS TEXT), 'terms', guild_id, user_id, title, details, json_extract(options, '$.category'), options,
       terms_version, created_at
FROM drafts_awaiting_terms;

DROP TABLE pending_submissions;
DROP TABLE drafts_awaiting_terms;
