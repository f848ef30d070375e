# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration of a workload: ConfigMap and Secret."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils import _mask
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_name


def is_secret(r, key, value):
    text = str(value)
    if _mask.SECRET_KEY_RE.search(str(key)) and text:
        return True
    return any(secret in text for secret in r.secret_values if len(secret) >= 3)


def secret_key(r, name, key):
    return "%s.%s" % (name, key)


def pod_env(r, svc, secret_data):
    """envFrom the workload's ConfigMap, secret variables from db-credentials."""
    name = object_name(svc)
    plain, env = {}, []
    # by name: the same catalog in another key order renders the same pod template
    for key, value in sorted((svc.get("env") or {}).items(), key=lambda item: str(item[0])):
        value = "" if value is None else str(value)
        if is_secret(r, key, value):
            secret_data[secret_key(r, name, key)] = value
            env.append({"name": str(key), "valueFrom": {"secretKeyRef": {
                "name": r.opts["secret_name"], "key": secret_key(r, name, key)}}})
        else:
            plain[str(key)] = value
    return plain, env
