-- Names for the digest and its exports, which are read outside Discord where an id means
-- nothing. Display names as the bot last saw them (interactions, reaction events); role names
-- from the guild cache. Ids stay the keys; a name is only ever a label.
CREATE TABLE member_names (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    display_name  TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE TABLE role_names (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- When the guild was first set up: no digest covers a week that ended before it. Guilds set
-- up earlier get their first idea's time, or their last settings change when they have none.
ALTER TABLE guild_settings ADD COLUMN set_up_at REAL;
UPDATE guild_settings SET set_up_at = COALESCE(
    (SELECT MIN(created_at) FROM ideas WHERE ideas.guild_id = guild_settings.guild_id), updated_at
) WHERE ideas_channel_id IS NOT NULL;
