-- ACME Renewal Information (RFC 9773): the ARI certificate ID of the
-- certificate ottr last installed, the CA profile that issued it, and when
-- to ask that CA for its renewal window again (its Retry-After). Unix
-- seconds, as every time here.
ALTER TABLE assets ADD COLUMN renewal_cert_id  TEXT NOT NULL DEFAULT '';
ALTER TABLE assets ADD COLUMN renewal_cert_ca  TEXT NOT NULL DEFAULT '';
ALTER TABLE assets ADD COLUMN renewal_check_at INTEGER;

-- The scheduler's AssetsToRecheck query. Only assets with a certificate ID
-- are in it, so an inventory whose CA has no ARI costs nothing. As in
-- assets_due, an unset check time maps to the smallest integer: one range
-- scan from the start of the index to now finds every certificate to ask
-- about, in order. The query must spell the expression and the WHERE
-- clause exactly like this.
CREATE INDEX assets_recheck ON assets (coalesce(renewal_check_at, -9223372036854775808), system_name)
    WHERE paused = 0 AND renewal_cert_id <> '';
