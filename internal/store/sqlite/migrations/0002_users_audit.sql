-- API users and the audit trail of every change made through the API.

CREATE TABLE users (
    username      TEXT    NOT NULL PRIMARY KEY CHECK (username <> ''),
    password_hash BLOB    NOT NULL, -- bcrypt; never leaves the server
    role          TEXT    NOT NULL CHECK (role IN ('ADMIN', 'PRIVILEGED', 'DEVELOPER')),
    created_at    INTEGER NOT NULL, -- unix seconds
    updated_at    INTEGER NOT NULL  -- unix seconds
);

-- Append-only: the store has no method that changes or removes an event,
-- and the triggers below refuse it from any other writer too. Events keep
-- the actor's name, not a reference to users, so deleting a user keeps the
-- record of what they did.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the keyset cursor
    time        INTEGER NOT NULL, -- unix milliseconds
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    "before"    TEXT CHECK (json_valid("before")), -- JSON, NULL when there was none
    "after"     TEXT CHECK (json_valid("after")),  -- JSON, NULL when there is none
    remote_addr TEXT    NOT NULL
);

-- Listing one record's or one user's history newest first walks one of these
-- backwards from the cursor, without a sort.
CREATE INDEX audit_events_target ON audit_events (target, id);
CREATE INDEX audit_events_actor  ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
