# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker runtime adapter: what the waiter and the info module ask of the engine."""

from __future__ import annotations

import calendar
import os
import re
import time

from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

try:
    import docker
    from docker.errors import DockerException, NotFound
    from requests.exceptions import RequestException  # the Docker SDK's transport
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules call missing_required_lib
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = exc

LABEL_PREFIX = "ananta.platform"
# Seconds the Docker engine has to answer the first call of a module (see DockerRuntime).
CONNECT_TIMEOUT = 10.0


def _short(exc):
    """A requests/urllib3 error chain as its last, most precise words."""
    text = str(exc).strip()
    if "Read timed out" in text:
        return "no answer (read timed out)"
    if "Connection refused" in text:
        return "connection refused"
    return text[-300:]


# The argument every module that talks to the engine takes (doc fragment ananta.platform.docker).
DOCKER_ARGSPEC = dict(docker_host=dict(type="str", default="unix:///var/run/docker.sock", aliases=["docker_url"]))
TS_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def parse_timestamp(text):
    """Docker's RFC 3339 nanosecond timestamps -> epoch seconds (0.0 for the zero time)."""
    if not text or text.startswith("0001-01-01"):
        return 0.0
    match = TS_RE.match(text)
    if not match:
        return 0.0
    seconds = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    fraction = float("0" + match.group(2)[:10]) if match.group(2) else 0.0
    offset = match.group(3)
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds + fraction


class ContainerState:
    """The parts of `docker inspect` that readiness depends on."""

    def __init__(self, attrs):
        state = attrs.get("State") or {}
        self.id = attrs.get("Id", "")[:12]
        self.name = attrs.get("Name", "").lstrip("/")
        self.status = state.get("Status", "unknown")
        self.running = bool(state.get("Running"))
        self.restarting = bool(state.get("Restarting"))
        self.oom_killed = bool(state.get("OOMKilled"))
        self.exit_code = state.get("ExitCode")
        self.error = state.get("Error") or ""
        self.started_at = parse_timestamp(state.get("StartedAt"))
        self.finished_at = parse_timestamp(state.get("FinishedAt"))
        self.restart_count = int(attrs.get("RestartCount") or 0)
        self.pid = int(state.get("Pid") or 0)  # the container's first process, as the engine's host sees it
        self.full_id = attrs.get("Id", "")
        # the first process's start time on this machine (DockerRuntime.inspect): set when a look
        # at /proc can tell later that the container still runs as it did
        self.process_start = None
        self.inspected_at = 0.0  # time.monotonic() of the inspection
        self.restart_policy = ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
        health = state.get("Health") or {}
        self.health_status = health.get("Status")  # None when the container has no healthcheck
        self.health_log = health.get("Log") or []
        self.labels = (attrs.get("Config") or {}).get("Labels") or {}
        self.image = (attrs.get("Config") or {}).get("Image", "")
        self.ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}

    def fresh_health(self):
        """(status, output) from health checks that ran after the latest start only.

        A `healthy` left from before a restart is not trusted: status is None then.
        """
        fresh = [entry for entry in self.health_log if parse_timestamp(entry.get("Start")) >= self.started_at]
        if not fresh:
            return None, "no health check has run since the container started"
        last = fresh[-1]
        output = (last.get("Output") or "").strip()
        if self.health_status == "healthy" and last.get("ExitCode") == 0:
            return "healthy", output or "health check passed"
        if self.health_status == "unhealthy":
            return "unhealthy", output or "health check failed with exit code %s" % last.get("ExitCode")
        return "starting", output or "health check exit code %s" % last.get("ExitCode")

    def published_ports(self):
        found = []
        for container_port, bindings in sorted(self.ports.items()):
            for binding in bindings or []:
                found.append("%s:%s->%s" % (binding.get("HostIp") or "0.0.0.0", binding.get("HostPort"), container_port))
        return found


def _in_container(pid, container_id):
    """Whether this machine's process ``pid`` is in the cgroup of the container ``container_id``
    (False when it is not here: the engine is elsewhere, or this runs in a PID namespace of its
    own)."""
    if not pid or not container_id:
        return False
    try:
        with open("/proc/%d/cgroup" % pid, encoding="utf-8") as handle:
            return container_id in handle.read()
    except OSError:
        return False


def _local_process_tree(pid, container_id):
    """[(pid, command line)] of a container's first process and its descendants, read from this
    machine's /proc; None when that process is not here or not in the container's cgroup (the
    engine is elsewhere, or this runs in a PID namespace of its own)."""
    if not _in_container(pid, container_id):
        return None
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            with open("/proc/%d/cmdline" % current, "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            children = []
            for task in os.listdir("/proc/%d/task" % current):
                with open("/proc/%d/task/%s/children" % (current, task), encoding="utf-8") as handle:
                    children.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            if current == pid:
                return None  # the tree cannot be read here: ask the container itself
            continue  # a process that ended meanwhile
        found.append((current, command))
        pending.extend(children)
    return found


# Seconds a running container's inspection is trusted while its first process lives (refresh)
REFRESH_MAX_AGE = 2.0


def _local_start_time(pid, container_id):
    """The start time (clock ticks since boot, /proc/PID/stat's 22nd field) of the container's
    first process, read from this machine's /proc; None when that process has ended (or is a
    zombie), is not here, or is not in the container's cgroup. A pid and its start time name one
    process for good: a restart of the container runs a new one."""
    if not _in_container(pid, container_id):
        return None
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return None if fields[0] in ("Z", "X", "x") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


class DockerRuntime:
    """A thin wrapper over the Docker SDK's low-level client, shared by probe threads."""

    def __init__(self, docker_host=None, timeout=60, pool_size=32):
        if not HAS_DOCKER:
            raise RuntimeAdapterError("the Docker SDK for Python is not installed: %s" % DOCKER_IMPORT_ERROR)
        # The first call (the API version) is held to CONNECT_TIMEOUT: an engine address that accepts
        # TCP and never answers is named then, not after `timeout` (the budget of the slow calls: a
        # container's stop, an image's build). Every later call has `timeout`.
        first = min(timeout, CONNECT_TIMEOUT)
        try:
            self.api = docker.APIClient(base_url=docker_host or "unix:///var/run/docker.sock",
                                        version="auto", timeout=first, max_pool_size=pool_size)
        except DockerException as exc:
            raise RuntimeAdapterError("cannot reach the Docker engine at %s within %gs: %s"
                                      % (docker_host, first, _short(exc))) from exc
        self.api.timeout = timeout
        self.host = docker_host or "unix:///var/run/docker.sock"

    def inspect(self, container):
        """ContainerState, or None when the container does not exist."""
        try:
            state = ContainerState(self.api.inspect_container(container))
        except NotFound:
            return None
        except DockerException as exc:
            raise RuntimeAdapterError("cannot inspect container %s: %s" % (container, exc)) from exc
        except RequestException as exc:  # the engine went away (refused, reset) or did not answer in time
            raise RuntimeAdapterError("the Docker engine at %s did not answer (inspecting container %s): %s"
                                      % (self.host, container, _short(exc))) from exc
        state.inspected_at = time.monotonic()
        if state.running and not state.restarting and state.health_status is None and self.host.startswith("unix://"):
            state.process_start = _local_start_time(state.pid, state.full_id)
        return state

    def refresh(self, container, state=None, max_age=REFRESH_MAX_AGE):
        """The container's state now: ``state`` itself when it says the container runs, without
        a healthcheck, was inspected less than ``max_age`` seconds ago, and its first process is
        still the same one on this machine (read from /proc: no engine call); else an
        inspection. While a container keeps its process its state, restart count and start
        time cannot have changed; an exit, a restart by its policy or a removal ends that
        process, and the next look asks the engine. A start of 200 services polled four times a
        second made 1,800 inspections this way, and the engine's start calls waited behind
        them. The engine is still asked every ``max_age`` seconds (an engine that went away is
        named, as before); a healthcheck's status is the engine's to tell, so such a container
        is always inspected."""
        if state is not None and time.monotonic() - state.inspected_at < max_age and self.same_process(state):
            return state
        return self.inspect(container)

    @staticmethod
    def same_process(state):
        """Whether the container of ``state`` still runs the first process it was inspected with,
        told from this machine's /proc; False when only the engine can tell."""
        return state.process_start is not None and _local_start_time(state.pid, state.full_id) == state.process_start

    def logs_tail(self, container, lines=20):
        try:
            data = self.api.logs(container, stdout=True, stderr=True, tail=lines, timestamps=False)
        except DockerException as exc:
            return ["(logs unavailable: %s)" % exc]
        except RequestException as exc:
            return ["(logs unavailable: the Docker engine at %s did not answer: %s)" % (self.host, _short(exc))]
        return data.decode("utf-8", "replace").rstrip("\n").splitlines()[-lines:] if data else []

    def exec_status(self, container, argv, timeout=10):
        """Run argv in the container; (exit code, output)."""
        try:
            exec_id = self.api.exec_create(container, argv, stdout=True, stderr=True)["Id"]
            output = self.api.exec_start(exec_id)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        except DockerException as exc:
            return None, "exec failed: %s" % exc
        except RequestException as exc:
            raise RuntimeAdapterError("the Docker engine at %s did not answer (exec in container %s): %s"
                                      % (self.host, container, _short(exc))) from exc
        return code, output.decode("utf-8", "replace").strip()

    def process_running(self, container, pattern, state=None):
        """Whether a process of the container matches ``pattern`` (as ``pgrep -f`` says). Where
        the engine is this machine's (a unix socket, and the container's first process, as the
        engine reports it, is here in a cgroup of that container), its process tree is read from
        /proc: no exec in the container, no engine call (three calls and a process each time,
        which a start of many workers pays every poll); elsewhere (a remote engine, an execution
        environment in a container of its own), ``pgrep -f`` runs in the container."""
        if state is not None and self.host.startswith("unix://"):
            found = _local_process_tree(state.pid, state.full_id)
            if found is not None:
                matching = [pid for pid, command in found if re.search(pattern, command)]
                if matching:
                    return True, "process matching %r running (pid %s)" % (pattern, " ".join(str(p) for p in matching))
                return False, "no process matching %r (of %d in the container)" % (pattern, len(found))
        code, output = self.exec_status(container, ["pgrep", "-f", pattern])
        if code == 0:
            return True, "process matching %r running (pid %s)" % (pattern, " ".join(output.split()))
        return False, "no process matching %r (pgrep exit %s)" % (pattern, code)
