#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: catalog_plan
short_description: Validate the Ananta service catalog and derive the startup plan
version_added: 0.1.0
description:
  - Validates the service catalog (the inventory variable C(ananta_services)) before anything
    changes, and returns the order in which the platform starts and stops.
  - Every problem is reported at once, each naming the service and the field, for example an
    unknown dependency, a dependency cycle (named in order), a dependency on a later level,
    a duplicate name, container name or host port, a missing or malformed readiness probe,
    or an unknown plane.
  - Changes nothing; safe in check mode.
  - Runs on the controller (an action plugin of the same name does the work there, without
    sending a module to the host), so a plan costs no round-trip.
author:
  - Ananta Platform engineers (@ananta-platform)
options:
  services:
    description: The service catalog, a list of service entries (see the collection's C(docs/catalog.md)).
    type: list
    elements: dict
    required: true
  networks:
    description:
      - The declared networks, as names or as dicts with a C(name) key.
      - When given, a service that joins a network not in this list is an error.
    type: list
    elements: raw
  durations:
    description:
      - Seconds from start to ready per service name. When given, the critical path through
        the dependency graph is computed from them.
    type: dict
  sources:
    description:
      - >-
        Where each service's entry comes from (service name -> C(defined), C(overridden: <fields>), C(added)), as
        the filter C(ananta.platform.service_sources) gives it; shown on each line of the plan.
    type: dict
extends_documentation_fragment:
  - ananta.platform.selection.PLANES
  - ananta.platform.selection.LEVELS
  - ananta.platform.attributes
  - ananta.platform.attributes.READ_ONLY
"""

EXAMPLES = r"""
- name: Validate the catalog and print the plan
  ananta.platform.catalog_plan:
    services: "{{ ananta_services }}"
    networks: "{{ ananta_networks }}"
  register: plan

- name: Only the app plane
  ananta.platform.catalog_plan:
    services: "{{ ananta_services }}"
    planes: [app_plane]
"""

RETURN = r"""
levels:
  description: Level by level, the planes present and the dependency waves (lists of names) of the selection.
  returned: always
  type: list
  elements: dict
  sample: [{level: 0, planes: [shared_temporal], waves: [[temporal-postgresql], [shared-temporal]]}]
order:
  description: Names of the selected services in start order.
  returned: always
  type: list
  elements: str
stop_order:
  description: Names of the selected services in stop order (the reverse of the start order).
  returned: always
  type: list
  elements: str
external_dependencies:
  description: Services outside the selection that selected services depend on, each with its dependants.
  returned: always
  type: dict
lines:
  description: The plan as readable lines.
  returned: always
  type: list
  elements: str
critical_path:
  description: The longest chain of ready times, when O(durations) is given.
  returned: when durations given
  type: dict
  sample: {seconds: 41.2, path: [temporal-postgresql, shared-temporal, cns-worker]}
"""


from ansible_collections.ananta.platform.plugins.module_utils import _mask, _plan
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule

ARGUMENT_SPEC = dict(
    services=dict(type="list", elements="dict", required=True),
    networks=dict(type="list", elements="raw"),
    planes=dict(type="list", elements="str"),
    levels=dict(type="list", elements="int"),
    durations=dict(type="dict"),
    sources=dict(type="dict"),
)


def main():
    module = MaskingModule(  # the input's secrets masked, in a failed validation of it too
        secret_options=("services",),
        argument_spec=dict(ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    services = module.params["services"]
    module.no_log_values.update(_mask.secret_values(services))
    try:
        result = _plan.plan_result(services, module.params["networks"], module.params["planes"], module.params["levels"],
                                   module.params["durations"], module.params["sources"])
    except CatalogError as exc:
        module.fail_json(msg="Failed to validate the service catalog: %s" % exc.message, problems=exc.problems)
    except AnantaError as exc:  # a selection of a plane the catalog does not have
        module.fail_json(msg="Failed to plan: %s" % exc.message)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
