# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop the platform on a cluster in one call, over one dependency graph.

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

import heapq
import re
import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils import _start_graph

from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects_state
from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import APPLIED_HASH, FIELD_MANAGER, key, ref
from ansible_collections.ananta.platform.plugins.module_utils._k8s.cache import WATCHED, Cache
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name, object_namespace
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress
from ansible_collections.ananta.platform.plugins.module_utils._waiter import abort_reason

# kinds a stop leaves in place: the namespaces, the configuration and the data
KEPT_BY_STOP = ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "NetworkPolicy")
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")


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


class ClusterStart(ClusterRun):
    """The start: see the module's docstring."""

    def __init__(self, api, units, catalog, project, plane_namespaces, external="check", durations=None, workers=3,
                 diff=False, log_lines=20, logs=None, **kwargs):
        super().__init__(api, units, catalog, project, plane_namespaces, **kwargs)
        self.external = external
        self.durations = durations or {}
        self.workers = workers
        self.diff = diff
        self.log_lines = log_lines
        self.logs = logs  # (wait entry, lines) -> the log tail of a failed workload
        self.first_pods = set()
        self.queue = []
        self.queue_cond = threading.Condition()
        self.seq = 0
        self.outside = {}  # a need outside the run (a service of a plane not started): its wait entry

    # -- before anything changes -------------------------------------------------------------

    def _outside_needs(self):
        """The services the run's units need that the run does not start (another plane): each
        as a wait entry, judged like the run's own."""
        found = {}
        for run in self.units:
            for need in run.unit.needs:
                if need in self.by_name or need in found:
                    continue
                svc = self.catalog.get(need)
                if svc is None:
                    raise AnantaError("unit %s needs %s, which is neither in this run nor a service of the catalog"
                                      % (run.name, need))
                entry = dict(svc, kubernetes=dict(svc.get("kubernetes") or {},
                                                  namespace=object_namespace(svc, self.plane_namespaces)))
                found[need] = entry
        return found

    def _check_outside(self):
        """--tags <plane>: what the run needs of the planes it does not start, checked once."""
        missing = []
        for name, entry in sorted(self.outside.items()):
            probe = UnitRun(_Outside(name, entry))
            verdict, message = self.verdict(probe)
            if verdict != _k8s_rules.READY:
                missing.append("%s (%s, level %s): %s" % (name, entry.get("plane"), entry.get("level"), message))
        if missing:
            raise AnantaError("what this run needs of the planes it does not start is not ready, so nothing was "
                              "changed:\n%s" % "\n".join("  - %s" % m for m in missing))

    def _current(self):
        """What the cluster holds of every object to apply: the watches' objects, and one
        metadata-only LIST per other kind and namespace."""
        held = {}
        wanted = {(o["kind"], o["metadata"].get("namespace")) for u in self.units for o in u.unit.objects}
        for kind, namespace in sorted(wanted, key=lambda k: (k[0], k[1] or "")):
            if kind in WATCHED:
                for obj in self.cache.items(kind, namespace):
                    held[key(obj)] = obj
                continue
            items, _version = self.api.list(kind, namespace, self.selector if kind != "Namespace" else None,
                                            metadata_only=True)
            for obj in items:
                obj["kind"] = kind
                held[key(obj)] = obj
        return held

    def _plan(self):
        held = self._current()
        for run in self.units:
            actions = []
            for obj in run.unit.objects:
                digest = objects_state.rendered_hash(obj)
                current = held.get(key(obj))
                action = objects_state.action(obj, current, digest)
                run.objects.append((obj, digest, action, current))
                actions.append(action)
            main = run.workload()
            if main and (main[0], main[1], main[2]) in {key(o) for o in run.unit.objects}:
                main_action = next(a for o, _d, a, _c in run.objects if key(o) == main)
                changed = [a for a in actions if a != objects_state.UNCHANGED]
                run.action = main_action if main_action != objects_state.UNCHANGED else (
                    objects_state.UPDATE if changed else objects_state.UNCHANGED)
            else:
                changed = [a for a in actions if a != objects_state.UNCHANGED]
                run.action = changed[0] if len(set(changed)) == 1 else (objects_state.UPDATE if changed else objects_state.UNCHANGED)

    def _diffs(self, run):
        """Per object that would change, the fields: against what client-side apply last wrote
        (its annotation) for an object to take over, else a server-side dry run."""
        for obj, digest, action, current in run.objects:
            if action == objects_state.UNCHANGED:
                continue
            if action == objects_state.CREATE:
                run.changes.append((ref(obj), "(the object)", None, "created"))
                continue
            if action == objects_state.RECREATE:
                run.changes.append((ref(obj), "(the Job)", "of another configuration or failed", "run again"))
                continue
            earlier = objects_state.last_applied(current)
            if earlier is not None:
                fields = objects_state.changed_fields(earlier, obj, secret=obj["kind"] == "Secret")
                run.changes.append((ref(obj), "(field manager)", "client-side apply", FIELD_MANAGER))
            else:
                full = self.api.read(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
                after = self.api.apply(objects_state.with_hash(obj, digest), dry_run=True)
                fields = objects_state.changed_fields(full, after, secret=obj["kind"] == "Secret")
                fields = [f for f in fields if f[0] != "metadata.annotations.%s" % APPLIED_HASH]
            for path, before, value in fields:
                run.changes.append((ref(obj), path, before, value))

    # -- the run -------------------------------------------------------------------------------

    def run(self):
        self.t0 = self.clock()
        self.outside = self._outside_needs()
        namespaces = self.namespaces(object_namespace(e, self.plane_namespaces) for e in self.outside.values())
        self._start_cache(namespaces)
        try:
            self.first_pods = {p["metadata"]["name"] for ns in namespaces for p in self.cache.items("Pod", ns)}
            self._check_outside()
            self._plan()
            if self.check_mode or self.diff:
                for run in self.units:
                    self._diffs(run)
            if self.check_mode:
                return self._result()
            self.progress.emit("begin", "start", services=sum(1 for u in self.units if u.unit.service),
                               steps=sum(1 for u in self.units if u.unit.step))
            self._schedule()
            if self.failure is None:
                self._verify_restarts()
        finally:
            self.cache.stop()
        return self._result()

    def _priorities(self):
        """The longest expected chain behind each unit (its expected seconds to ready, from the
        last run, else 1), so that the most important are applied first."""
        dependants = {}
        for run in self.units:
            for need in run.unit.needs:
                dependants.setdefault(need, []).append(run.name)
        graph = {run.name: [d for d in dependants.get(run.name, []) if d in self.by_name] for run in self.units}
        return _start_graph.chain_lengths(
            graph, lambda name: float(self.durations.get(name) or (1.0 if self.by_name[name].unit.wait else 0.1)))

    def _schedule(self):
        priority = self._priorities()
        for run in self.units:
            if run.action == objects_state.UNCHANGED:
                # nothing to write: it waits for nothing, and is judged at once
                self._judge_from_now(run)
        workers = [threading.Thread(target=self._worker, daemon=True) for _number in range(self.workers)]
        for worker in workers:
            worker.start()
        version = -1
        try:
            while True:
                with self.lock:
                    if self.failure is not None:
                        break
                if self.aborted():
                    break
                problem = self.cache.problem()
                if problem:
                    self.failure = problem
                    break
                self._release(priority)
                self._judge()
                if all(run.state in ("ready", "failed") for run in self.units):
                    break
                version = self.cache.wait_change(version, 0.25)
        finally:
            with self.queue_cond:
                self.queue = None
                self.queue_cond.notify_all()
            for worker in workers:
                worker.join(30)

    def _release(self, priority):
        """Queue every blocked unit whose needs are ready."""
        for run in self.units:
            if run.state != "blocked":
                continue
            needs = [self.by_name[n] for n in run.unit.needs if n in self.by_name]
            if any(n.state == "failed" for n in needs):
                failed = next(n for n in needs if n.state == "failed")
                self._fail(run, "what it needs, %s, failed" % failed.name)
                continue
            if all(n.state == "ready" for n in needs) and all(self._outside_ready(n) for n in run.unit.needs
                                                              if n not in self.by_name):
                run.state = "queued"
                with self.queue_cond:
                    self.seq += 1
                    heapq.heappush(self.queue, (-priority.get(run.name, 0.0), self.seq, run))
                    self.queue_cond.notify()

    def _outside_ready(self, name):
        """A need of another plane (checked once before the run; with external=wait, waited for)."""
        if self.external == "check":
            return True
        verdict, _message = self.verdict(UnitRun(_Outside(name, self.outside[name])))
        return verdict == _k8s_rules.READY

    def _worker(self):
        while True:
            with self.queue_cond:
                while self.queue is not None and not self.queue:
                    self.queue_cond.wait()
                if self.queue is None:
                    return
                _priority, _seq, run = heapq.heappop(self.queue)
            if self.failure is not None:
                continue
            run.state = "applying"
            try:
                self._apply(run)
            except AnantaError as exc:
                self._fail(run, exc.message)
                continue
            except Exception as exc:  # pylint: disable=broad-except  # named, never lost in a thread
                self._fail(run, "unexpected %s while applying: %s" % (type(exc).__name__, exc))
                continue
            self._judge_from_now(run)
            self.cache.poke()

    def _apply(self, run):
        for obj, digest, action, current in run.objects:
            if action == objects_state.UNCHANGED:
                continue
            if run.started_at is None:
                run.started_at = round(time.time(), 3)
            if action == objects_state.RECREATE:
                self._delete_job(obj, current)
            elif action == objects_state.UPDATE and objects_state.last_applied(current) is not None:
                self._take_over(obj)
            try:
                applied = self.api.apply(objects_state.with_hash(obj, digest))
            except RuntimeAdapterError as exc:
                if obj["kind"] == "StatefulSet" and "updates to statefulset spec for fields other than" in exc.message:
                    raise RuntimeAdapterError(exc.message + "; a StatefulSet's volume claim templates, service name and "
                                              "selector cannot change in place: delete the StatefulSet keeping its pods and "
                                              "claims (kubectl delete statefulset %s -n %s --cascade=orphan) and start again"
                                              % (obj["metadata"]["name"], obj["metadata"]["namespace"])) from exc
                raise
            self.writes += 1
            if run.workload() == key(obj):
                meta = applied.get("metadata") or {}
                run.expect = (meta.get("uid"), meta.get("generation"))

    def _take_over(self, obj, attempts=3):
        """Make the collection's field manager the owner of what client-side apply wrote, on the
        object as it is now (its resourceVersion tested: a controller may write it meanwhile)."""
        meta = obj["metadata"]
        for attempt in range(attempts):
            current = self.api.read(obj["kind"], meta.get("namespace"), meta["name"])
            fields = objects_state.takeover(current)
            if fields is None:
                return
            try:
                self.api.json_patch(obj, [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": current["metadata"]["resourceVersion"]},
                    {"op": "replace", "path": "/metadata/managedFields", "value": fields}])
                self.writes += 1
                return
            except RuntimeAdapterError as exc:
                if exc.details.get("status") not in (409, 422) or attempt == attempts - 1:
                    raise

    def _delete_job(self, obj, current):
        """A Job of another configuration (or that failed) goes, with its pods, before its successor."""
        meta = obj["metadata"]
        uid = (current.get("metadata") or {}).get("uid")
        self.api.delete("Job", meta["namespace"], meta["name"], propagation="Background", uid=uid)
        self.writes += 1
        deadline = self.clock() + 60
        version = -1
        while True:
            held = self.cache.get("Job", meta["namespace"], meta["name"])
            if held is None or (held.get("metadata") or {}).get("uid") != uid:
                return
            if self.clock() > deadline:
                raise AnantaError("Job %s/%s of the earlier configuration was not gone 60 s after its deletion"
                                  % (meta["namespace"], meta["name"]))
            version = self.cache.wait_change(version, 0.5)

    def _judge_from_now(self, run):
        run.began = self.clock()
        if run.unit.wait is None:
            self._ready(run)
        else:
            run.state = "judging"

    def _budget(self, run):
        return float((run.unit.wait.get("readiness") or {}).get("timeout") or 600)

    def _judge(self):
        for run in self.units:
            if run.state != "judging":
                continue
            verdict, message = self.verdict(run)
            run.message = message
            if verdict in (_k8s_rules.FAILED, _k8s_rules.CRASHED):
                self._fail(run, self._with_logs(run, "%s: %s" % (verdict, message)))
                return
            now = self.clock()
            if verdict == _k8s_rules.READY:
                stable = int((run.unit.wait.get("readiness") or {}).get("stable") or 1)
                run.ready_since = run.ready_since or now
                if now - run.ready_since >= (stable - 1):
                    self._ready(run)
                continue
            run.ready_since = None
            if now - run.began > self._budget(run):
                self._fail(run, self._with_logs(run, "not ready after %ds: %s" % (self._budget(run), message)))
                return

    def _with_logs(self, run, message):
        """The verdict, with why the kubelet acted when it says (a probe that failed: the kubelet
        restarts a container whose startup or liveness probe fails, and its exit alone does not
        say so) and the workload's log tail."""
        match = re.search(r"\bpod (\S+)", message)
        namespace = (run.unit.wait.get("kubernetes") or {}).get("namespace")
        if match and namespace:
            said = self._events_of("Pod", namespace, match.group(1), reasons=("Unhealthy", "Killing", "BackOff", "Failed"))
            if said:
                message += " (the kubelet: %s)" % said
        if self.logs is None:
            return message
        try:
            lines = self.logs(run.unit.wait, self.log_lines)
        except Exception:  # pylint: disable=broad-except  # the verdict stands without its log
            lines = []
        return message + ("\nits log ends:\n%s" % "\n".join(lines) if lines else "")

    def _ready(self, run):
        run.state = "ready"
        run.ready_at = round(time.time(), 3)
        seconds = round(run.ready_at - run.started_at, 2) if run.started_at else round(self.clock() - run.began, 2)
        if run.unit.step:
            self.progress.emit("step", run.name, plane=run.unit.plane, seconds=seconds,
                               changed=run.action != objects_state.UNCHANGED, action=run.action)
        elif run.unit.service:
            self.progress.emit("ready", run.name, plane=run.unit.plane, level=run.unit.level, seconds=seconds,
                               action=run.action)

    def _verify_restarts(self):
        """No container of the run's workloads restarted on the way (the pods judged ready)."""
        for run in self.units:
            if not run.unit.wait or run.kind == "Job":
                continue
            kind, namespace, name = run.workload()
            obj = self.cache.get(kind, namespace, name)
            wanted = ((((obj or {}).get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
            for pod in self.pods_of(obj or {}, namespace):
                meta = pod.get("metadata") or {}
                own = meta.get("annotations") or {}
                if meta.get("deletionTimestamp") or own.get(_k8s_rules.TEMPLATE_HASH, wanted.get(_k8s_rules.TEMPLATE_HASH)) \
                        != wanted.get(_k8s_rules.TEMPLATE_HASH):
                    continue  # a pod going away, or of the template before this run's (its dependency rolled under it)
                baseline = run.baselines.get(pod["metadata"]["name"])
                if baseline is None:
                    continue
                for status in (pod.get("status") or {}).get("containerStatuses") or []:
                    if int(status.get("restartCount") or 0) > baseline.get(status["name"], 0):
                        self._fail(run, "was ready, then pod %s container %s restarted (%s -> %s)%s%s" % (
                            pod["metadata"]["name"], status["name"], baseline.get(status["name"], 0),
                            status.get("restartCount"),
                            _k8s_rules.last_words((status.get("lastState") or {}).get("terminated")), self._hint(run)))
                        return

    def _hint(self, run):
        """A dependant that crashed when this run renewed a dependency it does not declare it
        restarts with: what to declare (as on a Docker host)."""
        svc = self.catalog.get(run.unit.service) or {}
        renewed = [d for d in svc.get("depends_on") or [] if d in self.by_name
                   and self.by_name[d].action != objects_state.UNCHANGED and d not in (svc.get("restart_with") or [])]
        if not renewed:
            return ""
        return "; it depends on %s, which this run renewed: if it cannot outlive a restart of %s, declare " \
            "restart_with: [%s] in its catalog entry" % (", ".join(renewed), "it" if len(renewed) == 1 else "them",
                                                         ", ".join(renewed))

    def _result(self):
        services, steps = [], []
        for run in self.units:
            unit = run.unit
            if unit.service:
                svc = self.catalog[unit.service]
                services.append({"name": unit.service, "plane": unit.plane, "level": unit.level,
                                 "kind": run.kind, "namespace": (unit.wait.get("kubernetes") or {}).get("namespace"),
                                 "action": run.action, "started_at": run.started_at, "ready_at": run.ready_at,
                                 "depends_on": list(svc.get("depends_on") or []), "after_steps": list(unit.gates),
                                 "state": run.state, "error": run.error, "changes": self._changes(run)})
            elif unit.step:
                steps.append({"name": unit.name, "kind": unit.step, "plane": unit.plane, "after": list(unit.after),
                              "started_at": run.started_at,
                              "elapsed": round(run.ready_at - run.started_at, 3) if run.ready_at and run.started_at else None,
                              "changed": run.action != objects_state.UNCHANGED, "action": run.action,
                              "state": run.state, "error": run.error, "changes": self._changes(run)})
        objects = [{"object": ref(obj), "action": action} for run in self.units for obj, _d, action, _c in run.objects]
        return {"services": services, "steps": steps, "objects": objects,
                "written": sum(1 for o in objects if o["action"] != objects_state.UNCHANGED),
                "units": [{"name": r.name, "plane": r.unit.plane, "action": r.action, "state": r.state,
                           "changes": self._changes(r)} for r in self.units if not r.unit.service and not r.unit.step]}

    @staticmethod
    def _changes(run):
        return [{"object": where, "field": path, "before": before, "after": after} for where, path, before, after in run.changes]


class _Outside:
    """A need outside the run, as a unit that only waits."""

    def __init__(self, name, entry):
        self.name, self.plane, self.level, self.wait = name, entry.get("plane"), entry.get("level"), entry
        self.objects, self.needs, self.service, self.step, self.gates, self.after = [], [], name, None, [], []


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
