-- ListAssets pages by system_name, filtered by equality on some columns and,
-- for Ottr's days_until_expiration search, by an expiry cutoff that keeps
-- unknown expiries. These indexes let every combination of filters walk one
-- index in system_name order and test the other filters on the index entry,
-- reading a row only when it matches: at 100,000 assets a row read is a
-- random page read, while an index entry costs a tenth of a microsecond.
-- See listing.go for which query uses which index.

-- Each filter column's index carries the columns of the filters that rank
-- below it in listing.go (data center, then platform, then origin) and the
-- expiry. assets_ip_address stays as it was: an IP address matches a handful
-- of rows.
DROP INDEX assets_data_center;
CREATE INDEX assets_data_center ON assets (data_center, system_name, certificate_expiration, host_platform, origin);
DROP INDEX assets_host_platform;
CREATE INDEX assets_host_platform ON assets (host_platform, system_name, certificate_expiration, origin);
DROP INDEX assets_origin;
CREATE INDEX assets_origin ON assets (origin, system_name, certificate_expiration);

-- The expiry cutoff without another filter, when many assets match: walk
-- every name in order, reading only the rows that expire before the cutoff.
CREATE INDEX assets_name_expiration ON assets (system_name, certificate_expiration);

-- The expiry cutoff when few assets match: one range scan from the smallest
-- key to the cutoff finds them all, unknown expiries (mapped to the smallest
-- integer, as in assets_due) included, with the names and filter columns to
-- sort and filter them without reading a row. Queries must spell the
-- coalesce expression exactly like this. It replaces the plain expiry index,
-- which needed a second scan for the NULLs.
DROP INDEX assets_certificate_expiration;
CREATE INDEX assets_expiring ON assets (
    coalesce(certificate_expiration, -9223372036854775808), system_name, data_center, host_platform, origin);
