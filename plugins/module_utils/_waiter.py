# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent readiness waiting with fail-fast verdicts.

Each service is watched by its own thread, at its own poll interval, against a
monotonic clock; the first failure stops the wait at once. The runtime-specific part
(what "ready" and "failed" mean on Docker or Kubernetes) is a *checker* object with
``prepare(wait)`` and ``check(wait) -> Observation`` (see _docker/readiness.py and
_k8s/readiness.py).
"""

from __future__ import annotations

import queue
import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils._catalog import DEFAULT_TIMEOUT

READY = "ready"
WAITING = "waiting"
TIMED_OUT = "timed_out"
UNHEALTHY = "unhealthy"
CRASHED = "crashed"
FAILED = "failed"
FAILURES = (TIMED_OUT, UNHEALTHY, CRASHED, FAILED)


class Observation:
    """What one check saw: a verdict and the probe output behind it."""

    __slots__ = ("verdict", "output", "restarts", "passed")

    def __init__(self, verdict, output, restarts=0, passed=None):
        self.verdict = verdict
        self.output = output
        self.restarts = restarts
        # passed: the probe itself passed this time (counts toward the stability window)
        self.passed = verdict == READY if passed is None else passed


class ServiceWait:
    """The waiting state of one service."""

    def __init__(self, service, poll_interval, call_budget):
        readiness = service.get("readiness") or {}
        self.service = service
        self.name = service["name"]
        self.container = service.get("container_name") or service["name"]
        self.level = service.get("level")
        self.plane = service.get("plane")
        self.probe = readiness.get("probe", "running")
        self.spec = readiness
        budget = float(readiness.get("timeout", DEFAULT_TIMEOUT))
        self.budget = min(budget, call_budget) if call_budget else budget
        self.grace = float(readiness.get("grace", 0))
        self.stable = int(readiness.get("stable", 1))
        self.interval = float(readiness.get("interval", poll_interval))
        self.attempts = 0
        self.passes = 0
        self.verdict = WAITING
        self.output = ""
        self.restarts = 0
        self.seconds = None
        self.ready_at = None  # wall-clock time (epoch) when judged ready, for timelines
        self.logs = None
        self.baseline = None  # checker-specific (restart counts before the wait)
        self.state = None  # checker-specific (what the last check saw of the container)
        self.fresh = False  # the caller has just created or started what it waits for

    def result(self):
        data = {
            "name": self.name,
            "container": self.container,
            "level": self.level,
            "plane": self.plane,
            "probe": self.probe,
            "verdict": self.verdict,
            "seconds": self.seconds,
            "attempts": self.attempts,
            "output": self.output,
            "restarts": self.restarts,
            "ready_at": round(self.ready_at, 3) if self.ready_at else None,
        }
        if self.logs is not None:
            data["logs"] = self.logs
        return data

    def describe_failure(self):
        return "service %s (level %s, probe %s) %s: %s" % (
            self.name, self.level, self.probe, self.verdict.replace("_", " "), self.output)


def watch(wait, checker, stop, started, clock=time.monotonic, backoff=1.0, max_interval=5.0):
    """Probe one service until it is ready, fails, runs out of budget or ``stop`` is set.

    Sets ``wait.verdict`` (and seconds, output, restarts); returns nothing. Budgets count
    from ``started`` (a value of ``clock``)."""
    interval = wait.interval
    try:
        while not stop.is_set():
            wait.attempts += 1
            obs = checker.check(wait)
            now = clock() - started
            wait.output, wait.restarts = obs.output, obs.restarts
            if obs.verdict in FAILURES:
                wait.verdict = obs.verdict
                return
            wait.passes = wait.passes + 1 if obs.passed else 0
            if obs.verdict == READY and wait.passes >= wait.stable:
                wait.verdict, wait.seconds, wait.ready_at = READY, round(now, 3), time.time()
                return
            if now >= wait.budget:
                wait.verdict = TIMED_OUT
                wait.output = "not ready after %ss: %s" % (int(wait.budget), obs.output)
                return
            # sleep at most until the budget runs out
            stop.wait(max(0.0, min(interval, wait.budget - now)))
            if not obs.passed:
                interval = min(max_interval, interval * backoff)
    except Exception as exc:  # pylint: disable=broad-except  # reported, never lost in a thread
        wait.verdict, wait.output = FAILED, "error while checking: %s: %s" % (type(exc).__name__, exc)


def abort_reason(path):
    """The text of the abort file when it exists (another plane's step failed), else None."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or "a step of this run failed"
    except OSError:
        return None


def watch_abort_file(path, stop, on_abort, interval=0.25):
    """Until ``stop`` is set, look for the abort file; call on_abort(reason) once when it appears."""
    def loop():
        while not stop.wait(interval):
            reason = abort_reason(path)
            if reason:
                on_abort(reason)
                return
    if path:
        threading.Thread(target=loop, daemon=True).start()


class Waiter:
    """Wait for every service concurrently; stop at the first failure.

    ``backoff`` multiplies a service's poll interval after each unsuccessful probe, up to
    ``max_interval`` (1.0 keeps it constant).
    """

    def __init__(self, services, checker, poll_interval=1.0, timeout=None, backoff=1.0,
                 max_interval=5.0, log_lines=20, fail_fast=True, clock=time.monotonic, abort_file=None, progress=None):
        self.progress = progress
        self.waits = [ServiceWait(s, poll_interval, timeout) for s in services]
        self.checker = checker
        self.backoff = max(1.0, float(backoff))
        self.max_interval = float(max_interval)
        self.log_lines = log_lines
        self.fail_fast = fail_fast
        self.clock = clock
        self.stop = threading.Event()
        self.started = None
        self.abort_file = abort_file
        self.aborted = None

    def _abort(self, reason):
        self.aborted = reason
        self.stop.set()

    def _watch(self, wait, reports):
        try:
            watch(wait, self.checker, self.stop, self.started, self.clock, self.backoff, self.max_interval)
        finally:
            reports.put(wait)

    def _report(self, wait):
        if self.progress is None:
            return
        if wait.verdict == READY:
            self.progress.emit("ready", wait.name, plane=wait.plane, level=wait.level, seconds=wait.seconds, action="waited")
        elif wait.verdict in FAILURES:
            self.progress.emit("failed", wait.name, plane=wait.plane, level=wait.level,
                               error="%s: %s" % (wait.verdict.replace("_", " "), wait.output))

    def run(self):
        """Wait; return (results, elapsed, failed_waits)."""
        self.started = self.clock()
        reports = queue.Queue()
        for wait in self.waits:
            self.checker.prepare(wait)
        threads = [threading.Thread(target=self._watch, args=(w, reports), daemon=True) for w in self.waits]
        for thread in threads:
            thread.start()
        watch_abort_file(self.abort_file, self.stop, self._abort)
        failed = []
        for _report in self.waits:
            wait = reports.get()
            if self.aborted:
                break
            self._report(wait)
            if wait.verdict in FAILURES and not self.stop.is_set():
                failed.append(wait)
                if self.fail_fast:
                    self.stop.set()
                    break
        self.stop.set()
        elapsed = round(self.clock() - self.started, 3)
        for wait in failed:
            wait.logs = self.checker.logs(wait, self.log_lines)
        return [w.result() for w in self.waits], elapsed, failed

    def snapshot(self):
        """One check of every service, no waiting (check mode)."""
        self.started = self.clock()
        for wait in self.waits:
            self.checker.prepare(wait)
        results = []
        for wait in self.waits:
            wait.attempts = 1
            obs = self.checker.check(wait)
            wait.output, wait.restarts = obs.output, obs.restarts
            wait.verdict = READY if obs.verdict == READY else (obs.verdict if obs.verdict in FAILURES else WAITING)
            results.append(wait.result())
        return results, round(self.clock() - self.started, 3)
