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
environment already), so that a run says which parameters changed (spec.py, ``ContainerSpec``). A container being
recreated is set aside under ``<name>-previous`` (stopped, its volumes kept) until its
successor is ready: ``restore_previous`` puts it back when the successor fails.
"""

from __future__ import annotations

import fcntl
import os
import tempfile

from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import LABEL_PREFIX
from ansible_collections.ananta.platform.plugins.module_utils._docker.spec import (
    PREVIOUS_SUFFIX, ContainerSpec, duration_ns, memory_bytes, split_volume,
)
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

try:
    from docker.errors import APIError, ImageNotFound, NotFound
    from docker.types import Healthcheck
except ImportError:  # guarded by DockerRuntime (HAS_DOCKER)
    pass


class DockerDeployer:
    def __init__(self, runtime, project, healthcheck_defaults=None):
        self.api = runtime.api
        self.runtime = runtime
        self.project = project
        self.healthcheck_defaults = healthcheck_defaults or {}
        self._image_ids = {}
        self.kept_networks = []  # the networks remove_networks had to keep, each with the reason
        self.listed = None  # name -> the engine's summary of the project's containers (prime)
        self.names = None  # the names of every container on the engine when they were listed (prime)

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
        """One listing of the engine's containers (names, labels, states), which ``plan`` reads
        instead of inspecting each container: a start of many services with nothing to do makes
        one engine call for all of them, not one each, and a cold start creates the containers
        whose names are not listed without asking for them first."""
        listed = self.api.containers(all=True)
        self.listed, self.names = {}, set()
        project = "%s.project" % LABEL_PREFIX
        for item in listed:
            ours = (item.get("Labels") or {}).get(project) == self.project
            for name in item.get("Names") or []:
                self.names.add(name.lstrip("/"))
                if ours:
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
        # absent from the listing of every container (a name the engine does not know): created
        # without an inspection. One listed but not the project's is inspected: its error names it
        current = None if self.names is not None and spec.name not in self.names else self.inspect(spec.name)
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

    def create(self, spec, cpu_shares=None):
        """Create the container of ``spec``; ``cpu_shares``: its CPU weight from the start (a
        service of the expected critical path: no update call once it runs)."""
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
        if cpu_shares:
            limits["cpu_shares"] = int(cpu_shares)
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
