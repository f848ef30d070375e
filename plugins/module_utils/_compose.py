# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A compose file from the catalog (seed 002's Strategy 2), doing the same work as start_platform.

Healthchecks, ``depends_on`` with ``service_healthy`` / ``service_completed_successfully``,
and the steps as one-shot services: the Temporal namespaces, the migrations and the RabbitMQ
topology, each running the collection's own step command (tools/ananta_step.py, as the
Kubernetes Jobs do: history, checksums, lock and argument comparison). A service's gates
become dependencies on the steps that satisfy them.
"""

from __future__ import annotations

import json

from ansible_collections.ananta.platform.plugins.module_utils import _catalog
from ansible_collections.ananta.platform.plugins.module_utils._catalog import parse_port
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import KINDS
from ansible_collections.ananta.platform.plugins.module_utils._steps import in_network

COLLECTION_MOUNT = "/opt/ananta/ansible_collections/ananta/platform"
STEP_COMMAND = ["python3", COLLECTION_MOUNT + "/tools/ananta_step.py"]


def _healthcheck(health, defaults):
    merged = dict(defaults or {}, **health)
    check = {"test": merged["test"]}
    for key in ("interval", "timeout", "retries", "start_period"):
        if merged.get(key) is not None:
            check[key] = merged[key] if key == "retries" else str(merged[key])
    return check


def _condition(dep):
    if (dep.get("readiness") or {}).get("probe") == "exit_zero":
        return "service_completed_successfully"
    return "service_healthy" if dep.get("healthcheck") else "service_started"


def service_entry(svc, by_name, defaults, step_deps, project):
    entry = {"image": svc["image"], "container_name": svc.get("container_name") or svc["name"],
             "restart": svc.get("restart_policy", "no"),
             "labels": {"ananta.platform.project": project, "ananta.platform.service": svc["name"],
                        "ananta.platform.plane": svc.get("plane"), "ananta.platform.level": str(svc.get("level"))}}
    if svc.get("command"):
        entry["command"] = svc["command"]
    if svc.get("env"):
        entry["environment"] = {k: "" if v is None else str(v) for k, v in svc["env"].items()}
    ports = []
    for spec in svc.get("ports") or []:
        host_ip, host_port, container_port, proto = parse_port(spec)
        if host_port is None:
            continue
        ports.append("%s%d:%d%s" % (host_ip + ":" if host_ip else "", host_port, container_port,
                                    "" if proto == "tcp" else "/" + proto))
    if ports:
        entry["ports"] = ports
    if svc.get("volumes"):
        entry["volumes"] = list(svc["volumes"])
    if svc.get("networks"):
        entry["networks"] = {net: {"aliases": [svc["name"]]} for net in svc["networks"]}
    if svc.get("healthcheck"):
        entry["healthcheck"] = _healthcheck(svc["healthcheck"], defaults)
    if svc.get("resources", {}).get("memory"):
        entry["mem_limit"] = str(svc["resources"]["memory"])
    if svc.get("resources", {}).get("cpus"):
        entry["cpus"] = float(svc["resources"]["cpus"])
    depends = {dep: {"condition": _condition(by_name[dep])} for dep in svc.get("depends_on") or []}
    for dep in svc.get("restart_with") or []:
        depends[dep]["restart"] = True  # compose restarts it when it recreates or restarts ``dep``
    for step in step_deps.get(svc["name"], []):
        depends[step] = {"condition": "service_completed_successfully"}
    if depends:
        entry["depends_on"] = depends
    return entry


def build_steps(nodes, by_name):
    """The one-shot services' part of each step node (``_steps.build``, the nodes the Docker
    start runs): [{service, node, after, networks, config, volumes, password}], each reaching its
    server by name on its container port (``_steps.in_network``), named and configured as the
    table of step kinds says (a kind with a node per database: one service per database)."""
    entries = []
    for node in nodes:
        service, _port, config, password = in_network(node, by_name)
        kind = KINDS[node.kind]
        name = kind.service % config["name"] if "%s" in kind.service else kind.service
        config, volumes = kind.compose_config(config, node)
        entries.append({"service": name, "node": node, "after": list(node.after), "config": config, "password": password,
                        "volumes": volumes, "networks": service.get("networks", [])[:1]})
    order = list(KINDS)
    return sorted(entries, key=lambda e: (order.index(e["node"].kind), e["service"]))


def step_services(steps, image, collection_path, project):
    """One-shot services for the step entries of ``build_steps``: each runs its kind's command of
    tools/ananta_step.py (the command its Kubernetes Job runs), the collection mounted read-only,
    its configuration in ANANTA_STEP_CONFIG and its password in its kind's variable."""
    services = {}
    labels = {"ananta.platform.project": project, "ananta.platform.step": "true"}
    mount = ["%s:%s:ro" % (collection_path, COLLECTION_MOUNT)]
    for step in steps:
        kind = KINDS[step["node"].kind]
        environment = {"PYTHONPATH": "/opt/ananta", "ANANTA_STEP_CONFIG": json.dumps(step["config"])}
        if kind.password_env:
            environment[kind.password_env] = step["password"]
        services[step["service"]] = {
            "image": image, "restart": "no", "labels": labels, "networks": step["networks"],
            "command": STEP_COMMAND + [kind.verb], "environment": environment, "volumes": mount + step["volumes"],
            "depends_on": {dep: {"condition": "service_healthy"} for dep in step["after"]}}
    return services


def gate_steps(svc, steps):
    """The step services a service's gates depend on: the steps that provide them, by the rule
    of the Docker start (``StepRun.provides``, ``_steps.gate_needs``)."""
    return sorted({step["service"] for gate in svc.get("start_after") or [] for step in steps if step["node"].provides(gate)})


def compose_document(services, networks, steps, image, collection_path, project, healthcheck_defaults=None):
    by_name = {s["name"]: s for s in services}
    step_deps = {s["name"]: gate_steps(s, steps) for s in services}
    doc = {"name": project, "services": {}, "networks": {}, "volumes": {}}
    for svc in services:
        doc["services"][svc["name"]] = service_entry(svc, by_name, healthcheck_defaults, step_deps, project)
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":", maxsplit=1)[0]
            if not source.startswith(("/", ".")):
                doc["volumes"][source] = {"name": source, "labels": {"ananta.platform.project": project}}
    doc["services"].update(step_services(steps, image, collection_path, project))
    for name in _catalog.network_drivers(networks):
        doc["networks"][name] = {"name": name, "labels": {"ananta.platform.project": project}}
    if not doc["volumes"]:
        del doc["volumes"]
    return doc
