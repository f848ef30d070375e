# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service catalog: validation and the data derived from it.

Pure functions only (no I/O), so that unit tests can cover every rule. A catalog is
a list of service dicts (the inventory variable ``ananta_services``); the shape is
documented in ``docs/catalog.md``.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError

# The planes and levels are the catalog's (the platform's definition, platform/definition.yml, or
# a user's own catalog): no plane name or level number is written here. A plane is a name like a
# variable's; a level is a whole number from 0; planes come in the order of their first level.
PLANE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# kind of probe -> fields it needs (a tuple inside the tuple means "one of these")
PROBE_KINDS = {
    "docker_health": (),
    "running": (),
    "http": (("url", "port"),),
    "tcp": ("port",),
    "postgres": ("port", "user"),
    "redis": ("port",),
    "amqp": ("port",),
    "temporal": (("address", "port"),),
    "process": ("pattern",),
    "command": ("command",),
    "exit_zero": (),
}
PROBE_FIELDS = {
    "probe", "timeout", "grace", "stable", "interval",
    "host", "port", "url", "path", "scheme", "status", "body",
    "user", "password", "dbname", "query", "tables", "vhost",
    "address", "namespace", "pattern", "queues", "command", "container",
}
DEFAULT_TIMEOUT = 120
# http(s)://host[:port][/path]: the port, when given, digits only (the range is checked apart)
URL_RE = re.compile(r"^https?://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?(?P<path>[/?#][^\s]*)?$")
ONESHOT_PROBE = "exit_zero"
# Every field a service may have (docs/catalog.md): a typo (`depend_on`, `restart`) is an error,
# not a field silently ignored.
SERVICE_FIELDS = {
    "name", "container_name", "plane", "level", "depends_on", "image", "command", "entrypoint", "env", "labels",
    "ports", "volumes", "networks", "restart_policy", "healthcheck", "readiness", "start_after", "kubernetes",
    "stop_grace_period", "restart_with", "resources",
}
# Docker resources (compose's mem_limit and cpus): 512m, 1g, 1.5g; a number of CPUs
MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmg]?$", re.IGNORECASE)
DURATION_RE = re.compile(r"^(\d+(\.\d+)?(ms|h|m|s))+$")


def parse_port(spec):
    """Parse a compose-style port: ``[IP:]HOST:CONTAINER[/proto]`` or ``CONTAINER``.

    Returns ``(host_ip, host_port, container_port, proto)``; ``host_port`` is None
    when the port is not published.
    """
    text = str(spec).strip()
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return None, None, int(parts[0]), proto
        if len(parts) == 2:
            return None, int(parts[0]), int(parts[1]), proto
        if len(parts) == 3:
            return parts[0] or None, int(parts[1]), int(parts[2]), proto
    except ValueError:
        pass
    raise ValueError("not a port mapping: %r" % spec)


def container_port(service, default):
    """The container port a step or a pod reaches ``service`` on: ``default`` (the protocol's
    usual port) when the service has it, else its first one; ``default`` when it has none. One
    rule for the compose export and the Kubernetes rendering."""
    ports = [parse_port(spec)[2] for spec in service.get("ports") or []]
    return default if default in ports or not ports else ports[0]


def listening_port(service, port):
    """The container port behind ``port`` when the service publishes it or listens on it, else None."""
    for spec in service.get("ports") or []:
        _ip, host, container, _proto = parse_port(spec)
        if port is not None and int(port) in (host, container):
            return container
    return None


def host_ports(services):
    """Published host port -> (service, container port): how a probe written for the Docker
    host (``127.0.0.1:27432``) maps to a service and the port it listens on."""
    found = {}
    for svc in services:
        for spec in svc.get("ports") or []:
            _ip, host, container, _proto = parse_port(spec)
            if host is not None:
                found[int(host)] = (svc, int(container))
    return found


def _problem(svc, field, text):
    return "service %r, field %r: %s" % (svc, field, text)


def _check_probe(name, readiness):
    problems = []
    if not isinstance(readiness, dict):
        return [_problem(name, "readiness", "missing or not a mapping (needs at least 'probe')")]
    kind = readiness.get("probe")
    if kind not in PROBE_KINDS:
        return [_problem(name, "readiness.probe", "%r is not one of %s" % (kind, ", ".join(sorted(PROBE_KINDS))))]
    unknown = sorted(set(readiness) - PROBE_FIELDS)
    if unknown:
        problems.append(_problem(name, "readiness", "unknown field(s) %s" % ", ".join(unknown)))
    for need in PROBE_KINDS[kind]:
        options = need if isinstance(need, tuple) else (need,)
        if not any(readiness.get(opt) not in (None, "") for opt in options):
            problems.append(_problem(name, "readiness.%s" % options[0],
                                     "probe %r needs %s" % (kind, " or ".join(options))))
    for num_field, minimum in (("timeout", 1), ("grace", 0), ("stable", 1), ("interval", 0.1)):
        if num_field in readiness:
            value = readiness[num_field]
            try:
                ok = float(value) >= minimum
            except (TypeError, ValueError):
                ok = False
            if not ok or isinstance(value, bool):
                problems.append(_problem(name, "readiness.%s" % num_field,
                                         "%r is not a number >= %s" % (value, minimum)))
    if "port" in readiness:
        try:
            port = int(readiness["port"])
            if not 0 < port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(_problem(name, "readiness.port", "%r is not a TCP port" % (readiness["port"],)))
    if readiness.get("url") not in (None, ""):
        url = str(readiness["url"])
        match = URL_RE.match(url)
        if not match:
            problems.append(_problem(name, "readiness.url", "%r is not an http(s) URL (scheme://host[:port][/path])" % url))
        elif match.group("port") is not None and not 0 < int(match.group("port")) < 65536:
            problems.append(_problem(name, "readiness.url", "%r: port %s is not a TCP port" % (url, match.group("port"))))
    for list_field in ("tables", "queues", "command"):
        if list_field in readiness and not isinstance(readiness[list_field], list):
            problems.append(_problem(name, "readiness.%s" % list_field, "must be a list"))
    if "status" in readiness:
        status = readiness["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            problems.append(_problem(name, "readiness.status", "%r is not an HTTP status (100-599)" % (status,)))
    if readiness.get("body") not in (None, ""):
        try:
            re.compile(str(readiness["body"]))
        except re.error as exc:
            problems.append(_problem(name, "readiness.body", "%r is not a regular expression: %s" % (readiness["body"], exc)))
    return problems


def _is_duration(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value >= 0
    return isinstance(value, str) and bool(DURATION_RE.match(value.strip()))


def _check_container_fields(name, svc):
    """The fields of the container itself (compose's shapes)."""
    problems = []
    unknown = sorted(set(svc) - SERVICE_FIELDS)
    if unknown:
        problems.append(_problem(name, unknown[0] if len(unknown) == 1 else "(fields)",
                                 "unknown field(s) %s (a service has %s)" % (", ".join(unknown), ", ".join(sorted(SERVICE_FIELDS)))))
    for field in ("env", "labels"):
        value = svc.get(field)
        if value is not None and not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            problems.append(_problem(name, field, "must be a mapping of names to values (as compose's %s: map)" % field))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    problems.append(_problem(name, "%s.%s" % (field, key), "must be a string, number or boolean"))
    for field in ("command", "entrypoint"):
        value = svc.get(field)
        if value is not None and not (isinstance(value, str) and value.strip()
                                      or isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value)):
            problems.append(_problem(name, field, "must be a non-empty string or list of arguments"))
    for field in ("volumes", "networks"):
        value = svc.get(field)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            problems.append(_problem(name, field, "must be a list of names"))
    health = svc.get("healthcheck")
    if health is not None and not (isinstance(health, dict) and isinstance(health.get("test"), (list, str)) and health.get("test")):
        problems.append(_problem(name, "healthcheck", "must be a mapping with a test (a list such as [CMD, ...] or a string)"))
    elif isinstance(health, dict):
        for field in ("interval", "timeout", "start_period"):
            if field in health and not _is_duration(health[field]):
                problems.append(_problem(name, "healthcheck.%s" % field, "%r is not a duration (10s, 1m30s, 500ms)" % (health[field],)))
        if "retries" in health and (isinstance(health["retries"], bool) or not isinstance(health["retries"], int)
                                    or health["retries"] < 0):
            problems.append(_problem(name, "healthcheck.retries", "%r is not a count" % (health["retries"],)))
    restart_with = svc.get("restart_with")
    if restart_with is not None:
        deps = svc.get("depends_on") or []
        if not (isinstance(restart_with, list) and all(isinstance(d, str) for d in restart_with)):
            problems.append(_problem(name, "restart_with", "must be a list of service names (its dependencies)"))
        else:
            for dep in restart_with:
                if dep not in deps:
                    problems.append(_problem(name, "restart_with", "%r is not one of its dependencies (depends_on: %s)"
                                             % (dep, ", ".join(deps) or "none")))
    resources = svc.get("resources")
    if resources is not None:
        if not isinstance(resources, dict) or set(resources) - {"memory", "cpus"}:
            problems.append(_problem(name, "resources", "must be a mapping with memory (512m, 1g) and/or cpus (1.5)"))
        else:
            if "memory" in resources and not MEMORY_RE.match(str(resources["memory"])):
                problems.append(_problem(name, "resources.memory", "%r is not a size (512m, 1g, 268435456)" % (resources["memory"],)))
            cpus = resources.get("cpus")
            if "cpus" in resources and (isinstance(cpus, bool) or not isinstance(cpus, (int, float, str))
                                        or not re.match(r"^[0-9]+(\.[0-9]+)?$", str(cpus)) or float(cpus) <= 0):
                problems.append(_problem(name, "resources.cpus", "%r is not a number of CPUs (0.5, 2)" % (cpus,)))
    if "stop_grace_period" in svc and not _is_duration(svc["stop_grace_period"]):
        problems.append(_problem(name, "stop_grace_period", "%r is not a duration (10s, 1m30s, 500ms)" % (svc["stop_grace_period"],)))
    return problems


def find_cycle(graph):
    """Return one dependency cycle as a list ``[a, b, ..., a]``, or None.

    ``graph`` maps a name to the names it depends on (unknown names are ignored).
    """
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for root in graph:
        if color[root] != WHITE:
            continue
        stack = [(root, iter(graph[root]))]
        path = [root]
        color[root] = GREY
        while stack:
            node, children = stack[-1]
            advanced = False
            for child in children:
                if child not in color:
                    continue
                if color[child] == GREY:
                    return path[path.index(child):] + [child]
                if color[child] == WHITE:
                    color[child] = GREY
                    stack.append((child, iter(graph[child])))
                    path.append(child)
                    advanced = True
                    break
            if not advanced:
                color[node] = BLACK
                stack.pop()
                path.pop()
    return None


def validate(services, networks=None):
    """Validate a catalog; raise CatalogError listing every problem, naming service and field.

    ``networks``: names of the declared networks (a service may only join those), or
    None to skip that check.
    """
    if not isinstance(services, list) or not services:
        raise CatalogError(["the catalog (ananta_services) must be a non-empty list of services"])
    problems = []
    by_name = {}
    container_names = {}
    host_ports = {}
    for index, svc in enumerate(services):
        if not isinstance(svc, dict):
            problems.append("entry #%d: not a mapping" % index)
            continue
        name = svc.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(_problem(name if name else "#%d" % index, "name",
                                     "%r is not a valid name (lowercase letters, digits and '-')" % (name,)))
            continue
        if name in by_name:
            problems.append(_problem(name, "name", "duplicate name (entries #%d and #%d)"
                                     % (services.index(by_name[name]), index)))
            continue
        by_name[name] = svc
        cname = svc.get("container_name", name)
        if cname in container_names:
            problems.append(_problem(name, "container_name", "%r is already used by service %r"
                                     % (cname, container_names[cname])))
        else:
            container_names[cname] = name
        if not isinstance(svc.get("plane"), str) or not PLANE_RE.match(svc["plane"]):
            problems.append(_problem(name, "plane", "%r is not a plane name (lower case letters, digits and _, "
                                     "starting with a letter)" % (svc.get("plane"),)))
        level = svc.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or level < 0:
            problems.append(_problem(name, "level", "%r is not a level (a whole number from 0)" % (level,)))
        if not svc.get("image"):
            problems.append(_problem(name, "image", "missing"))
        deps = svc.get("depends_on", [])
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            problems.append(_problem(name, "depends_on", "must be a list of service names"))
        problems.extend(_check_container_fields(name, svc))
        ports = svc.get("ports", []) or []
        if not isinstance(ports, list):
            problems.append(_problem(name, "ports", "must be a list of port mappings"))
            ports = []
        for port in ports:
            try:
                host_ip, host_port, cport, proto = parse_port(port)
            except ValueError as exc:
                problems.append(_problem(name, "ports", str(exc)))
                continue
            bad = [p for p in (host_port, cport) if p is not None and not 0 < p < 65536]
            if bad or proto not in ("tcp", "udp", "sctp"):
                why = ("port %d is not a TCP/UDP port" % bad[0]) if bad else ("protocol %r is not tcp, udp or sctp" % proto)
                problems.append(_problem(name, "ports", "%r: %s" % (port, why)))
                continue
            if host_port is None:
                continue
            key = (host_ip or "0.0.0.0", host_port, proto)
            other = host_ports.get((host_port, proto))
            if other and other[0] != name:
                problems.append(_problem(name, "ports", "host port %d/%s is already published by service %r"
                                         % (host_port, proto, other[0])))
            host_ports[(host_port, proto)] = (name, key)
        if networks is not None:
            for net in svc.get("networks", []) or []:
                if net not in networks:
                    problems.append(_problem(name, "networks", "%r is not a declared network (%s)"
                                             % (net, ", ".join(sorted(networks)))))
        restart = svc.get("restart_policy", "no")
        if restart not in RESTART_POLICIES:
            problems.append(_problem(name, "restart_policy", "%r is not one of %s" % (restart, ", ".join(RESTART_POLICIES))))
        problems.extend(_check_probe(name, svc.get("readiness")))
        gates = svc.get("start_after") or []
        if not isinstance(gates, list):
            problems.append(_problem(name, "start_after", "must be a list of probes"))
        else:
            for number, gate in enumerate(gates):
                for problem in _check_probe(name, gate):
                    problems.append(problem.replace("field 'readiness", "field 'start_after[%d]" % number))
                if isinstance(gate, dict) and gate.get("probe") in ("docker_health", "running", "process", "exit_zero", "command"):
                    problems.append(_problem(name, "start_after[%d].probe" % number,
                                             "a gate is a network probe (http, tcp, postgres, redis, amqp, temporal)"))
        kube = svc.get("kubernetes")
        if kube is not None:
            if not isinstance(kube, dict) or kube.get("kind") not in WORKLOAD_KINDS:
                kind = kube.get("kind") if isinstance(kube, dict) else kube
                problems.append(_problem(name, "kubernetes.kind", "%r is not one of %s" % (kind, ", ".join(WORKLOAD_KINDS))))

    # Graph checks, on the entries that were well-formed enough to have a name.
    for name, svc in by_name.items():
        deps = svc.get("depends_on", []) or []
        if not isinstance(deps, list):
            continue
        for dep in deps:
            if dep == name:
                problems.append(_problem(name, "depends_on", "depends on itself"))
            elif dep not in by_name:
                problems.append(_problem(name, "depends_on", "unknown service %r" % (dep,)))
            else:
                mine, theirs = svc.get("level"), by_name[dep].get("level")
                if isinstance(mine, int) and isinstance(theirs, int) and theirs > mine:
                    problems.append(_problem(name, "depends_on", "%r is at level %d, later than this service's level %d"
                                             % (dep, theirs, mine)))
    graph = {n: [d for d in (s.get("depends_on") or []) if isinstance(d, str) and d != n]
             for n, s in by_name.items() if isinstance(s.get("depends_on", []), list)}
    cycle = find_cycle(graph)
    if cycle:
        problems.append(_problem(cycle[0], "depends_on", "dependency cycle: %s" % " -> ".join(cycle)))
    if problems:
        raise CatalogError(problems)
    return True


def plane_order(services):
    """The catalog's planes, in start order: by the lowest level of their services, then by
    their first appearance in the catalog."""
    first = {}
    for index, svc in enumerate(services):
        plane = svc.get("plane")
        low, at = first.get(plane, (svc.get("level", 0), index))
        first[plane] = (min(low, svc.get("level", 0)), at)
    return sorted(first, key=lambda plane: first[plane])


def check_planes(services, planes, what="planes"):
    """Refuse a selected plane that no service of the catalog belongs to, naming it (with the
    catalog's planes and the nearest one)."""
    known = plane_order(services)
    for plane in planes or []:
        if plane not in known:
            near = difflib.get_close_matches(str(plane), known, n=1)
            raise AnantaError("%s: %r is no plane of the catalog (its planes: %s)%s" % (
                what, plane, ", ".join(known), "; did you mean %s?" % near[0] if near else ""))


def select(services, planes=None, levels=None, names=None):
    """The services matching every given filter, in catalog order. A plane no service belongs
    to is refused, naming it."""
    check_planes(services, planes)
    chosen = []
    for svc in services:
        if planes and svc["plane"] not in planes:
            continue
        if levels is not None and len(levels) and svc["level"] not in levels:
            continue
        if names and svc["name"] not in names:
            continue
        chosen.append(svc)
    return chosen


def network_drivers(networks):
    """The networks as the catalog's ``networks`` gives them (a name, or a mapping with ``name``
    and ``driver``): ``{name: driver}``, in their order; bridge unless named."""
    drivers = {}
    for net in networks or []:
        if isinstance(net, dict):
            drivers[str(net["name"])] = net.get("driver") or "bridge"
        else:
            drivers[str(net)] = "bridge"
    return drivers
