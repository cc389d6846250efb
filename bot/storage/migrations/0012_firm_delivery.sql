-- Delivering to the firm's own tools: digest emails and signed webhooks.

CREATE TABLE digest_email_addresses (
    guild_id INTEGER NOT NULL,
    address TEXT NOT NULL,          -- normalised by email-validator
    added_by INTEGER NOT NULL,      -- always a moderator: the command is for moderators only
    added_at REAL NOT NULL,
    PRIMARY KEY (guild_id, address)
);

-- One row per (posted digest, address) once mailed, so a digest is mailed to each address once.
CREATE TABLE digest_mailings (
    guild_id INTEGER NOT NULL,
    week TEXT NOT NULL,
    address TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    last_error TEXT,
    PRIMARY KEY (guild_id, week, address)
);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,           -- space-separated event names
    added_by INTEGER NOT NULL,
    created_at REAL NOT NULL,
    failing_since REAL,             -- first failure of the current run of failures
    disabled_at REAL,
    UNIQUE (guild_id, url)
);

-- Pending and done deliveries; each webhook's rows are sent strictly in id order.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE delivered_at IS NULL;
