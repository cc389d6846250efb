-- Reserved for issue 4 (reputation ledger, reward roles); filled in by that work.
SELECT 1;
