# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A container's wanted configuration from a catalog service (``ContainerSpec``: what the
configuration hash covers, parameter by parameter) and what a change of services would change
(``service_diff``). The deployer (deploy.py) creates and compares containers by it."""

from __future__ import annotations

import hashlib
import json
import shlex

from ansible_collections.ananta.platform.plugins.module_utils._catalog import parse_port
from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import LABEL_PREFIX
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError


CONFIG_LABEL = "%s.config" % LABEL_PREFIX
PREVIOUS_LABEL = "%s.previous-of" % LABEL_PREFIX
PREVIOUS_SUFFIX = "-previous"
MEMORY_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def duration_ns(value):
    """compose durations (2s, 1m30s, 500ms) or seconds -> nanoseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    text, total, number = str(value).strip(), 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in DURATION_UNITS else ch
        if unit not in DURATION_UNITS or not number:
            raise RuntimeAdapterError("not a duration: %r" % value)
        total += float(number) * DURATION_UNITS[unit]
        number = ""
        i += len(unit)
    if number:
        total += float(number)
    return int(total * 1e9)


def memory_bytes(value):
    """512m, 1g, 1.5g or a number of bytes -> bytes (compose's mem_limit)."""
    text = str(value).strip().lower()
    unit = text[-1] if text[-1] in MEMORY_UNITS else "b"
    return int(float(text.rstrip("bkmg")) * MEMORY_UNITS[unit])


def _digest(value):
    return hashlib.sha256(("ananta.platform:%s" % value).encode()).hexdigest()[:16]


def _argv(value):
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def labels_for(service, project):
    labels = dict(service.get("labels") or {})
    labels.update({
        "%s.project" % LABEL_PREFIX: project,
        "%s.service" % LABEL_PREFIX: service["name"],
        "%s.plane" % LABEL_PREFIX: service.get("plane", ""),
        "%s.level" % LABEL_PREFIX: str(service.get("level", "")),
    })
    return labels


def split_volume(spec):
    """'name:/path[:ro]' (named volume) or '/host:/path[:ro]' (bind) -> (source, target, mode, named)."""
    parts = str(spec).split(":")
    if len(parts) < 2:
        raise RuntimeAdapterError("volume %r is not SOURCE:TARGET[:MODE]" % spec)
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else "rw"
    return source, target, mode, not source.startswith(("/", "."))


class ContainerSpec:
    """What the catalog entry asks of Docker, and its hash."""

    def __init__(self, service, project, image_id, healthcheck_defaults=None):
        self.service = service
        self.name = service.get("container_name") or service["name"]
        self.image = service["image"]
        self.command = service.get("command")
        self.env = {str(k): "" if v is None else str(v) for k, v in (service.get("env") or {}).items()}
        self.ports = [parse_port(p) for p in service.get("ports") or []]
        self.volumes = [split_volume(v) for v in service.get("volumes") or []]
        self.networks = list(service.get("networks") or [])
        self.restart = service.get("restart_policy", "no")
        health = service.get("healthcheck")
        self.healthcheck = dict(healthcheck_defaults or {}, **health) if health else None
        self.resources = dict(service.get("resources") or {})
        self.labels = labels_for(service, project)
        hashed = {
            "image": image_id, "command": self.command, "env": self.env, "ports": self.ports, "volumes": self.volumes,
            "networks": self.networks, "restart": self.restart, "healthcheck": self.healthcheck,
            "labels": self.labels, "entrypoint": service.get("entrypoint"),
        }
        if self.resources:  # only when set: the hash of a container without limits stays what it was
            hashed["resources"] = self.resources
        self.config_hash = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()
        # what the hash covers, parameter by parameter, for the diff of the next change
        self.summary = {
            "image": "%s (%s)" % (self.image, str(image_id)[:19]), "command": _argv(self.command),
            "entrypoint": _argv(service.get("entrypoint")),
            "env": {k: _digest(v) for k, v in self.env.items()},
            "ports": ["%s:%s->%s/%s" % (ip or "0.0.0.0", hp, cp, proto) if hp is not None else "%s/%s" % (cp, proto)
                      for ip, hp, cp, proto in self.ports],
            "volumes": ["%s:%s:%s" % v[:3] for v in self.volumes], "networks": self.networks, "restart": self.restart,
            "healthcheck": self.healthcheck, "resources": self.resources,
            "labels": {k: v for k, v in self.labels.items() if not k.startswith(LABEL_PREFIX + ".")},
        }
        self.labels["%s.config-hash" % LABEL_PREFIX] = self.config_hash
        self.labels[CONFIG_LABEL] = json.dumps(self.summary, sort_keys=True, separators=(",", ":"), default=str)

    def changes(self, current, secret=lambda value: False):
        """The parameters that differ between ``current`` (the container's inspect) and this
        spec: ``[{parameter, before, after}]``, environment variables one by one, by name; the
        value of a variable is shown only when neither side is a secret (``secret(value)``)."""
        labels = (current.get("Config") or {}).get("Labels") or {}
        try:
            before = json.loads(labels.get(CONFIG_LABEL) or "")
        except ValueError:
            return [{"parameter": "configuration", "before": "created by an earlier version of the collection",
                     "after": "this version's"}]
        found = []
        for key in ("image", "command", "entrypoint", "ports", "volumes", "networks", "restart", "healthcheck",
                    "resources", "labels"):
            if before.get(key) != self.summary.get(key) and (before.get(key) or self.summary.get(key)):
                found.append({"parameter": key, "before": before.get(key), "after": self.summary.get(key)})
        old_env = before.get("env") or {}
        now_env = dict(item.split("=", 1) for item in (current.get("Config") or {}).get("Env") or [] if "=" in item)
        for name in sorted(set(old_env) | set(self.env)):
            if old_env.get(name) == self.summary["env"].get(name):
                continue
            old, new = now_env.get(name) if name in old_env else None, self.env.get(name)
            hidden = any(v is not None and secret(v) for v in (old, new))
            found.append({"parameter": "env.%s" % name,
                          "before": ("(secret)" if hidden and old is not None else old),
                          "after": ("(secret)" if hidden and new is not None else new)})
        return found


def _shown(value):
    if value is None:
        return "(none)"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def service_diff(services):
    """One diff per service the call changes (or would): its action, the parameters that
    differ, and the dependants restarted because of it."""
    diffs = []
    for svc in services:
        action = svc.get("action") or "unchanged"
        if action == "unchanged":
            continue
        header = "%s (container %s, %s level %s): %s" % (
            svc["name"], svc.get("container"), svc.get("plane"), svc.get("level"), action)
        before, after = [], []
        for change in svc.get("changes") or []:
            before.append("%s: %s" % (change["parameter"], _shown(change["before"])))
            after.append("%s: %s" % (change["parameter"], _shown(change["after"])))
        if action in ("create", "remove"):
            before.append("container: %s" % ("absent" if action == "create" else "present"))
            after.append("container: %s" % ("created" if action == "create" else "removed"))
        elif action in ("start", "stop"):
            before.append("state: %s" % ("stopped" if action == "start" else "running"))
            after.append("state: %s" % ("running" if action == "start" else "stopped"))
        elif action == "restart":
            after.append("restarted: its dependency %s is renewed (restart_with)" % ", ".join(svc.get("restarted_by") or []))
        if svc.get("restarts"):
            after.append("restarts its dependants: %s" % ", ".join(svc["restarts"]))
        diffs.append({"before_header": header, "after_header": header,
                      "before": "\n".join(before) + "\n" if before else "", "after": "\n".join(after) + "\n"})
    return diffs
