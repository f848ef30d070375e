# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed 000's phases: what is applied, in which order, and what each waits for."""

from __future__ import annotations

import os

try:
    import yaml
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _files
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    ANNOTATION_HASH, LABEL_PLANE, LABEL_PROJECT, _labels,
)
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of


class PhasesMixin:
    """The objects in seed 000's phases, with what each phase waits for."""

    def render(self, planes=None, steps_only=False):
        """The phases of the given planes, in order. ``steps_only``: just the step Jobs (with
        their own ConfigMaps and Secrets), for a run of the migrations or streams step alone."""
        _catalog.check_planes(self.services, planes)
        planes = [p for p in _catalog.plane_order(self.services) if planes is None or p in planes]
        phases = []
        for plane in planes:
            members = [s for s in self.services if s["plane"] == plane]
            if not members:
                continue
            step_jobs = self._steps(plane)
            if steps_only:
                phases.append(self._phase(plane, "jobs", [o for objects, _w in step_jobs for o in objects],
                                          [w for _o, w in step_jobs], secret=bool(step_jobs)))
                continue
            namespace = self.namespaces[plane]
            secret_data, config_maps = {}, {}
            workloads = {s["name"]: self._workload(s, secret_data, config_maps) for s in members}
            ns_labels = {LABEL_PROJECT: self.project, LABEL_PLANE: plane.replace("_", "-"),
                         "app.kubernetes.io/part-of": "ananta-platform"}
            ns_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}}
            phases.append(self._phase(plane, "namespace", [ns_object] + self._aliases(plane) + self.network_policies(plane), []))
            config = [{"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": self._meta(name, namespace, _labels(self.project, plane, name, phase="config")),
                       "data": data} for name, data in sorted(config_maps.items())]
            if secret_data:
                config.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                               "metadata": self._meta(self.opts["secret_name"], namespace,
                                                      _labels(self.project, plane, self.opts["secret_name"], phase="config")),
                               "stringData": dict(sorted(secret_data.items()))})
            phases.append(self._phase(plane, "config", config, [], secret=bool(secret_data)))
            stateful = [s for s in members if kind_of(s) == "StatefulSet"]
            phases.append(self._phase(plane, "statefulsets", [o for s in stateful for o in workloads[s["name"]]],
                                      [self._wait_entry(s) for s in stateful]))
            jobs = [s for s in members if kind_of(s) == "Job"]
            phases.append(self._phase(plane, "jobs", [o for s in jobs for o in workloads[s["name"]]]
                                      + [o for objects, _w in step_jobs for o in objects],
                                      [self._wait_entry(s) for s in jobs] + [w for _o, w in step_jobs],
                                      secret=bool(step_jobs)))
            for level in sorted({s["level"] for s in members if kind_of(s) == "Deployment"}):
                deployments = [s for s in members if kind_of(s) == "Deployment" and s["level"] == level]
                phases.append(self._phase(plane, "level-%d" % level, [o for s in deployments for o in workloads[s["name"]]],
                                          [self._wait_entry(s) for s in deployments], level=level))
        for phase in phases:
            phase["external"] = self._external(phase)
            phase["job_hashes"] = {o["metadata"]["name"]: o["metadata"]["annotations"][ANNOTATION_HASH]
                                   for o in phase["objects"] if o["kind"] == "Job"}
        return [p for p in phases if p["objects"]]

    def _wait_entry(self, svc):
        entry = dict(svc)
        readiness = dict(svc.get("readiness") or {"probe": "running"})
        readiness["timeout"] = max(float(readiness.get("timeout") or 0), float(self.opts["wait_timeout"]))
        entry["readiness"] = readiness
        entry["kubernetes"] = dict(svc.get("kubernetes") or {}, namespace=self.namespace_of(svc))
        return entry

    def _external(self, phase):
        """Services of other planes the phase's workloads depend on (waited for before the phase)."""
        names = {w["name"] for w in phase["waits"]}
        found = []
        for name in sorted(names):
            for dep in (self.by_name.get(name) or {}).get("depends_on") or []:
                other = self.by_name[dep]
                if other["plane"] != phase["plane"] and dep not in found:
                    found.append(dep)
        return [self._wait_entry(self.by_name[d]) for d in found]

    def _phase(self, plane, name, objects, waits, secret=False, level=None):
        return {"name": "%s/%s" % (plane, name), "plane": plane, "phase": name, "level": level,
                "namespace": self.namespaces[plane], "objects": objects, "waits": waits, "secret": secret}


def phase_files(phases, dest):
    """The file of each phase under ``dest`` (applied in the order of their names) and its text.
    Needs PyYAML (``HAS_YAML``: the module checks it first)."""
    files = []
    for number, phase in enumerate(phases, 1):
        path = os.path.join(dest, "%02d-%s-%s.yaml" % (number, phase["plane"].replace("_", "-"), phase["phase"]))
        text = "# %s, written by ananta.platform.k8s_manifests: do not edit, render again.\n" % phase["name"]
        text += yaml.safe_dump_all(phase["objects"], sort_keys=False, default_flow_style=False, width=200)
        files.append((path, text))
    return files


def write_phases(phases, dest, check_mode=False):
    """Write each phase's file that changed (readable by its owner only: Secrets are among the
    objects). Returns (changed, every file, the files that changed)."""
    files, diff = [], []
    for path, text in phase_files(phases, dest):
        files.append(path)
        if _files.write_if_changed(path, text, check_mode)[0]:
            diff.append(path)
    return bool(diff), files, diff


def plan_lines(phases):
    lines = []
    for number, phase in enumerate(phases, 1):
        lines.append("%2d. %s" % (number, phase["name"]))
        for obj in phase["objects"]:
            meta = obj["metadata"]
            where = "%s/%s" % (meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"]
            lines.append("      %-22s %s" % (obj["kind"], where))
        if phase["waits"]:
            lines.append("      wait for: %s" % ", ".join(w["name"] for w in phase["waits"]))
    return lines


def stop_phases(phases):
    """The phases in stop order (reverse), each with the objects a stop deletes: workloads and
    their Services. Namespaces (and their alias Services), ConfigMaps, Secrets and volume claims
    stay (the claims go only when asked, by label)."""
    kept = ("Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "NetworkPolicy")
    stops = []
    for phase in reversed(phases):
        if phase["phase"] in ("namespace", "config"):
            continue
        objects = [o for o in phase["objects"] if o["kind"] not in kept]
        if objects:
            stops.append(dict(phase, objects=objects))
    return stops
