#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_info
short_description: Status of every service of the Ananta catalog, on a Docker host or a Kubernetes cluster
version_added: 0.1.0
description:
  - For each catalog service, its container's state, health, restart count, published ports, plane, level and URL,
    and whether it is up.
  - A service is up when its container runs and is not unhealthy or restarting; a one-shot service (probe
    C(exit_zero)) is up when it finished with exit code 0.
  - On Kubernetes (O(target=kubernetes)), each service's workload object (StatefulSet, Deployment, Job) and
    its pods are read from the API and judged by the same rules as M(ananta.platform.wait_healthy); a service
    is up when its workload is ready (a Job, when it completed).
  - Returns a readable table as well.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.selection.PLANES
  - ananta.platform.docker
  - ananta.platform.kubernetes
  - ananta.platform.attributes
  - ananta.platform.attributes.READ_ONLY
requirements:
  - docker (Python SDK) for O(target=docker)
  - kubernetes (Python client) for O(target=kubernetes)
options:
  services:
    description: The service catalog.
    type: list
    elements: dict
    required: true
  url_host:
    description: Host name used in the URLs shown.
    type: str
    default: localhost
  target:
    description: Where the platform runs.
    type: str
    choices: [docker, kubernetes]
    default: docker
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
    container: {description: "Container name (on Kubernetes, the workload: kind namespace/name).", type: str}
    state:
      description: "Container state (running, exited, restarting...) or missing; on Kubernetes C(N/M ready), C(complete), C(failed) or C(missing)."
      type: str
    health: {description: "healthy, unhealthy, starting, or none without a healthcheck; on Kubernetes the readiness rules' message.", type: str}
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

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _mask, _plan, _status

from ansible_collections.ananta.platform.plugins.module_utils._docker import runtime as _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.rules import K8S_ARGSPEC
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule


def main():
    module = MaskingModule(  # the input's secrets masked, in a failed validation of it too
        secret_options=("services",),
        argument_spec=dict(
            _docker_runtime.DOCKER_ARGSPEC,
            **K8S_ARGSPEC,
            target=dict(type="str", choices=["docker", "kubernetes"], default="docker"),
            services=dict(type="list", elements="dict", required=True),
            planes=dict(type="list", elements="str"),
            url_host=dict(type="str", default="localhost"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["target"] == "docker" and not _docker_runtime.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
    catalog = module.params["services"]
    module.no_log_values.update(_mask.secret_values(catalog))
    try:
        _catalog.validate(catalog)
        selected = _catalog.select(catalog, planes=module.params["planes"])
        order = {name: i for i, name in enumerate(_plan.topological_order(selected))}
        ordered = sorted(selected, key=lambda s: (s["level"], order[s["name"]]))
        if params["target"] == "kubernetes":
            from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness
            if not _k8s_readiness.HAS_KUBERNETES:
                module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
            api = _k8s_readiness.api_client_for(params)
            checker = _k8s_readiness.KubernetesChecker(api, params["plane_namespaces"])
            entries = [_status.describe_k8s(svc, checker, params["url_host"]) for svc in ordered]
        else:
            runtime = _docker_runtime.DockerRuntime(params["docker_host"])
            entries = [_status.describe(svc, runtime.inspect(svc.get("container_name") or svc["name"]), params["url_host"])
                       for svc in ordered]
    except AnantaError as exc:
        module.fail_json(msg="Failed to read the platform's status: %s" % exc.message)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to read the platform's status (target %s): unexpected %s: %s" % (
            params["target"], type(exc).__name__, exc), exception=traceback.format_exc())
    module.exit_json(changed=False, services=entries, down=[e["name"] for e in entries if not e["up"]], table=_status.table(entries))


if __name__ == "__main__":
    main()
