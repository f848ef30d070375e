# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's backup on a cluster: a Job in the database's namespace, on the database's own
image (its own pg_dump and pg_restore), writing to the volume claim ``ananta-backups``
(created when missing). The backup is ``pg_dump -Fc`` to ``<file>.partial``, checked with
``pg_restore --list``, then renamed (mode 0600); the Job's last log line says its size, its
SHA-256 and its entries. A restore is a Job that restores the file into a new database in one
transaction, then swaps the names while the database refuses connections (what the Docker
host's restore does); the workloads that use the database are scaled to none first and back
after, each waited for.

The password travels in a Secret of the Job's own, removed with the Job; each Job has a
deadline (``activeDeadlineSeconds``) and the wait for it one too."""

from __future__ import annotations

import re
import time

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._pg_scripts import (
    DUMP, RESTORE, RESULT, plain_name, restore_names, result_of,
)
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name, object_namespace

CLAIM = "ananta-backups"
MOUNT = "/backups"
LABEL = "ananta.platform/backup"


class ClusterBackup:
    """One database of the catalog, reached by its Service in its namespace."""

    def __init__(self, api, logs, service, database, plane_namespaces=None, timeout=600, storage="5Gi",
                 storage_class=None, image_pull_policy="IfNotPresent", project="ananta", clock=time.monotonic, port=5432):
        self.api = api
        self.logs = logs  # (wait entry, lines) -> the Job's log
        self.service = service
        self.database = database
        self.plane_namespaces = plane_namespaces or {}
        self.namespace = object_namespace(service, self.plane_namespaces)
        self.host = object_name(service)
        self.timeout = int(timeout)
        self.storage = storage
        self.storage_class = storage_class
        self.pull = image_pull_policy
        self.project = project
        self.clock = clock
        self.port = int(port)  # PostgreSQL's port inside the pod (_release.database_target)
        self.where = "database %s (%s in %s)" % (database.get("dbname"), self.host, self.namespace)
        self.dbname = plain_name(database.get("dbname"), self.where)

    def _claim(self):
        if self.api.read("PersistentVolumeClaim", self.namespace, CLAIM) is not None:
            return
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.storage}}}
        if self.storage_class:
            spec["storageClassName"] = self.storage_class
        self.api.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": CLAIM, "namespace": self.namespace,
                                     "labels": {"ananta.platform/project": self.project, LABEL: "volume"}},
                        "spec": spec})

    def _job(self, name, script, env):
        """Run ``script`` in a Job on the database's image; its result line, or an error naming
        the Job's log."""
        secret = name + "-credentials"
        labels = {"ananta.platform/project": self.project, LABEL: name}
        self.api.delete("Job", self.namespace, name, propagation="Background")
        self.api.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                        "metadata": {"name": secret, "namespace": self.namespace, "labels": labels},
                        "stringData": {"PGPASSWORD": str(self.database.get("password") or "")}})
        variables = dict(env, MOUNT=MOUNT, CLAIM=CLAIM, PGHOST=self.host, PGPORT=str(self.port),
                         PGUSER=str(self.database.get("user") or "postgres"), PGDATABASE=self.dbname)
        container = {"name": "backup", "image": self.service["image"], "imagePullPolicy": self.pull,
                     "command": ["/bin/sh", "-c", script],
                     "env": [{"name": k, "value": v} for k, v in sorted(variables.items())]
                     + [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "PGPASSWORD"}}}],
                     "volumeMounts": [{"name": "backups", "mountPath": MOUNT}]}
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
               "spec": {"backoffLimit": 0, "activeDeadlineSeconds": self.timeout,
                        "template": {"metadata": {"labels": labels},
                                     "spec": {"restartPolicy": "Never", "enableServiceLinks": False,
                                              "automountServiceAccountToken": False, "containers": [container],
                                              "volumes": [{"name": "backups",
                                                           "persistentVolumeClaim": {"claimName": CLAIM}}]}}}}
        try:
            self._wait_gone(name)
            self.api.apply(job)
            outcome = self._wait(name)
        finally:
            self.api.delete("Secret", self.namespace, secret)
        return outcome

    def _wait_gone(self, name):
        """A Job of the same name from an earlier call, deleted above, gone before the new one."""
        began = self.clock()
        while self.api.read("Job", self.namespace, name) is not None:
            if self.clock() - began > 60:
                raise AnantaError("%s: the Job %s of an earlier run is still being deleted after 60s" % (self.where, name))
            time.sleep(0.5)

    def _wait(self, name):
        began, wait = self.clock(), {"name": name, "kubernetes": {"kind": "Job", "namespace": self.namespace}}
        while True:
            job = self.api.read("Job", self.namespace, name) or {}
            conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
            if "Complete" in conditions or "Failed" in conditions:
                lines = self.logs(wait, 30)
                if "Complete" in conditions and any(RESULT in line for line in lines):
                    self.api.delete("Job", self.namespace, name, propagation="Background")
                    return result_of(lines, self.where)
                reason = (conditions.get("Failed") or {}).get("message") or "it ended without its result line"
                raise AnantaError("%s: the Job %s/%s failed (%s); its log ends:\n%s" % (
                    self.where, self.namespace, name, reason, "\n".join(lines[-15:]) or "(empty)"))
            if self.clock() - began > self.timeout + 60:
                raise AnantaError("%s: the Job %s/%s did not finish within %ds" % (self.where, self.namespace, name,
                                                                                   self.timeout + 60))
            time.sleep(1.0)

    def dump(self, file):
        """The backup, written to ``file`` on the volume claim: ``{path, size, sha256, entries}``."""
        self._claim()
        return dict(self._job(_job_name("backup", self.dbname), DUMP, {"FILE": file}), claim=CLAIM, namespace=self.namespace)

    def restore(self, file, users):
        """Restore ``file`` of the volume claim, the workloads ``users`` (catalog entries) scaled
        to none first and back after, each waited for: ``{entries, paused}``."""
        paused = self._pause(users)
        try:
            outcome = self._job(_job_name("restore", self.dbname), RESTORE, dict(restore_names(self.dbname), FILE=file))
        finally:
            self._resume(paused)
        return dict(outcome, paused=[name for name, _kind, _ns, _replicas in paused])

    def _pause(self, users):
        paused = []
        for svc in users:
            kind = kind_of(svc)
            if kind not in ("Deployment", "StatefulSet"):
                continue
            namespace, name = object_namespace(svc, self.plane_namespaces), object_name(svc)
            obj = self.api.read(kind, namespace, name)
            if obj is None:
                continue
            replicas = int((obj.get("spec") or {}).get("replicas") or 0)
            self.api.json_patch(obj, [{"op": "replace", "path": "/spec/replicas", "value": 0}])
            paused.append((name, kind, namespace, replicas))
        began = self.clock()
        for name, kind, namespace, _replicas in paused:
            while int(((self.api.read(kind, namespace, name) or {}).get("status") or {}).get("replicas") or 0) > 0:
                if self.clock() - began > 300:
                    raise AnantaError("%s: %s %s/%s still has pods 300s after it was scaled to none" % (
                        self.where, kind, namespace, name))
                time.sleep(1.0)
        return paused

    def _resume(self, paused):
        for name, kind, namespace, replicas in paused:
            obj = self.api.read(kind, namespace, name)
            if obj is not None:
                self.api.json_patch(obj, [{"op": "replace", "path": "/spec/replicas", "value": replicas}])
        began = self.clock()
        for name, kind, namespace, replicas in paused:
            while True:
                status = (self.api.read(kind, namespace, name) or {}).get("status") or {}
                if int(status.get("readyReplicas") or 0) >= replicas:
                    break
                if self.clock() - began > 600:
                    raise AnantaError("%s: %s %s/%s is not ready 600s after it was scaled back to %d" % (
                        self.where, kind, namespace, name, replicas))
                time.sleep(1.0)


def _job_name(verb, dbname):
    return ("ananta-%s-%s" % (verb, re.sub(r"[^a-z0-9-]", "-", dbname.lower())))[:63].rstrip("-")
