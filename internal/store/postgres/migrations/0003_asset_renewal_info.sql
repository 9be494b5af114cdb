-- ACME Renewal Information (RFC 9773): the ARI certificate ID of the
-- certificate ottr last installed, the CA profile that issued it, and when
-- to ask that CA for its renewal window again (its Retry-After).
ALTER TABLE assets
    ADD COLUMN renewal_cert_id  text NOT NULL DEFAULT '',
    ADD COLUMN renewal_cert_ca  text NOT NULL DEFAULT '',
    ADD COLUMN renewal_check_at timestamptz;

-- The scheduler's AssetsToRecheck query. Only assets with a certificate ID
-- are in it, so an inventory whose CA has no ARI costs nothing. As in
-- assets_due, an unset check time maps to -infinity: one range scan from
-- the start of the index to now finds every certificate to ask about, in
-- order. The query must spell the expression and the predicate like this
-- for the planner to match them to the index.
CREATE INDEX assets_recheck ON assets ((coalesce(renewal_check_at, '-infinity'::timestamptz)), system_name)
    WHERE NOT paused AND renewal_cert_id <> '';
