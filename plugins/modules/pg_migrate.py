#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_migrate
short_description: Apply ordered SQL migration files to a PostgreSQL database, exactly once each
version_added: 0.1.0
description:
  - Applies SQL files in version order (the number a file name starts with, C(001_init.sql)),
    each in its own transaction together with its row in a history table, so a file is either
    applied and recorded, or neither.
  - The history table (default C(ananta_migrations.schema_migrations)) is created when missing. It
    holds C(version), C(file), C(checksum) (SHA-256 of the file), C(status) (C(applied) or
    C(skipped)), C(success), C(applied_at), C(duration_ms), C(applied_by) and C(target_schema).
  - An advisory lock per database and history table makes concurrent runs apply each file exactly
    once; the second run waits (up to O(lock_timeout)) and then finds nothing to do. The lock is a
    session lock taken by polling outside any transaction, released when the run's connection ends,
    so a killed run leaves nothing to repair.
  - The lock needs one server session for the whole run. Behind PgBouncer in transaction pooling
    mode this is not guaranteed; point O(login_host)/O(port) at PostgreSQL itself, or at a
    session-pooling PgBouncer.
  - A file that contains the line C(-- ananta:transaction=off) is not transactional (for statements
    such as C(CREATE INDEX CONCURRENTLY)); its statements run one by one in autocommit. If one fails,
    the earlier ones stay applied, the file is recorded with C(success=false) and the next run runs
    it again, so such files should be written to be re-runnable (C(IF NOT EXISTS)).
  - A file changed after it was applied (checksum drift) fails the run, naming the file, unless its
    version is listed in O(accept_checksums). A new file numbered below the last applied one is
    refused unless O(out_of_order=true).
  - A failing file is rolled back and not recorded; the error names the file, the line and
    PostgreSQL's message, and the next run continues from that file.
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    support: full
    details: Lists the pending files (and skips and checksum acceptances) without changing anything.
  diff_mode:
    support: full
    details: Shows the applied versions before and after.
  idempotent:
    support: full
    details: A second run with the same files applies nothing and reports no change.
requirements:
  - psycopg2
options:
  login_host:
    description: Host of the PostgreSQL server.
    type: str
    default: localhost
    aliases: [host]
  login_user:
    description: User to connect as.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description: Password of O(login_user).
    type: str
  port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
    aliases: [login_port]
  db:
    description: Database to migrate.
    type: str
    required: true
    aliases: [login_db]
  ssl_mode:
    description: SSL mode, as libpq names it.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate for O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
    type: str
    aliases: [ssl_rootcert]
  connect_timeout:
    description:
      - Seconds to wait for the connection. Once connected, TCP keepalives notice a server that vanished without closing
        the connection within about 25 seconds, even during a long statement.
    type: int
    default: 10
  path:
    description:
      - Directory of the migration files. Without O(migrations), every C(*.sql) file in it is a migration.
    type: path
  migrations:
    description:
      - The migrations for this database, in any order. Each entry has C(version) and/or C(file)
        (relative to O(path)), and optionally C(schema) (the search path while the file runs; created
        when missing), C(skip) (record the version as skipped instead of applying it) and C(reason).
    type: list
    elements: dict
  schema:
    description: Default search-path schema for files without their own C(schema).
    type: str
  skip:
    description: Versions to record as skipped instead of applying (for example deprecated files).
    type: list
    elements: str
    default: []
  accept_checksums:
    description: Versions whose changed file is accepted (its new checksum is recorded); V(all) accepts every change.
    type: list
    elements: str
    default: []
  out_of_order:
    description: Apply a pending file even when it is numbered below the last applied one.
    type: bool
    default: false
  history_schema:
    description: Schema of the history table.
    type: str
    default: ananta_migrations
  history_table:
    description: Name of the history table.
    type: str
    default: schema_migrations
  lock_timeout:
    description: Seconds to wait for another run's lock before failing.
    type: float
    default: 120
  applied_by:
    description: Recorded in C(applied_by); default is the database user and the host the module runs on.
    type: str
extends_documentation_fragment:
  - ananta.platform.attributes
"""

EXAMPLES = r"""
- name: Apply the control-plane migrations of the order table
  ananta.platform.pg_migrate:
    login_host: 127.0.0.1
    port: 5432
    login_user: postgres
    login_password: "{{ vault_control_plane_db_password }}"
    db: arc_saas
    path: "{{ playbook_dir }}/../inventories/lab/migrations"
    migrations:
      - {version: "003", file: 003_ARC_SAAS_MASTER.sql, schema: arc_saas}
      - {version: "004", file: 004_DEPRECATED_ARC_SAAS_OVERLAP.sql, skip: true, reason: overlaps with 003}
      - {version: "006", file: 006_DIRECTUS_CNS_ENRICHMENT_CONFIG.sql, schema: ananta}

- name: See what is pending, change nothing
  ananta.platform.pg_migrate:
    db: components_v2
    login_password: "{{ vault_components_db_password }}"
    path: /srv/migrations/components
  check_mode: true
  register: pending
"""

RETURN = r"""
applied:
  description: Files applied by this run, in order, with their durations.
  returned: always
  type: list
  elements: dict
  sample: [{version: "003", file: 003_ARC_SAAS_MASTER.sql, duration_ms: 41}]
skipped_versions:
  description: Versions recorded as skipped by this run.
  returned: always
  type: list
  elements: str
pending:
  description: Files still to apply (in check mode, what a run would apply).
  returned: always
  type: list
  elements: dict
accepted:
  description: Versions whose new checksum was accepted.
  returned: always
  type: list
  elements: str
already_applied:
  description: Versions that were applied before this run.
  returned: always
  type: list
  elements: str
missing_files:
  description: Versions recorded as applied whose file is no longer given.
  returned: always
  type: list
  elements: str
history_table:
  description: The history table, schema-qualified.
  returned: always
  type: str
  sample: ananta_migrations.schema_migrations
lock_wait:
  description: Seconds spent waiting for another run's lock.
  returned: always
  type: float
started_at:
  description: Epoch seconds when the run began.
  returned: always
  type: float
elapsed:
  description: Seconds the run took.
  returned: success
  type: float
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _pg_migrator
from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError


def main():
    module = AnsibleModule(argument_spec=_argspecs.PG_MIGRATE, required_one_of=[("path", "migrations")],
                           supports_check_mode=True)
    if not _pg_migrator.HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2-binary"), exception=str(_pg_migrator.PSYCOPG2_IMPORT_ERROR))
    run = _pg_migrator.MigrationRun(module.params, module.check_mode, module._diff)  # pylint: disable=protected-access
    try:
        result = run.run()
    except MigrationError as exc:
        module.fail_json(msg="Failed to migrate database %s: %s" % (module.params["db"], exc.message), **run.result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to migrate database %s on %s:%s: unexpected %s: %s" % (
            module.params["db"], module.params["login_host"], module.params["port"], type(exc).__name__, exc),
            exception=traceback.format_exc(), **run.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
