-- Effects that must survive a crash. Each is written in the transaction of the change that
-- causes it and cleared when it is delivered; whatever a crash leaves behind is resumed at
-- start-up.

-- A committed vote batch's VoteChanged events, waiting for their reputation credit. Written
-- with the votes, deleted in the transaction that credits them.
CREATE TABLE vote_effects (
    id      INTEGER PRIMARY KEY,
    events  TEXT NOT NULL          -- JSON: [[guild, idea, author, voter, old, new, joined_us, at_us], ...]
);

-- Status changes are their own outbox: a row without notified_at still owes its notices
-- (DMs, the thread post). Rows written before this migration were handled by then.
ALTER TABLE status_history ADD COLUMN notified_at REAL;
UPDATE status_history SET notified_at = at;
CREATE INDEX status_history_unnotified ON status_history(id) WHERE notified_at IS NULL;

-- Who a status change's notice goes to, fixed when its delivery starts (supporters may change
-- meanwhile), and how far each delivery got.
CREATE TABLE notice_recipients (
    history_id  INTEGER NOT NULL REFERENCES status_history(id),
    user_id     INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'unreachable')),
    PRIMARY KEY (history_id, user_id)
);  -- with a rowid: the order they were fixed in (the author first)

-- A support stage crossed moves an open idea to review and is announced after its row is
-- written; announced_at marks that done, so what a crash interrupts is finished at start-up.
ALTER TABLE threshold_crossings ADD COLUMN announced_at REAL;
UPDATE threshold_crossings SET announced_at = at;

-- A thank-you note owed in an idea's thread for a status bonus: written with the bonus,
-- deleted once sent.
CREATE TABLE thanks_owed (
    idea_id  INTEGER NOT NULL REFERENCES ideas(id),
    status   TEXT NOT NULL,
    people   TEXT NOT NULL,           -- JSON list of the user ids thanked
    PRIMARY KEY (idea_id, status)
);

-- A merge's reputation effect (the moved votes' credit) owed: written in the merge's
-- transaction, deleted in the transaction that credits it.
CREATE TABLE merge_effects (
    id     INTEGER PRIMARY KEY,
    event  TEXT NOT NULL               -- JSON of the IdeasMerged event
);
