# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release on a cluster, all or nothing (k8s_services' ``all_or_nothing``; ``st`` is the
ClusterStart). Before the start updates an object, what the cluster held of it is kept (a
workload from the watches, a ConfigMap or Secret read whole: its values stay in memory, never
in a result). When a unit fails, every unit the start wrote is put back, in the reverse of the
order it was written: each kept object applied again as it was (a Deployment's template
back to the previous one brings its previous ReplicaSet back, as ``kubectl rollout undo``
does; a StatefulSet rolls back to its previous revision), then each workload waited for.
A Job is not put back (a step that ran is not undone; a migration cannot be), nor an object the
start created (it is reported as left)."""

from __future__ import annotations

import copy

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import key

KEPT = ("Deployment", "StatefulSet", "ConfigMap", "Secret", "Service")
FIELDS = ("spec", "data", "binaryData", "stringData", "type")
OWNED_BY_OTHERS = ("deployment.kubernetes.io/", "kubectl.kubernetes.io/")
WAIT = 300.0  # seconds the put-back workloads have to be ready again


def keep(st, run, obj, current):
    """What the cluster holds of ``obj``, before the start writes it."""
    if obj["kind"] not in KEPT:
        return
    if current is None or "spec" not in current or obj["kind"] in ("ConfigMap", "Secret"):
        meta = obj["metadata"]
        current = st.api.read(obj["kind"], meta.get("namespace"), meta["name"])  # a metadata-only listing has no data
    if current is not None:
        run.previous.append(restorable(obj, current))


def restorable(obj, current):
    """``current`` as an object to apply again: its labels, annotations (the applied hash of
    what it was, so that the next start sees it differs from the inventory) and contents."""
    meta = current.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith(OWNED_BY_OTHERS)}  # the controllers' own and kubectl's: not ours to write
    body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "labels": dict(meta.get("labels") or {}), "annotations": annotations}}
    for field in FIELDS:
        if field in current:
            body[field] = copy.deepcopy(current[field])
    if obj["kind"] == "Service":  # assigned by the cluster: kept as they are
        for field in ("clusterIP", "clusterIPs"):
            (body.get("spec") or {}).pop(field, None)
    return body


def put_back(st):
    """Every unit the start wrote, put back in the reverse of the order it was written, then its
    workload waited for; ``st.put_back`` says what became of each, and the failure says it too."""
    back = []
    for run in reversed(st.applied):
        if not run.previous:
            if run.unit.service and run.kind != "Job":
                st.put_back.append((run.name, "left: it is new in this release (nothing to put back)"))
            continue
        try:
            for body in reversed(run.previous):
                applied = st.api.apply(body)
                if run.workload() == key(body):
                    meta = applied.get("metadata") or {}
                    run.expect = (meta.get("uid"), meta.get("generation"))
        except AnantaError as exc:
            st.put_back.append((run.name, "could not be put back: %s" % exc.message))
            continue
        if run.unit.wait and run.kind != "Job":
            run.state, run.began, run.ready_since = "putting back", st.clock(), None
            back.append(run)
        else:
            st.put_back.append((run.name, "put back"))
    _wait(st, back)
    if st.put_back:
        st.failure += "; what the release changed: %s" % "; ".join("%s %s" % (name, outcome) for name, outcome in st.put_back)


def _wait(st, runs):
    """Each put-back workload until it is ready again, fails, or WAIT runs out."""
    waiting, version, began = list(runs), -1, st.clock()
    while waiting:
        for run in list(waiting):
            verdict, message = st.verdict(run)
            if verdict == _k8s_rules.READY:
                st.put_back.append((run.name, "put back and ready"))
                waiting.remove(run)
            elif verdict in (_k8s_rules.FAILED, _k8s_rules.CRASHED) and st.clock() - began > 30:
                st.put_back.append((run.name, "put back but not ready: %s: %s" % (verdict, message)))
                waiting.remove(run)
        if st.clock() - began > WAIT:
            for run in waiting:
                st.put_back.append((run.name, "put back but not ready after %ds: %s" % (WAIT, st.verdict(run)[1])))
            return
        if waiting:
            version = st.cache.wait_change(version, 0.5)
