# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers, networks and volumes from catalog entries, through the Docker SDK.

Every object carries the labels ``ananta.platform.project`` (and, for containers,
``ananta.platform.service``, ``.plane``, ``.level`` and ``.config-hash``), so that the
collection finds and removes exactly what it made. A container whose wanted
configuration (image ID included) has a different hash is recreated.

``ananta.platform.config`` holds what the hash covers, parameter by parameter (an
environment variable's value only as a digest: its value is in the container's own
environment already), so that a run says which parameters changed. A container being
recreated is set aside under ``<name>-previous`` (stopped, its volumes kept) until its
successor is ready: ``restore_previous`` puts it back when the successor fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import tempfile

from ansible_collections.ananta.platform.plugins.module_utils._catalog import parse_port
from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import LABEL_PREFIX
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

try:
    from docker.errors import APIError, ImageNotFound, NotFound
    from docker.types import Healthcheck
except ImportError:  # guarded by DockerRuntime (HAS_DOCKER)
    pass

CONFIG_LABEL = "%s.config" % LABEL_PREFIX
PREVIOUS_LABEL = "%s.previous-of" % LABEL_PREFIX
PREVIOUS_SUFFIX = "-previous"
MEMORY_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def duration_ns(value):
    """compose durations (2s, 1m30s, 500ms) or seconds -> nanoseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    text, total, number = str(value).strip(), 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in DURATION_UNITS else ch
        if unit not in DURATION_UNITS or not number:
            raise RuntimeAdapterError("not a duration: %r" % value)
        total += float(number) * DURATION_UNITS[unit]
        number = ""
        i += len(unit)
    if number:
        total += float(number)
    return int(total * 1e9)


def memory_bytes(value):
    """512m, 1g, 1.5g or a number of bytes -> bytes (compose's mem_limit)."""
    text = str(value).strip().lower()
    unit = text[-1] if text[-1] in MEMORY_UNITS else "b"
    return int(float(text.rstrip("bkmg")) * MEMORY_UNITS[unit])


def _digest(value):
    return hashlib.sha256(("ananta.platform:%s" % value).encode()).hexdigest()[:16]


def _argv(value):
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def labels_for(service, project):
    labels = dict(service.get("labels") or {})
    labels.update({
        "%s.project" % LABEL_PREFIX: project,
        "%s.service" % LABEL_PREFIX: service["name"],
        "%s.plane" % LABEL_PREFIX: service.get("plane", ""),
        "%s.level" % LABEL_PREFIX: str(service.get("level", "")),
    })
    return labels


def split_volume(spec):
    """'name:/path[:ro]' (named volume) or '/host:/path[:ro]' (bind) -> (source, target, mode, named)."""
    parts = str(spec).split(":")
    if len(parts) < 2:
        raise RuntimeAdapterError("volume %r is not SOURCE:TARGET[:MODE]" % spec)
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    return source, target, mode, not source.startswith(("/", "."))


class ContainerSpec:
    """What the catalog entry asks of Docker, and its hash."""

    def __init__(self, service, project, image_id, healthcheck_defaults=None):
        self.service = service
        self.name = service.get("container_name") or service["name"]
        self.image = service["image"]
        self.command = service.get("command")
        self.env = {str(k): "" if v is None else str(v) for k, v in (service.get("env") or {}).items()}
        self.ports = [parse_port(p) for p in service.get("ports") or []]
        self.volumes = [split_volume(v) for v in service.get("volumes") or []]
        self.networks = list(service.get("networks") or [])
        self.restart = service.get("restart_policy", "no")
        health = service.get("healthcheck")
        self.healthcheck = dict(healthcheck_defaults or {}, **health) if health else None
        self.resources = dict(service.get("resources") or {})
        self.labels = labels_for(service, project)
        hashed = {
            "image": image_id, "command": self.command, "env": self.env, "ports": self.ports, "volumes": self.volumes,
            "networks": self.networks, "restart": self.restart, "healthcheck": self.healthcheck,
            "labels": self.labels, "entrypoint": service.get("entrypoint"),
        }
        if self.resources:  # only when set: the hash of a container without limits stays what it was
            hashed["resources"] = self.resources
        self.config_hash = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()
        # what the hash covers, parameter by parameter, for the diff of the next change
        self.summary = {
            "image": "%s (%s)" % (self.image, str(image_id)[:19]), "command": _argv(self.command),
            "entrypoint": _argv(service.get("entrypoint")),
            "env": {k: _digest(v) for k, v in self.env.items()},
            "ports": ["%s:%s->%s/%s" % (ip or "0.0.0.0", hp, cp, proto) if hp is not None else "%s/%s" % (cp, proto)
                      for ip, hp, cp, proto in self.ports],
            "volumes": ["%s:%s:%s" % v[:3] for v in self.volumes], "networks": self.networks, "restart": self.restart,
            "healthcheck": self.healthcheck, "resources": self.resources,
            "labels": {k: v for k, v in self.labels.items() if not k.startswith(LABEL_PREFIX + ".")},
        }
        self.labels["%s.config-hash" % LABEL_PREFIX] = self.config_hash
        self.labels[CONFIG_LABEL] = json.dumps(self.summary, sort_keys=True, separators=(",", ":"), default=str)

    def changes(self, current, secret=lambda value: False):
        """The parameters that differ between ``current`` (the container's inspect) and this
        spec: ``[{parameter, before, after}]``, environment variables one by one, by name; the
        value of a variable is shown only when neither side is a secret (``secret(value)``)."""
        labels = (current.get("Config") or {}).get("Labels") or {}
        try:
            before = json.loads(labels.get(CONFIG_LABEL) or "")
        except ValueError:
            return [{"parameter": "configuration", "before": "created by an earlier version of the collection",
                     "after": "this version's"}]
        found = []
        for key in ("image", "command", "entrypoint", "ports", "volumes", "networks", "restart", "healthcheck",
                    "resources", "labels"):
            if before.get(key) != self.summary.get(key) and (before.get(key) or self.summary.get(key)):
                found.append({"parameter": key, "before": before.get(key), "after": self.summary.get(key)})
        old_env = before.get("env") or {}
        now_env = dict(item.split("=", 1) for item in (current.get("Config") or {}).get("Env") or [] if "=" in item)
        for name in sorted(set(old_env) | set(self.env)):
            if old_env.get(name) == self.summary["env"].get(name):
                continue
            old, new = now_env.get(name) if name in old_env else None, self.env.get(name)
            hidden = any(v is not None and secret(v) for v in (old, new))
            found.append({"parameter": "env.%s" % name,
                          "before": ("(secret)" if hidden and old is not None else old),
                          "after": ("(secret)" if hidden and new is not None else new)})
        return found


class DockerDeployer:
    def __init__(self, runtime, project, healthcheck_defaults=None):
        self.api = runtime.api
        self.runtime = runtime
        self.project = project
        self.healthcheck_defaults = healthcheck_defaults or {}
        self._image_ids = {}
        self.kept_networks = []  # the networks remove_networks had to keep, each with the reason
        self.listed = None  # name -> the engine's summary of the project's containers (prime)

    # -- networks and volumes ------------------------------------------------------------------
    def ensure_networks(self, wanted, check=False):
        """Create the networks of ``wanted`` (name -> driver) that do not exist; returns the
        names created. One listing of the engine's networks for all of them. Runs for several
        planes at once on one host: a file lock serializes the creations, as the engine
        itself accepts two networks of one name."""
        missing = sorted(set(wanted) - {n["Name"] for n in self.api.networks()})
        if not missing or check:
            return missing
        created = []
        with open(os.path.join(tempfile.gettempdir(), "ananta-platform-networks.lock"), "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = {n["Name"] for n in self.api.networks()}
            for name in missing:
                if name not in existing:
                    self.api.create_network(name, driver=wanted[name], labels={"%s.project" % LABEL_PREFIX: self.project})
                    created.append(name)
        return created

    def ensure_volume(self, name, check=False):
        try:
            self.api.inspect_volume(name)
            return False
        except NotFound:
            if not check:
                self.api.create_volume(name, labels={"%s.project" % LABEL_PREFIX: self.project})
            return True

    def image_id(self, image):
        if image not in self._image_ids:
            try:
                self._image_ids[image] = self.api.inspect_image(image)["Id"]
            except ImageNotFound:
                raise RuntimeAdapterError("image %s is not on the Docker host (images are built locally, never pulled: "
                                          "for the lab, run playbooks/lab_images.yml)" % image)
        return self._image_ids[image]

    def spec(self, service):
        return ContainerSpec(service, self.project, self.image_id(service["image"]), self.healthcheck_defaults)

    # -- containers --------------------------------------------------------------------------------
    def inspect(self, name):
        try:
            return self.api.inspect_container(name)
        except NotFound:
            return None

    def prime(self):
        """One listing of the project's containers (names, labels, states), which ``plan`` reads
        instead of inspecting each container: a start of many services with nothing to do makes
        one engine call for all of them, not one each."""
        listed = self.api.containers(all=True, filters={"label": "%s.project=%s" % (LABEL_PREFIX, self.project)})
        self.listed = {}
        for item in listed:
            for name in item.get("Names") or []:
                self.listed[name.lstrip("/")] = item
        return self.listed

    def _plan_listed(self, spec, item):
        """``plan`` from the listing's summary: its labels and its state. None when the summary
        does not settle it (a changed configuration needs the whole inspection, for its diff)."""
        labels = item.get("Labels") or {}
        if labels.get("%s.config-hash" % LABEL_PREFIX) != spec.config_hash:
            return None
        state = str(item.get("State") or "")
        if state in ("running", "restarting"):
            return (None, None)
        oneshot = (spec.service.get("readiness") or {}).get("probe") == "exit_zero"
        if oneshot and state == "exited" and str(item.get("Status") or "").startswith("Exited (0)"):
            return (None, None)  # a finished one-shot stays finished
        return None

    def plan(self, spec):
        """What ensuring ``spec`` would do: create, recreate, start or nothing. With the
        project's containers listed (``prime``), a container with its wanted configuration that
        runs is settled from the listing; the rest is inspected."""
        if self.listed is not None and spec.name in self.listed:
            settled = self._plan_listed(spec, self.listed.pop(spec.name))
            if settled is not None:
                return settled
        current = self.inspect(spec.name)
        if current is None:
            return "create", None
        labels = (current.get("Config") or {}).get("Labels") or {}
        if labels.get("%s.project" % LABEL_PREFIX) != self.project:
            raise RuntimeAdapterError("container %s exists but was not made by this collection for project %s "
                                      "(label %s.project=%s): remove or rename it" % (
                                          spec.name, self.project, LABEL_PREFIX, labels.get("%s.project" % LABEL_PREFIX)))
        if labels.get("%s.config-hash" % LABEL_PREFIX) != spec.config_hash:
            return "recreate", current
        state = current.get("State") or {}
        if state.get("Running") or state.get("Restarting"):
            return None, current
        oneshot = (spec.service.get("readiness") or {}).get("probe") == "exit_zero"
        if oneshot and state.get("ExitCode") == 0 and state.get("Status") == "exited":
            return None, current  # a finished one-shot stays finished
        return "start", current

    def create(self, spec):
        for volume in self.volume_names(spec.service):
            self.ensure_volume(volume)
        port_bindings, exposed = {}, []
        for host_ip, host_port, container_port, proto in spec.ports:
            key = "%d/%s" % (container_port, proto)
            exposed.append((container_port, proto))
            if host_port is not None:
                port_bindings.setdefault(key, []).append((host_ip or "0.0.0.0", host_port))
        binds = ["%s:%s:%s" % (source, target, mode) for source, target, mode, _named in spec.volumes]
        limits = {}
        if "memory" in spec.resources:
            limits["mem_limit"] = memory_bytes(spec.resources["memory"])
        if "cpus" in spec.resources:
            limits["nano_cpus"] = int(float(spec.resources["cpus"]) * 1e9)
        host_config = self.api.create_host_config(
            port_bindings=port_bindings, binds=binds,
            restart_policy={"Name": spec.restart} if spec.restart != "no" else None,
            network_mode=spec.networks[0] if spec.networks else None, init=True, **limits)
        networking = None
        if spec.networks:
            networking = self.api.create_networking_config(
                {spec.networks[0]: self.api.create_endpoint_config(aliases=[spec.service["name"]])})
        healthcheck = None
        if spec.healthcheck:
            hc = spec.healthcheck
            healthcheck = Healthcheck(test=hc["test"], interval=duration_ns(hc.get("interval")),
                                      timeout=duration_ns(hc.get("timeout")), retries=hc.get("retries"),
                                      start_period=duration_ns(hc.get("start_period")))
        try:
            created = self.api.create_container(
                spec.image, command=spec.command, name=spec.name, environment=spec.env, labels=spec.labels,
                ports=exposed, host_config=host_config, networking_config=networking, healthcheck=healthcheck,
                entrypoint=spec.service.get("entrypoint"), detach=True, hostname=spec.service["name"])
            for network in spec.networks[1:]:
                self.api.connect_container_to_network(created["Id"], network, aliases=[spec.service["name"]])
        except APIError as exc:
            raise RuntimeAdapterError("cannot create container %s: %s" % (spec.name, exc.explanation or exc))
        return created["Id"]

    def start(self, name):
        try:
            self.api.start(name)
        except APIError as exc:
            raise RuntimeAdapterError("cannot start container %s: %s" % (name, exc.explanation or exc))

    def restart(self, name, timeout=10):
        try:
            self.api.restart(name, timeout=timeout)
        except APIError as exc:
            raise RuntimeAdapterError("cannot restart container %s: %s" % (name, exc.explanation or exc))

    # -- the previous container of a recreated service ---------------------------------------------
    def set_aside(self, name, timeout=10):
        """Stop the container ``name`` and rename it ``<name>-previous`` (one left by an earlier
        run is removed first: the one being replaced now is the newer)."""
        previous = name + PREVIOUS_SUFFIX
        if self.inspect(previous) is not None:
            self.api.remove_container(previous, force=True, v=False)
        try:
            self.api.stop(name, timeout=timeout)
            self.api.rename(name, previous)
        except APIError as exc:
            raise RuntimeAdapterError("cannot set container %s aside before it is recreated: %s" % (
                name, exc.explanation or exc))
        return previous

    def restore_previous(self, name):
        """The successor ``name`` removed (if any) and ``<name>-previous`` renamed back and
        started. False when there is no previous container."""
        previous = name + PREVIOUS_SUFFIX
        if self.inspect(previous) is None:
            return False
        try:
            if self.inspect(name) is not None:
                self.api.remove_container(name, force=True, v=False)
            self.api.rename(previous, name)
            self.api.start(name)
        except APIError as exc:
            raise RuntimeAdapterError("cannot put the previous container of %s back: %s" % (name, exc.explanation or exc))
        return True

    def drop_previous(self, name):
        """Remove ``<name>-previous`` once its successor is ready (no-op when there is none)."""
        try:
            self.api.remove_container(name + PREVIOUS_SUFFIX, force=True, v=False)
            return True
        except NotFound:
            return False

    def leftovers(self):
        """Names of the containers set aside by an earlier run of this project that did not
        finish (one listing of the engine's containers)."""
        found = self.api.containers(all=True, filters={"label": "%s.project=%s" % (LABEL_PREFIX, self.project)})
        return {n.lstrip("/")[:-len(PREVIOUS_SUFFIX)] for c in found for n in c.get("Names") or []
                if n.endswith(PREVIOUS_SUFFIX)}

    def set_cpu_shares(self, name, shares):
        """The container's CPU weight against the others while the host is contended (cgroup
        cpu shares; 1024 is the engine's default). Changes no configuration the plan compares."""
        try:
            self.api.update_container(name, cpu_shares=int(shares))
        except APIError as exc:
            raise RuntimeAdapterError("cannot set the CPU weight of %s: %s" % (name, exc.explanation or exc))

    @staticmethod
    def volume_names(service):
        return [v[0] for v in (split_volume(v) for v in service.get("volumes") or []) if v[3]]

    def remove_volume(self, name):
        """Remove a named volume, only if this project made it."""
        try:
            labels = self.api.inspect_volume(name).get("Labels") or {}
        except NotFound:
            return False
        if labels.get("%s.project" % LABEL_PREFIX) != self.project:
            return False
        try:
            self.api.remove_volume(name)
        except APIError:
            return False
        return True

    def remove_networks(self):
        """Remove this project's networks that no container uses any more. A network the
        engine refuses to remove though no container is attached (``has active endpoints``: an
        endpoint the engine lost track of, seen after a compose project on the same network
        went down) is kept and named in ``self.kept_networks``: the services are stopped, which
        is what was asked, and the next start reuses the network."""
        removed = []
        self.kept_networks = []
        for net in self.api.networks(filters={"label": "%s.project=%s" % (LABEL_PREFIX, self.project)}):
            if not self.api.inspect_network(net["Id"]).get("Containers"):
                try:
                    self.api.remove_network(net["Id"])
                except APIError as exc:
                    if "active endpoints" not in str(exc):
                        raise
                    self.kept_networks.append("network %s kept: the engine reports active endpoints though no "
                                              "container is attached (%s)" % (net["Name"], getattr(exc, "explanation", exc)))
                    continue
                removed.append(net["Name"])
        return removed

    def remove(self, name, volumes=False):
        self.drop_previous(name)  # one set aside by a run that did not finish goes with it
        current = self.inspect(name)
        if current is None:
            return False
        self.api.remove_container(name, force=True, v=False)
        if volumes:
            for mount in current.get("Mounts") or []:
                if mount.get("Type") == "volume" and mount.get("Name"):
                    self.remove_volume(mount["Name"])
        return True

    def stop(self, name, timeout=10):
        current = self.inspect(name)
        if current is None or not (current.get("State") or {}).get("Running"):
            return False
        self.api.stop(name, timeout=timeout)
        return True


def _shown(value):
    if value is None:
        return "(none)"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def service_diff(services):
    """One diff per service the call changes (or would): its action, the parameters that
    differ, and the dependants restarted because of it."""
    diffs = []
    for svc in services:
        action = svc.get("action") or "unchanged"
        if action == "unchanged":
            continue
        header = "%s (container %s, %s level %s): %s" % (
            svc["name"], svc.get("container"), svc.get("plane"), svc.get("level"), action)
        before, after = [], []
        for change in svc.get("changes") or []:
            before.append("%s: %s" % (change["parameter"], _shown(change["before"])))
            after.append("%s: %s" % (change["parameter"], _shown(change["after"])))
        if action in ("create", "remove"):
            before.append("container: %s" % ("absent" if action == "create" else "present"))
            after.append("container: %s" % ("created" if action == "create" else "removed"))
        elif action in ("start", "stop"):
            before.append("state: %s" % ("stopped" if action == "start" else "running"))
            after.append("state: %s" % ("running" if action == "start" else "stopped"))
        elif action == "restart":
            after.append("restarted: its dependency %s is renewed (restart_with)" % ", ".join(svc.get("restarted_by") or []))
        if svc.get("restarts"):
            after.append("restarts its dependants: %s" % ", ".join(svc["restarts"]))
        diffs.append({"before_header": header, "after_header": header,
                      "before": "\n".join(before) + "\n" if before else "", "after": "\n".join(after) + "\n"})
    return diffs
