-- 002 Components-V2 master schema (components-db, schema components_v2):
-- manufacturers, components, their parameters and offers.
CREATE TABLE manufacturers (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    normalized   text NOT NULL UNIQUE,
    aliases      text[] NOT NULL DEFAULT '{}',
    website      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE components (
    id                   bigserial PRIMARY KEY,
    manufacturer_id      bigint NOT NULL REFERENCES manufacturers (id),
    manufacturer_part_no text NOT NULL,
    description          text,
    category             text,
    lifecycle_status     text NOT NULL DEFAULT 'active'
                         CHECK (lifecycle_status IN ('active', 'nrnd', 'eol', 'obsolete', 'unknown')),
    datasheet_url        text,
    rohs_compliant       boolean,
    attributes           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (manufacturer_id, manufacturer_part_no)
);
CREATE INDEX components_mpn_idx ON components (manufacturer_part_no);
CREATE INDEX components_category_idx ON components (category);

CREATE TABLE component_offers (
    id            bigserial PRIMARY KEY,
    component_id  bigint NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    distributor   text NOT NULL,
    sku           text NOT NULL,
    stock         integer NOT NULL DEFAULT 0,
    unit_price    numeric(14, 6),
    currency      char(3) NOT NULL DEFAULT 'USD',
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (component_id, distributor, sku)
);
