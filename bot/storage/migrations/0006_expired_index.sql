-- The digest lists ideas that expired in a week; without this it reads every idea of the guild.
CREATE INDEX ideas_expired ON ideas(guild_id, expired_at) WHERE expired_at IS NOT NULL;
