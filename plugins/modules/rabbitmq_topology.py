#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rabbitmq_topology
short_description: Ensure RabbitMQ exchanges, queues (classic, quorum, stream) and bindings, never deleting on a conflict
version_added: 0.1.0
description:
  - Ensures exchanges, queues and bindings over AMQP 0-9-1 (pika), in that order.
  - What exists is read first (from the management API when O(management_url) is given, passively over
    AMQP otherwise) and compared argument by argument with what is wanted, after normalization
    (C(x-max-age) V(7D) equals V(604800s)). Identical is unchanged; missing is created.
  - A difference is a conflict. It is never resolved by deleting. The object is left as it is, and every
    differing argument is reported (wanted and current), with whether a policy could apply the change.
    Every other object is still ensured, and the module fails at the end listing every conflict.
  - A broker that closes the channel on a redeclare (406 PRECONDITION_FAILED) does not stop the run,
    the channel is reopened.
  - Without the management API, a conflict is found by redeclaring (the broker names one differing
    argument), and bindings are declared (binding is idempotent on the broker) but cannot be reported
    as new or existing; they are listed under RV(ensured).
  - An object with C(state=absent) is deleted, and only then; a queue only when it is empty and an
    exchange only when it is unused, unless C(force=true).
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    support: full
    details: Reports what would be created or deleted and every conflict, changing nothing.
  diff_mode:
    support: full
    details: Lists the objects before and after.
  idempotent:
    support: full
    details: A second run with the same topology reports no change.
requirements:
  - pika
options:
  login_host:
    description: RabbitMQ host.
    type: str
    default: localhost
    aliases: [host]
  port:
    description: AMQP port.
    type: int
    default: 5672
    aliases: [login_port]
  vhost:
    description: Virtual host.
    type: str
    default: /
  login_user:
    description: User name.
    type: str
    default: guest
    aliases: [username]
  login_password:
    description: Password.
    type: str
    default: guest
    aliases: [password]
  tls:
    description: Connect with TLS (AMQPS).
    type: bool
    default: false
  ca_cert:
    description: CA certificate to verify the broker with.
    type: path
  client_cert:
    description: Client certificate for TLS.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  validate_certs:
    description: Verify the broker's (and the management API's) certificate.
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds for the whole AMQP handshake (TCP, TLS, AMQP; one attempt), for each AMQP operation, and for each call of
        the management API. An endpoint that accepts TCP and never speaks AMQP fails within it, naming the address.
      - A broker that has just started and is still recovering its durable queues is given up to this long.
    type: float
    default: 10
  management_url:
    description:
      - Base URL of the management API (for example V(http://localhost:15672)), used read-only to compare
        definitions argument by argument and to tell existing bindings. Empty or omitted, only AMQP is used.
    type: str
  exchanges:
    description:
      - Exchanges, each with C(name), C(type) (V(fanout), V(topic), V(direct), V(headers)), C(durable)
        (default true), C(auto_delete), C(internal), C(arguments), C(state) (V(present) or V(absent)) and C(force).
    type: list
    elements: dict
    default: []
  queues:
    description:
      - Queues, each with C(name), C(type) (V(classic), V(quorum), V(stream)), C(durable) (default true),
        C(auto_delete), C(exclusive), C(arguments), the shortcuts C(max_age) (C(x-max-age), e.g. V(7D)),
        C(max_length_bytes) and C(stream_max_segment_size_bytes), C(state) and C(force).
    type: list
    elements: dict
    default: []
  bindings:
    description:
      - Bindings, each with C(source) (an exchange), C(destination), C(destination_type) (V(queue) or
        V(exchange), default V(queue)), C(routing_key), C(arguments) and C(state).
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - ananta.platform.attributes
"""

EXAMPLES = r"""
- name: The app plane's exchanges, streams and bindings
  ananta.platform.rabbitmq_topology:
    login_host: 127.0.0.1
    port: 27672
    login_user: ananta
    login_password: "{{ vault_rabbitmq_password }}"
    management_url: http://127.0.0.1:27673
    exchanges:
      - {name: bom.events, type: topic}
    queues:
      - {name: stream.bom.progress, type: stream, max_age: 7D, max_length_bytes: 5000000000}
    bindings:
      - {source: bom.events, destination: stream.bom.progress, routing_key: "bom.progress.#"}
"""

RETURN = r"""
created:
  description: Objects created (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["exchange bom.events", "queue stream.bom.progress"]
unchanged:
  description: Objects that already existed as wanted.
  returned: always
  type: list
  elements: str
deleted:
  description: Objects deleted because C(state=absent) asked for it.
  returned: always
  type: list
  elements: str
ensured:
  description: Bindings declared without the management API, whose prior existence cannot be told.
  returned: always
  type: list
  elements: str
conflicts:
  description: Objects that exist with other definitions, left as they are.
  returned: always
  type: list
  elements: dict
  contains:
    object: {description: Kind and name., type: str}
    differences:
      description: "Each differing argument: C(argument), C(wanted), C(current), C(policy) (the policy key that could apply it, or null)."
      type: list
      elements: dict
    message: {description: The conflict in words., type: str}
started_at:
  description: Epoch seconds when the run began.
  returned: always
  type: float
elapsed:
  description: Seconds the run took.
  returned: always
  type: float
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _rabbitmq_client, _rabbitmq_topology
from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError


def main():
    module = AnsibleModule(argument_spec=_argspecs.RABBITMQ_TOPOLOGY, supports_check_mode=True)
    if not _rabbitmq_client.HAS_PIKA:
        module.fail_json(msg=missing_required_lib("pika"), exception=str(_rabbitmq_client.PIKA_IMPORT_ERROR))
    result = dict(changed=False, created=[], unchanged=[], deleted=[], ensured=[], conflicts=[])
    try:
        _rabbitmq_topology.run(module.params, module.check_mode, module._diff, result)  # pylint: disable=protected-access
    except TopologyError as exc:
        module.fail_json(msg="Failed to ensure the RabbitMQ topology: %s" % exc.message, **result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to ensure the RabbitMQ topology at %s:%s (vhost %s): unexpected %s: %s" % (
            module.params["login_host"], module.params["port"], module.params["vhost"], type(exc).__name__, exc),
            exception=traceback.format_exc(), **result)
    if result["conflicts"]:
        module.fail_json(msg="Failed to ensure the RabbitMQ topology: %s" % _rabbitmq_topology.conflicts_message(result),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
