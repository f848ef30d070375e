#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_export
short_description: Write a compose file from the Ananta catalog that does the same work as start_platform
version_added: 0.1.0
description:
  - Writes one compose file (seed 002's Strategy 2) with every catalog service, its healthcheck and
    C(depends_on) conditions (C(service_healthy), C(service_completed_successfully) for one-shot services).
  - The steps of start_platform become one-shot services that the services gated on them depend on
    (C(start_after) in the catalog), named as the table of step kinds says - C(temporal-namespaces) (waits until
    each namespace answers), C(migrate-<database>) and C(rabbitmq-topology). Each runs the collection's own step
    command (C(tools/ananta_step.py)), the command the cluster's step Jobs run, so with history, checksums and
    lock, and argument-by-argument comparison.
  - The step services mount the collection (O(collection_path)) and run in O(step_image), which needs python3,
    psycopg2, pika and temporalio (the step image of the cluster's Jobs, C(ananta_k8s_step_image), has them).
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    support: full
    details: Builds the document; writes nothing.
  diff_mode:
    support: full
    details: Shows the file before and after.
  idempotent:
    support: full
    details: The same catalog writes the same file.
options:
  services:
    description: "The service catalog."
    type: list
    elements: dict
    required: true
  networks:
    description: "The declared networks."
    type: list
    elements: raw
    default: []
  project:
    description: "Compose project name and C(ananta.platform.project) label."
    type: str
    default: ananta
  dest:
    description: "Path of the compose file to write."
    type: path
    required: true
  step_image:
    description: "Image of the one-shot step services."
    type: str
    required: true
  collection_path:
    description: "Path of the collection on the Docker host, mounted read-only into the step services."
    type: path
    required: true
  healthcheck_defaults:
    description: "Defaults merged into each healthcheck."
    type: dict
    default: {}
extends_documentation_fragment:
  - ananta.platform.steps
  - ananta.platform.attributes
"""

EXAMPLES = r"""
- name: Write the compose file
  ananta.platform.compose_export:
    services: "{{ ananta_services }}"
    networks: "{{ ananta_networks }}"
    dest: artifacts/compose/docker-compose.yml
    step_image: "{{ ananta_k8s_step_image }}"
    collection_path: "{{ playbook_dir }}/.."
    # the platform's steps, from its definition (platform/definition.yml)
    steps: "{{ ananta_platform_steps }}"
"""

RETURN = r"""
dest:
  description: The file written.
  returned: always
  type: str
services:
  description: Names of the compose services, steps included.
  returned: always
  type: list
  elements: str
"""

import json

try:
    import yaml
    HAS_YAML = True
except ImportError:  # compose reads JSON too
    HAS_YAML = False

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _catalog, _compose, _files, _mask, _steps
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule


def main():
    module = MaskingModule(  # the input's secrets masked, in a failed validation of it too
        secret_options=("services", "steps"),
        argument_spec=dict(
            services=dict(type="list", elements="dict", required=True),
            networks=dict(type="list", elements="raw", default=[]),
            project=dict(type="str", default="ananta"),
            dest=dict(type="path", required=True),
            step_image=dict(type="str", required=True),
            collection_path=dict(type="path", required=True),
            steps=_argspecs.STEPS,
            healthcheck_defaults=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    params = module.params
    services = params["services"]
    secrets = _mask.secret_values(services) | _mask.secret_values(params["steps"])
    module.no_log_values.update(s for s in secrets if len(s) >= 3)
    try:
        _catalog.validate(services)
        nodes = _steps.build(params["steps"], services)
        module.no_log_values.update(s for s in _steps.secret_values(nodes) if len(s) >= 3)
        steps = _compose.build_steps(nodes, {s["name"]: s for s in services})
    except AnantaError as exc:  # the catalog's problems, a step's definition
        module.fail_json(msg="Failed to export the compose file: %s" % exc.message)
    document = _compose.compose_document(services, params["networks"], steps, params["step_image"],
                                         params["collection_path"], params["project"], params["healthcheck_defaults"])
    if HAS_YAML:
        text = "# Written by ananta.platform.compose_export from the service catalog: do not edit, export again.\n" + \
            yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=200)
    else:
        text = json.dumps(document, indent=2) + "\n"
    changed, before = _files.write_if_changed(params["dest"], text, module.check_mode)  # mode 0600: it holds credentials
    result = dict(changed=changed, dest=params["dest"], services=list(document["services"]))
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = {"before": "(file content hidden: it holds credentials)\n" if before else "",
                          "after": "%d services\n" % len(document["services"])}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
