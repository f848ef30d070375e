# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-call start on a cluster: each unit applied the moment every unit it needs is ready, the
longest expected chains first, nothing written that has not changed, judged from the watches
(see run.py for the graph and the rules)."""

from __future__ import annotations

import heapq
import re
import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils import _start_graph
from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects_state
from ansible_collections.ananta.platform.plugins.module_utils._k8s import rollback as _rollback
from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import APPLIED_HASH, FIELD_MANAGER, key, ref
from ansible_collections.ananta.platform.plugins.module_utils._k8s.cache import WATCHED
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_namespace
from ansible_collections.ananta.platform.plugins.module_utils._k8s.run import ClusterRun, Outside, UnitRun


class ClusterStart(ClusterRun):
    """The start: see the module's docstring."""

    def __init__(self, api, units, catalog, project, plane_namespaces, external="check", durations=None, workers=3,
                 diff=False, log_lines=20, logs=None, all_or_nothing=False, **kwargs):
        super().__init__(api, units, catalog, project, plane_namespaces, **kwargs)
        # a release: when a unit fails, every unit the run updated is put back (_rollback.put_back)
        self.all_or_nothing = all_or_nothing
        self.applied = []  # the units written, in the order they were
        self.put_back = []  # [(unit, outcome)]
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
            probe = UnitRun(Outside(name, entry))
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
            if self.failure is not None and self.all_or_nothing:
                _rollback.put_back(self)
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
        verdict, _message = self.verdict(UnitRun(Outside(name, self.outside[name])))
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
                with self.lock:
                    self.applied.append(run)
            if self.all_or_nothing and action == objects_state.UPDATE:
                _rollback.keep(self, run, obj, current)
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
