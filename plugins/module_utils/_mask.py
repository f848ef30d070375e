# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets masked out of what the collection writes for people to read (the support archive of
collect_logs: ``docker inspect`` output, pod objects, logs).

Three rules, applied to every text and every string of a structure: each known secret value
(the catalog's and the steps': ``secret_values`` below) is replaced wherever it appears; the
password of every URL (``scheme://user:password@host``); and the value of every environment
entry whose name says it is secret (``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``, ``*KEY*``...),
as ``NAME=value`` (Docker's Config.Env) or ``{"name": NAME, "value": value}`` (a pod's env).
What stays: names, states, restart counts, timestamps, images, log lines (with any known secret
value masked inside them).
"""

from __future__ import annotations

import re

SECRET_KEY_RE = re.compile(r"(?i)(pass|secret|token|api_?key|private)")
URI_PASSWORD_RE = re.compile(r"://[^/\s:@]*:([^@\s/]+)@")
NOT_SECRETS = {"true", "false", "yes", "no", "none", "null"}


def secret_values(data):
    """Every secret string in ``data`` (a catalog, a step's options, any nest of mappings and
    lists): the values of secret-looking keys (``*PASSWORD*``, ``*token*``, ``api_key``...), and
    passwords inside URIs. For modules to add to ``no_log_values`` first thing, before any
    validation can fail with the input in its error or its invocation. A malformed input is
    walked as far as it goes, never raising."""
    found = set()

    def walk(value, secret=False):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or bool(SECRET_KEY_RE.search(str(key))))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, secret)
        elif isinstance(value, str):
            if secret:
                found.add(value)
            for match in URI_PASSWORD_RE.finditer(value):
                found.add(match.group(1))

    walk(data)
    return {value for value in found if len(value) >= 3 and value.lower() not in NOT_SECRETS}


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
