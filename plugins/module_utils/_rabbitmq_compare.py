# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RabbitMQ object definitions: normalization and argument-by-argument comparison.

Pure functions, unit-tested: what the module wants and what the broker has are both
normalized (``7D`` and ``604800s`` are the same max-age) before they are compared.
"""

from __future__ import annotations

import re

from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError

EXCHANGE_TYPES = ("fanout", "topic", "direct", "headers")
QUEUE_TYPES = ("classic", "quorum", "stream")
# x-max-age units (RabbitMQ: Y, M, D, h, m, s)
AGE_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
AGE_RE = re.compile(r"^(\d+)([YMDhms])$")
INTEGER_ARGUMENTS = ("x-max-length", "x-max-length-bytes", "x-stream-max-segment-size-bytes", "x-message-ttl",
                     "x-expires", "x-max-priority", "x-delivery-limit", "x-initial-cluster-size")
# Queue arguments a policy can set on an existing queue, with the policy key that does it.
POLICY_KEYS = {
    "x-max-age": "max-age",
    "x-max-length": "max-length",
    "x-max-length-bytes": "max-length-bytes",
    "x-stream-max-segment-size-bytes": "stream-max-segment-size-bytes",
    "x-message-ttl": "message-ttl",
    "x-expires": "expires",
    "x-overflow": "overflow",
    "x-dead-letter-exchange": "dead-letter-exchange",
    "x-dead-letter-routing-key": "dead-letter-routing-key",
    "x-delivery-limit": "delivery-limit",
    "x-queue-leader-locator": "queue-leader-locator",
    "alternate-exchange": "alternate-exchange",
}


def age_seconds(value):
    """x-max-age in seconds: 7D -> 604800, 604800s -> 604800."""
    match = AGE_RE.match(str(value).strip())
    if not match:
        raise TopologyError("x-max-age %r is not a RabbitMQ age (a number and one of Y, M, D, h, m, s, e.g. 7D)" % (value,))
    return int(match.group(1)) * AGE_UNITS[match.group(2)]


def normalize_arguments(arguments):
    """Arguments as comparable values: ages in seconds, integers as int."""
    normalized = {}
    for key, value in (arguments or {}).items():
        if value is None:
            continue
        if key == "x-max-age":
            normalized[key] = age_seconds(value)
        elif key in INTEGER_ARGUMENTS:
            try:
                normalized[key] = int(value)
            except (TypeError, ValueError):
                raise TopologyError("argument %s=%r is not an integer" % (key, value))
        else:
            normalized[key] = value
    return normalized


def show(key, value):
    if value is None:
        return "(not set)"
    if key == "x-max-age" and isinstance(value, int):
        return "%ds" % value
    return repr(value)


def wanted_exchange(spec):
    kind = spec.get("type", "direct")
    if kind not in EXCHANGE_TYPES:
        raise TopologyError("exchange %s: type %r is not one of %s" % (spec["name"], kind, ", ".join(EXCHANGE_TYPES)))
    return {"type": kind, "durable": bool(spec.get("durable", True)), "auto_delete": bool(spec.get("auto_delete", False)),
            "internal": bool(spec.get("internal", False)), "arguments": dict(spec.get("arguments") or {})}


def wanted_queue(spec):
    """The queue as it will be declared: type and the convenience fields become arguments."""
    arguments = dict(spec.get("arguments") or {})
    kind = spec.get("type") or arguments.get("x-queue-type") or "classic"
    if kind not in QUEUE_TYPES:
        raise TopologyError("queue %s: type %r is not one of %s" % (spec["name"], kind, ", ".join(QUEUE_TYPES)))
    arguments["x-queue-type"] = kind
    for field, key in (("max_age", "x-max-age"), ("max_length_bytes", "x-max-length-bytes"),
                       ("stream_max_segment_size_bytes", "x-stream-max-segment-size-bytes")):
        if spec.get(field) is not None:
            arguments[key] = spec[field]
    durable = bool(spec.get("durable", True))
    if kind in ("stream", "quorum") and not durable:
        raise TopologyError("queue %s: a %s queue must be durable" % (spec["name"], kind))
    try:
        normalize_arguments(arguments)  # validates ages and integers before any call
    except TopologyError as exc:
        raise TopologyError("queue %s: %s" % (spec["name"], exc.message)) from exc
    return {"durable": durable, "auto_delete": bool(spec.get("auto_delete", False)),
            "exclusive": bool(spec.get("exclusive", False)), "arguments": arguments}


def compare(kind, wanted, current):
    """Differences between a wanted and a current definition: list of
    {argument, wanted, current, policy} (policy: the policy key that could apply it, or None)."""
    differences = []
    fields = ("type", "durable", "auto_delete", "internal") if kind == "exchange" else ("durable", "auto_delete", "exclusive")
    for field in fields:
        if field == "type":
            differs = wanted["type"] != current.get("type")
        else:
            differs = bool(wanted[field]) != bool(current.get(field, False))
        if differs:
            differences.append({"argument": field, "wanted": show(field, wanted[field]),
                                "current": show(field, current.get(field)), "policy": None})
    want_args = normalize_arguments(wanted["arguments"])
    have_args = normalize_arguments(current.get("arguments") or {})
    if kind == "queue":
        have_args.setdefault("x-queue-type", current.get("type") or "classic")
    for key in sorted(set(want_args) | set(have_args)):
        if want_args.get(key) != have_args.get(key):
            differences.append({"argument": key, "wanted": show(key, want_args.get(key)),
                                "current": show(key, have_args.get(key)), "policy": POLICY_KEYS.get(key)})
    return differences


def describe_conflict(kind, name, differences):
    parts = []
    for diff in differences:
        hint = ("a policy can apply it (key %s)" % diff["policy"]) if diff["policy"] else \
            "only by deleting and redeclaring the %s" % kind
        parts.append("%s: wanted %s, current %s (%s)" % (diff["argument"], diff["wanted"], diff["current"], hint))
    return "%s %s differs: %s; left as it is" % (kind, name, "; ".join(parts))


def binding_key(binding):
    return (binding["source"], binding.get("destination_type", "queue"), binding["destination"],
            binding.get("routing_key", ""), tuple(sorted((binding.get("arguments") or {}).items())))


def binding_label(binding):
    return "binding %s -> %s %s (routing key %r)" % (binding["source"], binding.get("destination_type", "queue"),
                                                     binding["destination"], binding.get("routing_key", ""))
