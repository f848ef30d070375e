# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: service_sources
short_description: Where each service of the effective catalog comes from
version_added: 0.3.0
description:
  - For each service of the platform's definition with an inventory's overrides, where its entry comes from,
    as C(playbooks/plan.yml) shows it.
options:
  _input:
    description: The definition's services (C(ananta_platform_services)).
    type: list
    elements: dict
    required: true
  overrides:
    description: The inventory's C(ananta_service_overrides).
    type: dict
    default: {}
author:
  - Ananta Platform engineers (@ananta-platform)
"""

EXAMPLES = r"""
sources: "{{ ananta_platform_services | ananta.platform.service_sources(ananta_service_overrides | default({})) }}"
"""

RETURN = r"""
_value:
  description: >-
    Service name -> C(defined), C(overridden: <fields>), C(added) (a service of the inventory's own) or
    C(removed) (C(absent: true)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ananta.platform.plugins.module_utils._catalog import override_sources
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError


def service_sources(definition, overrides=None):
    try:
        return override_sources(definition, overrides or {})
    except CatalogError as exc:
        raise AnsibleFilterError(exc.message) from None


class FilterModule:
    def filters(self):
        return {"service_sources": service_sources}
