# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nodes of the Docker start (starter.py): each service's state in a run (``ServiceStart``)
and the gate that lets containers start a few at a time, the most important first
(``PriorityGate``)."""

from __future__ import annotations

import heapq
import threading
import time


class PriorityGate:
    """At most ``slots`` holders; waiters are let in highest priority first.

    ``expected``: the priorities of the first wave (the services that wait for nothing),
    known before any of them is ready to start: a waiter is held (up to ``hold`` seconds)
    while a more important one of the wave has yet to arrive, so that the first let in is
    the most important, not the quickest to create its container. A member of the wave
    that will not start (already running, failed) is ``withdraw``-n.

    ``express`` extra slots: the first waiter may take one when every slot is held by a
    less important start, so that the service at the head of the longest chain never
    waits behind the starts of shorter ones (a start holds its slot 0.3 to 2 s on a busy
    host). ``acquire`` returns the ticket that ``release`` takes back."""

    def __init__(self, slots, expected=(), hold=1.0, clock=time.monotonic, express=1):
        self.slots = slots
        self.express = express
        self.holding = []  # priorities of the current holders
        self.expected = list(expected)  # priorities of the first wave still to arrive
        self.lock = threading.Lock()
        self.waiting = []  # heap of (-priority, arrival, [event, kind])
        self.seq = 0
        self.clock = clock
        self.hold_until = clock() + hold

    def _held(self, priority):
        return self.clock() < self.hold_until and any(other > priority for other in self.expected)

    def _grant(self):
        """Let in the waiters at the head of the queue that may go now (call with the lock
        held). Only those let in are woken: a release wakes one waiter, not every one (a start
        of 200 services has a hundred waiting here at times)."""
        while self.waiting:
            negative, _arrival, entry = self.waiting[0]
            priority = -negative
            if self._held(priority):
                return
            if self.slots > 0:
                self.slots -= 1
                entry[1] = "slot"
            elif self.express > 0 and all(priority > other for other in self.holding):
                self.express -= 1
                entry[1] = "express"
            else:
                return
            heapq.heappop(self.waiting)
            self.holding.append(priority)
            entry[0].set()

    def _hold_left(self):
        """Seconds until the hold of the first wave ends; None once it has."""
        left = self.hold_until - self.clock()
        return max(0.01, left) if left > 0 and self.expected else None

    def acquire(self, priority, expected=False):
        entry = [threading.Event(), None]
        with self.lock:
            if expected and priority in self.expected:
                self.expected.remove(priority)
            self.seq += 1
            heapq.heappush(self.waiting, (-priority, self.seq, entry))
            self._grant()
        while not entry[0].wait(self._hold_left()):
            with self.lock:  # the hold ended while it waited: whoever is at the head may go now
                self._grant()
        return entry[1], priority

    def withdraw(self, priority):
        """A member of the first wave that will not come: stop holding the others for it."""
        with self.lock:
            if priority in self.expected:
                self.expected.remove(priority)
                self._grant()

    def release(self, ticket):
        kind, priority = ticket
        with self.lock:
            if kind == "slot":
                self.slots += 1
            else:
                self.express += 1
            self.holding.remove(priority)
            self._grant()


class ServiceStart:
    def __init__(self, service):
        self.service = service
        self.name = service["name"]
        self.action = None
        self.error = None
        self.started_at = None
        self.engine_start = None  # seconds the engine's start call took
        self.ready_at = None
        self.waited = 0.0
        self.done = threading.Event()  # ready for its dependants (or failed)
        self.after_steps = []  # steps of this run whose result its gates wait for
        self.lock = threading.Lock()
        self.planned = None  # (spec, action) once planned
        self.prepared = None  # (spec, action) once planned and, if needed, created
        self.weighted = False  # its CPU weight is raised now
        self.was_weighted = False  # its CPU weight was raised while it booted (on the expected critical path)
        self.changes = []  # the parameters that differ, when it is recreated
        self.restarted_by = []  # the dependencies whose renewal restarts it (restart_with)
        self.restarts = []  # its dependants restarted because of it
        self.follower = False  # outside the selection: only restarted, when a dependency it declares is renewed
        self.previous = False  # a previous container is set aside for it (put back if it does not become ready)
        self.rolled_back = False
        self.restart_baseline = 0  # its restart count when this run began to wait for it
        self.ready_state = None  # what its readiness check saw of its container when it passed (Docker)

    @property
    def container(self):
        return self.service.get("container_name") or self.name

    @property
    def label(self):
        return "service %s (level %s)" % (self.name, self.service.get("level"))

    def result(self):
        return {"name": self.name, "container": self.container,
                "plane": self.service.get("plane"), "level": self.service.get("level"),
                "action": self.action or "unchanged", "started_at": self.started_at, "engine_start_seconds": self.engine_start,
                "ready_at": self.ready_at, "depends_on": list(self.service.get("depends_on") or []),
                "waited_for_dependencies": round(self.waited, 3), "after_steps": [s.name for s in self.after_steps],
                "cpu_weighted": self.was_weighted, "changes": self.changes, "restarted_by": self.restarted_by,
                "restarts": self.restarts, "rolled_back": self.rolled_back,
                "error": self.error}


def _plane(node):
    """A service's plane, or a step's."""
    service = getattr(node, "service", None)
    return service.get("plane") if service is not None else getattr(node, "plane", None)


def _level(node):
    service = getattr(node, "service", None)
    return service.get("level") if service is not None else None
