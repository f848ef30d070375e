# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: platform_services
short_description: The effective catalog, the platform's definition with an inventory's overrides
version_added: 0.3.0
description:
  - Merges per-environment values over the platform's definition, service by service, by name.
  - A mapping of an override is merged into the definition's (C(env) variables are added to or replace the
    defined ones, as are C(labels), C(readiness), C(healthcheck) and C(kubernetes) fields); a list or a scalar
    replaces the defined one (C(image), C(command), C(ports), C(volumes), C(networks), C(depends_on)).
  - "C({absent: true}) removes a service. A name that the definition does not have adds a service: it needs at
    least C(plane), C(level) and C(image); otherwise it is refused, naming it (a misspelt name is never
    silently ignored)."
  - The order of the definition is kept; added services come last.
options:
  _input:
    description: The definition's services (C(ananta_platform_services)).
    type: list
    elements: dict
    required: true
  overrides:
    description: Service name -> the fields that differ in this environment (C(ananta_service_overrides)).
    type: dict
    default: {}
author:
  - Ananta Platform engineers (@ananta-platform)
"""

EXAMPLES = r"""
ananta_services: "{{ ananta_platform_services | ananta.platform.platform_services(ananta_service_overrides | default({})) }}"
"""

RETURN = r"""
_value:
  description: The effective catalog, one entry per service.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ananta.platform.plugins.module_utils._catalog import merge_overrides
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError


def platform_services(definition, overrides=None):
    try:
        return merge_overrides(definition, overrides or {})
    except CatalogError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self):
        return {"platform_services": platform_services}
