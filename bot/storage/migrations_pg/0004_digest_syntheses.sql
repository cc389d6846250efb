-- The LLM's synthesis of a guild's week, asked once per set of ideas (SQLite migration 0017).
CREATE TABLE digest_syntheses (
    guild_id    BIGINT NOT NULL,
    iso_week    TEXT NOT NULL,
    ideas_key   TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('themes', 'unusable')),
    summary     TEXT NOT NULL DEFAULT '',
    themes      TEXT NOT NULL DEFAULT '[]',
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, iso_week)
);
