-- A co-author made so by merging an anonymous idea stays anonymous on the surviving idea.
ALTER TABLE idea_coauthors ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;

-- Co-authors already credited through a merged anonymous duplicate.
UPDATE idea_coauthors SET anonymous = 1
WHERE EXISTS (
    SELECT 1 FROM ideas s
    WHERE s.merged_into = idea_coauthors.idea_id AND s.anonymous = 1 AND s.author_id = idea_coauthors.user_id
);
