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
"""

from __future__ import annotations

import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._probes import run_network_probe
from ansible_collections.ananta.platform.plugins.module_utils._waiter import (
    FAILURES, READY, ServiceWait, watch, watch_abort_file,
)


class ServiceStart:
    def __init__(self, service):
        self.service = service
        self.name = service["name"]
        self.action = None
        self.error = None
        self.started_at = None
        self.ready_at = None
        self.waited = 0.0
        self.done = threading.Event()  # ready for its dependants (or failed)

    def result(self):
        return {"name": self.name, "container": self.service.get("container_name") or self.name,
                "plane": self.service.get("plane"), "level": self.service.get("level"),
                "action": self.action or "unchanged", "started_at": self.started_at, "ready_at": self.ready_at,
                "waited_for_dependencies": round(self.waited, 3), "error": self.error}


class Starter:
    def __init__(self, deployer, checker, services, catalog, external="wait", probe_host="127.0.0.1",
                 check_mode=False, poll_interval=0.5, probe_timeout=3.0, wait_all=False, clock=time.monotonic,
                 abort_file=None):
        self.deployer = deployer
        self.checker = checker
        self.catalog = {s["name"]: s for s in catalog}
        self.starts = {s["name"]: ServiceStart(s) for s in services}
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
            if self.failure is None:
                self.failure = "service %s (level %s): %s" % (start.name, start.service.get("level"), message)
            self.stop.set()
        start.done.set()

    def _wait_dependency(self, start, dep):
        if dep in self.starts:
            other = self.starts[dep]
            while not other.done.wait(0.2):
                if self.stop.is_set():
                    return False
            if other.error:
                self._fail(start, "not started: its dependency %s failed" % dep)
                return False
            return True
        if dep in self.external_ready:
            return True
        service = self.catalog.get(dep)
        if service is None:
            self._fail(start, "depends on %s, which is not in the catalog" % dep)
            return False
        wait = ServiceWait(service, self.poll_interval, None)
        self.checker.prepare(wait)
        if self.external == "check":
            wait.budget, wait.stable = 0, 1  # one check: it should be ready already
        watch(wait, self.checker, self.stop, self.clock(), self.clock)
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

    def _run(self, start):
        try:
            began = self.clock()
            if not self.check_mode:
                for dep in start.service.get("depends_on") or []:
                    if not self._wait_dependency(start, dep):
                        return
                if not self._wait_gates(start):
                    return
            start.waited = self.clock() - began
            spec = self.deployer.spec(start.service)
            action, _current = self.deployer.plan(spec)
            start.action = action
            if self.check_mode or self.stop.is_set():
                return
            # (Creating every container up front, while the datastores boot, was measured to
            # delay the datastores' own start by 1-1.5 s on 2 cores: created when needed.)
            if action in ("create", "recreate"):
                if action == "recreate":
                    self.deployer.remove(spec.name)
                self.deployer.create(spec)
            if action:
                self.deployer.start(spec.name)
                start.started_at = round(time.time(), 3)
            if self.dependants.get(start.name) and any(d in self.starts for d in self.dependants[start.name]) \
                    or self.wait_all:
                wait = ServiceWait(start.service, self.poll_interval, None)
                if not action:
                    # it was running before this run: one passing probe says it still is (the
                    # stability window is for a service that has just started)
                    wait.stable = 1
                self.checker.prepare(wait)
                watch(wait, self.checker, self.stop, self.clock(), self.clock)
                if wait.verdict != READY:
                    if not self.stop.is_set() or wait.verdict in FAILURES:
                        self._fail(start, "%s: %s" % (wait.verdict.replace("_", " "), wait.output))
                    return
                start.ready_at = round(wait.ready_at, 3)
        except AnantaError as exc:
            self._fail(start, exc.message)
        except Exception as exc:  # pylint: disable=broad-except  # reported, never lost in a thread
            self._fail(start, "%s: %s" % (type(exc).__name__, exc))
        finally:
            start.done.set()

    def _chain_lengths(self):
        """For each service, the longest chain of dependants behind it (in this start)."""
        memo = {}

        def length(name):  # the catalog was validated: no cycle
            if name not in memo:
                memo[name] = 1 + max([length(d) for d in self.dependants.get(name, []) if d in self.starts] or [0])
            return memo[name]

        return {name: length(name) for name in self.starts}

    def run(self):
        self.t0 = self.clock()
        # Those with the longest chain of dependants behind them first: on a busy host, the
        # order in which containers are created and started is the order they get the CPU.
        chains = self._chain_lengths()
        ordered = sorted(self.starts.values(), key=lambda s: -chains[s.name])
        threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in ordered]
        for thread in threads:
            thread.start()
        watch_abort_file(self.abort_file, self.stop, self._abort)
        for thread in threads:
            thread.join()
        self.stop.set()
        return [s.result() for s in self.starts.values()], round(self.clock() - self.t0, 3), self.failure
