-- Foundation: guild settings, ideas, votes, status history, co-authors, blocks, audit log.
-- Times are UTC unix seconds (REAL); ids are Discord snowflakes (INTEGER).

CREATE TABLE guild_settings (
    guild_id                 INTEGER PRIMARY KEY,
    ideas_channel_id         INTEGER,
    digest_channel_id        INTEGER,
    log_channel_id           INTEGER,
    moderator_role_id        INTEGER,
    submit_cooldown_seconds  INTEGER NOT NULL DEFAULT 60,
    daily_submission_quota   INTEGER NOT NULL DEFAULT 5,
    updated_at               REAL NOT NULL
);

CREATE TABLE ideas (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    number            INTEGER NOT NULL,
    author_id         INTEGER NOT NULL,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    category          TEXT,
    status            TEXT NOT NULL DEFAULT 'open',
    status_reason     TEXT,
    channel_id        INTEGER,
    message_id        INTEGER UNIQUE,
    thread_id         INTEGER,
    upvotes           INTEGER NOT NULL DEFAULT 0,   -- kept in step with votes in the same transaction
    downvotes         INTEGER NOT NULL DEFAULT 0,
    merged_into       INTEGER REFERENCES ideas(id),
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    last_activity_at  REAL NOT NULL,
    UNIQUE (guild_id, number)
);
CREATE INDEX ideas_by_guild_created ON ideas(guild_id, created_at);
CREATE INDEX ideas_by_author ON ideas(guild_id, author_id);
CREATE INDEX ideas_by_activity ON ideas(last_activity_at);

CREATE TABLE votes (
    idea_id          INTEGER NOT NULL REFERENCES ideas(id),
    voter_id         INTEGER NOT NULL,
    value            INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voter_joined_at  REAL,        -- when the voter joined the guild, if Discord told us
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    PRIMARY KEY (idea_id, voter_id)
) WITHOUT ROWID;
CREATE INDEX votes_by_voter ON votes(voter_id);
CREATE INDEX votes_by_time ON votes(updated_at);

CREATE TABLE status_history (
    id            INTEGER PRIMARY KEY,
    idea_id       INTEGER NOT NULL REFERENCES ideas(id),
    old_status    TEXT NOT NULL,
    new_status    TEXT NOT NULL,
    reason        TEXT,
    moderator_id  INTEGER,
    at            REAL NOT NULL
);
CREATE INDEX status_history_by_idea ON status_history(idea_id);
CREATE INDEX status_history_by_time ON status_history(at);

CREATE TABLE idea_coauthors (
    idea_id  INTEGER NOT NULL REFERENCES ideas(id),
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (idea_id, user_id)
) WITHOUT ROWID;

CREATE TABLE blocked_members (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    blocked_by  INTEGER NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    guild_id  INTEGER NOT NULL,
    actor_id  INTEGER NOT NULL,
    action    TEXT NOT NULL,
    idea_id   INTEGER,
    details   TEXT,
    at        REAL NOT NULL
);
