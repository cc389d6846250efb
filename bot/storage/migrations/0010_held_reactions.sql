-- The voting reactions a member holds on the card as the bot last saw them (bits: 1 = 👍,
-- 2 = 👎), so live events and recounts apply the same rule (bot/domain/votes.py). NULL: not
-- known yet (votes stored before this column); the next recount or reaction fills it in.
ALTER TABLE votes ADD COLUMN reactions INTEGER DEFAULT 0;
UPDATE votes SET reactions = NULL;
