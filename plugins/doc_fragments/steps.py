# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The step definitions (seed 000's Jobs: the Temporal namespaces, each database's
    migrations, the RabbitMQ topology), one text for the modules that run or render them:
    ananta.platform.docker_services runs them, ananta.platform.k8s_manifests renders them as
    Jobs, ananta.platform.compose_export as one-shot services; all from the same nodes."""

    DOCUMENTATION = r"""
options:
  steps:
    description:
      - The platform's steps, as its definition gives them (C(ananta_platform_steps)). Every definition is validated,
        against the argument spec of the step's module, before anything is done; a problem names its step.
      - A V(migrations) step becomes one node per database of its plane that the order table names
        (C(migrations:<database>)), each after its own database's service.
      - The options give the addresses as the controller reaches them (the Docker host's published ports). Inside
        a cluster or a compose file a step reaches the service it comes after (for migrations, the database's
        service) by its name, on the container port behind the published one.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the step (its tag in start_platform), unique per plane in the call.
        type: str
        required: true
      kind:
        description:
          - What the step does, a kind of the table of step kinds (C(plugins/module_utils/_step_kinds.py)), that is
            V(namespaces), V(migrations) or V(streams). Another is refused, naming the step and the nearest kind.
        type: str
        required: true
      plane:
        description: The plane the step belongs to (one of the catalog's planes).
        type: str
        required: true
      after:
        description:
          - Services (catalog names) that must be ready before the step runs. For V(namespaces) and V(streams), the
            server it connects to is among them.
        type: list
        elements: str
        default: []
      options:
        description:
          - For V(namespaces), the options of M(ananta.platform.temporal_namespace); for V(streams), those of
            M(ananta.platform.rabbitmq_topology).
          - For V(migrations), C(path) (the files), C(order) (the order table, each entry with C(database),
            C(version), C(file), C(schema), C(skip), C(reason)), C(databases) (name to C(service), C(plane),
            C(host), C(port), C(user), C(password), C(dbname)) and optionally C(lock_timeout), C(connect_timeout),
            C(ssl_mode), C(ca_cert), C(history_schema), C(history_table), C(accept_checksums), C(out_of_order).
        type: dict
        required: true
"""
