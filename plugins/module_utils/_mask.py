# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets masked out of what the collection writes for people to read (the support archive of
collect_logs: ``docker inspect`` output, pod objects, logs).

Three rules, applied to every text and every string of a structure: each known secret value
(the catalog's and the steps': ``_catalog.secret_values``) is replaced wherever it appears; the
password of every URL (``scheme://user:password@host``); and the value of every environment
entry whose name says it is secret (``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ``*KEY*``...),
as ``NAME=value`` (Docker's Config.Env) or ``{"name": NAME, "value": value}`` (a pod's env).
What stays: names, states, restart counts, timestamps, images, log lines (with any known secret
value masked inside them).
"""

from __future__ import annotations

import re

from ansible_collections.ananta.platform.plugins.module_utils._catalog import SECRET_KEY_RE

MASK = "********"
# an environment entry's name that says its value is secret (wider than the catalog's key rule:
# *KEY* too, as an operator's ticket attachment must not carry an API key of any spelling)
SECRET_NAME_RE = re.compile(r"(?i)(pass|secret|token|key|private|credential|auth)")
URL_PASSWORD_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)([^@\s/'\"]+)(@)", re.I)
ENV_ENTRY_RE = re.compile(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _secret_name(name):
    return bool(SECRET_NAME_RE.search(str(name))) or bool(SECRET_KEY_RE.search(str(name)))


def mask_text(text, values=()):
    """``text`` with every known secret value, every URL's password and the value of every
    ``NAME=value`` line with a secret name replaced."""
    for value in sorted((v for v in values if v and len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, MASK)
    text = URL_PASSWORD_RE.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return ENV_ENTRY_RE.sub(lambda m: "%s=%s" % (m.group(1), MASK) if _secret_name(m.group(1)) and m.group(2) else m.group(0),
                            text)


def mask_data(data, values=()):
    """A structure (an inspect output, a pod object) with the same rules on every string, and the
    value of every env entry (``{"name": ..., "value": ...}``) and mapping key that says secret."""
    if isinstance(data, dict):
        masked = {}
        secret_entry = "name" in data and "value" in data and _secret_name(data.get("name"))
        for key, value in data.items():
            if secret_entry and key == "value" and value:
                masked[key] = MASK
            elif isinstance(value, str) and value and SECRET_KEY_RE.search(str(key)) and key not in ("secretName",):
                masked[key] = MASK
            else:
                masked[key] = mask_data(value, values)
        return masked
    if isinstance(data, list):
        return [mask_data(item, values) for item in data]
    if isinstance(data, str):
        return mask_text(data, values)
    return data
