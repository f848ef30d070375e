# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a catalog service lives on Kubernetes: its object's name, namespace and kind (apart
from the readiness rules, which read objects)."""

from __future__ import annotations

DEFAULT_PLANE_NAMESPACES = {"shared_temporal": "temporal", "control_plane": "arc-saas", "app_plane": "app-plane"}


def object_name(service):
    """A catalog service's object name on Kubernetes (seed 000 renames some: components-db)."""
    kube = service.get("kubernetes") or {}
    return kube.get("k8s_name") or service["name"]


def object_namespace(service, plane_namespaces=None):
    kube = service.get("kubernetes") or {}
    return kube.get("namespace") or dict(DEFAULT_PLANE_NAMESPACES, **(plane_namespaces or {})).get(service.get("plane"), "default")


def kind_of(service):
    return (service.get("kubernetes") or {}).get("kind", "Deployment")
