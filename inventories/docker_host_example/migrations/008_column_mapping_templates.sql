-- 008 Column mapping templates for BOM uploads (supabase-db, schema public).
CREATE TABLE column_mapping_templates (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid REFERENCES organizations (id) ON DELETE CASCADE,
    name             text NOT NULL,
    is_default       boolean NOT NULL DEFAULT false,
    mappings         jsonb NOT NULL,
    header_row       integer NOT NULL DEFAULT 1 CHECK (header_row >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);
CREATE UNIQUE INDEX column_mapping_templates_one_default_idx
    ON column_mapping_templates (organization_id) WHERE is_default;

INSERT INTO column_mapping_templates (organization_id, name, is_default, mappings) VALUES
    (NULL, 'Generic CSV', true,
     '{"manufacturer_part_no": ["MPN", "Part Number", "Mfr Part #"], "manufacturer_name": ["Manufacturer", "Mfr"],
       "quantity": ["Qty", "Quantity"], "reference_designators": ["RefDes", "Designator"]}'::jsonb);
