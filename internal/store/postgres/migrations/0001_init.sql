-- The inventory, rotations with their journal and log, and sealed secrets.
--
-- Times are timestamptz. The store writes asset, rotation and secret times
-- truncated to the second, and journal and log times to the millisecond, as
-- the SQLite store keeps them, so both return the same values.
--
-- Keys that order listings (system_name) use the "C" collation: byte order,
-- as SQLite sorts, whatever the database's default collation.

CREATE TABLE assets (
    system_name              text COLLATE "C" NOT NULL PRIMARY KEY CHECK (system_name <> ''),
    common_name              text    NOT NULL DEFAULT '',
    subject_alternative_name text[]  NOT NULL DEFAULT '{}', -- order kept
    certificate_authority    text    NOT NULL DEFAULT '',
    certificate_expiration   timestamptz,
    certificate_validation   boolean NOT NULL DEFAULT false,
    data_center              text    NOT NULL DEFAULT '',
    device_model             text    NOT NULL DEFAULT '',
    host_platform            text    NOT NULL DEFAULT '',
    ip_address               text    NOT NULL DEFAULT '',
    origin                   text    NOT NULL DEFAULT '',
    os_version               text    NOT NULL DEFAULT '',
    port                     integer NOT NULL DEFAULT 0,
    labels                   jsonb   NOT NULL DEFAULT '{}', -- an object of strings
    credentials              text    NOT NULL DEFAULT '',
    key_type                 text    NOT NULL DEFAULT '',
    paused                   boolean NOT NULL DEFAULT false,
    certificate_serial       text    NOT NULL DEFAULT '',
    certificate_issuer       text    NOT NULL DEFAULT '',
    certificate_not_before   timestamptz,
    last_rotation            timestamptz,
    failure_count            integer NOT NULL DEFAULT 0,
    next_attempt_at          timestamptz,
    renewal_window_start     timestamptz,
    renewal_window_end       timestamptz,
    renewal_time             timestamptz,
    CHECK ((renewal_window_start IS NULL) = (renewal_window_end IS NULL))
);

-- The scheduler's DueAssets query. NULL renewal times mean "due now", so the
-- key maps them to -infinity: one range scan from the start of the index to
-- now finds every due asset, already in order, and stops there. The query
-- must spell the expression and "NOT paused" like this for the planner to
-- match them to the index; system_name orders equal renewal times.
CREATE INDEX assets_due ON assets ((coalesce(renewal_time, '-infinity'::timestamptz)), system_name)
    WHERE NOT paused;

-- ListAssets filters on one of these and pages by system_name: carrying
-- system_name in the index serves both without a sort.
CREATE INDEX assets_ip_address    ON assets (ip_address, system_name);
CREATE INDEX assets_data_center   ON assets (data_center, system_name);
CREATE INDEX assets_host_platform ON assets (host_platform, system_name);
CREATE INDEX assets_origin        ON assets (origin, system_name);

-- The expiry cutoff keeps unknown expiries, mapped to -infinity as in
-- assets_due, so one range scan finds them all.
CREATE INDEX assets_expiring ON assets ((coalesce(certificate_expiration, '-infinity'::timestamptz)), system_name);

CREATE TABLE rotations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused
    asset       text COLLATE "C" NOT NULL REFERENCES assets (system_name) ON DELETE CASCADE,
    "trigger"   text    NOT NULL,
    force       boolean NOT NULL DEFAULT false,
    state       text    NOT NULL
        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back')),
    attempts    integer NOT NULL DEFAULT 0,
    error       text    NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    finished_at timestamptz
);

-- At most one active rotation per asset: the database, not a check-then-
-- insert in Go, decides the race between two enqueuers on any node.
CREATE UNIQUE INDEX rotations_one_active_per_asset ON rotations (asset)
    WHERE state IN ('pending', 'running');

CREATE INDEX rotations_asset ON rotations (asset, id);
CREATE INDEX rotations_state ON rotations (state, id);

-- One row per finished step; id keeps the order steps were first written,
-- and an upsert leaves it alone, so a rewritten step keeps its place.
CREATE TABLE rotation_journal (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    rotation_id bigint NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    step        text   NOT NULL,
    output      text, -- JSON as written; NULL when the step produced nothing
    started_at  timestamptz NOT NULL, -- milliseconds: steps take milliseconds
    finished_at timestamptz NOT NULL,
    PRIMARY KEY (rotation_id, step)
);

CREATE INDEX rotation_journal_order ON rotation_journal (rotation_id, id);

CREATE TABLE rotation_log (
    rotation_id bigint  NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    seq         integer NOT NULL, -- 1, 2, … per rotation, in append order
    time        timestamptz NOT NULL, -- milliseconds
    level       text NOT NULL DEFAULT '',
    step        text NOT NULL DEFAULT '',
    message     text NOT NULL DEFAULT '',
    PRIMARY KEY (rotation_id, seq)
);

CREATE TABLE secrets (
    name       text  NOT NULL PRIMARY KEY,
    value      bytea NOT NULL, -- opaque: sealed before it reaches the store
    updated_at timestamptz NOT NULL
);
