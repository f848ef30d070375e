# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stop on a cluster: the reverse of the start's graph (see run.py)."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import ref
from ansible_collections.ananta.platform.plugins.module_utils._k8s.run import ClusterRun


# kinds a stop leaves in place: the namespaces, the configuration and the data
KEPT_BY_STOP = ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "NetworkPolicy")


class ClusterStop(ClusterRun):
    """The reverse of the start's graph: a workload goes once all that needs it is gone (its
    Services with it); the step Jobs go first (they are done, nothing runs on them); the
    volume claims go last, and only when asked."""

    def __init__(self, api, units, catalog, project, plane_namespaces, remove_volumes=False, timeout=120, **kwargs):
        super().__init__(api, units, catalog, project, plane_namespaces, **kwargs)
        self.remove_volumes = remove_volumes
        self.timeout = timeout
        self.removed = []

    def run(self):
        self.t0 = self.clock()
        namespaces = self.namespaces()
        self._start_cache(namespaces)
        try:
            self.first_pods = set()
            present = [u for u in self.units if u.unit.wait and self._present(u)]
            # the step Jobs (none of the graph's workloads) go first: they are done, and one still
            # running (a migration) is stopped before its database; a catalog Job (minio-init) is a
            # workload of the graph, removed in its turn
            workloads = {u.workload() for u in self.units if u.unit.wait}
            jobs = [(ns, j) for ns in namespaces for j in self.cache.items("Job", ns)
                    if ("Job", ns, j["metadata"]["name"]) not in workloads]
            claims = [(ns, c) for ns in namespaces for c in self.cache.items("PersistentVolumeClaim", ns)] \
                if self.remove_volumes else []
            if self.check_mode:
                self.removed = [self._ref(u) for u in present] + ["Job %s/%s" % (ns, j["metadata"]["name"]) for ns, j in jobs] \
                    + ["PersistentVolumeClaim %s/%s" % (ns, c["metadata"]["name"]) for ns, c in claims]
                return self._result()
            for namespace, job in jobs:
                self.api.delete("Job", namespace, job["metadata"]["name"], propagation="Background")
                self.removed.append("Job %s/%s" % (namespace, job["metadata"]["name"]))
            self._reverse(present)
            if self.failure is None and claims:
                self._remove_claims(claims)
        finally:
            self.cache.stop()
        return self._result()

    @staticmethod
    def _ref(run):
        kind, namespace, name = run.workload()
        return "%s %s/%s" % (kind, namespace, name)

    def _present(self, run):
        kind, namespace, name = run.workload()
        obj = self.cache.get(kind, namespace, name)
        return obj is not None or bool(self._pods(run))

    def _pods(self, run):
        _kind, namespace, name = run.workload()
        return [p for p in self.cache.items("Pod", namespace)
                if ((p.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name") == name]

    def _reverse(self, present):
        dependants = {}
        for run in self.units:
            for need in run.unit.needs:
                dependants.setdefault(need, []).append(run)
        for run in self.units:
            run.state = "up" if run in present else "gone"
        version = -1
        while self.failure is None:
            if self.aborted():
                break
            problem = self.cache.problem()
            if problem:
                self.failure = problem
                break
            for run in self.units:
                if run.state == "up" and all(d.state == "gone" for d in dependants.get(run.name, []) if d.unit.wait):
                    self._delete(run)
                elif run.state == "deleting":
                    if not self._present(run):
                        run.state = "gone"
                        self.progress.emit("removed", run.name, plane=run.unit.plane, level=self.level(run),
                                           seconds=round(self.clock() - run.began, 2))
                    elif self.clock() - run.began > self.timeout:
                        left = ", ".join(p["metadata"]["name"] for p in self._pods(run)) or "the object itself"
                        self._fail(run, "not gone %ds after its deletion (left: %s)" % (self.timeout, left))
            if all(run.state == "gone" for run in self.units):
                break
            version = self.cache.wait_change(version, 0.5)

    def _delete(self, run):
        run.state = "deleting"
        run.began = self.clock()
        for obj in run.unit.objects:
            if obj["kind"] in KEPT_BY_STOP:
                continue
            meta = obj["metadata"]
            if self.api.delete(obj["kind"], meta.get("namespace"), meta["name"], propagation="Background") is not None:
                self.removed.append(ref(obj))
        self.cache.poke()

    def _remove_claims(self, claims):
        for namespace, claim in claims:
            self.api.delete("PersistentVolumeClaim", namespace, claim["metadata"]["name"])
            self.removed.append("PersistentVolumeClaim %s/%s" % (namespace, claim["metadata"]["name"]))
        deadline = self.clock() + self.timeout
        version = -1
        while any(self.cache.get("PersistentVolumeClaim", ns, c["metadata"]["name"]) for ns, c in claims):
            if self.clock() > deadline:
                left = [c["metadata"]["name"] for ns, c in claims if self.cache.get("PersistentVolumeClaim", ns, c["metadata"]["name"])]
                self.failure = "volume claims not gone %ds after their deletion: %s" % (self.timeout, ", ".join(left))
                return
            version = self.cache.wait_change(version, 0.5)

    def _result(self):
        return {"removed": self.removed, "services": [
            {"name": r.name, "plane": r.unit.plane, "level": r.unit.level, "state": r.state, "error": r.error}
            for r in self.units if r.unit.wait]}
