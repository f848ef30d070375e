# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed 000's step Jobs."""

from __future__ import annotations

import json
import re

from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    ANNOTATION_HASH, LABEL_STEP, STEP_JOBS, _hash, _labels, container_port,
)
from ansible_collections.ananta.platform.plugins.module_utils._steps import plane_databases


class JobsMixin:
    """Seed 000's step Jobs (namespaces, migrations, streams), each with its own ConfigMap and Secret."""

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
                config = {"address": "%s:%d" % (server["name"], container_port(server, 7233)),
                          "namespaces": temporal["namespaces"], "wait": 300}
                jobs.append(self._step_job(plane, "temporal-namespace-init", "namespaces", config, [], level))
        if "migrations" in self.opts["steps"]:
            databases, passwords, files = [], [], {}
            for db_name, database, entries in plane_databases(plane, self.opts["databases"], self.opts["migrations"],
                                                              self.by_name):
                service = self.by_name.get(database.get("service"))
                if service is None:
                    continue
                entries = [{k: v for k, v in m.items() if k != "database"} for m in entries]
                variable = "PGPASSWORD_%s" % re.sub(r"[^A-Z0-9]", "_", db_name.upper())
                databases.append({"name": db_name, "host": service["name"], "port": container_port(service, 5432),
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
                config = {"host": broker["name"], "port": container_port(broker, 5672),
                          "user": topology.get("user", "guest"), "vhost": topology.get("vhost", "/"),
                          "management_url": "http://%s:%d" % (broker["name"], container_port(broker, 15672)),
                          "exchanges": topology.get("exchanges") or [], "queues": topology.get("queues") or [],
                          "bindings": topology.get("bindings") or [], "wait": 300}
                jobs.append(self._step_job(plane, "rabbitmq-stream-init", "topology", config,
                                           [("RABBITMQ_PASSWORD", str(topology.get("password", "guest")))], level))
        return jobs
