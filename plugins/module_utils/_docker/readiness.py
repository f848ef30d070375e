# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness on a Docker host: container state first, then the service's probe.

Fail-fast rules, checked before any probe: a missing container, an exit, a restart
since the wait began (Docker shows `restarting` during back-off, and `running` again
after it: the restart count is what tells), a fresh `unhealthy` past the grace period.
Probe `running` has no probe of its own: the container must run, have stayed up RUNNING_STABLE
seconds, and its restart count (restarts by its policy since it was last started, not only
since the wait began) must be within restarts_allowed: a crash loop never passes it.
"""

from __future__ import annotations

import time

from ansible_collections.ananta.platform.plugins.module_utils._probes import NETWORK_PROBES, run_network_probe
from ansible_collections.ananta.platform.plugins.module_utils._waiter import (
    CRASHED, FAILED, READY, UNHEALTHY, WAITING, Observation,
)


# Seconds a container with probe `running` must have stayed up, without a restart, to be ready.
RUNNING_STABLE = 2.0


class DockerChecker:
    def __init__(self, runtime, probe_host="127.0.0.1", restarts_allowed=0, probe_timeout=3.0, wait_missing=False):
        self.runtime = runtime
        self.wait_missing = wait_missing
        self.probe_host = probe_host
        self.restarts_allowed = restarts_allowed
        self.probe_timeout = probe_timeout

    def prepare(self, wait):
        # the restarts that judge the wait are those from now on: a restart by the container's
        # policy an hour ago, after which it stayed up, is no failure of this wait. A container
        # the caller has just created or started (``wait.fresh``) counts from zero: the engine's
        # start resets its count, and a crash before this inspection is this run's.
        if getattr(wait, "fresh", False):
            wait.baseline = 0  # no inspection needed: the engine's start has just reset the count
            return
        state = self.runtime.inspect(wait.container)
        wait.baseline = state.restart_count if state else 0
        wait.state = state

    def still_up(self, state):
        """Whether the container of ``state`` (as the wait last saw it) still runs the same first
        process, told without the engine (DockerRuntime.refresh); False when only the engine can
        tell."""
        return state is not None and self.runtime.same_process(state)

    def logs(self, wait, lines):
        return self.runtime.logs_tail(wait.container, lines)

    def check(self, wait):
        state = wait.state = self.runtime.refresh(wait.container, getattr(wait, "state", None))
        if state is None:
            if self.wait_missing:  # another plane of this run is about to create it
                return Observation(WAITING, "container %s does not exist yet" % wait.container, passed=False)
            return Observation(FAILED, "container %s does not exist" % wait.container)
        restarts = max(0, state.restart_count - wait.baseline)
        exited = "exit code %s%s%s" % (
            state.exit_code, ", OOM killed" if state.oom_killed else "", ", %s" % state.error if state.error else "")

        if wait.probe == "exit_zero":
            if state.status in ("exited", "dead") and not state.restarting:
                if state.exit_code == 0:
                    return Observation(READY, "finished with exit code 0", restarts)
                return Observation(FAILED, "one-shot container finished with %s" % exited, restarts)
            if restarts > self.restarts_allowed:
                return Observation(FAILED, "one-shot container restarted %d time(s), last %s" % (restarts, exited), restarts)
            return Observation(WAITING, "one-shot container is %s" % state.status, restarts, passed=False)

        if state.restarting or restarts > self.restarts_allowed:
            return Observation(CRASHED, "exited (%s) and %s; restarted %d time(s) since the wait began (restart policy %s)"
                               % (exited, "is restarting" if state.restarting else "was restarted", restarts,
                                  state.restart_policy), restarts)
        if state.status in ("exited", "dead"):
            return Observation(CRASHED, "container is %s with %s" % (state.status, exited), restarts)
        if state.status != "running":
            return Observation(WAITING, "container is %s" % state.status, restarts, passed=False)

        health, health_output = (None, "")
        if state.health_status is not None:
            health, health_output = state.fresh_health()
            up_for = time.time() - state.started_at
            if health == "unhealthy" and up_for >= wait.grace:
                return Observation(UNHEALTHY, "Docker reports unhealthy: %s" % health_output, restarts)

        if wait.probe == "docker_health":
            if state.health_status is None:
                return Observation(FAILED, "probe docker_health but the container has no healthcheck", restarts)
            if health == "healthy":
                return Observation(READY, health_output, restarts)
            return Observation(WAITING, "health %s: %s" % (health or "not yet checked", health_output), restarts, passed=False)
        if wait.probe == "running":
            # Only the container's state tells: a crash-looping container caught while up between two
            # restarts must not pass. Its restarts by its policy since the wait began must be within
            # restarts_allowed (above), and it must have stayed up for RUNNING_STABLE since its last
            # start: a loop shows as ``restarting`` or as one more restart before that.
            up_for = time.time() - state.started_at
            if up_for < RUNNING_STABLE:
                return Observation(WAITING, "running for %.1fs; ready once up for %gs without a restart"
                                   % (max(0.0, up_for), RUNNING_STABLE), restarts, passed=False)
            return Observation(READY, "running since %s, no restart" % time.strftime("%H:%M:%S", time.gmtime(state.started_at)),
                               restarts)
        if wait.probe == "process":
            ok, output = self.runtime.process_running(wait.container, wait.spec["pattern"], state)
            return Observation(READY if ok else WAITING, output, restarts)
        if wait.probe == "command":
            return run_command_probe(self.runtime, wait.spec.get("container") or wait.container, wait.spec["command"], restarts)
        if wait.probe in NETWORK_PROBES:
            result = run_network_probe(wait.spec, self.probe_host, self.probe_timeout)
            return Observation(READY if result.ok else WAITING, result.output, restarts)
        return Observation(FAILED, "unknown probe %r" % wait.probe, restarts)


def run_command_probe(runtime, container, command, restarts=0):
    code, output = runtime.exec_status(container, [str(c) for c in command])
    last = ": %s" % output.splitlines()[-1] if output.strip() else ""
    text = "`%s` in %s exited %s%s" % (" ".join(str(c) for c in command), container, code, last)
    return Observation(READY if code == 0 else WAITING, text, restarts)


class ProbeChecker:
    """Probes only, no container state: for checks that are not services (verify.yml).
    ``command`` probes run in the container the check names, through ``runtime``."""

    def __init__(self, runtime=None, probe_host="127.0.0.1", probe_timeout=3.0):
        self.runtime = runtime
        self.probe_host = probe_host
        self.probe_timeout = probe_timeout

    def prepare(self, wait):
        wait.baseline = 0

    def logs(self, wait, lines):
        return []

    def check(self, wait):
        if wait.probe == "command":
            if self.runtime is None or not wait.spec.get("container"):
                return Observation(FAILED, "a command check needs a container and the Docker engine")
            return run_command_probe(self.runtime, wait.spec["container"], wait.spec["command"])
        if wait.probe not in NETWORK_PROBES:
            return Observation(FAILED, "probe %s needs a target (docker or kubernetes)" % wait.probe)
        result = run_network_probe(wait.spec, self.probe_host, self.probe_timeout)
        return Observation(READY if result.ok else WAITING, result.output)
