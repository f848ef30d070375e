# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A plain HTTP GET on the standard library alone.

The probes and the RabbitMQ management reads also run inside one-shot containers that have
no Ansible (tools/ananta_step.py), so they cannot use ansible.module_utils.urls.
"""

from __future__ import annotations

import http.client
import ssl
from urllib.parse import urlsplit


def http_get(url, timeout=5.0, headers=None, validate_certs=True, limit=65536):
    """(status, body text). Raises OSError (connection refused, timeout...) and ValueError (bad URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL: %r" % url)
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read(limit).decode("utf-8", "replace")
    except http.client.HTTPException as exc:
        raise OSError("bad HTTP answer from %s: %s" % (url, exc)) from exc
    finally:
        conn.close()
