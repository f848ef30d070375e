# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Init containers: the gates of a workload, as seed 000 writes them."""

from __future__ import annotations

import json
import re

from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    IN_CLUSTER_PROBES, STEP_SCRIPT, STEP_SECURITY, TERMINATION_MESSAGE_POLICY, _container_ports,
)
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name


def in_cluster_probe(r, spec):
    """A probe spec written for the controller (published host ports) as a pod reaches it:
    the service's name and its container port. None when it cannot be run in a pod."""
    if not isinstance(spec, dict) or spec.get("probe") not in IN_CLUSTER_PROBES:
        return None
    spec = dict(spec)
    if spec.get("url"):
        match = re.match(r"^(\w+)://([^/:]+):(\d+)(.*)$", spec["url"])
        if match and int(match.group(3)) in r.host_ports:
            svc, container = r.host_ports[int(match.group(3))]
            spec["url"] = "%s://%s:%d%s" % (match.group(1), svc["name"], container, match.group(4))
        return spec
    if spec.get("host"):
        return spec
    port = spec.get("port")
    if port is None or int(port) not in r.host_ports:
        return None
    svc, container = r.host_ports[int(port)]
    spec["host"], spec["port"] = svc["name"], container
    spec.pop("timeout", None)
    return spec


def dependency_probe(r, dep):
    probe = in_cluster_probe(r, dep.get("readiness"))
    if probe is not None:
        return probe
    if kind_of(dep) == "Job":
        return None  # a Job has finished before the phases that may depend on it start
    ports = _container_ports(dep)
    if ports:
        return {"probe": "tcp", "host": dep["name"], "port": ports[0]["containerPort"]}
    if kind_of(dep) == "StatefulSet":
        # no port to knock on, but its governing (headless) Service's name resolves once its
        # pod is ready and the cluster's DNS has it: before that, a dependant's first lookup fails
        host = "%s.%s.svc.%s" % (object_name(dep), r.namespace_of(dep), r.opts["cluster_domain"])
        return {"probe": "dns", "host": host}
    return None


def step_container(r, name, step, config_ref, extra_env=None):
    env = [{"name": "PYTHONPATH", "value": r.opts["step_collections_path"]}, config_ref] + list(extra_env or [])
    return {"name": name, "image": r.opts["step_image"], "imagePullPolicy": r.opts["image_pull_policy"],
            "command": ["python3", "%s/%s" % (r.opts["step_collections_path"], STEP_SCRIPT), step],
            "env": env, "securityContext": dict(STEP_SECURITY), "terminationMessagePolicy": TERMINATION_MESSAGE_POLICY,
            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}


def init_containers(r, svc, secret_data):
    """Seed 000's init containers: wait-for-schema (tables), wait-for-dependencies (the rest)."""
    name = object_name(svc)
    schema, dependencies = [], []
    for gate in svc.get("start_after") or []:
        probe = in_cluster_probe(r, gate)
        if probe is None:
            continue
        (schema if probe.get("probe") == "postgres" and probe.get("tables") else dependencies).append(probe)
    for dep_name in svc.get("depends_on") or []:
        probe = dependency_probe(r, r.by_name[dep_name])
        if probe is not None and probe not in dependencies:
            probe["service"] = dep_name
            dependencies.append(probe)
    containers = []
    for container, probes in (("wait-for-dependencies", dependencies), ("wait-for-schema", schema)):
        if not probes:
            continue
        key = "%s.%s.json" % (name, container)
        # the gate ends itself (naming what it still waits for) when the run's own wait would
        # give up; an error that cannot heal (a refused password, a missing module) ends it at once
        # sorted: the same catalog in another key order (an inventory's YAML, extra vars' JSON)
        # must render the same Secret, or its pods would roll for nothing
        secret_data[key] = json.dumps({"what": "%s of %s" % (container, svc["name"]), "probes": probes,
                                       "timeout": int((svc.get("kubernetes") or {}).get("gate_timeout")
                                                      or r.opts["wait_timeout"]),
                                       "interval": r.opts["gate_interval"]}, sort_keys=True)
        containers.append(step_container(r, container, "wait", {
            "name": "ANANTA_STEP_CONFIG",
            "valueFrom": {"secretKeyRef": {"name": r.opts["secret_name"], "key": key}}}))
    return containers
