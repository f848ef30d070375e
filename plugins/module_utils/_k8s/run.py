# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop the platform on a cluster in one call, over one dependency graph: what the
start (start.py, ``ClusterStart``) and the stop (stop.py, ``ClusterStop``) share.

The nodes are the renderer's units (``_k8s.phases.Unit``): per plane its namespace and its
configuration, each workload, each step Job. A unit is applied the moment every unit it needs
is ready (a StatefulSet after its namespace and configuration and what it depends on; a step
Job after the datastores it comes after; a Deployment after what its gates need as well), the
units at the head of the longest expected chains first; it is then judged by what the API
says of it (``Cache``: one watch per kind and namespace) with kubectl's rollout rules and the
collection's fail-fast verdicts (``_k8s/rules.py``), extended here with those that need a clock:
a pod unschedulable or a volume claim pending past a grace.

Nothing is written that has not changed: each object carries the hash of its rendered form
(``APPLIED_HASH``), compared with what the watches' first LISTs (and one metadata-only LIST per
other kind and namespace) say; a unit with nothing to write waits for nothing and is judged at
once, so a second start is reads only. An object that client-side apply wrote (the
collection's earlier releases) is taken over first (``objects_state.takeover``).

The stop is the reverse of the same graph: a workload is deleted once everything of the run
that needs it is gone; one watch says when each is gone.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects_state
from ansible_collections.ananta.platform.plugins.module_utils._k8s.cache import Cache
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress
from ansible_collections.ananta.platform.plugins.module_utils._waiter import abort_reason


class UnitRun:
    """One unit's state in a run."""

    def __init__(self, unit):
        self.unit = unit
        self.name = unit.name
        self.state = "blocked"  # blocked, queued, applying, judging, ready, failed, gone
        self.action = objects_state.UNCHANGED
        self.objects = []  # (object to write, its hash, its action, what the cluster holds)
        self.expect = None  # (uid, generation) the verdict waits to see
        self.started_at = None  # wall clock of its first write
        self.began = None  # monotonic: when its wait began
        self.ready_at = None
        self.ready_since = None
        self.message = ""
        self.error = None
        self.changes = []  # (object, field, before, after), for --diff
        self.baselines = {}  # pod -> container -> restarts seen at the run's first look
        self.pending_since = {}  # pod or claim -> when it was first seen unschedulable or pending
        self.previous = []  # what the cluster held of each object it updated (a release puts them back)

    @property
    def kind(self):
        wait = self.unit.wait or {}
        return kind_of(wait) if wait else None

    def workload(self):
        """(kind, namespace, name) of what says it is ready, or None."""
        wait = self.unit.wait
        if not wait:
            return None
        return kind_of(wait), (wait.get("kubernetes") or {}).get("namespace"), object_name(wait)


class ClusterRun:
    """What start and stop share: the API, the watches, the progress, the abort file."""

    def __init__(self, api, units, catalog, project, plane_namespaces, progress=None, abort_file=None,
                 clock=time.monotonic, grace=30.0, check_mode=False, api_timeout=20.0):
        self.api = api
        self.units = [UnitRun(u) for u in units]
        self.by_name = {u.name: u for u in self.units}
        self.catalog = {s["name"]: s for s in catalog}
        self.project = project
        self.plane_namespaces = plane_namespaces or {}
        self.selector = "ananta.platform/project=%s" % project
        self.progress = progress or Progress()
        self.abort_file = abort_file
        self.clock = clock
        self.grace = grace
        self.check_mode = check_mode
        self.api_timeout = api_timeout
        self.failure = None
        self.lock = threading.Lock()
        self.cache = None
        self.writes = 0
        self.t0 = None

    def namespaces(self, extra=()):
        found = {o["metadata"].get("namespace") for u in self.units for o in u.unit.objects}
        found |= {(u.unit.wait.get("kubernetes") or {}).get("namespace") for u in self.units if u.unit.wait}
        found |= set(extra)
        return sorted(n for n in found if n)

    def _start_cache(self, namespaces):
        self.cache = Cache(self.api, namespaces, self.selector, clock=self.clock, watch_seconds=max(5, min(30, 1.5 * self.api_timeout)),
                           silence=self.api_timeout, stale_after=2 * self.api_timeout).start()
        timeout = 3 * self.api_timeout + 2  # a LIST is tried 3 times, each with its deadline
        if not self.cache.wait_synced(timeout):
            problem = self.cache.problem(0) or "the first LISTs on %s did not answer within %ds (no answer in time)" % (
                self.api.server, timeout)
            raise RuntimeAdapterError("cannot read the platform's objects: %s" % problem)

    def _fail(self, run, message):
        with self.lock:
            run.state, run.error = "failed", message
            first = self.failure is None
            if first:
                self.failure = "%s: %s" % (self.label(run), message)
        if first:
            self.progress.emit("failed", run.name, plane=run.unit.plane, level=self.level(run), error=message)
        self.cache.poke()

    def label(self, run):
        if run.unit.service:
            return "service %s (%s, level %s)" % (run.name, run.unit.plane, run.unit.level)
        if run.unit.step:
            return "step Job %s (%s)" % (run.name, run.unit.plane)
        return run.name

    @staticmethod
    def level(run):
        return run.unit.level if run.unit.service else None

    def aborted(self):
        reason = abort_reason(self.abort_file)
        if reason and self.failure is None:
            self.failure = "stopped waiting: %s" % reason
        return reason

    # -- judging what the cluster says ------------------------------------------------------

    def pods_of(self, obj, namespace):
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not selector:
            return []
        return [p for p in self.cache.items("Pod", namespace)
                if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())]

    def verdict(self, run):
        """(verdict, message) of a unit's workload, from the watches."""
        kind, namespace, name = run.workload()
        obj = self.cache.get(kind, namespace, name)
        if obj is None:
            return _k8s_rules.WAITING, "%s %s/%s does not exist" % (kind, namespace, name)
        meta = obj.get("metadata") or {}
        if run.expect is not None:
            uid, generation = run.expect
            if meta.get("uid") != uid or int(meta.get("generation") or 0) < int(generation or 0):
                return _k8s_rules.WAITING, "%s %s/%s: the change is not seen yet" % (kind, namespace, name)
        pods = self.pods_of(obj, namespace)
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            if pod_name not in run.baselines:
                # a pod of before the run keeps its restarts; a pod of this run has none to keep
                before = pod_name in self.first_pods
                run.baselines[pod_name] = {s["name"]: int(s.get("restartCount") or 0) if before else 0
                                           for s in (pod.get("status") or {}).get("containerStatuses") or []}
        verdict, message = _k8s_rules.workload_verdict(obj, pods, run.baselines)
        if verdict in (_k8s_rules.FAILED, _k8s_rules.CRASHED):
            return verdict, message
        failure = _k8s_rules.replica_failure(obj) or self._stuck(run, obj, pods, namespace)
        if failure:
            return _k8s_rules.FAILED, failure
        return verdict, message

    def _stuck(self, run, obj, pods, namespace):
        """A pod the scheduler cannot place, or a claim no volume binds, for longer than the grace."""
        now = self.clock()
        wanted = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
        for pod in pods:
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            own = (pod.get("metadata") or {}).get("annotations") or {}
            if _k8s_rules.TEMPLATE_HASH in wanted and own.get(_k8s_rules.TEMPLATE_HASH) not in (None, wanted[_k8s_rules.TEMPLATE_HASH]):
                continue
            reason = _k8s_rules.unschedulable(pod)
            name = "pod/" + pod["metadata"]["name"]
            if reason is None:
                run.pending_since.pop(name, None)
                continue
            since = run.pending_since.setdefault(name, now)
            if now - since >= self.grace:
                claims = self._pending_claims(pod, namespace)
                if claims:
                    return claims
                return "pod %s cannot be scheduled for %.0f s: %s" % (pod["metadata"]["name"], now - since, reason)
        return None

    def _pending_claims(self, pod, namespace):
        names = [v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
                 if v.get("persistentVolumeClaim")]
        for name in names:
            claim = self.cache.get("PersistentVolumeClaim", namespace, name)
            if claim is not None and (claim.get("status") or {}).get("phase") == "Pending":
                why = self._events_of("PersistentVolumeClaim", namespace, name)
                return "volume claim %s/%s of pod %s is still Pending (no volume bound to it)%s" % (
                    namespace, name, pod["metadata"]["name"], ": %s" % why if why else "")
        return None

    def _events_of(self, kind, namespace, name, reasons=None):
        """The last event of an object, as ``reason: message``; ``reasons``: of those only, the
        first of them that has one (a probe's output before the kill it caused)."""
        try:
            items, _version = self.api.list("Event", namespace)
        except RuntimeAdapterError:
            return ""
        found = [e for e in items if (e.get("involvedObject") or {}).get("kind") == kind
                 and (e.get("involvedObject") or {}).get("name") == name]
        found.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        for reason in reasons or [None]:
            chosen = [e for e in found if reason is None or e.get("reason") == reason]
            if chosen:
                return "%s: %s" % (chosen[-1].get("reason"), chosen[-1].get("message"))
        return ""


class Outside:
    """A need outside the run, as a unit that only waits."""

    def __init__(self, name, entry):
        self.name, self.plane, self.level, self.wait = name, entry.get("plane"), entry.get("level"), entry
        self.objects, self.needs, self.service, self.step, self.gates, self.after = [], [], name, None, [], []
