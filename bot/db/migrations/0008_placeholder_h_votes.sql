-- Placeholder so that 0011 applies on this branch (migrations are gapless); the lead drops it
-- when renumbering on merge.
SELECT 1;
