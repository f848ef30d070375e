#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: temporal_namespace
short_description: Ensure Temporal namespaces, with retention and description, through the gRPC API
version_added: 0.1.0
description:
  - Registers missing namespaces and updates drifted ones (retention, description, owner email) through
    the Temporal gRPC API (the temporalio SDK). Nothing is swallowed, unlike C(tctl namespace register 2>/dev/null).
  - After a namespace is created or updated, waits (up to O(ready_timeout)) until it answers describe and a
    workflow list, so that workers started next never see C(namespace not found).
  - An unreachable server is retried with back-off for O(connect_timeout) seconds; then the module fails
    naming the address and the last gRPC status.
  - Names and retentions are validated before any call; a retention below the server's minimum of one day
    is refused.
  - O(namespaces[].state=absent) deletes a namespace, and only then.
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    support: full
    details: Reports what would be created, updated or deleted, with a diff, changing nothing.
  diff_mode:
    support: full
    details: Shows retention, description and owner email before and after.
  idempotent:
    support: full
    details: A second run with the same namespaces reports no change.
requirements:
  - temporalio
options:
  address:
    description: The Temporal frontend, C(host:port).
    type: str
    default: localhost:7233
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  ca_cert:
    description: CA certificate of the server (PEM file).
    type: path
  client_cert:
    description: Client certificate for mutual TLS (PEM file).
    type: path
  client_key:
    description: Key of O(client_cert) (PEM file).
    type: path
  server_name:
    description: Server name to verify in the server's certificate.
    type: str
  api_key:
    description: API key (Temporal Cloud); sent as a bearer token.
    type: str
  connect_timeout:
    description:
      - Seconds to keep retrying an unreachable server, with back-off. Each attempt, the SDK's first call included, is
        held within it, so an endpoint that accepts TCP and never answers gRPC fails within it, naming the address.
    type: float
    default: 60
  ready_timeout:
    description: Seconds to wait, after a change, until the namespace answers describe and a workflow list.
    type: float
    default: 60
  namespaces:
    description: The namespaces.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Namespace name.
        type: str
        required: true
      retention:
        description: Workflow execution retention, as C(30d), C(72h), C(3600s) or seconds; at least one day.
        type: raw
        default: 3d
      description:
        description: Description.
        type: str
        default: ""
      owner_email:
        description: Owner's email.
        type: str
        default: ""
      state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
        default: present
extends_documentation_fragment:
  - ananta.platform.attributes
"""

EXAMPLES = r"""
- name: The namespaces of the Ananta Platform
  ananta.platform.temporal_namespace:
    address: 127.0.0.1:27020
    namespaces:
      - {name: arc-saas, retention: 30d, description: Control plane workflows (tenant provisioning)}
      - {name: enrichment, retention: 7d, description: App plane BOM enrichment workflows}
      - {name: default, retention: 3d, description: Default namespace}
"""

RETURN = r"""
namespaces:
  description: One entry per namespace, with what was done.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Namespace., type: str}
    action: {description: "V(created), V(updated), V(unchanged) or V(deleted).", type: str}
    retention_seconds: {description: Retention now., type: int}
    description: {description: Description now., type: str}
    ready_seconds: {description: Seconds until it answered describe and a workflow list after a change., type: float}
  sample: [{name: arc-saas, action: created, retention_seconds: 2592000, description: Control plane, ready_seconds: 0.4}]
address:
  description: The server address used.
  returned: always
  type: str
started_at:
  description: Epoch seconds when the run began.
  returned: always
  type: float
elapsed:
  description: Seconds the run took.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _temporal
from ansible_collections.ananta.platform.plugins.module_utils._errors import TemporalError


def main():
    module = AnsibleModule(argument_spec=_argspecs.TEMPORAL_NAMESPACE, supports_check_mode=True)
    if not _temporal.HAS_TEMPORALIO:
        module.fail_json(msg=missing_required_lib("temporalio"), exception=str(_temporal.TEMPORALIO_IMPORT_ERROR))
    params = module.params
    result = dict(changed=False, namespaces=[], address=params["address"])
    try:
        result, before, after = _temporal.ensure(params, module.check_mode, result)
    except TemporalError as exc:
        result["changed"] = any(e.get("action") not in (None, "unchanged") for e in result["namespaces"])
        module.fail_json(msg="Failed to ensure Temporal namespaces: %s" % exc.message, **result)
    except Exception as exc:  # pylint: disable=broad-except  # an RPC failure names its gRPC status
        module.fail_json(msg="Failed to ensure Temporal namespaces at %s: %s %s" % (
            params["address"], _temporal.rpc_status_name(exc), exc), **result)
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
