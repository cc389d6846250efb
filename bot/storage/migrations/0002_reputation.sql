-- Reputation. An append-only ledger (totals are SUM(delta); a reversal is a new
-- negative row, never an update or delete), per-guild rules, reward roles, every role the bot
-- added or removed, and serial-voting flags. Times are UTC unix seconds (REAL).

CREATE TABLE reputation_events (
    id        INTEGER PRIMARY KEY,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,            -- who gains or loses the points
    delta     INTEGER NOT NULL,
    reason    TEXT NOT NULL,               -- human text shown in /rep show
    idea_id   INTEGER,                     -- the idea it is about, if any
    source    TEXT NOT NULL,               -- submission | upvote | planned | implemented | challenge_win | reversal | ...
    voter_id  INTEGER,                     -- for vote credits and their reversals: whose vote
    at        REAL NOT NULL
);
CREATE INDEX reputation_by_user ON reputation_events(guild_id, user_id, at);
CREATE INDEX reputation_by_time ON reputation_events(guild_id, at);
CREATE INDEX reputation_by_idea ON reputation_events(idea_id, voter_id, user_id) WHERE idea_id IS NOT NULL;

-- One row per guild that changed a rule; NULL columns fall back to the built-in defaults.
CREATE TABLE reputation_rules (
    guild_id              INTEGER PRIMARY KEY,
    submission_points     INTEGER,
    submissions_per_day   INTEGER,
    upvote_points         INTEGER,
    vote_points_per_day   INTEGER,
    planned_points        INTEGER,
    implemented_points    INTEGER,
    min_account_age_days  INTEGER,
    min_member_age_hours  INTEGER,
    serial_min_votes      INTEGER,
    serial_window_minutes INTEGER,
    serial_share_percent  INTEGER,
    serial_recent_days    INTEGER,
    serial_block_hours    INTEGER,
    updated_at            REAL NOT NULL
);

CREATE TABLE reward_roles (
    guild_id  INTEGER NOT NULL,
    role_id   INTEGER NOT NULL,
    points    INTEGER NOT NULL CHECK (points >= 0),
    added_by  INTEGER,
    at        REAL NOT NULL,
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- Every role the bot gave or took back (read by the digest: "promotions this week").
CREATE TABLE role_awards (
    id        INTEGER PRIMARY KEY,
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    role_id   INTEGER NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('added', 'removed')),
    at        REAL NOT NULL
);
CREATE INDEX role_awards_by_member ON role_awards(guild_id, user_id, role_id, id);
CREATE INDEX role_awards_by_time ON role_awards(guild_id, at);

-- A voter caught up-voting most ideas of one author in a short window.
CREATE TABLE serial_voting_flags (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    voter_id   INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,
    votes      INTEGER NOT NULL,
    at         REAL NOT NULL
);
CREATE INDEX serial_voting_by_pair ON serial_voting_flags(guild_id, voter_id, author_id, at);
