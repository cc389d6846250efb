-- The language of the server's public messages (cards, announcements, digests), chosen with
-- /ideamod setup; NULL follows the server's preferred locale as Discord reports it.
ALTER TABLE guild_settings ADD COLUMN language TEXT;

-- Each member's Discord locale as last seen on an interaction: DMs reach them later, outside
-- any interaction, and are written in it.
CREATE TABLE member_locales (
    user_id     INTEGER PRIMARY KEY,
    locale      TEXT NOT NULL,
    updated_at  REAL NOT NULL
) WITHOUT ROWID;
