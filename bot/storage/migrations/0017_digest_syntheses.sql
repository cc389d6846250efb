-- The LLM's synthesis of a guild's week, kept so that every post, preview, export and email of
-- that week shows the same themes and the model is asked once per set of ideas. `ideas_key` is
-- a hash of the model and the ideas sent (numbers, titles, details): a new or edited idea makes
-- it stale and the next digest asks again, replacing the row. An answer that was unusable is
-- kept too (asking the same model the same question again costs the whole LLM budget for the
-- same result); a failure of the service (timeout, HTTP error) is not kept.
CREATE TABLE digest_syntheses (
    guild_id    INTEGER NOT NULL,
    iso_week    TEXT NOT NULL,
    ideas_key   TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('themes', 'unusable')),
    summary     TEXT NOT NULL DEFAULT '',
    themes      TEXT NOT NULL DEFAULT '[]',  -- JSON: [{"name": ..., "ideas": [numbers], "summary": ...}]
    created_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, iso_week)
) WITHOUT ROWID;
