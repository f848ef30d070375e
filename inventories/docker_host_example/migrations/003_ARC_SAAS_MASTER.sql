-- 003 ARC SaaS master schema (control plane, arc-saas-postgres, schema arc_saas):
-- tenants, plans, subscriptions, tenant users and invoices.
CREATE TABLE tenants (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key           text NOT NULL UNIQUE CHECK (key ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name          text NOT NULL,
    status        text NOT NULL DEFAULT 'pending_provision'
                  CHECK (status IN ('pending_provision', 'provisioning', 'active', 'suspended', 'deprovisioned')),
    tier          text NOT NULL DEFAULT 'pooled' CHECK (tier IN ('pooled', 'silo')),
    domains       text[] NOT NULL DEFAULT '{}',
    keycloak_realm text,
    created_on    timestamptz NOT NULL DEFAULT now(),
    modified_on   timestamptz NOT NULL DEFAULT now(),
    deleted       boolean NOT NULL DEFAULT false
);
CREATE INDEX tenants_status_idx ON tenants (status) WHERE NOT deleted;

CREATE TABLE plans (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE,
    tier           text NOT NULL,
    price_cents    integer NOT NULL CHECK (price_cents >= 0),
    currency       char(3) NOT NULL DEFAULT 'USD',
    billing_cycle  text NOT NULL DEFAULT 'monthly' CHECK (billing_cycle IN ('monthly', 'yearly')),
    features       jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE subscriptions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    plan_id         uuid NOT NULL REFERENCES plans (id),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('trialing', 'active', 'past_due', 'cancelled')),
    start_date      date NOT NULL DEFAULT current_date,
    end_date        date,
    external_id     text UNIQUE,
    created_on      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX subscriptions_tenant_idx ON subscriptions (tenant_id);

CREATE TABLE tenant_users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        text NOT NULL,
    keycloak_id  text,
    role         text NOT NULL DEFAULT 'admin',
    UNIQUE (tenant_id, email)
);

CREATE TABLE invoices (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
    amount_cents     integer NOT NULL,
    currency         char(3) NOT NULL DEFAULT 'USD',
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('draft', 'open', 'paid', 'void')),
    due_date         date NOT NULL,
    pdf_object_key   text
);
