-- The server's language for public messages, and each member's last seen Discord locale
-- (SQLite migration 0016).
ALTER TABLE guild_settings ADD COLUMN language TEXT;

CREATE TABLE member_locales (
    user_id     BIGINT PRIMARY KEY,
    locale      TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);
