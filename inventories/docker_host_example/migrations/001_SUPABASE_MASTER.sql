-- 001 Supabase master schema (app plane, supabase-db, schema public):
-- organizations, users, BOMs and their line items, BOM processing jobs.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL,
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    plan        text NOT NULL DEFAULT 'standard' CHECK (plan IN ('free', 'standard', 'enterprise')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_tenant_idx ON organizations (tenant_id);

CREATE TABLE users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    keycloak_id      text UNIQUE,
    email            text NOT NULL,
    full_name        text,
    role             text NOT NULL DEFAULT 'member',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, email)
);

CREATE TABLE boms (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text NOT NULL,
    version          text NOT NULL DEFAULT '1',
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'uploaded', 'processing', 'enriched', 'failed', 'archived')),
    source_file_key  text,
    line_count       integer NOT NULL DEFAULT 0,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX boms_organization_idx ON boms (organization_id, created_at DESC);
CREATE INDEX boms_status_idx ON boms (status) WHERE status IN ('uploaded', 'processing');

CREATE TABLE bom_line_items (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bom_id               uuid NOT NULL REFERENCES boms (id) ON DELETE CASCADE,
    line_number          integer NOT NULL,
    manufacturer_part_no text NOT NULL,
    manufacturer_name    text,
    description          text,
    quantity             numeric(14, 4) NOT NULL DEFAULT 1 CHECK (quantity >= 0),
    reference_designators text[],
    component_id         uuid,
    match_confidence     numeric(5, 4),
    enrichment_status    text NOT NULL DEFAULT 'pending',
    raw                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (bom_id, line_number)
);
CREATE INDEX bom_line_items_mpn_idx ON bom_line_items (manufacturer_part_no);
CREATE INDEX bom_line_items_pending_idx ON bom_line_items (bom_id) WHERE enrichment_status = 'pending';

CREATE TABLE bom_processing_jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bom_id           uuid NOT NULL REFERENCES boms (id) ON DELETE CASCADE,
    workflow_id      text UNIQUE,
    temporal_run_id  text,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         numeric(5, 2) NOT NULL DEFAULT 0,
    lines_total      integer NOT NULL DEFAULT 0,
    lines_done       integer NOT NULL DEFAULT 0,
    error            text,
    started_at       timestamptz,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bom_processing_jobs_bom_idx ON bom_processing_jobs (bom_id);
CREATE INDEX bom_processing_jobs_active_idx ON bom_processing_jobs (status) WHERE status IN ('queued', 'running');
