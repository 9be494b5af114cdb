-- Times are INTEGER unix seconds (UTC); NULL means unknown or unset.
-- JSON columns hold text written by encoding/json.

CREATE TABLE assets (
    system_name              TEXT    NOT NULL PRIMARY KEY CHECK (system_name <> ''),
    common_name              TEXT    NOT NULL DEFAULT '',
    subject_alternative_name TEXT    NOT NULL DEFAULT '[]', -- JSON array, order kept
    certificate_authority    TEXT    NOT NULL DEFAULT '',
    certificate_expiration   INTEGER,
    certificate_validation   INTEGER NOT NULL DEFAULT 0,
    data_center              TEXT    NOT NULL DEFAULT '',
    device_model             TEXT    NOT NULL DEFAULT '',
    host_platform            TEXT    NOT NULL DEFAULT '',
    ip_address               TEXT    NOT NULL DEFAULT '',
    origin                   TEXT    NOT NULL DEFAULT '',
    os_version               TEXT    NOT NULL DEFAULT '',
    port                     INTEGER NOT NULL DEFAULT 0,
    labels                   TEXT    NOT NULL DEFAULT '{}', -- JSON object
    credentials              TEXT    NOT NULL DEFAULT '',
    key_type                 TEXT    NOT NULL DEFAULT '',
    paused                   INTEGER NOT NULL DEFAULT 0,
    certificate_serial       TEXT    NOT NULL DEFAULT '',
    certificate_issuer       TEXT    NOT NULL DEFAULT '',
    certificate_not_before   INTEGER,
    last_rotation            INTEGER,
    failure_count            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at          INTEGER,
    renewal_window_start     INTEGER,
    renewal_window_end       INTEGER,
    renewal_time             INTEGER,
    CHECK ((renewal_window_start IS NULL) = (renewal_window_end IS NULL))
);

-- The scheduler's DueAssets query. NULL renewal times mean "due now", so the
-- key maps them to the smallest integer: one range scan from the start of the
-- index to now finds every due asset, already in order, and stops there.
-- The query must spell the expression and "paused = 0" exactly like this.
CREATE INDEX assets_due ON assets (coalesce(renewal_time, -9223372036854775808))
    WHERE paused = 0;

CREATE INDEX assets_certificate_expiration ON assets (certificate_expiration);

-- ListAssets filters on one of these and pages by system_name: carrying
-- system_name in the index serves both without a sort.
CREATE INDEX assets_ip_address    ON assets (ip_address, system_name);
CREATE INDEX assets_data_center   ON assets (data_center, system_name);
CREATE INDEX assets_host_platform ON assets (host_platform, system_name);
CREATE INDEX assets_origin        ON assets (origin, system_name);

CREATE TABLE rotations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after deletes
    asset       TEXT    NOT NULL REFERENCES assets (system_name) ON DELETE CASCADE,
    "trigger"   TEXT    NOT NULL,
    force       INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL
        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);

-- At most one active rotation per asset: the database, not a check-then-
-- insert in Go, decides the race between two enqueuers.
CREATE UNIQUE INDEX rotations_one_active_per_asset ON rotations (asset)
    WHERE state IN ('pending', 'running');

CREATE INDEX rotations_asset ON rotations (asset, id);
CREATE INDEX rotations_state ON rotations (state, id);

-- One row per finished step; the rowid keeps the order steps were first
-- written, and an upsert keeps a rewritten step in its place.
CREATE TABLE rotation_journal (
    rotation_id INTEGER NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    output      TEXT, -- JSON, NULL when the step produced nothing
    started_at  INTEGER NOT NULL, -- unix milliseconds: steps take milliseconds
    finished_at INTEGER NOT NULL, -- unix milliseconds
    PRIMARY KEY (rotation_id, step)
);

CREATE TABLE rotation_log (
    rotation_id INTEGER NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL, -- 1, 2, … per rotation, in append order
    time        INTEGER NOT NULL, -- unix milliseconds
    level       TEXT    NOT NULL DEFAULT '',
    step        TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (rotation_id, seq)
) WITHOUT ROWID;

CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL, -- opaque: sealed before it reaches the store
    updated_at INTEGER NOT NULL
);
