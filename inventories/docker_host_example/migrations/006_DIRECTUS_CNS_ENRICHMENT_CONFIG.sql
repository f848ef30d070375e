-- 006 CNS enrichment configuration (control plane, arc-saas-postgres, schema ananta).
CREATE TABLE cns_enrichment_config (
    id                  serial PRIMARY KEY,
    tenant_id           uuid,
    enabled             boolean NOT NULL DEFAULT true,
    sources             text[] NOT NULL DEFAULT ARRAY['octopart', 'digikey'],
    min_confidence      numeric(5, 4) NOT NULL DEFAULT 0.85,
    max_parallel_lines  integer NOT NULL DEFAULT 50 CHECK (max_parallel_lines > 0),
    temporal_namespace  text NOT NULL DEFAULT 'enrichment',
    task_queue          text NOT NULL DEFAULT 'bom-enrichment',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id)
);

CREATE TABLE cns_field_mappings (
    id           serial PRIMARY KEY,
    config_id    integer NOT NULL REFERENCES cns_enrichment_config (id) ON DELETE CASCADE,
    source       text NOT NULL,
    source_field text NOT NULL,
    target_field text NOT NULL,
    transform    text,
    UNIQUE (config_id, source, source_field)
);

INSERT INTO cns_enrichment_config (tenant_id) VALUES (NULL);
