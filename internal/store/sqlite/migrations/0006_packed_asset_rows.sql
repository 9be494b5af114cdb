-- Every read of an asset selects the whole row, and building it from 29
-- columns at each read was the largest cost of a search request (see
-- assetrow.go). So the table now keeps the row packed, as one more column
-- that SQLite writes whenever the row changes: a read takes that column
-- alone. In assets' column order, a text column is its length in bytes, a
-- colon and its bytes; an integer column its decimal digits and a comma;
-- NULL the comma alone. The lengths make the packing unambiguous whatever
-- the text holds. Only functions every SQLite since 3.31 (generated
-- columns) knows are used, so older sqlite3 shells can still read the file.
--
-- SQLite cannot add a STORED column to a table, so the table is rebuilt:
-- a new table, every row copied (rowids kept), the old one dropped, the new
-- one renamed, and its indexes made again exactly as 0001, 0003 and 0004
-- left them. It runs in one transaction with foreign key enforcement off
-- (migrate.go): dropping the old table with it on would delete every
-- rotation through ON DELETE CASCADE. rotations refers to assets by name,
-- so after the rename it refers to the new table.

CREATE TABLE assets_packed (
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
    renewal_cert_id          TEXT    NOT NULL DEFAULT '',
    renewal_cert_ca          TEXT    NOT NULL DEFAULT '',
    renewal_check_at         INTEGER,
    packed                   TEXT    NOT NULL GENERATED ALWAYS AS (
        length(CAST(system_name AS BLOB)) || ':' || system_name ||
        length(CAST(common_name AS BLOB)) || ':' || common_name ||
        length(CAST(subject_alternative_name AS BLOB)) || ':' || subject_alternative_name ||
        length(CAST(certificate_authority AS BLOB)) || ':' || certificate_authority ||
        ifnull(certificate_expiration, '') || ',' ||
        ifnull(certificate_validation, '') || ',' ||
        length(CAST(data_center AS BLOB)) || ':' || data_center ||
        length(CAST(device_model AS BLOB)) || ':' || device_model ||
        length(CAST(host_platform AS BLOB)) || ':' || host_platform ||
        length(CAST(ip_address AS BLOB)) || ':' || ip_address ||
        length(CAST(origin AS BLOB)) || ':' || origin ||
        length(CAST(os_version AS BLOB)) || ':' || os_version ||
        ifnull(port, '') || ',' ||
        length(CAST(labels AS BLOB)) || ':' || labels ||
        length(CAST(credentials AS BLOB)) || ':' || credentials ||
        length(CAST(key_type AS BLOB)) || ':' || key_type ||
        ifnull(paused, '') || ',' ||
        length(CAST(certificate_serial AS BLOB)) || ':' || certificate_serial ||
        length(CAST(certificate_issuer AS BLOB)) || ':' || certificate_issuer ||
        ifnull(certificate_not_before, '') || ',' ||
        ifnull(last_rotation, '') || ',' ||
        ifnull(failure_count, '') || ',' ||
        ifnull(next_attempt_at, '') || ',' ||
        ifnull(renewal_window_start, '') || ',' ||
        ifnull(renewal_window_end, '') || ',' ||
        ifnull(renewal_time, '') || ',' ||
        length(CAST(renewal_cert_id AS BLOB)) || ':' || renewal_cert_id ||
        length(CAST(renewal_cert_ca AS BLOB)) || ':' || renewal_cert_ca ||
        ifnull(renewal_check_at, '') || ','
    ) STORED,
    CHECK ((renewal_window_start IS NULL) = (renewal_window_end IS NULL))
);

INSERT INTO assets_packed (rowid, system_name, common_name, subject_alternative_name, certificate_authority, certificate_expiration, certificate_validation, data_center, device_model, host_platform, ip_address, origin, os_version, port, labels, credentials, key_type, paused, certificate_serial, certificate_issuer, certificate_not_before, last_rotation, failure_count, next_attempt_at, renewal_window_start, renewal_window_end, renewal_time, renewal_cert_id, renewal_cert_ca, renewal_check_at)
SELECT rowid, system_name, common_name, subject_alternative_name, certificate_authority, certificate_expiration, certificate_validation, data_center, device_model, host_platform, ip_address, origin, os_version, port, labels, credentials, key_type, paused, certificate_serial, certificate_issuer, certificate_not_before, last_rotation, failure_count, next_attempt_at, renewal_window_start, renewal_window_end, renewal_time, renewal_cert_id, renewal_cert_ca, renewal_check_at
FROM assets;

DROP TABLE assets;
ALTER TABLE assets_packed RENAME TO assets;

CREATE INDEX assets_due ON assets (coalesce(renewal_time, -9223372036854775808))
    WHERE paused = 0;
CREATE INDEX assets_ip_address ON assets (ip_address, system_name);
CREATE INDEX assets_data_center ON assets (data_center, system_name, certificate_expiration, host_platform, origin);
CREATE INDEX assets_host_platform ON assets (host_platform, system_name, certificate_expiration, origin);
CREATE INDEX assets_origin ON assets (origin, system_name, certificate_expiration);
CREATE INDEX assets_name_expiration ON assets (system_name, certificate_expiration);
CREATE INDEX assets_expiring ON assets (
    coalesce(certificate_expiration, -9223372036854775808), system_name, data_center, host_platform, origin);
CREATE INDEX assets_recheck ON assets (coalesce(renewal_check_at, -9223372036854775808), system_name)
    WHERE paused = 0 AND renewal_cert_id <> '';
