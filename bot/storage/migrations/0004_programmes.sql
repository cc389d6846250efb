-- Innovation programmes: support thresholds, challenges, contribution terms,
-- archiving, anonymity. Times are UTC unix seconds (REAL); ids are Discord snowflakes.

-- Per-guild programme settings; a guild without a row uses the defaults
-- (stages '10/30 25/60', archive after 180 days, no anonymity, no terms).
CREATE TABLE programme_settings (
    guild_id         INTEGER PRIMARY KEY,
    stages           TEXT,                         -- 'votes/days votes/days ...'; NULL: defaults
    archive_days     INTEGER,                      -- NULL: default
    allow_anonymous  INTEGER NOT NULL DEFAULT 0,
    terms_text       TEXT,                         -- NULL: no terms, submissions need no consent
    terms_version    TEXT,
    terms_set_at     REAL,
    updated_at       REAL NOT NULL
);

CREATE TABLE challenges (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    number       INTEGER NOT NULL,                 -- per guild, from 1: what members type
    title        TEXT NOT NULL,
    brief        TEXT NOT NULL,
    award        TEXT,
    deadline     REAL NOT NULL,
    opened_by    INTEGER NOT NULL,
    opened_at    REAL NOT NULL,
    closed_at    REAL,
    closed_by    INTEGER,                          -- NULL when closed automatically at the deadline
    UNIQUE (guild_id, number)
);
CREATE INDEX challenges_open_by_deadline ON challenges(deadline) WHERE closed_at IS NULL;

CREATE TABLE challenge_winners (
    challenge_id  INTEGER NOT NULL REFERENCES challenges(id),
    place         INTEGER NOT NULL,                -- 1 = best by the Wilson lower bound
    idea_id       INTEGER NOT NULL REFERENCES ideas(id),
    author_id     INTEGER NOT NULL,
    points        INTEGER NOT NULL,
    at            REAL NOT NULL,
    PRIMARY KEY (challenge_id, place)
) WITHOUT ROWID;

ALTER TABLE ideas ADD COLUMN challenge_id INTEGER REFERENCES challenges(id);
ALTER TABLE ideas ADD COLUMN terms_version TEXT;
ALTER TABLE ideas ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ideas ADD COLUMN archived_at REAL;
ALTER TABLE ideas ADD COLUMN expired_at REAL;
-- Deadlines of support stages count from here; NULL: from created_at (a revive restarts it).
ALTER TABLE ideas ADD COLUMN support_window_start REAL;
CREATE INDEX ideas_by_challenge ON ideas(challenge_id) WHERE challenge_id IS NOT NULL;
CREATE INDEX ideas_by_archived ON ideas(guild_id, archived_at) WHERE archived_at IS NOT NULL;

-- Each support stage an idea reaches, once (read by the digest).
CREATE TABLE threshold_crossings (
    guild_id  INTEGER NOT NULL,
    idea_id   INTEGER NOT NULL REFERENCES ideas(id),
    stage     INTEGER NOT NULL,
    votes     INTEGER NOT NULL,                   -- upvotes when it crossed
    at        REAL NOT NULL,
    PRIMARY KEY (idea_id, stage)
) WITHOUT ROWID;
CREATE INDEX threshold_crossings_by_guild_time ON threshold_crossings(guild_id, at);

-- Contribution-terms consent: one row per member and version accepted.
CREATE TABLE consents (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    terms_version  TEXT NOT NULL,
    at             REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id, terms_version)
) WITHOUT ROWID;

-- A submission waiting for its author to accept the terms; kept here so the "I accept"
-- button still completes it after a restart.
-- Drafts waiting for the member to accept the terms (merged into held_drafts by 0015).
CREATE TABLE drafts_awaiting_terms (
    id             INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    terms_version  TEXT NOT NULL,
    title          TEXT NOT NULL,
    details        TEXT NOT NULL,
    options        TEXT NOT NULL,                   -- JSON
    created_at     REAL NOT NULL
);
