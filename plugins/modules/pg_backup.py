#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_backup
short_description: Back a platform database up (pg_dump -Fc, checked) or restore it, from its container on a Docker host
version_added: 0.3.0
description:
  - O(state=present) writes one backup of a database to O(path) on the Docker host - C(pg_dump -Fc), run in the
    database's own container (the server's own client, the server's version), checked there with
    C(pg_restore --list) (an archive that lists no entry is refused), copied out through the engine's archive API
    to C(<path>.partial), then renamed to O(path). A failure leaves no file at O(path) and names the cause
    (the directory cannot be written, the disk is full, pg_dump's message).
  - O(state=restored) restores the backup at O(path) into the database - checked with C(pg_restore --list) first,
    restored into a new database (C(<dbname>_ananta_restore), C(pg_restore --single-transaction --no-owner)), which
    then takes the database's name while the database refuses connections and its sessions are ended; the replaced
    database is dropped. A restore that fails before that swap changes nothing, and a swap that fails puts the
    names back. What the database held after the backup (a table a migration created) does not survive the
    restore; the database's own settings (C(ALTER DATABASE ... SET)) and grants are not in a C(pg_dump) and are
    not kept. Stopping the services that use the database first is the caller's work (C(playbooks/restore.yml)).
  - Every command runs under a deadline (O(timeout)); the password travels in the command's environment only.
  - C(playbooks/release.yml) writes one backup per database with pending migrations before the first of them is
    applied, and C(playbooks/restore.yml) restores one.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.docker
  - ananta.platform.attributes
attributes:
  check_mode:
    support: full
    details: Writes and restores nothing; says what would be written or restored.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Each run with O(state=present) writes a backup (name it by release and time); a restore always restores.
options:
  container:
    description: The database's container (its C(container_name) in the catalog).
    type: str
    required: true
  dbname:
    description: The database to dump or restore into.
    type: str
    required: true
  login_user:
    description: The user pg_dump and pg_restore connect as (over TCP on 127.0.0.1 inside the container).
    type: str
    default: postgres
  login_password:
    description: Its password.
    type: str
    default: ""
  port:
    description: The port PostgreSQL listens on inside the container.
    type: int
    default: 5432
  path:
    description: The backup file on the Docker host (written with O(state=present), read with O(state=restored)).
    type: path
    required: true
  state:
    description: V(present) writes a backup; V(restored) restores one.
    type: str
    choices: [present, restored]
    default: present
  timeout:
    description: Seconds each command (pg_dump, pg_restore) may take.
    type: int
    default: 600
requirements:
  - docker (the Docker SDK for Python)
"""

EXAMPLES = r"""
- name: Back the components database up before a release
  ananta.platform.pg_backup:
    container: app-plane-components-v2-postgres
    dbname: components_v2
    login_password: "{{ ananta_secrets.components_db_password }}"
    path: /var/backups/ananta/2.4.0-20261205T101500/components-db.dump

- name: Restore it
  ananta.platform.pg_backup:
    container: app-plane-components-v2-postgres
    dbname: components_v2
    login_password: "{{ ananta_secrets.components_db_password }}"
    path: /var/backups/ananta/2.4.0-20261205T101500/components-db.dump
    state: restored
"""

RETURN = r"""
path:
  description: The backup file.
  returned: always
  type: str
size:
  description: Its size in bytes (O(state=present)).
  returned: when a backup was written
  type: int
sha256:
  description: Its SHA-256 (O(state=present)).
  returned: when a backup was written
  type: str
entries:
  description: The number of entries C(pg_restore --list) reads in it.
  returned: unless in check mode
  type: int
seconds:
  description: What the backup or the restore took.
  returned: unless in check mode
  type: float
started_at:
  description: When it began (epoch seconds).
  returned: unless in check mode
  type: float
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils._docker import runtime as _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._docker.backup import Backup
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError


def main():
    module = AnsibleModule(
        argument_spec=dict(container=dict(type="str", required=True), dbname=dict(type="str", required=True),
                           login_user=dict(type="str", default="postgres"),
                           login_password=dict(type="str", default="", no_log=True),
                           port=dict(type="int", default=5432), path=dict(type="path", required=True),
                           state=dict(type="str", choices=["present", "restored"], default="present"),
                           timeout=dict(type="int", default=600), **_docker_runtime.DOCKER_ARGSPEC),
        supports_check_mode=True)
    if not _docker_runtime.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
    params = module.params
    result = dict(changed=False, path=params["path"])
    try:
        runtime = _docker_runtime.DockerRuntime(params["docker_host"])
        state = runtime.inspect(params["container"])
        if state is None or not state.running:
            raise AnantaError("database %s: its container %s is %s: a backup and a restore need it running"
                              % (params["dbname"], params["container"], "missing" if state is None else "not running"))
        if params["state"] == "restored" and not os.path.isfile(params["path"]):
            raise AnantaError("database %s: there is no backup file %s" % (params["dbname"], params["path"]))
        backup = Backup(runtime, params["container"], params["dbname"], params["login_user"], params["login_password"],
                        params["port"], params["timeout"])
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        result["started_at"] = round(time.time(), 3)
        if params["state"] == "present":
            result.update(backup.dump(params["path"]))
        else:
            result.update(backup.restore(params["path"]))
    except AnantaError as exc:
        result["changed"] = False
        module.fail_json(msg="Failed to %s: %s" % ("back up" if params["state"] == "present" else "restore", exc.message),
                         **result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        result["changed"] = False
        module.fail_json(msg="%s of database %s (container %s): unexpected %s: %s" % (
            "the backup" if params["state"] == "present" else "the restore", params["dbname"], params["container"],
            type(exc).__name__, exc), exception=traceback.format_exc(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
