-- Reserved for issue 5 (digests, schedules, embeddings); filled in by that work.
SELECT 1;
