# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the Kubernetes rendering shares: labels, annotations, defaults, the
container ports and volumes of a catalog entry."""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.ananta.platform.plugins.module_utils import _catalog
from ansible_collections.ananta.platform.plugins.module_utils._catalog import container_port  # noqa: F401  pylint: disable=unused-import
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError


LABEL_PROJECT = "ananta.platform/project"
LABEL_PLANE = "ananta.platform/plane"
LABEL_LEVEL = "ananta.platform/level"
LABEL_PHASE = "ananta.platform/phase"
ANNOTATION_HASH = "ananta.platform/config-hash"
LABEL_STEP = "ananta.platform/step"
STEP_SCRIPT = "ansible_collections/ananta/platform/tools/ananta_step.py"
# Probes that can be run from inside the cluster (the others only mean something on Docker).
IN_CLUSTER_PROBES = ("http", "tcp", "postgres", "redis", "amqp", "temporal")
DEFAULTS = {
    "plane_namespaces": {},
    "project": "ananta",
    "step_image": "ananta-platform-ee:latest",
    "step_collections_path": "/usr/share/ansible/collections",
    "image_pull_policy": "IfNotPresent",
    "image_pull_secrets": [],
    "storage_class": None,
    "default_storage": "1Gi",
    "default_resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "secret_name": "db-credentials",
    "cluster_domain": "cluster.local",
    "wait_timeout": 600,
    "job_backoff_limit": 0,
    "migration_files": {},
    "networks": None,
    "steps": (),  # the start's step nodes (_steps.build), the Jobs' source
    "gate_interval": 1,
}
# Every container of the platform and its steps: no privilege, no escalation, no added capability.
CONTAINER_SECURITY = {"privileged": False, "allowPrivilegeEscalation": False}
# Every container's last lines before an error end up in its status (lastState.terminated.message):
# the waits name why an init container or a crashing one ended without reading its log.
TERMINATION_MESSAGE_POLICY = "FallbackToLogsOnError"
STEP_SECURITY = dict(CONTAINER_SECURITY, runAsNonRoot=True, capabilities={"drop": ["ALL"]})


def _labels(project, plane, name, level=None, phase=None):
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ananta-platform",
              "app.kubernetes.io/managed-by": "ananta.platform", LABEL_PROJECT: project, LABEL_PLANE: plane.replace("_", "-")}
    if level is not None:
        labels[LABEL_LEVEL] = str(level)
    if phase:
        labels[LABEL_PHASE] = phase
    return labels


def _selector(project, name):
    return {"app.kubernetes.io/name": name, LABEL_PROJECT: project}


def _seconds(value, default=None):
    """'5s', '1m30s', '2m', 10 -> seconds (int, at least 1)."""
    if value in (None, ""):
        return default
    if isinstance(value, (int, float)):
        return max(1, int(value))
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)?", str(value)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "": 1}[unit]
    return max(1, int(round(total)))


def _hash(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _container_ports(svc):
    ports = []
    for spec in svc.get("ports") or []:
        _ip, _host, container, proto = _catalog.parse_port(spec)
        if container not in [p["containerPort"] for p in ports]:
            ports.append({"containerPort": container, "name": "p%d" % container, "protocol": proto.upper()})
    return ports


def _volumes(svc):
    """Named volumes as (name, mount path, read only)."""
    found = []
    for spec in svc.get("volumes") or []:
        parts = str(spec).split(":")
        if len(parts) < 2 or parts[0].startswith(("/", ".", "~")):
            raise CatalogError(["service %r, field 'volumes': %r is a bind mount, which a Kubernetes cluster cannot "
                                "provide; use a named volume" % (svc["name"], spec)])
        found.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return found
