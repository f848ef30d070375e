-- 007 Component catalog with its indexes (components-db, schema components_v2).
-- cns-service's wait-for-schema init container waits for this table.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE component_catalog (
    id                   bigserial PRIMARY KEY,
    component_id         bigint REFERENCES components (id) ON DELETE SET NULL,
    manufacturer_part_no text NOT NULL,
    manufacturer_name    text NOT NULL,
    normalized_mpn       text GENERATED ALWAYS AS (upper(regexp_replace(manufacturer_part_no, '[^A-Za-z0-9]', '', 'g'))) STORED,
    category             text,
    description          text,
    specs                jsonb NOT NULL DEFAULT '{}'::jsonb,
    lifecycle_status     text NOT NULL DEFAULT 'unknown',
    search_vector        tsvector GENERATED ALWAYS AS (
                             to_tsvector('simple', coalesce(manufacturer_part_no, '') || ' ' ||
                                                   coalesce(manufacturer_name, '') || ' ' || coalesce(description, ''))) STORED,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (manufacturer_name, manufacturer_part_no)
);
CREATE INDEX component_catalog_normalized_mpn_idx ON component_catalog (normalized_mpn);
CREATE INDEX component_catalog_mpn_trgm_idx ON component_catalog USING gin (manufacturer_part_no gin_trgm_ops);
CREATE INDEX component_catalog_search_idx ON component_catalog USING gin (search_vector);
CREATE INDEX component_catalog_specs_idx ON component_catalog USING gin (specs jsonb_path_ops);
CREATE INDEX component_catalog_category_idx ON component_catalog (category, lifecycle_status);
