# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configuration of a workload: ConfigMap and Secret."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils import _catalog
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_name


class ConfigMixin:
    """The plain environment to a ConfigMap, the secret one to the plane's Secret."""

    def _is_secret(self, key, value):
        text = str(value)
        if _catalog.SECRET_KEY_RE.search(str(key)) and text:
            return True
        return any(secret in text for secret in self.secret_values if len(secret) >= 3)

    def _secret_key(self, name, key):
        return "%s.%s" % (name, key)

    def _pod_env(self, svc, secret_data):
        """envFrom the workload's ConfigMap, secret variables from db-credentials."""
        name = object_name(svc)
        plain, env = {}, []
        # by name: the same catalog in another key order renders the same pod template
        for key, value in sorted((svc.get("env") or {}).items(), key=lambda item: str(item[0])):
            value = "" if value is None else str(value)
            if self._is_secret(key, value):
                secret_data[self._secret_key(name, key)] = value
                env.append({"name": str(key), "valueFrom": {"secretKeyRef": {
                    "name": self.opts["secret_name"], "key": self._secret_key(name, key)}}})
            else:
                plain[str(key)] = value
        return plain, env
