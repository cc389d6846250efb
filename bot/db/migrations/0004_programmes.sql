-- Reserved for issue 6 (thresholds, challenges, terms, archiving, anonymity); filled in by that work.
SELECT 1;
