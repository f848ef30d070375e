-- 005 Directus enrichment tables (components-db, schema components_v2).
CREATE TABLE enrichment_sources (
    id            serial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    kind          text NOT NULL CHECK (kind IN ('distributor_api', 'datasheet', 'manual', 'ml')),
    base_url      text,
    rate_limit_per_minute integer NOT NULL DEFAULT 60,
    enabled       boolean NOT NULL DEFAULT true
);

CREATE TABLE enrichment_runs (
    id              bigserial PRIMARY KEY,
    source_id       integer NOT NULL REFERENCES enrichment_sources (id),
    workflow_id     text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    components_seen integer NOT NULL DEFAULT 0,
    components_updated integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'running'
);

CREATE TABLE enrichment_results (
    id             bigserial PRIMARY KEY,
    run_id         bigint NOT NULL REFERENCES enrichment_runs (id) ON DELETE CASCADE,
    component_id   bigint NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    field          text NOT NULL,
    old_value      jsonb,
    new_value      jsonb,
    confidence     numeric(5, 4) NOT NULL DEFAULT 1
);
CREATE INDEX enrichment_results_component_idx ON enrichment_results (component_id);

INSERT INTO enrichment_sources (name, kind, base_url) VALUES
    ('octopart', 'distributor_api', 'https://octopart.example/api'),
    ('digikey', 'distributor_api', 'https://api.digikey.example'),
    ('datasheet-parser', 'datasheet', NULL);
