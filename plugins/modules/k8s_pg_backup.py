#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_pg_backup
short_description: Back a platform database up on a cluster (a Job, pg_dump -Fc to a volume, checked) or restore it
version_added: 0.3.0
description:
  - O(state=present) writes one backup of the database O(database) (a key of O(databases)) to O(file) on the volume
    claim C(ananta-backups) of the database's namespace (created when missing, O(storage)), with a Job on the
    database's own image - C(pg_dump -Fc) to C(<file>.partial), checked with C(pg_restore --list) (an archive
    that lists no entry is refused), then renamed, mode 0600. The Job's last log line gives the size, SHA-256 and
    entries. A Job that fails (pg_dump's error, a full volume) is named with its log; no file is left at O(file).
  - O(state=restored) restores O(file) from that volume claim - the workloads that use the database (that depend on
    its service, in turn) scaled to none first; a Job restores into a new database in one transaction, which then
    takes the database's name while the database refuses connections (a restore that fails changes nothing; the
    replaced database is dropped); the workloads scaled back and each waited for, whatever happened.
  - The password travels in a Secret of the Job's own, deleted with it. Each Job has a deadline (O(timeout)).
  - C(playbooks/release.yml) writes one backup per database with pending migrations before the migrations Job
    runs; C(playbooks/restore.yml) restores one.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.kubernetes
  - ananta.platform.attributes
attributes:
  check_mode:
    support: full
    details: Writes and restores nothing; says what would be.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Each run with O(state=present) writes a backup (name it by release and time).
options:
  services:
    description: The catalog (C(ananta_services)).
    type: list
    elements: dict
    required: true
  databases:
    description: The databases (C(ananta_databases)), each with its service, user, password and dbname.
    type: dict
    required: true
  database:
    description: The database to back up or restore, a key of O(databases).
    type: str
    required: true
  plane_namespaces:
    description: The namespace of each plane (C(ananta_plane_namespaces)).
    type: dict
    default: {}
  project:
    description: The project label of the objects it makes.
    type: str
    default: ananta
  file:
    description: The backup's path on the volume claim C(ananta-backups), e.g. C(1.5.0-20261205T101500/components-db.dump).
    type: str
    required: true
  state:
    description: V(present) writes a backup; V(restored) restores one.
    type: str
    choices: [present, restored]
    default: present
  storage:
    description: The size of the volume claim C(ananta-backups) when it is created.
    type: str
    default: 5Gi
  storage_class:
    description: Its storage class (default the cluster's).
    type: str
  image_pull_policy:
    description: The Job's image pull policy.
    type: str
    default: IfNotPresent
  timeout:
    description: Seconds the Job may run (its C(activeDeadlineSeconds)).
    type: int
    default: 600
requirements:
  - kubernetes (the Python client)
"""

EXAMPLES = r"""
- name: Back the components database up
  ananta.platform.k8s_pg_backup:
    services: "{{ ananta_services }}"
    databases: "{{ ananta_databases }}"
    database: components-db
    file: 1.5.0-20261205T101500/components-db.dump
"""

RETURN = r"""
path:
  description: The backup's path inside the Job (C(/backups/<file>)).
  returned: when a backup was written
  type: str
claim:
  description: The volume claim that holds it.
  returned: when a backup was written
  type: str
namespace:
  description: Its namespace.
  returned: when a backup was written
  type: str
size:
  description: Its size in bytes.
  returned: when a backup was written
  type: int
sha256:
  description: Its SHA-256.
  returned: when a backup was written
  type: str
entries:
  description: The entries C(pg_restore --list) reads in it.
  returned: unless in check mode
  type: int
paused:
  description: The workloads scaled to none while the database was restored (and scaled back).
  returned: when a backup was restored
  type: list
  elements: str
started_at:
  description: When it began (epoch seconds).
  returned: unless in check mode
  type: float
seconds:
  description: What it took.
  returned: unless in check mode
  type: float
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _plan
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import api as _api
from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness
from ansible_collections.ananta.platform.plugins.module_utils._k8s.backup import ClusterBackup
from ansible_collections.ananta.platform.plugins.module_utils._k8s.rules import K8S_ARGSPEC
from ansible_collections.ananta.platform.plugins.module_utils._release import database_target


class _Wait:
    def __init__(self, service):
        self.service = service


def main():
    module = AnsibleModule(
        argument_spec=dict(
            K8S_ARGSPEC,
            services=dict(type="list", elements="dict", required=True),
            databases=dict(type="dict", required=True, no_log=False),
            database=dict(type="str", required=True),
            plane_namespaces=dict(type="dict", default={}),
            project=dict(type="str", default="ananta"),
            file=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "restored"], default="present"),
            storage=dict(type="str", default="5Gi"),
            storage_class=dict(type="str"),
            image_pull_policy=dict(type="str", default="IfNotPresent"),
            timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not _k8s_readiness.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
    verb = "back up" if params["state"] == "present" else "restore"
    result = dict(changed=False)
    try:
        # every database's password is a secret of the result (its invocation too), not only the chosen one's
        module.no_log_values.update(str(d["password"]) for d in (params["databases"] or {}).values()
                                    if isinstance(d, dict) and d.get("password"))
        target = database_target(params["services"], params["databases"], params["database"])
        by_name = {s["name"]: s for s in params["services"]}
        service, database = by_name[target["service"]], params["databases"][params["database"]]
        if ".." in params["file"].split("/") or params["file"].startswith("/"):
            raise AnantaError("file %s: a path inside the volume claim, without .. and not absolute" % params["file"])
        api = _api.Api(_k8s_readiness.api_client_for(params))
        checker = _k8s_readiness.KubernetesChecker(api.client, params["plane_namespaces"])
        backup = ClusterBackup(api, lambda wait, lines: checker.logs(_Wait(wait), lines), service, database,
                               params["plane_namespaces"], params["timeout"], params["storage"], params["storage_class"],
                               params["image_pull_policy"], params["project"], port=target["port"])
        result["changed"] = True
        if module.check_mode:
            module.exit_json(**result)
        result["started_at"] = round(time.time(), 3)
        began = time.monotonic()
        if params["state"] == "present":
            result.update(backup.dump(params["file"]))
        else:
            users = [by_name[n] for n in _plan.users_of(params["services"], [service["name"]])]
            result.update(backup.restore(params["file"], users))
        result["seconds"] = round(time.monotonic() - began, 3)
    except AnantaError as exc:
        result["changed"] = False
        module.fail_json(msg="Failed to %s database %s on the cluster: %s" % (verb, params["database"], exc.message), **result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        result["changed"] = False
        module.fail_json(msg="Failed to %s database %s on the cluster: unexpected %s: %s" % (
            verb, params["database"], type(exc).__name__, exc), exception=traceback.format_exc(), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
