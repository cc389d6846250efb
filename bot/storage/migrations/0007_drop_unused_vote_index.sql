-- No query reads votes by updated_at alone (the recount filters by idea first: the primary key;
-- serial-vote checks by voter: votes_by_voter); every vote write paid for this index.
DROP INDEX votes_by_time;
