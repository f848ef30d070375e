# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ensuring a RabbitMQ topology: exchanges, then queues, then bindings; conflicts are
collected (never resolved by deleting) and the run goes on. Used by the module and by the
step command of one-shot containers."""

from __future__ import annotations

import time

from ansible_collections.ananta.platform.plugins.module_utils import _rabbitmq_client, _rabbitmq_compare as cmp
from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError


def validate(exchanges, queues, bindings):
    """Every definition checked before any call: {'exchange': [(spec, wanted)], 'queue': [...]}."""
    wanted = {"exchange": [], "queue": []}
    for kind, specs, build in (("exchange", exchanges, cmp.wanted_exchange), ("queue", queues, cmp.wanted_queue)):
        for spec in specs:
            if not spec.get("name"):
                raise TopologyError("every %s needs a name: %r" % (kind, spec))
            state = spec.get("state", "present")
            if state not in ("present", "absent"):
                raise TopologyError("%s %s: state %r is not present or absent" % (kind, spec["name"], state))
            wanted[kind].append((spec, build(spec) if state == "present" else None))
    for binding in bindings:
        if not binding.get("source") or not binding.get("destination"):
            raise TopologyError("a binding needs source and destination: %r" % (binding,))
        if binding.get("destination_type", "queue") not in ("queue", "exchange"):
            raise TopologyError("%s: destination_type must be queue or exchange" % cmp.binding_label(binding))
    return wanted


class TopologyEnsurer:
    def __init__(self, client, check_mode=False):
        self.client = client
        self.check = check_mode
        self.result = dict(created=[], unchanged=[], deleted=[], ensured=[], conflicts=[])
        self.before, self.after = [], []

    def conflict(self, kind, name, differences, message=None):
        self.result["conflicts"].append({"object": "%s %s" % (kind, name), "differences": differences,
                                         "message": message or cmp.describe_conflict(kind, name, differences)})

    def ensure_object(self, kind, spec, definition):
        name = spec["name"]
        label = "%s %s" % (kind, name)
        current = getattr(self.client, "current_%s" % kind)(name)
        if current is not None:
            self.before.append(label)
        if definition is None:  # state: absent
            if current is not None:
                if not self.check:
                    if kind == "exchange":
                        self.client.delete_exchange(name, if_unused=not spec.get("force", False))
                    else:
                        self.client.delete_queue(name, if_empty=not spec.get("force", False))
                self.result["deleted"].append(label)
            return
        self.after.append(label)
        if current is None:
            if not self.check:
                getattr(self.client, "declare_%s" % kind)(name, definition)
            self.result["created"].append(label)
        elif current:  # read from the management API: compare argument by argument
            differences = cmp.compare(kind, definition, current)
            if differences:
                self.conflict(kind, name, differences)
            else:
                self.result["unchanged"].append(label)
        else:  # AMQP only: a redeclare tells whether the broker finds it equivalent
            try:
                if not self.check:
                    getattr(self.client, "declare_%s" % kind)(name, definition)
                self.result["unchanged"].append(label)
            except _rabbitmq_client.BrokerRefused as exc:
                if exc.code != 406:
                    raise
                self.conflict(kind, name, [{"argument": "?", "wanted": None, "current": None, "policy": None}],
                              "%s differs: the broker refused the redeclare: %s; left as it is" % (label, exc.text))

    def ensure_binding(self, binding, pending_objects):
        label = cmp.binding_label(binding)
        absent = binding.get("state", "present") == "absent"
        endpoints_new = binding["source"] in pending_objects or binding["destination"] in pending_objects
        exists = False if endpoints_new else self.client.binding_exists(binding)
        if exists:
            self.before.append(label)
        if absent:
            if exists or exists is None:
                if not self.check:
                    self.client.unbind(binding)
                self.result["deleted"].append(label)
            return
        self.after.append(label)
        if exists:
            self.result["unchanged"].append(label)
            return
        if not self.check:
            self.client.bind(binding)
        self.result["ensured" if exists is None else "created"].append(label)

    def ensure(self, wanted, bindings):
        for kind in ("exchange", "queue"):
            for spec, definition in wanted[kind]:
                try:
                    self.ensure_object(kind, spec, definition)
                except _rabbitmq_client.BrokerRefused as exc:
                    self.conflict(kind, spec["name"], [], "%s %s: the broker refused: %s" % (kind, spec["name"], exc.text))
        created = {label.split(" ", 1)[1] for label in self.result["created"]} if self.check else set()
        for binding in bindings:
            try:
                self.ensure_binding(binding, created)
            except _rabbitmq_client.BrokerRefused as exc:
                self.conflict("binding", "%s -> %s" % (binding["source"], binding["destination"]), [],
                              "%s: the broker refused: %s" % (cmp.binding_label(binding), exc.text))
        return self.result


def run(params, check_mode=False, diff=False, result=None):
    """Ensure the topology ``params`` (ARGSPEC, validated) asks for; update and return
    ``result`` (changed, created, unchanged, deleted, ensured, conflicts, started_at, elapsed).
    Conflicts are in the result, not raised: the caller fails on them after reporting."""
    result = result if result is not None else dict(changed=False, created=[], unchanged=[], deleted=[], ensured=[],
                                                    conflicts=[])
    result["started_at"] = round(time.time(), 3)
    clock = time.monotonic()
    wanted = validate(params["exchanges"], params["queues"], params["bindings"])
    client = _rabbitmq_client.RabbitClient(
        params["login_host"], params["port"], params["vhost"], params["login_user"], params["login_password"],
        params["tls"], params["ca_cert"], params["client_cert"], params["client_key"], params["connect_timeout"],
        params["management_url"] or None, params["validate_certs"])
    # A broker that has just started answers AMQP before it has recovered its durable queues: a
    # declaration then meets "home node ... is down or inaccessible". That passes within
    # seconds: the whole ensure (idempotent) is tried again, for up to connect_timeout seconds.
    deadline = clock + params["connect_timeout"]
    created = []  # what an earlier attempt created is this run's creation, not "unchanged"
    try:
        while True:
            ensurer = TopologyEnsurer(client, check_mode)
            outcome = ensurer.ensure(wanted, params["bindings"])
            created += [label for label in outcome["created"] if label not in created]
            recovering = [c for c in outcome["conflicts"] if RECOVERING in c.get("message", "")]
            if not recovering or time.monotonic() + 1.0 > deadline:
                break
            time.sleep(1.0)
        outcome["created"] = created
        outcome["unchanged"] = [label for label in outcome["unchanged"] if label not in created]
        result.update(outcome)
    except (_rabbitmq_client.AMQPError, OSError) as exc:  # the broker died, the network dropped
        done = created + [label for label in ensurer.result["created"] if label not in created]
        raise TopologyError("the connection to RabbitMQ at %s (vhost %s) was lost while the topology was declared: %s; %s" % (
            client.address, client.vhost, _rabbitmq_client.describe(exc),
            ("created before the break, and kept: %s; " % ", ".join(done) if done else "")
            + "every declaration is idempotent: the next run continues"))
    finally:
        client.close()
    result["changed"] = bool(result["created"] or result["deleted"])
    if diff:
        result["diff"] = {"before": "\n".join(sorted(ensurer.before)) + "\n", "after": "\n".join(sorted(ensurer.after)) + "\n"}
    result["elapsed"] = round(time.monotonic() - clock, 3)
    return result


RECOVERING = "is down or inaccessible"


def conflicts_message(result):
    return "%d conflict(s), nothing deleted:\n  %s" % (
        len(result["conflicts"]), "\n  ".join(c["message"] for c in result["conflicts"]))
