-- The weekly digest (per-guild schedule, one recorded digest per guild and ISO week),
-- stored idea embeddings for duplicate detection, and drafts waiting on a duplicate warning.
-- Times are UTC unix seconds (REAL); ids are Discord snowflakes (INTEGER).

CREATE TABLE digest_settings (
    guild_id           INTEGER PRIMARY KEY,
    weekday            INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),  -- 0 = Monday
    hour               INTEGER NOT NULL DEFAULT 9 CHECK (hour BETWEEN 0 AND 23),
    timezone           TEXT NOT NULL DEFAULT 'UTC',                                 -- IANA name
    waiting_days       INTEGER NOT NULL DEFAULT 14,
    support_threshold  INTEGER NOT NULL DEFAULT 10,
    updated_at         REAL NOT NULL
);

-- A row is claimed before the digest is sent (status 'posting') and completed with the message
-- id, so two runs can never post the same week twice; a failed send deletes the claim.
CREATE TABLE digests (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    iso_week     TEXT NOT NULL,            -- the week the digest reports on, e.g. 2025-W07
    status       TEXT NOT NULL DEFAULT 'posting' CHECK (status IN ('posting', 'posted')),
    trigger      TEXT NOT NULL,            -- schedule | catch-up | manual
    channel_id   INTEGER,
    message_id   INTEGER,
    themes_from  TEXT,                     -- llm | keywords
    claimed_at   REAL NOT NULL,
    posted_at    REAL,
    UNIQUE (guild_id, iso_week)
);

CREATE TABLE idea_embeddings (
    idea_id    INTEGER PRIMARY KEY REFERENCES ideas(id),
    model      TEXT NOT NULL,
    text_hash  TEXT NOT NULL,             -- of the text embedded: re-embed after an edit
    dims       INTEGER NOT NULL,
    vector     BLOB NOT NULL,             -- float32, little-endian
    at         REAL NOT NULL
);

CREATE TABLE pending_submissions (
    id          TEXT PRIMARY KEY,         -- short random id carried in the buttons' custom_id
    guild_id    INTEGER NOT NULL,
    author_id   INTEGER NOT NULL,
    title       TEXT NOT NULL,
    details     TEXT NOT NULL,
    category    TEXT,
    options     TEXT NOT NULL DEFAULT '{}',  -- JSON of the submission options
    created_at  REAL NOT NULL
);
CREATE INDEX pending_submissions_by_time ON pending_submissions(created_at);

-- The digest counts votes cast in a week: a range over created_at, covering (idea_id, voter_id).
CREATE INDEX votes_by_created ON votes(created_at);
