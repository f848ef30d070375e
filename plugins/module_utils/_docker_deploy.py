# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Containers, networks and volumes from catalog entries, through the Docker SDK.

Every object carries the labels ``ananta.platform.project`` (and, for containers,
``ananta.platform.service``, ``.plane``, ``.level`` and ``.config-hash``), so that the
collection finds and removes exactly what it made. A container whose wanted
configuration (image ID included) has a different hash is recreated.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile

from ansible_collections.ananta.platform.plugins.module_utils._catalog import parse_port
from ansible_collections.ananta.platform.plugins.module_utils._docker_runtime import LABEL_PREFIX
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

try:
    from docker.errors import APIError, ImageNotFound, NotFound
    from docker.types import Healthcheck
except ImportError:  # guarded by DockerRuntime (HAS_DOCKER)
    pass

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
        self.labels = labels_for(service, project)
        self.config_hash = hashlib.sha256(json.dumps({
            "image": image_id, "command": self.command, "env": self.env, "ports": self.ports, "volumes": self.volumes,
            "networks": self.networks, "restart": self.restart, "healthcheck": self.healthcheck,
            "labels": self.labels, "entrypoint": service.get("entrypoint"),
        }, sort_keys=True, default=str).encode()).hexdigest()
        self.labels["%s.config-hash" % LABEL_PREFIX] = self.config_hash


class DockerDeployer:
    def __init__(self, runtime, project, healthcheck_defaults=None):
        self.api = runtime.api
        self.runtime = runtime
        self.project = project
        self.healthcheck_defaults = healthcheck_defaults or {}
        self._image_ids = {}

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

    def plan(self, spec):
        """What ensuring ``spec`` would do: create, recreate, start or nothing."""
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
        host_config = self.api.create_host_config(
            port_bindings=port_bindings, binds=binds,
            restart_policy={"Name": spec.restart} if spec.restart != "no" else None,
            network_mode=spec.networks[0] if spec.networks else None, init=True)
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
        """Remove this project's networks that no container uses any more."""
        removed = []
        for net in self.api.networks(filters={"label": "%s.project=%s" % (LABEL_PREFIX, self.project)}):
            if not self.api.inspect_network(net["Id"]).get("Containers"):
                self.api.remove_network(net["Id"])
                removed.append(net["Name"])
        return removed

    def remove(self, name, volumes=False):
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
