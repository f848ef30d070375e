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
from ansible_collections.ananta.platform.plugins.module_utils._k8s import aliases as _aliases
from ansible_collections.ananta.platform.plugins.module_utils._k8s import jobs as _jobs
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects as _objects


class Unit:
    """One node of the cluster start's graph: objects applied together, what they need first
    (other units, by name) and what says they are ready (``wait``: a catalog entry as the
    readiness rules read it; None for objects that are ready once written). ``phase`` is the
    seed 000 phase it belongs to (``namespace``, ``config``, ``statefulsets``, ``jobs``,
    ``level-N``): the export writes one file per phase, the start one call for the graph."""

    __slots__ = ("name", "plane", "phase", "objects", "wait", "needs", "level", "secret", "service", "step", "after",
                 "gates")

    def __init__(self, name, plane, phase, objects, wait=None, needs=(), level=None, secret=False, service=None,
                 step=None, after=()):
        self.name = name
        self.plane = plane
        self.phase = phase
        self.objects = list(objects)
        self.wait = wait
        self.needs = list(needs)
        self.level = level
        self.secret = secret
        self.service = service  # the catalog service it runs, when it runs one
        self.step = step  # the step kind of a step Job (namespaces, migrations, streams)
        self.after = list(after)  # a step Job: the services it comes after
        self.gates = []  # a workload: the step Jobs its gates wait for


def units(r, planes=None, steps_only=False):
    """The graph of the given planes: per plane its namespace (with the aliases and network
    policies), its configuration (ConfigMaps, the Secret), each workload and each step Job,
    each with what it needs first. ``steps_only``: just the step Jobs (with their own
    ConfigMaps and Secrets), for a run of a step alone. Units of services and steps outside
    the planes are not made; a need of one of them is named in ``needs`` all the same (the
    start checks it once)."""
    _catalog.check_planes(r.services, planes)
    planes = [p for p in _catalog.plane_order(r.services) if planes is None or p in planes]
    found = []
    job_of = {}  # step node name -> the name of the Job unit that runs it
    for plane in planes:
        members = [s for s in r.services if s["plane"] == plane]
        if not members:
            continue
        level = min(s["level"] for s in members)
        step_units = []
        for (objects, wait), nodes in _jobs.step_jobs(r, plane):
            after = list(dict.fromkeys(a for node in nodes for a in node.after))
            unit = Unit("%s:%s" % (wait["name"], r.namespaces[plane]), plane, "jobs", objects, wait,
                        [] if steps_only else ["%s/namespace" % plane] + after, level, secret=True,
                        step=nodes[0].kind, after=after)
            for node in nodes:
                job_of[node.name] = unit.name
            step_units.append(unit)
        if steps_only:
            found.extend(step_units)
            continue
        namespace = r.namespaces[plane]
        secret_data, config_maps = {}, {}
        workloads = {s["name"]: _objects.workload(r, s, secret_data, config_maps) for s in members}
        ns_labels = {LABEL_PROJECT: r.project, LABEL_PLANE: plane.replace("_", "-"),
                     "app.kubernetes.io/part-of": "ananta-platform"}
        ns_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}}
        found.append(Unit("%s/namespace" % plane, plane, "namespace",
                          [ns_object] + _aliases.aliases(r, plane) + _aliases.network_policies(r, plane), level=level))
        config = [{"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": _objects.meta(r, name, namespace, _labels(r.project, plane, name, phase="config")),
                   "data": data} for name, data in sorted(config_maps.items())]
        if secret_data:
            config.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": _objects.meta(r, r.opts["secret_name"], namespace,
                                                     _labels(r.project, plane, r.opts["secret_name"], phase="config")),
                           "stringData": dict(sorted(secret_data.items()))})
        found.append(Unit("%s/config" % plane, plane, "config", config, needs=["%s/namespace" % plane],
                          level=level, secret=bool(secret_data)))
        base = ["%s/namespace" % plane, "%s/config" % plane]
        for kind, phase in (("StatefulSet", "statefulsets"), ("Job", "jobs")):
            for svc in (s for s in members if kind_of(s) == kind):
                found.append(Unit(svc["name"], plane, phase, workloads[svc["name"]], wait_entry(r, svc),
                                  base + list(svc.get("depends_on") or []), svc["level"], service=svc["name"]))
            if kind == "Job":
                found.extend(step_units)
        for level_ in sorted({s["level"] for s in members if kind_of(s) == "Deployment"}):
            for svc in (s for s in members if kind_of(s) == "Deployment" and s["level"] == level_):
                found.append(Unit(svc["name"], plane, "level-%d" % level_, workloads[svc["name"]], wait_entry(r, svc),
                                  base + list(svc.get("depends_on") or []), svc["level"], service=svc["name"]))
    for unit in found:
        if unit.service is None:
            continue
        gates = [g for g in r.by_name[unit.service].get("start_after") or [] if isinstance(g, dict)]
        unit.gates = list(dict.fromkeys(job_of[node.name] for node in r.opts["steps"]
                                        if node.name in job_of and any(node.provides(g) for g in gates)))
        unit.needs = list(dict.fromkeys(unit.needs + unit.gates))
    return found


def render(r, planes=None, steps_only=False):
    """The phases of the given planes, in order: the units of each plane grouped by their
    seed 000 phase. ``steps_only``: just the step Jobs (with their own ConfigMaps and
    Secrets), for a run of the migrations or streams step alone."""
    phases = []
    for unit in units(r, planes, steps_only):
        if not phases or (phases[-1]["plane"], phases[-1]["phase"]) != (unit.plane, unit.phase):
            level = int(unit.phase.split("-")[1]) if unit.phase.startswith("level-") else None
            phases.append(new_phase(r, unit.plane, unit.phase, [], [], level=level))
        phase = phases[-1]
        phase["objects"].extend(unit.objects)
        if unit.wait is not None and unit.phase not in ("namespace", "config"):
            phase["waits"].append(unit.wait)
        phase["secret"] = phase["secret"] or unit.secret
    for phase in phases:
        phase["external"] = external(r, phase)
        phase["job_hashes"] = {o["metadata"]["name"]: o["metadata"]["annotations"][ANNOTATION_HASH]
                               for o in phase["objects"] if o["kind"] == "Job"}
    return [p for p in phases if p["objects"]]


def wait_entry(r, svc):
    entry = dict(svc)
    readiness = dict(svc.get("readiness") or {"probe": "running"})
    readiness["timeout"] = max(float(readiness.get("timeout") or 0), float(r.opts["wait_timeout"]))
    entry["readiness"] = readiness
    entry["kubernetes"] = dict(svc.get("kubernetes") or {}, namespace=r.namespace_of(svc))
    return entry


def external(r, phase):
    """Services of other planes the phase's workloads depend on (waited for before the phase)."""
    names = {w["name"] for w in phase["waits"]}
    found = []
    for name in sorted(names):
        for dep in (r.by_name.get(name) or {}).get("depends_on") or []:
            other = r.by_name[dep]
            if other["plane"] != phase["plane"] and dep not in found:
                found.append(dep)
    return [wait_entry(r, r.by_name[d]) for d in found]


def new_phase(r, plane, name, objects, waits, secret=False, level=None):
    return {"name": "%s/%s" % (plane, name), "plane": plane, "phase": name, "level": level,
            "namespace": r.namespaces[plane], "objects": objects, "waits": waits, "secret": secret}


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
