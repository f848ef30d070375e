# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table of step kinds: everything one kind of step is, in one place.

A step (seed 000's Jobs) is data in the platform's definition (``ananta_platform_steps``):
a name, a kind, a plane, what it comes after and its kind's options. What a kind *means* is
written here and nowhere else, one entry per kind:

- ``spec``: its options, the argument spec of the module that does the same work alone
  (temporal_namespace, pg_migrate, rabbitmq_topology); every step is validated against it.
- ``gate``: the probe of the gates (``start_after``) it provides, and ``provides`` / ``wanted`` /
  ``declared``: which gate waits for it, which names a gate waits for, which names it declares.
- ``default_port`` and ``step_port``: the port it connects to.
- ``run``: what it does on the controller (docker_services runs it inside the start).
- ``reach``: its configuration inside a cluster or a compose file, where it reaches its server
  by name on the container port; ``password_env``: the variable its password travels in.
- ``verb``: the command of ``tools/ananta_step.py`` it runs in a Kubernetes Job and in a compose
  one-shot service (the same command for both); ``job``: the Job's name; ``service``: the compose
  service's name (``%s``: the database, for a kind with one node per database); ``grouped``: a
  node per database of the plane, one Job for all of them; ``files``: the Job mounts the files of
  its options' path.
- ``checks``: what ``verify.yml`` checks once it ran (the filter ``ananta.platform.step_checks``).

The consumers read this table: ``_steps`` (nodes, gates, runners), ``_k8s/jobs`` (the Jobs),
``_compose`` (the one-shot services), ``_timeline`` (the critical path), the filter for verify.
A new kind is one entry in ``KINDS``.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs
from ansible_collections.ananta.platform.plugins.module_utils._catalog import plane_order
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError


def database_plane(database, by_name):
    """The plane a database's migrations belong to: its own ``plane``, else its service's."""
    if database.get("plane"):
        return database["plane"]
    return (by_name.get(database.get("service")) or {}).get("plane")


def plane_databases(plane, databases, order, by_name):
    """The databases of ``plane`` that the order table names, by name: ``[(name, database,
    entries)]``. The one rule by which the Docker start (a migrations node per database) and
    the Kubernetes db-migration Job of the plane choose what they migrate."""
    found = []
    for key, database in sorted((databases or {}).items()):
        if database_plane(database, by_name) != plane:
            continue
        entries = [e for e in order or [] if e.get("database") == key]
        if entries:
            found.append((key, database, entries))
    return found


class StepKind:
    """One kind of step; the subclasses below fill in what differs."""

    name = None
    spec = None
    gate = None           # the probe of the gates this kind provides
    default_port = None   # the port its server listens on when the options do not say
    verb = None           # tools/ananta_step.py's command
    job = None            # the Kubernetes Job's name
    service = None        # the compose one-shot service's name
    password_env = None   # the environment variable the password travels in
    grouped = False       # one Job for all of a plane's nodes of the kind
    declares = None       # what its steps declare and gates wait for by name (a stream), if anything
    files = False         # its Job mounts the files its options' path holds (the migration files)

    files_map = None      # a grouped kind's ConfigMap of files, mounted at ``files_mount``
    files_mount = None
    irreversible = False  # what it does cannot be undone: a release backs its data up before it runs

    def pending(self, outcome):
        """What a check-mode run of a node says it would do (a release's plan): ``[{version,
        file, ...}]``; nothing by default."""
        return []

    def database(self, node_name):
        """The database (a key of ``ananta_databases``) a node of an irreversible kind changes."""
        return None

    def pending_in_cluster(self, changes, options):
        """What a check-mode start on a cluster says a step's Job would do (its objects' changed
        fields, ``[{object, field, before, after}]``): ``[(database, {version, file})]``."""
        return []

    def step_port(self, params):
        """The port a step connects to, as its options give it (the Docker host's view)."""
        return params.get("port")

    def nodes(self, step, catalog, problems):
        """The nodes of one step definition, before validation: ``[(name, after, params,
        service)]`` (``service`` None: the one of ``after`` on the step's port). Most kinds are
        one node; a problem is appended to ``problems`` naming the step."""
        return [(step["name"], list(step.get("after") or []), step.get("options") or {}, None)]

    def file_names(self, params):
        """The names of the files (under ``params['path']``) a node's Job mounts."""
        return []

    def group(self, nodes, reached, files):
        """A grouped kind's one Job for all of a plane's nodes: ``(config, [(variable,
        password)], {file: text})`` from each node's ``reach`` (``reached``: name -> (service,
        port, config, password)) and the files read on the controller."""
        raise NotImplementedError

    def provides(self, gate, ports):
        """Whether ``gate`` (a probe of this kind's ``gate``) waits for a step of this kind that
        connects to one of ``ports``."""
        return False

    def wanted(self, gate):
        """The names (streams, namespaces) a gate waits for, that some step must declare."""
        return []

    def declared(self, params):
        """The names a step of this kind declares (what ``wanted`` is checked against)."""
        return []

    def run(self, params, check_mode):
        raise NotImplementedError

    def reach(self, node, service, port):
        """The step's configuration for tools/ananta_step.py inside the platform's network:
        ``(config, password)``."""
        raise NotImplementedError

    def job_config(self, config):
        """A Job's configuration from one node's (``reach``)."""
        return dict(config, wait=300)

    def compose_config(self, config, node):
        """A compose one-shot service's configuration from one node's, and its volumes."""
        return dict(config, wait=300), []

    def checks(self, step, many):
        """What verify checks after a step of this kind ran: ``[{name, plane, level, readiness}]``
        (``many``: more than one step of the kind, so that the names say the plane)."""
        return []


class Namespaces(StepKind):
    name = "namespaces"
    spec = _argspecs.TEMPORAL_NAMESPACE
    gate = "temporal"
    default_port = 7233
    verb = "namespaces"
    job = "temporal-namespace-init"
    service = "temporal-namespaces"
    declares = "Temporal namespace"

    def step_port(self, params):
        try:
            return int(str(params.get("address") or "").rpartition(":")[2])
        except ValueError:
            return None

    def provides(self, gate, ports):
        return bool(gate.get("namespace"))

    def wanted(self, gate):
        return [gate["namespace"]] if gate.get("namespace") else []

    def declared(self, params):
        return [n.get("name") for n in params.get("namespaces") or []]

    def run(self, params, check_mode):
        from ansible_collections.ananta.platform.plugins.module_utils import _temporal

        if not _temporal.HAS_TEMPORALIO:
            raise AnantaError("the namespaces step needs the temporalio library: %s" % _temporal.TEMPORALIO_IMPORT_ERROR)
        try:
            return _temporal.ensure(params, check_mode)[0]
        except AnantaError:
            raise
        except Exception as exc:  # pylint: disable=broad-except  # an RPC failure names its gRPC status
            raise AnantaError("Temporal at %s: %s %s" % (params["address"], _temporal.rpc_status_name(exc), exc))

    def reach(self, node, service, port):
        spec = self.spec["namespaces"]["options"]
        namespaces = [{k: v for k, v in ns.items()
                       if k in ("name", "retention", "description") or (v is not None and v != spec[k].get("default"))}
                      for ns in node.params["namespaces"]]
        return {"address": "%s:%d" % (service["name"], port), "namespaces": namespaces}, None

    def checks(self, step, many):
        options = step["options"]
        return [{"name": "Temporal namespace %s exists" % ns["name"], "plane": step["plane"], "level": 0,
                 "readiness": {"probe": "temporal", "address": options["address"], "namespace": ns["name"]}}
                for ns in options.get("namespaces") or [] if ns.get("state", "present") == "present"]


class Migrations(StepKind):
    name = "migrations"
    spec = _argspecs.PG_MIGRATE
    gate = "postgres"
    default_port = 5432
    verb = "migrate"
    job = "db-migration"
    service = "migrate-%s"
    password_env = "PGPASSWORD"
    grouped = True
    files = True
    files_map = "ananta-migrations"
    files_mount = "/migrations"
    irreversible = True
    pass_on = ("lock_timeout", "connect_timeout", "ssl_mode", "ca_cert", "history_schema", "history_table",
               "applied_by", "accept_checksums", "out_of_order")

    def provides(self, gate, ports):
        return bool(gate.get("tables")) and str(gate.get("port")) in {str(p) for p in ports if p is not None}

    def nodes(self, step, catalog, problems):
        """One node per database of the step's plane that the order table names
        (``<step>:<database>``), each after its own database service."""
        options = step.get("options") or {}
        databases = options.get("databases") or {}
        order = options.get("order") or []
        if not isinstance(databases, dict) or not isinstance(order, list):
            problems.append("step %s: options.databases must be a mapping and options.order a list" % step["name"])
            return []
        unknown = sorted({str(e.get("database")) for e in order if e.get("database") not in databases})
        if unknown:
            problems.append("step %s: the order table names database(s) %s, not in options.databases"
                            % (step["name"], ", ".join(unknown)))
        by_name = {s["name"]: s for s in catalog}
        planes = plane_order(catalog)
        for key, database in sorted(databases.items()):
            plane = database_plane(database, by_name) if isinstance(database, dict) else None
            if plane is not None and plane not in planes:
                near = difflib.get_close_matches(str(plane), planes, n=1)
                problems.append("step %s: database %s belongs to plane %r, no plane of the catalog (its planes: %s)%s: "
                                "it would never be migrated" % (step["name"], key, plane, ", ".join(planes),
                                                                "; did you mean %s?" % near[0] if near else ""))
        found = []
        for key, database, entries in plane_databases(step["plane"], databases, order, by_name):
            service = database.get("service")
            if service and service not in by_name:
                problems.append("step %s: database %s runs on service %s, which is not in the catalog"
                                % (step["name"], key, service))
                continue
            params = {"login_host": database.get("host"), "port": database.get("port"), "login_user": database.get("user"),
                      "login_password": database.get("password"), "db": database.get("dbname"),
                      "path": options.get("path"), "migrations": entries}
            params.update((name, options[name]) for name in self.pass_on if options.get(name) is not None)
            found.append(("%s:%s" % (step["name"], key), list(step.get("after") or []) + ([service] if service else []),
                          params, service))
        return found

    def file_names(self, params):
        return [entry["file"] for entry in params.get("migrations") or []]

    def pending(self, outcome):
        return list((outcome or {}).get("pending") or [])

    def database(self, node_name):
        return node_name.partition(":")[2] or None

    def pending_in_cluster(self, changes, options):
        """The files new in the Job's ConfigMap of files (the files of applied migrations are
        there since the Job that applied them), each of its database in the order table."""
        new = {str(c.get("field"))[len("data."):] for c in changes or []
               if str(c.get("object") or "").endswith("/" + self.files_map) and str(c.get("field") or "").startswith("data.")
               and c.get("before") is None}
        return [(e["database"], {"version": e.get("version"), "file": e.get("file")})
                for e in (options or {}).get("order") or [] if e.get("file") in new and not e.get("skip")]

    def group(self, nodes, reached, files):
        """Every database of the plane in one Job, each with its own password variable; the
        order table's files in the ConfigMap mounted at /migrations."""
        databases, passwords, mounted, lock_timeout = [], [], {}, 0
        for node in nodes:
            _service, _port, config, password = reached[node.name]
            variable = "%s_%s" % (self.password_env, re.sub(r"[^A-Z0-9]", "_", config["name"].upper()))
            databases.append(dict(config, password_env=variable))
            passwords.append((variable, password))
            lock_timeout = max(lock_timeout, int(node.params["lock_timeout"]))
            for entry in config["migrations"]:
                if entry["file"] in files:
                    mounted[entry["file"]] = files[entry["file"]]
                elif not entry.get("skip"):
                    raise AnantaError("migration %s (%s) of database %s: the file is missing" % (
                        entry.get("version"), entry["file"], config["name"]))
        return ({"path": self.files_mount, "databases": databases, "lock_timeout": lock_timeout, "wait": 300},
                passwords, mounted)

    def run(self, params, check_mode):
        from ansible_collections.ananta.platform.plugins.module_utils import _pg_migrator

        try:
            return _pg_migrator.MigrationRun(params, check_mode).run()
        except AnantaError as exc:
            raise AnantaError("database %s: %s" % (params["db"], exc.message))

    def reach(self, node, service, port):
        params = node.params
        entries = [{k: v for k, v in m.items() if k != "database"} for m in params["migrations"] or []]
        return ({"name": node.name.partition(":")[2], "host": service["name"], "port": port, "user": params["login_user"],
                 "dbname": params["db"], "migrations": entries}, str(params.get("login_password") or ""))

    def compose_config(self, config, node):
        return ({"host": config["host"], "port": config["port"], "user": config["user"], "dbname": config["dbname"],
                 "path": "/migrations", "migrations": config["migrations"]},
                ["%s:/migrations:ro" % node.params["path"]])


class Streams(StepKind):
    name = "streams"
    spec = _argspecs.RABBITMQ_TOPOLOGY
    gate = "amqp"
    default_port = 5672
    management_port = 15672
    verb = "topology"
    job = "rabbitmq-stream-init"
    service = "rabbitmq-topology"
    password_env = "RABBITMQ_PASSWORD"
    declares = "stream"

    def provides(self, gate, ports):
        return bool(gate.get("queues"))

    def wanted(self, gate):
        return list(gate.get("queues") or [])

    def declared(self, params):
        return [q.get("name") for q in params.get("queues") or []]

    def run(self, params, check_mode):
        from ansible_collections.ananta.platform.plugins.module_utils import _rabbitmq_client, _rabbitmq_topology

        if not _rabbitmq_client.HAS_PIKA:
            raise AnantaError("the streams step needs the pika library: %s" % _rabbitmq_client.PIKA_IMPORT_ERROR)
        result = _rabbitmq_topology.run(params, check_mode)
        if result["conflicts"]:
            raise AnantaError("RabbitMQ topology: %s" % _rabbitmq_topology.conflicts_message(result))
        return result

    def reach(self, node, service, port):
        from ansible_collections.ananta.platform.plugins.module_utils._catalog import container_port

        params = node.params
        return ({"host": service["name"], "port": port, "user": params["login_user"], "vhost": params["vhost"],
                 "management_url": "http://%s:%d" % (service["name"], container_port(service, self.management_port)),
                 "exchanges": params["exchanges"], "queues": params["queues"], "bindings": params["bindings"]},
                str(params.get("login_password") or ""))

    def compose_config(self, config, node):
        return config, []

    def checks(self, step, many):
        options = step["options"]
        return [{"name": "RabbitMQ streams exist" + (" (%s)" % step["plane"] if many else ""), "plane": step["plane"],
                 "level": 0, "readiness": {"probe": "amqp", "host": options["login_host"], "port": int(options["port"]),
                                           "user": options["login_user"], "password": options["login_password"],
                                           "queues": [q["name"] for q in options.get("queues") or []]}}]


# The kinds, in the order their Jobs and one-shot services are written.
KINDS = {kind.name: kind for kind in (Namespaces(), Migrations(), Streams())}


def kind_of(name):
    """The entry of a kind, by name; an unknown kind is refused, naming the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise AnantaError("step kind %r is not one of %s" % (name, ", ".join(KINDS)))


def by_gate(probe):
    """The kind whose steps provide gates of ``probe`` (None: no step provides them)."""
    return next((kind for kind in KINDS.values() if kind.gate == probe), None)


def by_job(job):
    """The kind of a step Job, by the Job's name (None: not a step Job)."""
    return next((kind for kind in KINDS.values() if kind.job == job), None)


def verify_checks(steps):
    """What verify checks after the steps of a definition ran, every kind's checks in the order
    of the steps (the filter ananta.platform.step_checks)."""
    checks = []
    for step in steps or []:
        kind = kind_of(step.get("kind"))
        many = sum(1 for other in steps if other.get("kind") == kind.name) > 1
        checks.extend(kind.checks(step, many))
    return checks
