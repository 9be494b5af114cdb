-- API users and the audit trail of every change made through the API.

CREATE TABLE users (
    username      text COLLATE "C" NOT NULL PRIMARY KEY CHECK (username <> ''),
    password_hash bytea NOT NULL, -- bcrypt; never leaves the server
    role          text  NOT NULL CHECK (role IN ('ADMIN', 'PRIVILEGED', 'DEVELOPER')),
    created_at    timestamptz NOT NULL, -- seconds
    updated_at    timestamptz NOT NULL
);

-- Append-only: the store has no method that changes or removes an event,
-- and the triggers below refuse it from any other writer too. Events keep
-- the actor's name, not a reference to users, so deleting a user keeps the
-- record of what they did. "before" and "after" are json, not jsonb: json
-- keeps a document as written, key order, spacing and number spelling
-- included.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused: the keyset cursor
    time        timestamptz NOT NULL, -- milliseconds
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    "before"    json, -- NULL when there was none
    "after"     json, -- NULL when there is none
    remote_addr text NOT NULL
);

-- Listing one record's or one user's history newest first walks one of these
-- backwards from the cursor, without a sort.
CREATE INDEX audit_events_target ON audit_events (target, id);
CREATE INDEX audit_events_actor  ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
