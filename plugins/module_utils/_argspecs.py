# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs of the step modules (temporal_namespace, pg_migrate, rabbitmq_topology),
which are also the options of the steps of ananta.platform.docker_services.

Here, apart from the modules' code, because reading them must not import temporalio, pika or
psycopg2: docker_services validates its steps before its first container starts.
"""

from __future__ import annotations

# The options of ananta.platform.temporal_namespace, also the options of a namespaces step of
# ananta.platform.docker_services (validated against this same spec).
TEMPORAL_NAMESPACE = dict(
    address=dict(type="str", default="localhost:7233"),
    tls=dict(type="bool", default=False),
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    server_name=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    connect_timeout=dict(type="float", default=60),
    ready_timeout=dict(type="float", default=60),
    namespaces=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        retention=dict(type="raw", default="3d"),
        description=dict(type="str", default=""),
        owner_email=dict(type="str", default=""),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )),
)


# The options of ananta.platform.pg_migrate, also those of each database of a migrations step
# of ananta.platform.docker_services (validated against this same spec).
PG_MIGRATE = dict(
    login_host=dict(type="str", default="localhost", aliases=["host"]),
    login_user=dict(type="str", default="postgres", aliases=["login"]),
    login_password=dict(type="str", no_log=True),
    port=dict(type="int", default=5432, aliases=["login_port"]),
    db=dict(type="str", required=True, aliases=["login_db"]),
    ssl_mode=dict(type="str", default="prefer", choices=["allow", "disable", "prefer", "require", "verify-ca", "verify-full"]),
    ca_cert=dict(type="str", aliases=["ssl_rootcert"]),
    connect_timeout=dict(type="int", default=10),
    path=dict(type="path"),
    migrations=dict(type="list", elements="dict"),
    schema=dict(type="str"),
    skip=dict(type="list", elements="str", default=[]),
    accept_checksums=dict(type="list", elements="str", default=[], no_log=False),
    out_of_order=dict(type="bool", default=False),
    history_schema=dict(type="str", default="ananta_migrations"),
    history_table=dict(type="str", default="schema_migrations"),
    lock_timeout=dict(type="float", default=120),
    applied_by=dict(type="str"),
)


# The options of ananta.platform.rabbitmq_topology, also the options of a streams step of
# ananta.platform.docker_services (validated against this same spec).
RABBITMQ_TOPOLOGY = dict(
    login_host=dict(type="str", default="localhost", aliases=["host"]),
    port=dict(type="int", default=5672, aliases=["login_port"]),
    vhost=dict(type="str", default="/"),
    login_user=dict(type="str", default="guest", aliases=["username"]),
    login_password=dict(type="str", default="guest", no_log=True, aliases=["password"]),
    tls=dict(type="bool", default=False),
    ca_cert=dict(type="path"),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    validate_certs=dict(type="bool", default=True),
    connect_timeout=dict(type="float", default=10),
    management_url=dict(type="str"),
    exchanges=dict(type="list", elements="dict", default=[]),
    queues=dict(type="list", elements="dict", default=[]),
    bindings=dict(type="list", elements="dict", default=[]),
)

# The step definitions, as ananta.platform.docker_services, k8s_manifests and compose_export take
# them (doc fragment ananta.platform.steps); each node's options are validated against the spec
# of its kind above (_steps.build).
STEPS = dict(type="list", elements="dict", default=[], options=dict(
    name=dict(type="str", required=True),
    kind=dict(type="str", required=True),  # one of the table of step kinds (_step_kinds), checked by _steps.build
    plane=dict(type="str", required=True),
    after=dict(type="list", elements="str", default=[]),
    options=dict(type="dict", required=True),
))
