# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Ananta Platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress of a long module run: one JSON line per event, appended to a file that the
controller's action plugin reads while the module runs (``plugins/action/docker_services.py``).

Each line: ``{"t": seconds since the run began, "event": ..., "name": ..., ...}``. Events:
``ready`` (a service judged ready: ``plane``, ``level``, ``seconds`` from its start call, or
from the wait's beginning when it was already up, ``action``), ``step`` (a step done:
``plane``, ``seconds``, ``changed``), ``failed`` (a service or step: ``error``) and ``waits``
(what a service waits for before it starts: ``on``). Nothing secret is written: names, planes,
levels, seconds and the errors the run reports anyway (masked like its result).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
import time


class Progress:
    """Appends events to ``path`` (flushed at once); does nothing without a path. A write
    that fails (a full disk) ends the progress, never the run."""

    def __init__(self, path=None, clock=time.monotonic, mask=None):
        self.path = path
        self.clock = clock
        self.t0 = clock()
        self.lock = threading.Lock()
        self.mask = mask or (lambda text: text)
        self.handle = None
        if path:
            try:
                self.handle = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with  # closed by close()
            except OSError:
                self.handle = None

    def emit(self, event, name, **fields):
        if self.handle is None:
            return
        record = {"t": round(self.clock() - self.t0, 3), "event": event, "name": name}
        for key, value in fields.items():
            if value is not None:
                record[key] = self.mask(value) if isinstance(value, str) else value
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.lock:
            if self.handle is None:
                return
            try:
                self.handle.write(line)
                self.handle.flush()
            except (OSError, ValueError):
                self.handle = None

    def close(self):
        with self.lock:
            if self.handle is not None:
                try:
                    self.handle.close()
                except OSError:
                    pass
                self.handle = None


def format_event(record):
    """One line of the operator's output for an event (the action plugin prints it)."""
    clock = "[%6.1f s]" % float(record.get("t") or 0)
    plane = record.get("plane") or "-"
    level = record.get("level")
    where = "%s L%s" % (plane, level) if level is not None else plane
    event = record.get("event")
    name = record.get("name", "?")
    if event == "begin":
        return "%s starting %d service(s) and %d step(s), each as soon as what it needs is ready" % (
            clock, int(record.get("services") or 0), int(record.get("steps") or 0))
    if event == "ready":
        if record.get("action") in (None, "unchanged"):
            how = "already up (checked in %.1f s)" % float(record.get("seconds") or 0)
        else:
            how = "ready in %.1f s (%s)" % (float(record.get("seconds") or 0), record.get("action"))
        return "%s %-18s %-28s %s" % (clock, where, name, how)
    if event == "step" and record.get("action") == "unchanged":
        return "%s %-18s %-28s step done already (nothing of it changed)" % (clock, where, name)
    if event == "step":
        return "%s %-18s %-28s step done in %.2f s%s" % (
            clock, where, name, float(record.get("seconds") or 0), ", changed" if record.get("changed") else "")
    if event == "failed":
        return "%s %-18s %-28s FAILED: %s" % (clock, where, name, record.get("error", ""))
    if event == "removed":
        return "%s %-18s %-28s removed in %.1f s" % (clock, where, name, float(record.get("seconds") or 0))
    if event == "waits":
        return "%s %-18s %-28s waits for %s" % (clock, where, name, ", ".join(record.get("on") or []) or "nothing")
    return "%s %-18s %-28s %s" % (clock, where, name, event)


def parse_lines(text):
    """The complete JSON lines of ``text`` as records, and the unparsed rest (a line still
    being written)."""
    records = []
    lines = text.split("\n")
    rest = lines.pop()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, rest
