# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cluster start reads while it runs: the workloads, their pods and their claims,
kept up to date by one watch per kind and namespace (a LIST, then the events after it).

Each stream runs in its own thread; every event bumps ``version`` and wakes whoever waits in
``wait_change``. A watch the server ends is started again from the last resourceVersion it
saw; one whose resourceVersion is too old (410) lists again; one that fails (the API server
restarting, a dropped connection) is tried again, and a stream that has been failing for
``stale_after`` seconds is reported by ``problem()``, naming the API server's error, so that
the run fails instead of waiting on a picture that no longer changes.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

# what the start watches: the workloads, their pods and the volume claims of the StatefulSets
WATCHED = ("StatefulSet", "Deployment", "Job", "Pod", "PersistentVolumeClaim")


class Cache:
    def __init__(self, api, namespaces, selector, kinds=WATCHED, watch_seconds=30, stale_after=40.0, silence=20.0,
                 clock=time.monotonic):
        self.api = api
        self.selector = selector
        self.streams = [(kind, ns) for ns in sorted(set(namespaces)) for kind in kinds]
        self.objects = {stream: {} for stream in self.streams}
        self.watch_seconds = watch_seconds
        self.silence = silence  # seconds past the watch's own span that it may stay silent
        self.stale_after = stale_after
        self.clock = clock
        self.cond = threading.Condition()
        self.version = 0
        self.synced = {stream: threading.Event() for stream in self.streams}
        self.failing = {}  # stream -> (since, error text)
        self.stopped = threading.Event()
        self.threads = []
        self.calls = 0  # API calls made (lists and watches), for the benchmarks

    def start(self):
        for stream in self.streams:
            thread = threading.Thread(target=self._run, args=stream, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self):
        self.stopped.set()

    def wait_synced(self, timeout):
        """Until every stream has its first LIST (True), or ``timeout`` (False)."""
        deadline = self.clock() + timeout
        for event in self.synced.values():
            while not event.wait(0.1):
                if self.clock() > deadline or self.problem(0):
                    return False
        return True

    def problem(self, stale_after=None):
        """The error of a stream that has been failing for longer than ``stale_after``, or None."""
        limit = self.stale_after if stale_after is None else stale_after
        with self.cond:
            for (kind, namespace), (since, text) in sorted(self.failing.items()):
                if self.clock() - since >= limit:
                    return "the start cannot follow %s in %s: %s" % (kind, namespace, text)
        return None

    # -- reading ----------------------------------------------------------------------------

    def get(self, kind, namespace, name):
        with self.cond:
            return (self.objects.get((kind, namespace)) or {}).get(name)

    def items(self, kind, namespace):
        with self.cond:
            return list((self.objects.get((kind, namespace)) or {}).values())

    def wait_change(self, version, timeout):
        """Until an event newer than ``version`` came in, or ``timeout``; the current version."""
        with self.cond:
            if self.version == version:
                self.cond.wait(timeout)
            return self.version

    def poke(self):
        """Wake whoever waits (a write of the start's own, an abort)."""
        with self.cond:
            self.version += 1
            self.cond.notify_all()

    # -- the streams ------------------------------------------------------------------------

    def _store(self, stream, items):
        with self.cond:
            self.objects[stream] = {(i.get("metadata") or {}).get("name"): i for i in items}
            self.failing.pop(stream, None)
            self.version += 1
            self.cond.notify_all()

    def _event(self, stream, event):
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name")
        with self.cond:
            if event.get("type") == "DELETED":
                self.objects[stream].pop(name, None)
            else:
                self.objects[stream][name] = obj
            self.version += 1
            self.cond.notify_all()

    def _failed(self, stream, text):
        with self.cond:
            if stream not in self.failing:
                self.failing[stream] = (self.clock(), text)
            else:
                self.failing[stream] = (self.failing[stream][0], text)
            self.version += 1
            self.cond.notify_all()

    def _run(self, kind, namespace):
        stream = (kind, namespace)
        version = None
        pause = 0.5
        while not self.stopped.is_set():
            try:
                if version is None:
                    self.calls += 1
                    items, version = self.api.list(kind, namespace, self.selector)
                    self._store(stream, items)
                    self.synced[stream].set()
                self.calls += 1
                for event in self.api.watch(kind, namespace, self.selector, version, self.watch_seconds, self.silence):
                    if self.stopped.is_set():
                        return
                    kind_of_event = event.get("type")
                    obj = event.get("object") or {}
                    if kind_of_event == "ERROR":
                        # 410 Gone: the resourceVersion is too old: list again
                        version = None if obj.get("code") == 410 else version
                        if obj.get("code") != 410:
                            raise RuntimeAdapterError("watching %s in %s: %s" % (kind, namespace, obj.get("message")))
                        break
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind_of_event != "BOOKMARK":
                        self._event(stream, event)
                with self.cond:
                    self.failing.pop(stream, None)
                pause = 0.5
            except RuntimeAdapterError as exc:
                if exc.details.get("status") == 410:
                    version = None
                    continue
                self._failed(stream, exc.message)
                self.stopped.wait(pause)
                pause = min(5.0, pause * 2)
            except Exception as exc:  # pylint: disable=broad-except  # reported through problem(), never lost
                self._failed(stream, "%s: %s" % (type(exc).__name__, exc))
                self.stopped.wait(pause)
                pause = min(5.0, pause * 2)
