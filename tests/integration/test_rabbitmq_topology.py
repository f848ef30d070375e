"""ananta.platform.rabbitmq_topology against a real RabbitMQ 3.10 (lab image)."""

import os

import pika
import yaml

from integration_helpers import ROOT, run_module

# seed 000's topology, as the platform's definition writes it (plain data: no template in it)
with open(os.path.join(ROOT, "platform", "definition.yml"), encoding="utf-8") as _handle:
    SEED = yaml.safe_load(_handle)
EXCHANGES = SEED["ananta_rabbitmq_exchanges"]
STREAMS = SEED["ananta_rabbitmq_streams"]
BINDINGS = SEED["ananta_rabbitmq_bindings"]
assert EXCHANGES and STREAMS and BINDINGS, "the definition's topology is empty"


def args(server, vhost, management=True, **extra):
    data = {"login_host": server["host"], "port": server["port"], "login_user": server["user"],
            "login_password": server["password"], "vhost": vhost}
    if management:
        data["management_url"] = server["management_url"]
    data.update(extra)
    return data


def seed_args(server, vhost, **extra):
    return args(server, vhost, exchanges=EXCHANGES, queues=STREAMS, bindings=BINDINGS, **extra)


def channel(server, vhost):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        server["host"], server["port"], vhost, pika.PlainCredentials(server["user"], server["password"])))
    return conn, conn.channel()


def read_stream(server, vhost, stream, timeout=3):
    conn, ch = channel(server, vhost)
    bodies = []
    try:
        ch.basic_qos(prefetch_count=100)
        for method, _props, body in ch.consume(stream, auto_ack=False, arguments={"x-stream-offset": "first"},
                                               inactivity_timeout=timeout):
            if method is None:
                break
            bodies.append(body.decode())
            ch.basic_ack(method.delivery_tag)
        ch.cancel()
    finally:
        conn.close()
    return bodies


def publish(server, vhost, exchange, routing_key, body):
    conn, ch = channel(server, vhost)
    try:
        ch.confirm_delivery()
        ch.basic_publish(exchange, routing_key, body.encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
    finally:
        conn.close()


def test_fresh_create_then_idempotent_rerun(rabbitmq_server, vhost):
    first = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost), diff=True)
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True
    assert len(first["created"]) == len(EXCHANGES) + len(STREAMS) + len(BINDINGS)
    assert "queue stream.bom.progress" in first["created"]
    assert "itest-pw" not in str(first)
    second = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    assert not second.get("failed"), second.get("msg")
    assert second["changed"] is False and second["created"] == []
    assert len(second["unchanged"]) == len(first["created"])


def test_every_binding_routes_into_its_stream(rabbitmq_server, vhost):
    result = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    assert not result.get("failed"), result.get("msg")
    expected = {}
    for number, binding in enumerate(BINDINGS):
        key = binding.get("routing_key", "").replace("#", "x%d" % number).replace("*", "y")
        body = "message-%d" % number
        publish(rabbitmq_server, vhost, binding["source"], key, body)
        expected.setdefault(binding["destination"], set()).add(body)
    for stream in STREAMS:
        got = set(read_stream(rabbitmq_server, vhost, stream["name"]))
        assert expected.get(stream["name"], set()) <= got, (stream["name"], got)


def test_stream_with_other_max_age_is_a_clear_conflict_and_stays_intact(rabbitmq_server, vhost):
    run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    publish(rabbitmq_server, vhost, "bom.events", "bom.progress.42", "kept")
    changed = [dict(s, max_age="604800s") if s["name"] == "stream.bom.progress" else s for s in STREAMS]
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, exchanges=EXCHANGES, queues=changed, bindings=BINDINGS))
    assert result["failed"]
    assert "1 conflict(s), nothing deleted" in result["msg"]
    assert "queue stream.bom.progress differs: x-max-age: wanted 604800s, current 86400s (a policy can apply it (key max-age))" \
        in result["msg"]
    conflict = result["conflicts"][0]
    assert conflict["object"] == "queue stream.bom.progress"
    assert conflict["differences"] == [{"argument": "x-max-age", "wanted": "604800s", "current": "86400s", "policy": "max-age"}]
    # the other objects were still ensured, the stream and its messages are intact
    assert len(result["unchanged"]) == len(EXCHANGES) + len(STREAMS) - 1 + len(BINDINGS)
    assert "kept" in read_stream(rabbitmq_server, vhost, "stream.bom.progress")


def test_same_age_in_other_units_is_not_a_conflict(rabbitmq_server, vhost):
    run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    same = [dict(s, max_age="168h") if s.get("max_age") == "7D" else s for s in STREAMS]
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, exchanges=EXCHANGES, queues=same))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False


def test_exchange_with_another_type_and_several_conflicts_all_reported(rabbitmq_server, vhost):
    run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    exchanges = [dict(e, type="direct") if e["name"] == "bom.events" else e for e in EXCHANGES]
    exchanges.append({"name": "new.events", "type": "topic"})
    queues = [dict(s, max_length_bytes=42) if s["name"] == "stream.platform.admin" else s for s in STREAMS]
    queues = [dict(s, type="quorum") if s["name"] == "stream.webhook.events" else s for s in queues]
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, exchanges=exchanges, queues=queues, bindings=BINDINGS))
    assert result["failed"]
    assert "3 conflict(s)" in result["msg"]
    objects = {c["object"]: c for c in result["conflicts"]}
    assert set(objects) == {"exchange bom.events", "queue stream.platform.admin", "queue stream.webhook.events"}
    assert objects["exchange bom.events"]["differences"][0]["argument"] == "type"
    assert "type: wanted 'direct', current 'topic' (only by deleting and redeclaring the exchange)" in result["msg"]
    assert "x-queue-type: wanted 'quorum', current 'stream'" in result["msg"]
    assert result["created"] == ["exchange new.events"], "the rest of the run went on"
    # nothing was deleted: the exchange still routes as a topic exchange
    publish(rabbitmq_server, vhost, "bom.events", "bom.progress.7", "still-topic")
    assert "still-topic" in read_stream(rabbitmq_server, vhost, "stream.bom.progress")


def test_check_mode_creates_nothing(rabbitmq_server, vhost):
    result = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost), check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert len(result["created"]) == len(EXCHANGES) + len(STREAMS) + len(BINDINGS)
    again = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost), check=True)
    assert len(again["created"]) == len(result["created"]), "check mode created nothing"


def test_amqp_only_mode_finds_the_conflict_through_the_broker(rabbitmq_server, vhost):
    first = run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost, management=False))
    assert not first.get("failed"), first.get("msg")
    assert len(first["ensured"]) == len(BINDINGS)
    exchanges = [dict(e, type="direct") if e["name"] == "bom.events" else e for e in EXCHANGES]
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, management=False, exchanges=exchanges,
                                                  queues=STREAMS))
    assert result["failed"]
    assert "exchange bom.events differs: the broker refused the redeclare" in result["msg"]
    assert "inequivalent arg 'type'" in result["msg"]
    assert len(result["unchanged"]) == len(EXCHANGES) - 1 + len(STREAMS), "went on after the channel was closed"


def test_absent_only_when_asked(rabbitmq_server, vhost):
    run_module("rabbitmq_topology", seed_args(rabbitmq_server, vhost))
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, queues=[
        {"name": "stream.webhook.events", "state": "absent", "force": True}]))
    assert not result.get("failed"), result.get("msg")
    assert result["deleted"] == ["queue stream.webhook.events"]
    assert run_module("rabbitmq_topology", args(rabbitmq_server, vhost, queues=[
        {"name": "stream.webhook.events", "state": "absent"}]))["changed"] is False


def test_bad_input_fails_before_any_change(rabbitmq_server, vhost):
    result = run_module("rabbitmq_topology", args(rabbitmq_server, vhost, exchanges=[{"name": "ok.events", "type": "topic"}],
                                                  queues=[{"name": "s", "type": "stream", "max_age": "7 days"}]))
    assert result["failed"]
    assert "x-max-age '7 days' is not a RabbitMQ age" in result["msg"]
    assert result["created"] == []
