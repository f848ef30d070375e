# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a catalog service lives on Kubernetes: its object's name, namespace and kind (apart
from the readiness rules, which read objects)."""

from __future__ import annotations


def plane_namespace(plane, plane_namespaces=None):
    """A plane's namespace: as ``plane_namespaces`` maps it (the platform's definition maps its
    planes to seed 000's namespaces: ``ananta_plane_namespaces``), else the plane's name with
    hyphens for underscores."""
    return (plane_namespaces or {}).get(plane) or str(plane).replace("_", "-")


def object_name(service):
    """A catalog service's object name on Kubernetes (seed 000 renames some: components-db)."""
    kube = service.get("kubernetes") or {}
    return kube.get("k8s_name") or service["name"]


def object_namespace(service, plane_namespaces=None):
    kube = service.get("kubernetes") or {}
    return kube.get("namespace") or plane_namespace(service.get("plane"), plane_namespaces)


def kind_of(service):
    return (service.get("kubernetes") or {}).get("kind", "Deployment")
