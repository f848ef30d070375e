#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_info
short_description: Status of every service of the Ananta catalog on a Docker host
version_added: 0.1.0
description:
  - For each catalog service, its container's state, health, restart count, published ports, plane, level and URL,
    and whether it is up.
  - A service is up when its container runs and is not unhealthy or restarting; a one-shot service (probe
    C(exit_zero)) is up when it finished with exit code 0.
  - Returns a readable table as well.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.docker
attributes:
  check_mode:
    description: Only reads.
    support: full
  diff_mode:
    description: Only reads.
    support: none
  idempotent:
    description: Only reads.
    support: full
requirements:
  - docker (Python SDK)
options:
  services:
    description: The service catalog.
    type: list
    elements: dict
    required: true
  planes:
    description: Only these planes.
    type: list
    elements: str
    choices: [shared_temporal, control_plane, app_plane]
  url_host:
    description: Host name used in the URLs shown.
    type: str
    default: localhost
"""

EXAMPLES = r"""
- name: Status of the platform
  ananta.platform.service_info:
    services: "{{ ananta_services }}"
  register: status
"""

RETURN = r"""
services:
  description: One entry per service, in start order.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Service., type: str}
    plane: {description: Plane., type: str}
    level: {description: Level., type: int}
    container: {description: Container name., type: str}
    state: {description: "Container state (running, exited, restarting...) or missing.", type: str}
    health: {description: "healthy, unhealthy, starting, or none without a healthcheck.", type: str}
    restarts: {description: Restart count., type: int}
    ports: {description: Published ports., type: list, elements: str}
    url: {description: URL on the Docker host., type: str}
    up: {description: Whether the service is up., type: bool}
down:
  description: Names of the services that are not up.
  returned: always
  type: list
  elements: str
table:
  description: The status as aligned text lines.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError


def describe(service, state, url_host):
    readiness = service.get("readiness") or {}
    entry = {"name": service["name"], "plane": service.get("plane"), "level": service.get("level"),
             "container": service.get("container_name") or service["name"], "url": _catalog.published_url(service, url_host)}
    if state is None:
        entry.update(state="missing", health="none", restarts=0, ports=[], up=False)
        return entry
    entry.update(state="restarting" if state.restarting else state.status, health=state.health_status or "none",
                 restarts=state.restart_count, ports=state.published_ports())
    if readiness.get("probe") == "exit_zero":
        entry["up"] = state.status == "exited" and state.exit_code == 0
        entry["state"] = "done" if entry["up"] else "%s (exit %s)" % (state.status, state.exit_code)
    else:
        entry["up"] = state.running and not state.restarting and state.health_status != "unhealthy"
    return entry


def table(entries):
    header = ("LEVEL", "PLANE", "SERVICE", "STATE", "HEALTH", "RESTARTS", "URL")
    rows = [header] + [(str(e["level"]), e["plane"], e["name"], e["state"], e["health"], str(e["restarts"]), e["url"] or "-")
                       for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            _docker_runtime.DOCKER_ARGSPEC,
            services=dict(type="list", elements="dict", required=True),
            planes=dict(type="list", elements="str", choices=list(_catalog.PLANES)),
            url_host=dict(type="str", default="localhost"),
        ),
        supports_check_mode=True,
    )
    if not _docker_runtime.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
    catalog = module.params["services"]
    module.no_log_values.update(_catalog.secret_values(catalog))
    try:
        _catalog.validate(catalog)
        selected = _catalog.select(catalog, planes=module.params["planes"])
        order = {name: i for i, name in enumerate(_catalog.topological_order(selected))}
        runtime = _docker_runtime.DockerRuntime(module.params["docker_host"])
        entries = [describe(svc, runtime.inspect(svc.get("container_name") or svc["name"]), module.params["url_host"])
                   for svc in sorted(selected, key=lambda s: (s["level"], order[s["name"]]))]
    except AnantaError as exc:
        module.fail_json(msg="Failed to read the platform's status: %s" % exc.message)
    module.exit_json(changed=False, services=entries, down=[e["name"] for e in entries if not e["up"]], table=table(entries))


if __name__ == "__main__":
    main()
