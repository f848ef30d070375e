# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed 000's step Jobs."""

from __future__ import annotations

import json

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    ANNOTATION_HASH, LABEL_STEP, _hash, _labels,
)
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import KINDS, by_job
from ansible_collections.ananta.platform.plugins.module_utils._steps import in_network
from ansible_collections.ananta.platform.plugins.module_utils._k8s import init_containers as _init_containers
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects as _objects


def step_job(r, plane, name, step, config, passwords, level, extra_objects=(), volumes=None):
    """One of seed 000's Jobs, with its own ConfigMap and Secret (so that applying one step
    alone never changes another's configuration)."""
    namespace = r.namespaces[plane]
    labels = dict(_labels(r.project, plane, name, level, "jobs"), **{LABEL_STEP: by_job(name).name})
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _objects.meta(r, name + "-config", namespace, labels),
                  "data": {"config.json": json.dumps(config, sort_keys=True, indent=1)}}
    secrets = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": _objects.meta(r, name + "-credentials", namespace, labels),
                "stringData": dict(passwords)}] if passwords else []
    env = [{"name": variable, "valueFrom": {"secretKeyRef": {"name": name + "-credentials", "key": variable}}}
           for variable, _password in passwords]
    container = _init_containers.step_container(r, name, step, {"name": "ANANTA_STEP_CONFIG", "valueFrom": {
        "configMapKeyRef": {"name": name + "-config", "key": "config.json"}}}, env)
    pod = {"enableServiceLinks": False, "automountServiceAccountToken": False, "restartPolicy": "Never",
           "terminationGracePeriodSeconds": 10,
           "containers": [container]}
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": v["mountPath"], "readOnly": True} for v in volumes]
        pod["volumes"] = [{"name": v["name"], "configMap": {"name": v["configMap"]}} for v in volumes]
    if r.opts["image_pull_secrets"]:
        pod["imagePullSecrets"] = [{"name": n} for n in r.opts["image_pull_secrets"]]
    digest = _hash([pod, config, [p for _v, p in passwords], [o.get("data") for o in extra_objects]])
    template = {"metadata": {"labels": dict(labels), "annotations": {ANNOTATION_HASH: digest}}, "spec": pod}
    job = _objects.job(r, name, namespace, labels, template, int(r.opts["job_backoff_limit"]))
    wait = {"name": name, "plane": plane, "level": level, "depends_on": [],
            "readiness": {"probe": "running", "timeout": r.opts["wait_timeout"]},
            "kubernetes": {"kind": "Job", "namespace": namespace}}
    return list(extra_objects) + [config_map] + secrets + [job], wait


def step_jobs(r, plane):
    """seed 000's Jobs of the plane, from the start's step nodes (``_steps.build``, the same
    nodes the Docker start runs), one Job per node, or one for all of a grouped kind's nodes
    (the table of step kinds). [((objects, wait entry), the nodes
    the Job runs)]."""
    jobs = []
    level = min([s["level"] for s in r.services if s["plane"] == plane] or [0])
    nodes = [node for node in r.opts["steps"] if node.plane == plane]
    reached = {node.name: in_network(node, r.by_name) for node in nodes}  # (service, port, config, password)
    for node in nodes:
        service = reached[node.name][0]
        if service["plane"] != plane:
            raise CatalogError(["step %s of the %s connects to %s, of the %s: its Job runs in its plane's namespace, "
                                "where only that plane's services resolve; give the step the plane %s"
                                % (node.name, plane, service["name"], service["plane"], service["plane"])])
    for kind in KINDS.values():  # the table's order
        of_kind = [n for n in nodes if n.kind == kind.name]
        if of_kind and kind.grouped:
            jobs.append((grouped_job(r, plane, kind, of_kind, reached, level), of_kind))
            continue
        for node in of_kind:
            _service, _port, config, password = reached[node.name]
            passwords = [(kind.password_env, password)] if kind.password_env else []
            jobs.append((step_job(r, plane, kind.job, kind.verb, kind.job_config(config), passwords, level), [node]))
    return jobs


def grouped_job(r, plane, kind, nodes, reached, level):
    """One Job for all of a plane's nodes of a grouped kind (``kind.group``: the migrations, every
    database of the plane), the files it mounts in the kind's ConfigMap."""
    try:
        config, passwords, files = kind.group(nodes, reached, r.opts["migration_files"])
    except AnantaError as exc:
        raise CatalogError([exc.message])
    labels = dict(_labels(r.project, plane, kind.files_map, level, "jobs"), **{LABEL_STEP: kind.name})
    files_map = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": _objects.meta(r, kind.files_map, r.namespaces[plane], labels),
                 "data": dict(sorted(files.items()))}
    return step_job(r, plane, kind.job, kind.verb, config, passwords, level, [files_map],
                    [{"name": kind.name, "mountPath": kind.files_mount, "configMap": kind.files_map}])
