# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker start's containers (starter.py's ``Starter`` is ``st``): what each service's
container needs (create, recreate, start or nothing), worked out once; its creation, ahead of
time while its dependencies boot; a recreated container's rollback to the previous one; the CPU
weights of the expected critical path; containers an earlier run left set aside; what check
mode would restart."""

from __future__ import annotations

import threading

from ansible_collections.ananta.platform.plugins.module_utils import _plan
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._waiter import READY

# what a run did to a service that gives its declared dependants a new process to connect to
RENEWED = ("create", "recreate", "start", "restart")
DEFAULT_SHARES = 1024  # the engine's default CPU weight
BOOSTED_SHARES = 8192  # while a service of the expected critical path boots


def roll_back(st, start, message):
    """The new container did not become ready: its log tail kept, the previous container
    put back, started and waited for. Returns the failure's message."""
    tail = "\n".join(st.deployer.runtime.logs_tail(start.container))
    text = "the new container (image %s) did not become ready: %s; its log ends:\n%s\n" % (
        start.service.get("image"), message, tail or "(empty)")
    try:
        restored = st.deployer.restore_previous(start.container)
    except AnantaError as exc:
        return text + "and the previous container could not be put back: %s" % exc.message
    if not restored:
        return text + "and there is no previous container to put back"
    start.rolled_back = True
    wait = st.watch_start(start, True)
    if wait.verdict == READY:
        return text + "the previous container %s was put back and is ready again" % start.container
    return text + "the previous container %s was put back but is not ready: %s: %s" % (
        start.container, wait.verdict.replace("_", " "), wait.output)


def settle(st):
    """A release's end (``all_or_nothing``): its services stand or fall together. All ready:
    every previous container set aside goes. One failed: every other service the run recreated
    is put back on its previous container, in the reverse of the start order (dependants before
    what they depend on), then each is waited for in the start order, and the dependants that
    declared restart_with one of them and were restarted by the run are restarted again (they
    hold connections to the container that went). ``st.put_back`` says what became of each."""
    renewed = [s for s in st.starts.values() if s.previous or s.container in st.leftovers]
    if st.failure is None:
        for start in renewed:
            st.deployer.drop_previous(start.container)
        return
    order = _plan.topological_order([s.service for s in st.starts.values()])
    back = []
    for name in reversed(order):
        start = st.starts[name]
        if start not in renewed or start.rolled_back:
            continue
        try:
            if st.deployer.restore_previous(start.container):
                start.rolled_back = True
                back.append(start)
            else:
                st.put_back.append((start.name, "no previous container to put back"))
        except AnantaError as exc:
            st.put_back.append((start.name, "could not be put back: %s" % exc.message))
    again = [s for s in st.starts.values() if set(s.restarted_by) & {b.name for b in back}]
    for start in reversed(back):
        wait = st.watch_start(start, True, stop=threading.Event())
        st.put_back.append((start.name, "put back and ready" if wait.verdict == READY else
                            "put back but not ready: %s: %s" % (wait.verdict.replace("_", " "), wait.output)))
    for start in again:
        try:
            st.deployer.restart(start.container, st.stop_timeout)
            wait = st.watch_start(start, True, stop=threading.Event())
            st.put_back.append((start.name, "restarted again (restart_with)" if wait.verdict == READY else
                                "restarted again but not ready: %s" % wait.output))
        except AnantaError as exc:
            st.put_back.append((start.name, "not restarted again: %s" % exc.message))


def _weighted(start, shares):
    """Record the CPU weight the service's container now has."""
    start.weighted = shares != DEFAULT_SHARES
    start.was_weighted = start.was_weighted or start.weighted


def weigh(st, start, shares):
    try:
        st.deployer.set_cpu_shares(start.container, shares)
        _weighted(start, shares)
    except Exception:  # pylint: disable=broad-except  # a weight is a hint: the start goes on without it
        pass


def unweigh(st, start):
    if start.weighted:
        weigh(st, start, DEFAULT_SHARES)


def plan(st, start):
    """What the service's container needs (create, recreate, start or nothing), worked out
    once; call with ``start.lock`` held."""
    if start.planned is None:
        spec = st.deployer.spec(start.service)
        action, current = st.deployer.plan(spec)
        if action == "recreate" and not st.recreate:  # started as it is, whatever its configuration
            state = current.get("State") or {}
            action = None if state.get("Running") or state.get("Restarting") else "start"
        if action == "recreate":
            start.changes = spec.changes(current, st.secret)
        start.planned = (spec, action)
    return start.planned


def already_up(st, start):
    """Running (or a finished one-shot) with the wanted configuration: this run starts
    nothing for it, so it waits for none of the run's services nor its gates before its
    readiness is checked (a second start checks every service at once instead of level
    after level). A service without dependencies or gates has nothing to skip: its plan is
    left to its start."""
    if not start.service.get("depends_on") and not start.service.get("start_after") or start.follower:
        return False
    with start.lock:
        return not (start.prepared or plan(st, start))[1]


def prepare(st, start):
    """Plan the service's container and create it if needed (once: by its own thread, or
    ahead of time by the pre-creator). Returns (spec, action)."""
    with start.lock:
        if start.prepared is None:
            spec, action = plan(st, start)
            if action in ("create", "recreate") and not st.check_mode and not st.stop.is_set():
                if action == "recreate":
                    # kept, stopped, until the new one is ready: put back if it is not
                    st.deployer.set_aside(spec.name, st.stop_timeout)
                    start.previous = True
                # the expected critical path is created with its raised weight: an engine call
                # fewer each (at 200 services, the weights' calls cost the start 2.6 s)
                shares = BOOSTED_SHARES if start.name in st.boosted else None
                st.deployer.create(spec, cpu_shares=shares)
                if shares:
                    _weighted(start, shares)
            start.action = action
            start.prepared = (spec, action)
        return start.prepared


def precreate(st, ordered):
    """Once the services that wait for nothing have been started, create the others'
    containers one by one, longest chains first, while their dependencies boot: when a
    dependency is ready, its dependant only has to be started. (Creating them all before
    the first start was measured to delay the datastores by 1-1.5 s on 2 cores.)"""
    while not st.roots_done.wait(0.2):
        if st.stop.is_set():
            return
    for start in ordered:
        if st.stop.is_set():
            return
        if start.prepared is None and not start.follower:
            try:
                prepare(st, start)
            except Exception:  # pylint: disable=broad-except  # its own thread will meet and report it
                pass


def resume(st):
    """Containers set aside by an earlier run that stopped before its successor was judged:
    put back where the successor is missing; otherwise kept until the successor is ready
    (and put back if it is not)."""
    st.leftovers = {name for name in st.deployer.leftovers()
                    if any(s.container == name for s in st.starts.values())}
    for name in sorted(st.leftovers):
        if st.deployer.inspect(name) is None:
            st.deployer.restore_previous(name)
            st.restored.add(name)


def would_restart(st):
    """Check mode: the services that a run would restart (restart_with a renewed one, in turn)."""
    for name in _plan.topological_order([s.service for s in st.starts.values()]):
        start = st.starts[name]
        renewed = [d for d in st.restart_deps(start) if st.starts[d].action in RENEWED]
        if renewed and start.action in (None, "unchanged"):
            if start.follower:
                current = st.deployer.inspect(start.container)
                if not current or not (current.get("State") or {}).get("Running"):
                    continue
            start.restarted_by = renewed
            start.action = "restart"
