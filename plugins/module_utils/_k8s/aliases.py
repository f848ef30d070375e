# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aliases and network policies of a plane."""

from __future__ import annotations

import json
import re

from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import (
    LABEL_STEP, _container_ports, _labels, _selector,
)
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_name
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects as _objects


def aliases(r, plane):
    """Services that make the names pods use on Docker resolve in this plane's namespace."""
    namespace = r.namespaces[plane]
    local = {object_name(s) for s in r.services if s["plane"] == plane}
    local |= {s["name"] for s in r.services if s["plane"] == plane}
    texts = []
    for svc in r.services:
        if svc["plane"] != plane:
            continue
        texts.extend(str(v) for v in (svc.get("env") or {}).values())
        texts.extend(json.dumps(g) for g in svc.get("start_after") or [])
    referenced = " ".join(texts)
    members = [s for s in r.services if s["plane"] == plane]
    depended_on = {d for s in members for d in s.get("depends_on") or []}
    gated_on = {r.host_ports[int(g["port"])][0]["name"] for s in members for g in s.get("start_after") or []
                if isinstance(g, dict) and g.get("port") and not g.get("host") and int(g["port"]) in r.host_ports}
    aliases = []
    for other in r.services:
        if other["plane"] == plane or other["name"] in local or not _container_ports(other):
            continue
        used = other["name"] in depended_on or other["name"] in gated_on
        used = used or re.search(r"(?<![a-z0-9.-])%s(?![a-z0-9-])" % re.escape(other["name"]), referenced) is not None
        if not used:
            continue
        target = "%s.%s.svc.%s" % (object_name(other), r.namespace_of(other), r.opts["cluster_domain"])
        aliases.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": _objects.meta(r, other["name"], namespace, _labels(r.project, plane, other["name"])),
                        "spec": {"type": "ExternalName", "externalName": target,
                                 "ports": [{"name": p["name"], "port": p["containerPort"], "protocol": p["protocol"]}
                                           for p in _container_ports(other)]}})
    return aliases


def networks_of(r, svc):
    """The Docker networks a service joins: its own, else its plane's."""
    own = svc.get("networks")
    if own:
        return set(own)
    return {n["name"] for n in r.opts["networks"] or [] if n.get("plane") == svc["plane"]}


def network_policies(r, plane):
    """The Docker networks' segmentation as NetworkPolicies of the plane's namespace: nothing
    reaches a pod but the pods of the services that share a Docker network with it (in any
    plane's namespace) and the plane's own step Jobs. None without ``networks``."""
    if not r.opts["networks"]:
        return []
    namespace = r.namespaces[plane]
    policies = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": _objects.meta(r, "ananta-default-deny-ingress", namespace,
                                           _labels(r.project, plane, "ananta-default-deny-ingress")),
                 "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]
    for svc in r.services:
        if svc["plane"] != plane:
            continue
        networks = networks_of(r, svc)
        peers_by_namespace = {}
        for other in r.services:
            if other is not svc and networks & networks_of(r, other):
                peers_by_namespace.setdefault(r.namespace_of(other), set()).add(object_name(other))
        sources = [{"podSelector": {"matchExpressions": [{"key": LABEL_STEP, "operator": "Exists"}]}}]
        for other_namespace, names in sorted(peers_by_namespace.items()):
            pods = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": sorted(names)}]}
            if other_namespace == r.namespace_of(svc):
                sources.append({"podSelector": pods})
            else:
                sources.append({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other_namespace}},
                                "podSelector": pods})
        name = object_name(svc)
        policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": _objects.meta(r, name + "-ingress", r.namespace_of(svc),
                                                   _labels(r.project, plane, name, svc.get("level"))),
                         "spec": {"podSelector": {"matchLabels": _selector(r.project, name)},
                                  "policyTypes": ["Ingress"], "ingress": [{"from": sources}]}})
    return policies
