# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start services in dependency order, each as soon as what it needs is ready.

One thread per service. Before a service is created or started, every dependency must
be ready (judged by its own readiness probe) and every gate (``start_after``: extra
probes, like seed 000's init containers: tables present, a Temporal namespace
answering) must pass. A dependency inside the set is waited for through its thread;
one outside the set is probed directly: waited for (``external='wait'``: another plane
is starting it in this run) or checked once (``external='check'``: it should be up
already; if not, fail at once naming it). The first failure stops every thread.

Steps (seed 000's Jobs: namespaces, migrations, topology; see _steps.py) are nodes of the
same graph: each runs in its own thread once the services it comes after are ready, and a
service whose gate a step of this run provides waits for that step before probing the gate.
One process for the planes and their steps: a service starts the moment what it needs is
ready, not when a scheduler gets round to it.

A change of one service (issue 19): a container whose configuration changed is recreated,
its previous container set aside until the new one is ready and put back when it is not
(the run then fails naming the service, the probe's last answer and the new container's
log tail). A service already up that declares ``restart_with`` a dependency this run
recreated, started or restarted is restarted once that dependency is ready, and waited for,
in dependency order. ``followers``: dependants outside the selection that declare such a
restart: they are restarted when that happens and otherwise left alone.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.ananta.platform.plugins.module_utils import _start_graph
from ansible_collections.ananta.platform.plugins.module_utils._docker import start_containers as _containers
from ansible_collections.ananta.platform.plugins.module_utils._docker.start_containers import BOOSTED_SHARES, RENEWED
from ansible_collections.ananta.platform.plugins.module_utils._docker.start_nodes import PriorityGate, ServiceStart, _level, _plane
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._probes import run_network_probe
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress
from ansible_collections.ananta.platform.plugins.module_utils._waiter import (
    FAILURES, READY, ServiceWait, watch, watch_abort_file,
)


class Starter:
    def __init__(self, deployer, checker, services, catalog, external="wait", probe_host="127.0.0.1",
                 check_mode=False, poll_interval=0.5, probe_timeout=3.0, wait_all=False, clock=time.monotonic,
                 abort_file=None, steps=None, verify_restarts=False, durations=None, progress=None,
                 followers=(), secret=None, stop_timeout=10, all_or_nothing=False, recreate=True):
        self.deployer = deployer
        self.recreate = recreate  # False: a container that exists is started as it is
        # a release: every recreated service keeps its previous container until all are ready,
        # and all are put back when one is not (_containers.settle)
        self.all_or_nothing = all_or_nothing
        self.put_back = []  # [(service, outcome)] of a release that failed
        self.secret = secret or (lambda value: False)
        self.stop_timeout = stop_timeout
        self.progress = progress or Progress()
        self.checker = checker
        self.catalog = {s["name"]: s for s in catalog}
        self.starts = {s["name"]: ServiceStart(s) for s in services}
        for name in followers:
            if name not in self.starts and name in self.catalog:
                self.starts[name] = ServiceStart(self.catalog[name])
                self.starts[name].follower = True
        services = [s.service for s in self.starts.values()]
        self.leftovers = set()  # containers set aside by an earlier run that did not finish
        self.restored = set()  # those of them put back by this run (their successor was missing)
        self.external = external
        self.probe_host = probe_host
        self.check_mode = check_mode
        self.poll_interval = poll_interval
        self.probe_timeout = probe_timeout
        self.wait_all = wait_all
        self.clock = clock
        self.stop = threading.Event()
        self.failure = None
        self.lock = threading.Lock()
        self.t0 = None
        self.abort_file = abort_file
        self.external_ready = set()  # dependencies outside the selection already judged ready
        self.steps = list(steps or [])
        self.roots, self.roots_pending, self.roots_done = set(), 0, threading.Event()
        self.durations = durations or {}
        self.priority = {}
        self.verify_restarts = verify_restarts
        self.boosted = set()
        for start in self.starts.values():
            gates = start.service.get("start_after") or []
            start.after_steps = [step for step in self.steps if any(step.provides(gate) for gate in gates)]
        dependants = {}
        for svc in services:
            for dep in svc.get("depends_on") or []:
                dependants.setdefault(dep, []).append(svc["name"])
        self.dependants = dependants

    def _abort(self, reason):
        with self.lock:
            if self.failure is None:
                self.failure = "stopped waiting: %s" % reason
            self.stop.set()

    def _fail(self, start, message):
        with self.lock:
            start.error = message
            first = self.failure is None
            if first:
                self.failure = "%s: %s" % (start.label, message)
            self.stop.set()
        if first:
            self.progress.emit("failed", start.name, plane=_plane(start), level=_level(start), error=message)
        start.done.set()

    def _await(self, start, other, failed):
        """Until ``other`` (a service of this start, or a step) is done; False when the start
        stops, or when ``other`` failed (then ``start`` fails with ``failed``)."""
        while not other.done.wait(0.2):
            if self.stop.is_set():
                return False
        if other.error:
            self._fail(start, failed)
            return False
        return True

    def _probe(self, service, stop, once=False):
        """Watch a service's readiness until ready, failed, out of budget or ``stop``; ``once``:
        one check (it should be ready already)."""
        wait = ServiceWait(service, self.poll_interval, None)
        self.checker.prepare(wait)
        if once:
            wait.budget, wait.stable = 0, 1
        watch(wait, self.checker, stop, self.clock(), self.clock)
        return wait

    def _wait_dependency(self, start, dep):
        if dep in self.starts:
            return self._await(start, self.starts[dep], "not started: its dependency %s failed" % dep)
        if dep in self.external_ready:
            return True
        service = self.catalog.get(dep)
        if service is None:
            self._fail(start, "depends on %s, which is not in the catalog" % dep)
            return False
        wait = self._probe(service, self.stop, once=self.external == "check")
        if wait.verdict == READY:
            with self.lock:
                self.external_ready.add(dep)
            return True
        if not self.stop.is_set():
            if self.external == "check":
                self._fail(start, "its dependency %s (plane %s, level %s) is not ready: %s; start that plane first"
                           % (dep, service.get("plane"), service.get("level"), wait.output))
            else:
                self._fail(start, "its dependency %s (plane %s) %s: %s" % (
                    dep, service.get("plane"), wait.verdict.replace("_", " "), wait.output))
        return False

    def _wait_steps(self, start):
        return all(self._await(start, step, "not started: %s failed" % step.label) for step in start.after_steps)

    def _run_step(self, step):
        if self.check_mode:
            # nothing was started: run the step (in check mode) only if what it needs is up
            if not all(self._ready_now(dep) for dep in step.after):
                step.outcome = {"changed": False, "skipped": True,
                                "msg": "would run once %s is ready" % ", ".join(step.after)}
                return
        else:
            for dep in step.after:
                if not self._wait_dependency(step, dep):
                    return
        if self.stop.is_set():
            return
        step.run(self.check_mode)
        if not self.check_mode and not step.error:
            self.progress.emit("step", step.name, plane=step.plane, seconds=step.elapsed,
                               changed=bool((step.outcome or {}).get("changed")))

    def _ready_now(self, name):
        service = self.catalog.get(name)
        return service is not None and self._probe(service, threading.Event(), once=True).verdict == READY

    def _verify_restarts(self):
        """After the start: no service of this run restarted on the way (Docker's restart count,
        against what it was when the run began to wait for the service: a restart by the policy
        before this run, after which the container stayed up, is not this run's). The containers
        are inspected side by side: this check is time the operator waits for."""
        checked = [s for s in self.starts.values()
                   if s.ready_at is not None and (s.service.get("readiness") or {}).get("probe") != "exit_zero"]
        # one still running the process it was judged ready with has not restarted since (told
        # from this machine's /proc where the engine is local: no inspection of each)
        still_up = getattr(self.checker, "still_up", None)
        if still_up is not None:
            checked = [s for s in checked if not (still_up(s.ready_state)
                                                  and s.ready_state.restart_count == s.restart_baseline)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            states = list(pool.map(lambda s: self.deployer.inspect(s.container) or {},
                                   checked))
        for start, current in zip(checked, states):
            restarts = max(0, (current.get("RestartCount") or 0) - start.restart_baseline)
            running = (current.get("State") or {}).get("Running")
            if restarts or not running:
                renewed = [d for d in start.service.get("depends_on") or [] if d in self.starts
                           and self.starts[d].action in RENEWED and d not in (start.service.get("restart_with") or [])]
                hint = "; it depends on %s, which this run renewed: if it cannot outlive a restart of %s, declare " \
                    "restart_with: [%s] in its catalog entry" % ((", ".join(renewed), "it" if len(renewed) == 1 else "them",
                                                                 ", ".join(renewed))) if renewed else ""
                self._fail(start, "was ready, then %s (restart count %d)%s" % (
                    "restarted" if running else "stopped", restarts, hint))
                return

    def _wait_gates(self, start):
        for gate in start.service.get("start_after") or []:
            budget = float(gate.get("timeout", (start.service.get("readiness") or {}).get("timeout", 120)))
            deadline = self.clock() + (0 if self.external == "check" else budget)
            while True:
                result = run_network_probe(gate, self.probe_host, self.probe_timeout)
                if result.ok:
                    break
                if self.stop.is_set():
                    return False
                if self.clock() >= deadline:
                    self._fail(start, "not started: gate %s not met%s: %s" % (
                        gate.get("probe"), "" if self.external == "check" else " within %ss" % int(budget), result.output))
                    return False
                self.stop.wait(self.poll_interval)
        return True

    def _guarded(self, node, work):
        """A thread's whole work for a service or a step: any error becomes the node's failure
        (never lost in a thread), and the node is done at the end either way."""
        try:
            work(node)
        except AnantaError as exc:
            self._fail(node, exc.message)
        except Exception as exc:  # pylint: disable=broad-except  # reported, never lost in a thread
            self._fail(node, "%s: %s" % (type(exc).__name__, exc))
        finally:
            node.done.set()

    def _run(self, start):
        first_wave = start.name in self.roots
        try:
            self._start(start, first_wave)
        finally:
            if first_wave and start.started_at is None:  # it will not start: the wave needs not wait for it
                self.gate.withdraw(self.priority.get(start.name, 0))

    def restart_deps(self, start):
        """The dependencies of this run whose renewal restarts ``start`` (its restart_with)."""
        return [d for d in start.service.get("restart_with") or [] if d in self.starts]

    def _follow(self, start):
        """A dependant outside the selection: restarted once a dependency it declares was
        renewed by this run and is ready, when it runs; otherwise left alone."""
        for dep in self.restart_deps(start):
            if not self._await(start, self.starts[dep], "not restarted: its dependency %s failed" % dep):
                return
        renewed = [d for d in self.restart_deps(start) if self.starts[d].action in RENEWED]
        current = self.deployer.inspect(start.container) if renewed else None
        if not renewed or not current or not (current.get("State") or {}).get("Running"):
            return
        start.restarted_by = renewed
        start.action = "restart"
        if not self.check_mode:
            self._launch(start, None, "restart")
            self._wait_ready(start, "restart")

    def _start(self, start, first_wave):
        if start.follower:
            self._follow(start)
            return
        began = self.clock()
        restart_deps = self.restart_deps(start)
        if not self.check_mode:
            up = _containers.already_up(self, start)
            waits = list(start.service.get("depends_on") or []) + [s.name for s in start.after_steps] \
                + ["gate %s" % (g.get("probe") or "?") for g in start.service.get("start_after") or []
                   if not start.after_steps]
            if waits and not up:
                self.progress.emit("waits", start.name, plane=_plane(start), level=_level(start), on=waits)
            for dep in start.service.get("depends_on") or []:
                # already up: it waits for none of this run's services (they need not start for
                # it), but what lies outside the run is still checked (a plane that is down is
                # named, as when it would start)
                if up and dep in self.starts and dep not in restart_deps:
                    continue
                if not self._wait_dependency(start, dep):
                    return
            if not up and (not self._wait_steps(start) or not self._wait_gates(start)):
                return
        start.waited = self.clock() - began
        spec, action = _containers.prepare(self, start)
        if self.check_mode or self.stop.is_set():
            return
        renewed = [d for d in restart_deps if self.starts[d].action in RENEWED]
        if renewed and not action:
            # up with its wanted configuration, but a dependency it declares was renewed
            start.restarted_by = renewed
            start.action = action = "restart"
        if not action and start.container in self.restored:
            start.action = "start"  # put back and started by this run (see _resume): waited for as a start
        if action:
            self._launch(start, first_wave, action, spec.name)
        if start.name in self.roots:
            self._root_started()
        if action in ("recreate", "restart") or start.container in self.leftovers \
                or self.dependants.get(start.name) and any(d in self.starts for d in self.dependants[start.name]) \
                or self.wait_all or any(start.name in step.after for step in self.steps):
            self._wait_ready(start, action or start.action)
        _containers.unweigh(self, start)

    def _launch(self, start, first_wave, action, container=None):
        """The engine's start (or restart) call, in a start slot."""
        ticket = self.gate.acquire(self.priority.get(start.name, 0), expected=bool(first_wave))
        # the service's own time runs from the engine's start call: the call (network
        # attach, process spawn; ~0.4 s on the lab host) is part of starting the service,
        # whoever starts it; the wait for a free slot before it is not
        start.started_at = round(time.time(), 3)
        try:
            if action == "restart":
                self.deployer.restart(start.container, self.stop_timeout)
            else:
                self.deployer.start(container or start.container)
        finally:
            self.gate.release(ticket)
        start.engine_start = round(time.time() - start.started_at, 3)
        if start.name in self.boosted and not start.weighted:  # one not created by this run
            _containers.weigh(self, start, BOOSTED_SHARES)

    def watch_start(self, start, fresh, stop=None):
        wait = ServiceWait(start.service, self.poll_interval, None)
        if not fresh:
            # it was running before this run: one passing probe says it still is (the
            # stability window is for a service that has just started)
            wait.stable = 1
        wait.fresh = fresh
        self.checker.prepare(wait)
        watch(wait, self.checker, self.stop if stop is None else stop, self.clock(), self.clock)
        return wait

    def _wait_ready(self, start, action):
        wait = self.watch_start(start, bool(action))
        if wait.verdict != READY:
            if not self.stop.is_set() or wait.verdict in FAILURES:
                message = "%s: %s" % (wait.verdict.replace("_", " "), wait.output)
                if start.previous or start.container in self.leftovers:
                    message = _containers.roll_back(self, start, message)
                self._fail(start, message)
            return False
        start.ready_at = round(wait.ready_at, 3)
        start.restart_baseline = wait.baseline or 0
        start.ready_state = wait.state
        if (start.previous or start.container in self.leftovers) and not self.all_or_nothing:
            self.deployer.drop_previous(start.container)  # the successor is ready: the previous one goes
        self.progress.emit("ready", start.name, plane=_plane(start), level=_level(start), action=start.action,
                           seconds=round(start.ready_at - start.started_at if start.started_at else wait.seconds or 0, 2))
        return True

    def _root_started(self):
        with self.lock:
            self.roots_pending -= 1
            if self.roots_pending <= 0:
                self.roots_done.set()

    def _behind(self):
        """Service -> the services of this start that wait for it, directly or through a step."""
        return _start_graph.behind(self.starts, self.dependants,
                                   [(step.after, [s.name for s in self.starts.values() if step in s.after_steps])
                                    for step in self.steps])

    def _expected(self, name):
        """The seconds to ready ``name`` is expected to take (``durations``), 1 when unknown."""
        return float(self.durations.get(name) or 1.0)

    def _chain_lengths(self):
        """For each service, the longest chain of dependants behind it in this start, through
        the steps too, in seconds: each service counts its expected seconds to ready
        (``durations``, from an earlier run's timeline) or 1 when there is none."""
        return _start_graph.chain_lengths(self._behind(), self._expected)

    def _critical(self, chains):
        """The services on or near the expected critical path (slack within 10 % of it), from
        the expected durations; none without them. While they boot, they get a larger share
        of a contended CPU: on a 2-core host a dozen datastores boot at once, and the chain
        that decides when the platform is up should not wait for the CPU behind the others."""
        if not self.durations:
            return set()
        return _start_graph.critical(self._behind(), chains, self._expected)

    def run(self):
        self.t0 = self.clock()
        if not self.check_mode:
            self.progress.emit("begin", "start", services=len(self.starts), steps=len(self.steps))
            _containers.resume(self)
        if hasattr(self.deployer, "prime"):
            self.deployer.prime()  # one listing of the project's containers for every plan below
        # Those with the longest chain of dependants behind them first: on a busy host, the
        # order in which containers are created and started is the order they get the CPU.
        chains = self._chain_lengths()
        self.priority = chains
        ordered = sorted(self.starts.values(), key=lambda s: -chains[s.name])
        self.boosted = self._critical(chains)
        self.roots = {s.name for s in ordered if not s.service.get("depends_on") and not s.service.get("start_after")}
        self.roots_pending = len(self.roots)
        # Containers are started three at a time, the longest expected chains first: a dozen
        # at once share the engine and the CPU, and the most important start late.
        self.gate = PriorityGate(3, expected=[chains[name] for name in self.roots])
        if not self.roots_pending:
            self.roots_done.set()
        threads = [threading.Thread(target=self._guarded, args=(s, self._run_step), daemon=True) for s in self.steps]
        threads += [threading.Thread(target=self._guarded, args=(s, self._run), daemon=True) for s in ordered]
        if not self.check_mode:
            threading.Thread(target=_containers.precreate, args=(self, ordered), daemon=True).start()
        for thread in threads:
            thread.start()
        watch_abort_file(self.abort_file, self.stop, self._abort)
        for thread in threads:
            thread.join()
        for start in self.starts.values():
            _containers.unweigh(self, start)  # a service that failed or was not waited for keeps no raised weight
        if self.all_or_nothing and not self.check_mode:
            _containers.settle(self)
        if self.verify_restarts and self.failure is None and not self.check_mode:
            self._verify_restarts()
        if self.check_mode:
            _containers.would_restart(self)
        for start in self.starts.values():
            for dep in start.restarted_by:
                self.starts[dep].restarts.append(start.name)
        self.stop.set()
        # a dependant outside the selection is reported when the run restarted it (or would), or
        # when it failed: one left alone is no part of this start
        reported = [s for s in self.starts.values()
                    if not s.follower or (s.action not in (None, "unchanged")) or s.error]
        return [s.result() for s in reported], round(self.clock() - self.t0, 3), self.failure

    def step_results(self):
        return [step.result() for step in self.steps]
