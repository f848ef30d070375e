# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The Kubernetes API options shared by the modules that read the cluster, named as kubernetes.core names them."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file (as kubernetes.core names it). Without it and without O(host), the
        in-cluster service account (AWX in the cluster), else C(~/.kube/config).
    type: path
  context:
    description: The kubeconfig context to use.
    type: str
  host:
    description: The Kubernetes API server URL.
    type: str
  api_key:
    description: A bearer token for the Kubernetes API.
    type: str
  validate_certs:
    description: Verify the API server's certificate.
    type: bool
    default: true
    aliases: [verify_ssl]
  ca_cert:
    description: CA certificate of the API server.
    type: path
    aliases: [ssl_ca_cert]
  plane_namespaces:
    description:
      - Kubernetes namespace per plane, for services without C(kubernetes.namespace). A plane it does not name
        gets its own name with hyphens for underscores.
      - The platform's definition maps its planes to seed 000's namespaces (C(ananta_plane_namespaces)).
    type: dict
"""
