# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects of the catalog, in the phases of seed 000.

For every plane, in this order (each phase is applied, then waited for):

1. ``namespace``: the plane's Namespace, and the aliases that let its pods reach a service by the
   same name as on Docker (``ExternalName`` Services for services of the other planes, a second
   Service for an object renamed with ``kubernetes.k8s_name``).
2. ``config``: one ConfigMap per workload (``<name>-config``, e.g. cns-service-config,
   cns-worker-config) with the plain environment, the Secret ``db-credentials`` with every
   secret value (environment variables holding a credential, the init containers' probes, the
   steps' passwords), the migration files and the steps' configuration. Seed 000 applies them
   "alongside" the StatefulSets; they go first so that no pod starts without its configuration
   (which Kubernetes reports as CreateContainerConfigError).
3. ``statefulsets``: the datastores, each with its headless Service and volume claim templates.
4. ``jobs``: the catalog's Jobs (minio-init), ``db-migration`` (the collection's migration code:
   history, checksums, lock) and ``rabbitmq-stream-init`` (the collection's topology code).
5. ``level-N``: the Deployments of each level, with their Services, resources, readiness probes
   and the init containers of seed 000: ``wait-for-schema`` (the tables a service needs) and
   ``wait-for-dependencies`` (its dependencies answering, in-cluster), both running the
   collection's probes from the step image.

Pure functions of the catalog: nothing here talks to a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.ananta.platform.plugins.module_utils import _catalog
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._k8s_rules import (  # noqa: F401  (object_name: part of this API)
    DEFAULT_PLANE_NAMESPACES, kind_of, object_name, object_namespace,
)

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
    "plane_namespaces": DEFAULT_PLANE_NAMESPACES,
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
    "migrations": [],
    "databases": {},
    "topology": None,
    "temporal": None,
    "networks": None,
    "steps": ("namespaces", "migrations", "streams"),
    "gate_interval": 1,
}
# Seed 000's step Jobs: name -> the step (start_platform's tag) it runs.
STEP_JOBS = {"temporal-namespace-init": "namespaces", "db-migration": "migrations", "rabbitmq-stream-init": "streams"}
# Every container of the platform and its steps: no privilege, no escalation, no added capability.
CONTAINER_SECURITY = {"privileged": False, "allowPrivilegeEscalation": False}
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


class Renderer:
    """Renders the objects of the given planes; ``render()`` returns the phases in order."""

    def __init__(self, services, **options):
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown rendering options: %s" % ", ".join(sorted(unknown)))
        self.opts = dict(DEFAULTS, **{k: v for k, v in options.items() if v is not None})
        self.services = list(services)
        _catalog.validate(self.services)
        self.by_name = {s["name"]: s for s in self.services}
        self.namespaces = dict(DEFAULT_PLANE_NAMESPACES, **(self.opts["plane_namespaces"] or {}))
        self.project = self.opts["project"]
        self.secret_values = {v for v in _catalog.secret_values(self.services) if v}
        for database in (self.opts["databases"] or {}).values():
            if database.get("password"):
                self.secret_values.add(str(database["password"]))
        if (self.opts["topology"] or {}).get("password"):
            self.secret_values.add(str(self.opts["topology"]["password"]))
        self.host_ports = _catalog.host_ports(self.services)
        self._template_hashes = {}  # service -> its pod template's checksum
        self._check_kinds()

    # ------------------------------------------------------------------ checks
    def _check_kinds(self):
        """Seed 000's phases start StatefulSets, then Jobs, then Deployments: a workload may
        only depend on what an earlier (or its own) phase starts."""
        rank = {"StatefulSet": 0, "Job": 1, "Deployment": 2}
        problems = []
        for svc in self.services:
            if not svc.get("kubernetes"):
                problems.append("service %r has no 'kubernetes' entry (kind: StatefulSet, Deployment or Job)" % svc["name"])
                continue
            for dep in svc.get("depends_on") or []:
                other = self.by_name[dep]
                if other.get("kubernetes") and rank[kind_of(other)] > rank[kind_of(svc)] and other["plane"] == svc["plane"]:
                    problems.append("service %r (%s) depends on %r (%s), which seed 000's phases start later" % (
                        svc["name"], kind_of(svc), dep, kind_of(other)))
            try:
                _volumes(svc)
            except CatalogError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CatalogError(problems)

    # ------------------------------------------------------------------ helpers
    def namespace_of(self, svc):
        return object_namespace(svc, self.namespaces)

    def _is_secret(self, key, value):
        text = str(value)
        if _catalog.SECRET_KEY_RE.search(str(key)) and text:
            return True
        return any(secret in text for secret in self.secret_values if len(secret) >= 3)

    def _secret_key(self, name, key):
        return "%s.%s" % (name, key)

    def _pod_env(self, svc, secret_data):
        """envFrom the workload's ConfigMap, secret variables from db-credentials."""
        name = object_name(svc)
        plain, env = {}, []
        for key, value in (svc.get("env") or {}).items():
            value = "" if value is None else str(value)
            if self._is_secret(key, value):
                secret_data[self._secret_key(name, key)] = value
                env.append({"name": str(key), "valueFrom": {"secretKeyRef": {
                    "name": self.opts["secret_name"], "key": self._secret_key(name, key)}}})
            else:
                plain[str(key)] = value
        return plain, env

    def in_cluster_probe(self, spec):
        """A probe spec written for the controller (published host ports) as a pod reaches it:
        the service's name and its container port. None when it cannot be run in a pod."""
        if not isinstance(spec, dict) or spec.get("probe") not in IN_CLUSTER_PROBES:
            return None
        spec = dict(spec)
        if spec.get("url"):
            match = re.match(r"^(\w+)://([^/:]+):(\d+)(.*)$", spec["url"])
            if match and int(match.group(3)) in self.host_ports:
                svc, container = self.host_ports[int(match.group(3))]
                spec["url"] = "%s://%s:%d%s" % (match.group(1), svc["name"], container, match.group(4))
            return spec
        if spec.get("host"):
            return spec
        port = spec.get("port")
        if port is None or int(port) not in self.host_ports:
            return None
        svc, container = self.host_ports[int(port)]
        spec["host"], spec["port"] = svc["name"], container
        spec.pop("timeout", None)
        return spec

    def _dependency_probe(self, dep):
        probe = self.in_cluster_probe(dep.get("readiness"))
        if probe is not None:
            return probe
        if kind_of(dep) == "Job":
            return None  # a Job has finished before the phases that may depend on it start
        ports = _container_ports(dep)
        if ports:
            return {"probe": "tcp", "host": dep["name"], "port": ports[0]["containerPort"]}
        return None

    def _step_container(self, name, step, config_ref, extra_env=None):
        env = [{"name": "PYTHONPATH", "value": self.opts["step_collections_path"]}, config_ref] + list(extra_env or [])
        return {"name": name, "image": self.opts["step_image"], "imagePullPolicy": self.opts["image_pull_policy"],
                "command": ["python3", "%s/%s" % (self.opts["step_collections_path"], STEP_SCRIPT), step],
                "env": env, "securityContext": dict(STEP_SECURITY),
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}

    def _init_containers(self, svc, secret_data):
        """Seed 000's init containers: wait-for-schema (tables), wait-for-dependencies (the rest)."""
        name = object_name(svc)
        schema, dependencies = [], []
        for gate in svc.get("start_after") or []:
            probe = self.in_cluster_probe(gate)
            if probe is None:
                continue
            (schema if probe.get("probe") == "postgres" and probe.get("tables") else dependencies).append(probe)
        for dep_name in svc.get("depends_on") or []:
            probe = self._dependency_probe(self.by_name[dep_name])
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
            secret_data[key] = json.dumps({"what": "%s of %s" % (container, svc["name"]), "probes": probes,
                                           "timeout": int((svc.get("kubernetes") or {}).get("gate_timeout")
                                                          or self.opts["wait_timeout"]),
                                           "interval": self.opts["gate_interval"]})
            containers.append(self._step_container(container, "wait", {
                "name": "ANANTA_STEP_CONFIG",
                "valueFrom": {"secretKeyRef": {"name": self.opts["secret_name"], "key": key}}}))
        return containers

    def _probe_handler(self, svc):
        """The catalog's healthcheck as a probe handler (exec), else its readiness probe as
        httpGet or tcpSocket on a container port; None when neither can run in a pod."""
        test = (svc.get("healthcheck") or {}).get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if test and test[0] == "CMD":
            return {"exec": {"command": [str(t) for t in test[1:]]}}
        if test and test[0] == "CMD-SHELL":
            return {"exec": {"command": ["/bin/sh", "-c", " ".join(str(t) for t in test[1:])]}}
        readiness = self.in_cluster_probe(svc.get("readiness")) or {}
        ports = {p["containerPort"] for p in _container_ports(svc)}
        if readiness.get("probe") == "http" and readiness.get("port") in ports:
            return {"httpGet": {"path": readiness.get("path", "/"), "port": readiness["port"]}}
        if readiness.get("probe") in ("tcp", "postgres", "redis", "amqp", "temporal") and readiness.get("port") in ports:
            return {"tcpSocket": {"port": readiness["port"]}}
        return None

    def _probes(self, svc):
        """readinessProbe, startupProbe and livenessProbe from the catalog's healthcheck.

        The startup probe gives the service its readiness budget (the catalog's
        ``readiness.timeout``, else the healthcheck's start period, else 300 s) to come up;
        only then does the liveness probe watch it (every 10 s or the healthcheck's interval,
        whichever is longer; restarted after ``retries`` failures in a row), so that a slow
        boot is never killed and a hung service is."""
        handler = self._probe_handler(svc)
        if handler is None:
            return {}
        health = svc.get("healthcheck") or {}
        period = _seconds(health.get("interval"), 5)
        timeout = _seconds(health.get("timeout"), 5)
        retries = int(health.get("retries") or 3)
        budget = _seconds((svc.get("readiness") or {}).get("timeout")) or _seconds(health.get("start_period")) or 300
        return {
            "readinessProbe": dict(handler, periodSeconds=period, timeoutSeconds=timeout, failureThreshold=retries),
            "startupProbe": dict(handler, periodSeconds=period, timeoutSeconds=timeout,
                                 failureThreshold=max(retries, -(-budget // period))),
            "livenessProbe": dict(handler, periodSeconds=max(10, period), timeoutSeconds=timeout,
                                  failureThreshold=max(3, retries)),
        }

    def _resources(self, svc):
        """The service's resources over the defaults, so that every container has both requests and limits."""
        own = (svc.get("kubernetes") or {}).get("resources") or {}
        defaults = self.opts["default_resources"] or DEFAULTS["default_resources"]
        return {part: dict(defaults.get(part) or {}, **(own.get(part) or {})) for part in ("requests", "limits")}

    def _container(self, svc, secret_data, config_maps):
        name = object_name(svc)
        plain, env = self._pod_env(svc, secret_data)
        container = {"name": name, "image": svc["image"], "imagePullPolicy": self.opts["image_pull_policy"]}
        if svc.get("command"):
            command = svc["command"]
            container["args"] = [str(c) for c in (command if isinstance(command, list) else ["/bin/sh", "-c", command])]
        ports = _container_ports(svc)
        if ports:
            container["ports"] = ports
        if plain:
            config_maps[name + "-config"] = plain
            container["envFrom"] = [{"configMapRef": {"name": name + "-config"}}]
        if env:
            container["env"] = env
        container.update(self._probes(svc))
        container["resources"] = self._resources(svc)
        container["securityContext"] = dict(CONTAINER_SECURITY)
        mounts = [{"name": volume, "mountPath": path, "subPath": "data", "readOnly": read_only}
                  for volume, path, read_only in _volumes(svc)]
        if mounts:
            for mount in mounts:
                if not mount["readOnly"]:
                    del mount["readOnly"]
            container["volumeMounts"] = mounts
        return container

    def _pod_spec(self, svc, secret_data, config_maps, restart="Always"):
        # the platform's pods do not talk to the Kubernetes API: no token in them
        spec = {"enableServiceLinks": False, "automountServiceAccountToken": False, "restartPolicy": restart,
                # as long as Docker gives a container to stop (the catalog's stop_grace_period, else 10 s)
                "terminationGracePeriodSeconds": _seconds(svc.get("stop_grace_period"), 10)}
        init = self._init_containers(svc, secret_data)
        if init:
            spec["initContainers"] = init
        spec["containers"] = [self._container(svc, secret_data, config_maps)]
        if self.opts["image_pull_secrets"]:
            spec["imagePullSecrets"] = [{"name": n} for n in self.opts["image_pull_secrets"]]
        return spec

    def _meta(self, name, namespace, labels, annotations=None):
        meta = {"name": name, "namespace": namespace, "labels": labels}
        if annotations:
            meta["annotations"] = annotations
        return meta

    def _service(self, svc, name=None, headless=False):
        ports = _container_ports(svc)
        if not ports:
            return None
        spec = {"selector": _selector(self.project, object_name(svc)),
                "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"],
                           "protocol": p["protocol"]} for p in ports]}
        if headless:
            spec["clusterIP"] = "None"
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": self._meta(name or object_name(svc), self.namespace_of(svc),
                                       _labels(self.project, svc["plane"], object_name(svc), svc.get("level"))),
                "spec": spec}

    # ------------------------------------------------------------------ workloads
    def _workload(self, svc, secret_data, config_maps):
        kind = kind_of(svc)
        name, namespace = object_name(svc), self.namespace_of(svc)
        kube = svc.get("kubernetes") or {}
        labels = _labels(self.project, svc["plane"], name, svc.get("level"))
        template_meta = {"labels": dict(labels)}
        restart = "Never" if kind == "Job" else "Always"
        pod = self._pod_spec(svc, secret_data, config_maps, restart)
        own_secrets = {k: v for k, v in secret_data.items() if k.startswith(name + ".")}
        # a changed ConfigMap or Secret value rolls the pods (their template changes); so does a
        # change of a dependency it declares in restart_with (compose's restart: true), whose
        # phase comes first: it rolls after that dependency is ready
        hashed = [pod, config_maps.get(name + "-config"), own_secrets]
        if svc.get("restart_with"):
            hashed.append([self.template_hash(self.by_name[dep]) for dep in svc["restart_with"]])
        template_meta["annotations"] = {ANNOTATION_HASH: _hash(hashed)}
        self._template_hashes[svc["name"]] = template_meta["annotations"][ANNOTATION_HASH]
        template = {"metadata": template_meta, "spec": pod}
        objects = []
        if kind == "StatefulSet":
            claims = [{"metadata": {"name": volume, "labels": _labels(self.project, svc["plane"], name)},
                       "spec": self._claim_spec(kube)} for volume, _path, _ro in _volumes(svc)]
            headless = self._service(svc, headless=True)
            if headless is None:  # a StatefulSet needs its governing Service
                headless = {"apiVersion": "v1", "kind": "Service",
                            "metadata": self._meta(name, namespace, labels),
                            "spec": {"clusterIP": "None", "selector": _selector(self.project, name)}}
            objects.append(headless)
            spec = {"serviceName": name, "replicas": int(kube.get("replicas", 1)),
                    "selector": {"matchLabels": _selector(self.project, name)}, "template": template}
            if claims:
                spec["volumeClaimTemplates"] = claims
            objects.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": self._meta(name, namespace, labels),
                            "spec": spec})
        elif kind == "Deployment":
            volumes = _volumes(svc)
            for volume, _path, _ro in volumes:
                objects.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                "metadata": self._meta(volume, namespace, _labels(self.project, svc["plane"], name)),
                                "spec": self._claim_spec(kube)})
            if volumes:
                pod["volumes"] = [{"name": v, "persistentVolumeClaim": {"claimName": v}} for v, _p, _r in volumes]
            spec = {"replicas": int(kube.get("replicas", 1)), "selector": {"matchLabels": _selector(self.project, name)},
                    "template": template}
            if volumes:
                spec["strategy"] = {"type": "Recreate"}  # a ReadWriteOnce claim is held by one pod at a time
            objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self._meta(name, namespace, labels),
                            "spec": spec})
            service = self._service(svc)
            if service:
                objects.append(service)
        else:
            objects.append(self._job(name, namespace, labels, template, int(kube.get("backoff_limit", 2))))
        if name != svc["name"] and kind != "Job":
            alias = self._service(svc, name=svc["name"])
            if alias:
                objects.append(alias)
        return objects

    def template_hash(self, svc):
        """The checksum on ``svc``'s pod template (its configuration, and that of what it
        restarts with), rendered on its own when its plane is not being rendered."""
        if svc["name"] not in self._template_hashes:
            self._workload(svc, {}, {})
        return self._template_hashes[svc["name"]]

    def _job(self, name, namespace, labels, template, backoff_limit):
        template["spec"]["restartPolicy"] = "Never"  # failed pods stay, with their logs
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": self._meta(name, namespace, labels, {ANNOTATION_HASH: template["metadata"]["annotations"][ANNOTATION_HASH]}),
                "spec": {"backoffLimit": backoff_limit, "template": template}}

    def _claim_spec(self, kube):
        spec = {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": str(kube.get("storage") or self.opts["default_storage"])}}}
        storage_class = kube.get("storage_class") or self.opts["storage_class"]
        if storage_class:
            spec["storageClassName"] = storage_class
        return spec

    # ------------------------------------------------------------------ steps (seed 000's Jobs)
    def _step_job(self, plane, name, step, config, passwords, level, extra_objects=(), volumes=None):
        """One of seed 000's Jobs, with its own ConfigMap and Secret (so that applying one step
        alone never changes another's configuration)."""
        namespace = self.namespaces[plane]
        labels = dict(_labels(self.project, plane, name, level, "jobs"), **{LABEL_STEP: STEP_JOBS[name]})
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta(name + "-config", namespace, labels),
                      "data": {"config.json": json.dumps(config, sort_keys=True, indent=1)}}
        secrets = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": self._meta(name + "-credentials", namespace, labels),
                    "stringData": dict(passwords)}] if passwords else []
        env = [{"name": variable, "valueFrom": {"secretKeyRef": {"name": name + "-credentials", "key": variable}}}
               for variable, _password in passwords]
        container = self._step_container(name, step, {"name": "ANANTA_STEP_CONFIG", "valueFrom": {
            "configMapKeyRef": {"name": name + "-config", "key": "config.json"}}}, env)
        pod = {"enableServiceLinks": False, "automountServiceAccountToken": False, "restartPolicy": "Never",
               "terminationGracePeriodSeconds": 10,
               "containers": [container]}
        if volumes:
            container["volumeMounts"] = [{"name": v["name"], "mountPath": v["mountPath"], "readOnly": True} for v in volumes]
            pod["volumes"] = [{"name": v["name"], "configMap": {"name": v["configMap"]}} for v in volumes]
        if self.opts["image_pull_secrets"]:
            pod["imagePullSecrets"] = [{"name": n} for n in self.opts["image_pull_secrets"]]
        digest = _hash([pod, config, [p for _v, p in passwords], [o.get("data") for o in extra_objects]])
        template = {"metadata": {"labels": dict(labels), "annotations": {ANNOTATION_HASH: digest}}, "spec": pod}
        job = self._job(name, namespace, labels, template, int(self.opts["job_backoff_limit"]))
        wait = {"name": name, "plane": plane, "level": level, "depends_on": [],
                "readiness": {"probe": "running", "timeout": self.opts["wait_timeout"]},
                "kubernetes": {"kind": "Job", "namespace": namespace}}
        return list(extra_objects) + [config_map] + secrets + [job], wait

    def _steps(self, plane):
        """seed 000's Jobs of the plane: [(objects, wait entry)]."""
        jobs = []
        level = min([s["level"] for s in self.services if s["plane"] == plane] or [0])
        temporal = self.opts["temporal"] or {}
        if "namespaces" in self.opts["steps"] and temporal.get("namespaces"):
            server = self.by_name.get(temporal.get("service") or "shared-temporal")
            if server is not None and server["plane"] == plane:
                config = {"address": "%s:%d" % (server["name"], self._container_port(server, 7233)),
                          "namespaces": temporal["namespaces"], "wait": 300}
                jobs.append(self._step_job(plane, "temporal-namespace-init", "namespaces", config, [], level))
        if "migrations" in self.opts["steps"]:
            databases, passwords, files = [], [], {}
            for db_name, database in sorted((self.opts["databases"] or {}).items()):
                service = self.by_name.get(database.get("service"))
                if service is None or database.get("plane", service["plane"]) != plane:
                    continue
                entries = [{k: v for k, v in m.items() if k != "database"} for m in self.opts["migrations"]
                           if m.get("database") == db_name]
                if not entries:
                    continue
                variable = "PGPASSWORD_%s" % re.sub(r"[^A-Z0-9]", "_", db_name.upper())
                databases.append({"name": db_name, "host": service["name"], "port": self._container_port(service, 5432),
                                  "user": database.get("user", "postgres"), "dbname": database["dbname"],
                                  "password_env": variable, "migrations": entries})
                passwords.append((variable, str(database.get("password", ""))))
                for entry in entries:
                    if entry["file"] in self.opts["migration_files"]:
                        files[entry["file"]] = self.opts["migration_files"][entry["file"]]
                    elif not entry.get("skip"):
                        raise CatalogError(["migration %s (%s) of database %s: the file is missing" % (
                            entry.get("version"), entry["file"], db_name)])
            if databases:
                labels = dict(_labels(self.project, plane, "ananta-migrations", level, "jobs"), **{LABEL_STEP: "migrations"})
                files_map = {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": self._meta("ananta-migrations", self.namespaces[plane], labels),
                             "data": dict(sorted(files.items()))}
                jobs.append(self._step_job(plane, "db-migration", "migrate",
                                           {"path": "/migrations", "databases": databases, "lock_timeout": 300, "wait": 300},
                                           passwords, level, [files_map],
                                           [{"name": "migrations", "mountPath": "/migrations", "configMap": "ananta-migrations"}]))
        topology = self.opts["topology"]
        if "streams" in self.opts["steps"] and topology and (topology.get("exchanges") or topology.get("queues")):
            broker = self.by_name.get(topology.get("service", ""))
            if broker is not None and broker["plane"] == plane:
                config = {"host": broker["name"], "port": self._container_port(broker, 5672),
                          "user": topology.get("user", "guest"), "vhost": topology.get("vhost", "/"),
                          "management_url": "http://%s:%d" % (broker["name"], self._container_port(broker, 15672)),
                          "exchanges": topology.get("exchanges") or [], "queues": topology.get("queues") or [],
                          "bindings": topology.get("bindings") or [], "wait": 300}
                jobs.append(self._step_job(plane, "rabbitmq-stream-init", "topology", config,
                                           [("RABBITMQ_PASSWORD", str(topology.get("password", "guest")))], level))
        return jobs

    @staticmethod
    def _container_port(svc, default):
        ports = [p["containerPort"] for p in _container_ports(svc)]
        return default if default in ports or not ports else ports[0]

    # ------------------------------------------------------------------ aliases
    def _aliases(self, plane):
        """Services that make the names pods use on Docker resolve in this plane's namespace."""
        namespace = self.namespaces[plane]
        local = {object_name(s) for s in self.services if s["plane"] == plane}
        local |= {s["name"] for s in self.services if s["plane"] == plane}
        texts = []
        for svc in self.services:
            if svc["plane"] != plane:
                continue
            texts.extend(str(v) for v in (svc.get("env") or {}).values())
            texts.extend(json.dumps(g) for g in svc.get("start_after") or [])
        referenced = " ".join(texts)
        members = [s for s in self.services if s["plane"] == plane]
        depended_on = {d for s in members for d in s.get("depends_on") or []}
        gated_on = {self.host_ports[int(g["port"])][0]["name"] for s in members for g in s.get("start_after") or []
                    if isinstance(g, dict) and g.get("port") and not g.get("host") and int(g["port"]) in self.host_ports}
        aliases = []
        for other in self.services:
            if other["plane"] == plane or other["name"] in local or not _container_ports(other):
                continue
            used = other["name"] in depended_on or other["name"] in gated_on
            used = used or re.search(r"(?<![a-z0-9.-])%s(?![a-z0-9-])" % re.escape(other["name"]), referenced) is not None
            if not used:
                continue
            target = "%s.%s.svc.%s" % (object_name(other), self.namespace_of(other), self.opts["cluster_domain"])
            aliases.append({"apiVersion": "v1", "kind": "Service",
                            "metadata": self._meta(other["name"], namespace, _labels(self.project, plane, other["name"])),
                            "spec": {"type": "ExternalName", "externalName": target,
                                     "ports": [{"name": p["name"], "port": p["containerPort"], "protocol": p["protocol"]}
                                               for p in _container_ports(other)]}})
        return aliases

    # ------------------------------------------------------------------ network policies
    def _networks_of(self, svc):
        """The Docker networks a service joins: its own, else its plane's."""
        own = svc.get("networks")
        if own:
            return set(own)
        return {n["name"] for n in self.opts["networks"] or [] if n.get("plane") == svc["plane"]}

    def network_policies(self, plane):
        """The Docker networks' segmentation as NetworkPolicies of the plane's namespace: nothing
        reaches a pod but the pods of the services that share a Docker network with it (in any
        plane's namespace) and the plane's own step Jobs. None without ``networks``."""
        if not self.opts["networks"]:
            return []
        namespace = self.namespaces[plane]
        policies = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": self._meta("ananta-default-deny-ingress", namespace,
                                            _labels(self.project, plane, "ananta-default-deny-ingress")),
                     "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]
        for svc in self.services:
            if svc["plane"] != plane:
                continue
            networks = self._networks_of(svc)
            peers_by_namespace = {}
            for other in self.services:
                if other is not svc and networks & self._networks_of(other):
                    peers_by_namespace.setdefault(self.namespace_of(other), set()).add(object_name(other))
            sources = [{"podSelector": {"matchExpressions": [{"key": LABEL_STEP, "operator": "Exists"}]}}]
            for other_namespace, names in sorted(peers_by_namespace.items()):
                pods = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": sorted(names)}]}
                if other_namespace == self.namespace_of(svc):
                    sources.append({"podSelector": pods})
                else:
                    sources.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other_namespace}},
                                    "podSelector": pods})
            name = object_name(svc)
            policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                             "metadata": self._meta(name + "-ingress", self.namespace_of(svc),
                                                    _labels(self.project, plane, name, svc.get("level"))),
                             "spec": {"podSelector": {"matchLabels": _selector(self.project, name)},
                                      "policyTypes": ["Ingress"], "ingress": [{"from": sources}]}})
        return policies

    # ------------------------------------------------------------------ phases
    def render(self, planes=None, steps_only=False):
        """The phases of the given planes, in order. ``steps_only``: just the step Jobs (with
        their own ConfigMaps and Secrets), for a run of the migrations or streams step alone."""
        planes = [p for p in _catalog.PLANES if planes is None or p in planes]
        phases = []
        for plane in planes:
            members = [s for s in self.services if s["plane"] == plane]
            if not members:
                continue
            step_jobs = self._steps(plane)
            if steps_only:
                phases.append(self._phase(plane, "jobs", [o for objects, _w in step_jobs for o in objects],
                                          [w for _o, w in step_jobs], secret=bool(step_jobs)))
                continue
            namespace = self.namespaces[plane]
            secret_data, config_maps = {}, {}
            workloads = {s["name"]: self._workload(s, secret_data, config_maps) for s in members}
            ns_labels = {LABEL_PROJECT: self.project, LABEL_PLANE: plane.replace("_", "-"),
                         "app.kubernetes.io/part-of": "ananta-platform"}
            ns_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}}
            phases.append(self._phase(plane, "namespace", [ns_object] + self._aliases(plane) + self.network_policies(plane), []))
            config = [{"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": self._meta(name, namespace, _labels(self.project, plane, name, phase="config")),
                       "data": data} for name, data in sorted(config_maps.items())]
            if secret_data:
                config.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": self._meta(self.opts["secret_name"], namespace,
                                                      _labels(self.project, plane, self.opts["secret_name"], phase="config")),
                               "stringData": dict(sorted(secret_data.items()))})
            phases.append(self._phase(plane, "config", config, [], secret=bool(secret_data)))
            stateful = [s for s in members if kind_of(s) == "StatefulSet"]
            phases.append(self._phase(plane, "statefulsets", [o for s in stateful for o in workloads[s["name"]]],
                                      [self._wait_entry(s) for s in stateful]))
            jobs = [s for s in members if kind_of(s) == "Job"]
            phases.append(self._phase(plane, "jobs", [o for s in jobs for o in workloads[s["name"]]]
                                      + [o for objects, _w in step_jobs for o in objects],
                                      [self._wait_entry(s) for s in jobs] + [w for _o, w in step_jobs],
                                      secret=bool(step_jobs)))
            for level in sorted({s["level"] for s in members if kind_of(s) == "Deployment"}):
                deployments = [s for s in members if kind_of(s) == "Deployment" and s["level"] == level]
                phases.append(self._phase(plane, "level-%d" % level, [o for s in deployments for o in workloads[s["name"]]],
                                          [self._wait_entry(s) for s in deployments], level=level))
        for phase in phases:
            phase["external"] = self._external(phase)
            phase["job_hashes"] = {o["metadata"]["name"]: o["metadata"]["annotations"][ANNOTATION_HASH]
                                   for o in phase["objects"] if o["kind"] == "Job"}
        return [p for p in phases if p["objects"]]

    def _wait_entry(self, svc):
        entry = dict(svc)
        readiness = dict(svc.get("readiness") or {"probe": "running"})
        readiness["timeout"] = max(float(readiness.get("timeout") or 0), float(self.opts["wait_timeout"]))
        entry["readiness"] = readiness
        entry["kubernetes"] = dict(svc.get("kubernetes") or {}, namespace=self.namespace_of(svc))
        return entry

    def _external(self, phase):
        """Services of other planes the phase's workloads depend on (waited for before the phase)."""
        names = {w["name"] for w in phase["waits"]}
        found = []
        for name in sorted(names):
            for dep in (self.by_name.get(name) or {}).get("depends_on") or []:
                other = self.by_name[dep]
                if other["plane"] != phase["plane"] and dep not in found:
                    found.append(dep)
        return [self._wait_entry(self.by_name[d]) for d in found]

    def _phase(self, plane, name, objects, waits, secret=False, level=None):
        return {"name": "%s/%s" % (plane, name), "plane": plane, "phase": name, "level": level,
                "namespace": self.namespaces[plane], "objects": objects, "waits": waits, "secret": secret}


def plan_lines(phases):
    lines = []
    for number, phase in enumerate(phases, 1):
        lines.append("%2d. %s" % (number, phase["name"]))
        for obj in phase["objects"]:
            meta = obj["metadata"]
            where = "%s/%s" % (meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"]
            lines.append("      %-22s %s" % (obj["kind"], where))
        if phase["waits"]:
            lines.append("      wait for: %s" % ", ".join(w["name"] for w in phase["waits"]))
    return lines


def stop_phases(phases):
    """The phases in stop order (reverse), each with the objects a stop deletes: workloads and
    their Services. Namespaces (and their alias Services), ConfigMaps, Secrets and volume claims
    stay (the claims go only when asked, by label)."""
    kept = ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "NetworkPolicy")
    stops = []
    for phase in reversed(phases):
        if phase["phase"] in ("namespace", "config"):
            continue
        objects = [o for o in phase["objects"] if o["kind"] not in kept]
        if objects:
            stops.append(dict(phase, objects=objects))
    return stops


def read_migration_files(path, migrations):
    files = {}
    for entry in migrations or []:
        full = os.path.join(path, entry["file"])
        if os.path.exists(full):
            with open(full, encoding="utf-8") as handle:
                files[entry["file"]] = handle.read()
    return files
