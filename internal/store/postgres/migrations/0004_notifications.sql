-- The notifications decided so far, one row per cause (the first failure
-- of a streak, a certificate crossing an expiry threshold), so each is
-- told once whichever process of the cluster sees it. Rows are never
-- updated.
CREATE TABLE notifications (
    key        text        NOT NULL PRIMARY KEY CHECK (key <> ''),
    claimed_at timestamptz NOT NULL
);
