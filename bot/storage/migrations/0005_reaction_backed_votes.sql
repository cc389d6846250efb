-- Votes not backed by a reaction on the card: moved there by a merge, or cast with the
-- "Support instead" button. A recount keeps them while the member holds no voting reaction
-- there (reactions are otherwise the truth).
ALTER TABLE votes ADD COLUMN reaction_backed INTEGER NOT NULL DEFAULT 1;
