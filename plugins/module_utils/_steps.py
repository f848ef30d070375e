# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of a start (seed 000's Jobs) as nodes of the start's dependency graph.

A step runs, inside ananta.platform.docker_services, as soon as the services it comes after
are ready, and the services whose gates (``start_after``) it provides wait for it to finish:
the Temporal namespaces, each database's migrations, the RabbitMQ topology. Each kind takes
the options of its module (temporal_namespace, pg_migrate, rabbitmq_topology) and is
validated against that module's own argument spec, before anything starts.

    {name: namespaces, kind: namespaces, plane: shared_temporal, after: [shared-temporal],
     options: <temporal_namespace options>}
    {name: streams, kind: streams, plane: app_plane, after: [app-plane-rabbitmq],
     options: <rabbitmq_topology options>}
    {name: migrations, kind: migrations, plane: app_plane,
     options: {path: DIR, order: <order table>, databases: <ananta_databases>, lock_timeout: 120}}

A migrations step becomes one node per database of its plane (``migrations:<database>``),
each after its own database service: a database that is ready is migrated at once, whatever
the others are doing.

The nodes are the one model of the steps: docker_services runs them; k8s_manifests renders
them as seed 000's Jobs and compose_export as one-shot services, each reaching the service a
node connects to by its name on its container port (``in_network``); the timeline draws them.

The libraries of the steps (temporalio, psycopg2, pika) are imported when a step runs, not
when the module starts: the first containers must not wait for them.
"""

from __future__ import annotations

import difflib
import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils._catalog import (
    container_port, listening_port, parse_port, plane_order,
)
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import KINDS, by_gate


def gate_needs(gate, kind, ports=()):
    """Whether a gate (a ``start_after`` probe) waits for a step of ``kind``: the one rule that
    the Docker start, the compose export and the timeline all apply. The gate's probe names the
    kind that provides it (the table of step kinds), and the kind says whether this gate needs
    it: a Temporal gate on a namespace needs the namespaces; an AMQP gate on queues needs the
    streams; a PostgreSQL gate on tables needs the migrations of the database it probes (the step
    whose database listens on one of ``ports``: the port the step connects to, or the host ports
    its database service publishes). Nothing else: no plane or level makes a service wait for a step."""
    provider = by_gate(gate.get("probe"))
    return provider is not None and provider.name == kind and provider.provides(gate, ports)


def published_ports(service):
    """The host ports a service publishes (what a gate written for the Docker host probes)."""
    found = []
    for spec in (service or {}).get("ports") or []:
        _ip, host, _container, _proto = parse_port(spec)
        if host is not None:
            found.append(int(host))
    return found


class StepRun:
    """One node: its options, what it comes after, and its outcome."""

    def __init__(self, name, kind, plane, after, params, service=None):
        self.name = name
        self.kind = kind
        self.plane = plane
        self.after = list(after)
        self.params = params
        self.service = service  # the catalog service it connects to (a cluster or a compose file reaches it by name)
        self.error = None
        self.outcome = None
        self.started_at = None
        self.elapsed = None
        self.done = threading.Event()

    @property
    def label(self):
        return "step %s (%s)" % (self.name, self.plane)

    def provides(self, gate):
        """Whether this step is what makes the gate pass (so that a gated service waits for it)."""
        return gate_needs(gate, self.kind, [self.params.get("port")])

    def run(self, check_mode=False):
        self.started_at = round(time.time(), 3)
        clock = time.monotonic()
        try:
            self.outcome = KINDS[self.kind].run(self.params, check_mode)
        finally:
            self.elapsed = round(time.monotonic() - clock, 3)

    def result(self):
        return {"name": self.name, "kind": self.kind, "plane": self.plane, "after": self.after,
                "started_at": self.started_at, "elapsed": self.elapsed,
                "changed": bool((self.outcome or {}).get("changed")), "error": self.error, "result": self.outcome}


def _validate(spec, params, what):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    validated = ArgumentSpecValidator(spec).validate(params)
    if validated.error_messages:
        raise AnantaError("%s: %s" % (what, "; ".join(validated.error_messages)))
    return validated.validated_parameters


def _spec(kind):
    return KINDS[kind].spec


def build(steps, catalog):
    """Validate the step definitions and return their nodes; every problem is listed, each
    naming its step, before anything starts."""
    catalog_names = {s["name"] for s in catalog}
    planes = plane_order(catalog)
    problems, nodes, seen = [], [], set()
    for step in steps or []:
        name = step.get("name")
        if not name:
            problems.append("a step needs a name: %r" % ({k: v for k, v in step.items() if k != "options"},))
            continue
        if (name, step.get("plane")) in seen:
            problems.append("step %s of the %s is given twice" % (name, step.get("plane")))
            continue
        seen.add((name, step.get("plane")))
        if step.get("kind") not in KINDS:
            near = difflib.get_close_matches(str(step.get("kind")), list(KINDS), n=1)
            problems.append("step %s: kind %r is not one of the table of step kinds (%s)%s"
                            % (name, step.get("kind"), ", ".join(KINDS), "; did you mean %s?" % near[0] if near else ""))
            continue
        if step.get("plane") not in planes:
            problems.append("step %s: plane %r is no plane of the catalog (its planes: %s)"
                            % (name, step.get("plane"), ", ".join(planes)))
            continue
        missing = [a for a in step.get("after") or [] if a not in catalog_names]
        if missing:
            problems.append("step %s: comes after %s, not in the catalog" % (name, ", ".join(missing)))
            continue
        kind = KINDS[step["kind"]]
        for node_name, after, params, service in kind.nodes(step, catalog, problems):
            try:
                params = _validate(kind.spec, params, "step %s" % node_name)
                nodes.append(StepRun(node_name, kind.name, step["plane"], after, params,
                                     service or _service_of(after, kind.step_port(params), catalog)))
            except AnantaError as exc:
                problems.append(exc.message)
    names = [node.name for node in nodes]
    problems.extend("step %s: two steps of this name (one per plane only for a kind of one node per database)" % n
                    for n in sorted({n for n in names if names.count(n) > 1}))
    problems.extend(_undeclared_gates(nodes, catalog))
    if problems:
        raise AnantaError("the steps have %d problem(s):\n%s" % (len(problems), "\n".join("  - %s" % p for p in problems)))
    return nodes


def _undeclared_gates(nodes, catalog):
    """A gate that waits for a stream or a Temporal namespace that no step of the call on the
    same server declares would wait until its deadline: each is named, with the nearest declared
    name. (Only gates on the server of a step of the call are checked: a run of one plane leaves
    another plane's steps out, and their objects exist already.)"""
    declared = {}  # (kind, port) -> names the steps of that kind on that port declare
    for node in nodes:
        kind = KINDS[node.kind]
        if not kind.declares:
            continue
        declared.setdefault((node.kind, str(kind.step_port(node.params))), set()).update(kind.declared(node.params))
    problems = []
    for svc in catalog:
        for gate in svc.get("start_after") or []:
            if not isinstance(gate, dict):
                continue
            kind = by_gate(gate.get("probe"))
            wanted = kind.wanted(gate) if kind is not None and kind.declares else []
            if not wanted:
                continue
            known = declared.get((kind.name, str(gate.get("port"))))
            if known is None:
                continue
            for name in wanted:
                if name not in known:
                    near = difflib.get_close_matches(str(name), sorted(known), n=1)
                    problems.append("service %s waits (start_after) for the %s %s, which no step declares (they declare: "
                                    "%s)%s" % (svc.get("name"), kind.declares, name, ", ".join(sorted(known)),
                                               "; did you mean %s?" % near[0] if near else ""))
    return problems


def _service_of(after, port, catalog):
    """The service a step connects to: of those it comes after, the one that publishes or
    listens on its port, else the only one."""
    by_name = {s["name"]: s for s in catalog}
    candidates = [by_name[name] for name in after if name in by_name]
    for service in candidates:
        if listening_port(service, port) is not None:
            return service["name"]
    return candidates[0]["name"] if len(candidates) == 1 else None


def in_network(node, by_name):
    """What a step reaches inside the platform's network (a cluster's pods, a compose file's
    services), where a service is reached by its name on its container port: ``(service,
    port, config, password)``. ``config`` is the step command's (tools/ananta_step.py) for the
    node alone, as its kind builds it; the password is kept apart, for a Secret or an
    environment variable. One rule for the Kubernetes Jobs and the compose export's one-shot
    services."""
    service = by_name.get(node.service or "")
    if service is None:
        raise AnantaError("step %s: comes after no single service it connects to (its options' port is published or "
                          "listened on by none of %s); inside a cluster or a compose file it is reached by name"
                          % (node.name, ", ".join(node.after) or "nothing"))
    kind = KINDS[node.kind]
    port = listening_port(service, kind.step_port(node.params)) or container_port(service, kind.default_port)
    config, password = kind.reach(node, service, port)
    return service, port, config, password


def secret_values(nodes):
    """The values of the steps' no_log options, to mask in the module's output."""
    values = set()
    for node in nodes:
        for key, spec in _spec(node.kind).items():
            if spec.get("no_log") and node.params.get(key):
                values.add(str(node.params[key]))
    return values
