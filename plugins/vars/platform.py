# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
name: platform
short_description: The Ananta Platform's definition, as the defaults of every inventory
version_added: 0.3.0
description:
  - >-
    Gives the group C(all) of every inventory the platform's definition, the collection's C(platform/definition.yml):
    C(ananta_platform_services) (every service with its plane, level, dependencies, probes, gates, networks and
    workload kind), C(ananta_networks), C(ananta_migrations) (the migration order table), C(ananta_databases),
    C(ananta_verify_tables), C(ananta_verify_connectivity) (seed 002's connectivity tests), and C(ananta_services),
    the effective catalog, which is the definition with the inventory's C(ananta_service_overrides) merged per
    service by name (the filter C(ananta.platform.platform_services)).
  - It runs before the inventory's own files (list it first in C(vars_plugins_enabled)), so that an inventory
    overrides any of these; one that sets C(ananta_services) replaces the whole platform.
  - Enable it in C(ansible.cfg) with C(vars_plugins_enabled = ananta.platform.platform, host_group_vars).
  - >-
    It gives nothing for the playbook's own directory (whose variables rank above an inventory's files) and keeps
    what the inventory source itself gives the group C(all) (an inventory script, an AWX inventory). Keep an
    inventory in a directory of its own, not beside the playbooks.
extends_documentation_fragment:
  - ansible.builtin.vars_plugin_staging
author:
  - Ananta Platform engineers (@ananta-platform)
"""

import os

from ansible.plugins.vars import BaseVarsPlugin

DEFINITION = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "platform", "definition.yml")


class VarsModule(BaseVarsPlugin):
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if not isinstance(entities, list):
            entities = [entities]
        group = next((entity for entity in entities if getattr(entity, "name", None) == "all"), None)
        if group is None:
            return {}
        # Only as an inventory's defaults: the vars plugins also run for the playbook's directory,
        # whose variables rank above the inventory's files, and there the definition would
        # override what the inventory sets (an inventory lives in a directory of its own).
        basedir = loader.get_basedir()
        if basedir and os.path.realpath(path) == os.path.realpath(basedir):
            return {}
        # read as inventory files are (trusted templates: the definition refers to the inventory's
        # ports and secrets), once per process
        definition = loader.load_from_file(DEFINITION, cache="all", unsafe=True, trusted_as_template=True) or {}
        # what the inventory source itself gives the group (an inventory script, AWX's imported
        # inventory) ranks below the vars plugins: it is kept, not overridden
        own = group.get_vars()
        return {key: value for key, value in definition.items() if key not in own}
