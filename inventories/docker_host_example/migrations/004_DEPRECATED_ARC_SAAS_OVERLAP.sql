-- 004 is deprecated: it overlaps with 003 and must never run. The migration order table
-- skips it explicitly; if it ever ran, it would fail on the existing tenants table.
CREATE TABLE tenants (
    id    uuid PRIMARY KEY,
    name  text NOT NULL
);
