-- The LLM's synthesis (themes and summary) of a guild's week, kept so that every post, preview,
-- export and email of that week shows the same themes and the model is asked once per set of
-- ideas. `ideas_key` is a hash of the model and the ideas sent (numbers, titles, details): a
-- new or edited idea makes it stale and the next digest asks again, replacing the row.
CREATE TABLE digest_syntheses (
    guild_id    INTEGER NOT NULL,
    iso_week    TEXT NOT NULL,
    ideas_key   TEXT NOT NULL,
    summary     TEXT NOT NULL,
    themes      TEXT NOT NULL,      -- JSON: [{"name": ..., "ideas": [numbers], "summary": ...}]
    created_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, iso_week)
) WITHOUT ROWID;
