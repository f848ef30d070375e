# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network readiness probes, run from where the module runs.

Each probe takes the service's readiness spec (plus the default probe host) and returns
a ProbeResult; a probe never raises for a service that is not ready yet: connection
refused, a timeout or a wrong answer are all "not ready, and here is why".
"""

from __future__ import annotations

import re
import socket
import time

from ansible_collections.ananta.platform.plugins.module_utils._http import http_get


class ProbeResult:
    __slots__ = ("ok", "output", "duration")

    def __init__(self, ok, output, duration=0.0):
        self.ok = bool(ok)
        self.output = str(output)[:500]
        self.duration = duration

    def __repr__(self):
        return "ProbeResult(%r, %r)" % (self.ok, self.output)


def _host(spec, default_host):
    return spec.get("host") or default_host or "127.0.0.1"


def probe_tcp(spec, default_host, timeout):
    host, port = _host(spec, default_host), int(spec["port"])
    with socket.create_connection((host, port), timeout=timeout):
        return ProbeResult(True, "tcp %s:%d open" % (host, port))


def http_url(spec, default_host):
    if spec.get("url"):
        return spec["url"]
    return "%s://%s:%d%s" % (spec.get("scheme", "http"), _host(spec, default_host), int(spec["port"]), spec.get("path", "/"))


def probe_http(spec, default_host, timeout):
    url = http_url(spec, default_host)
    expected = int(spec.get("status", 200))
    status, body = http_get(url, timeout=timeout, validate_certs=spec.get("validate_certs", True))
    if status != expected:
        return ProbeResult(False, "GET %s answered HTTP %d (want %d): %s" % (url, status, expected, body.strip()[:200]))
    pattern = spec.get("body")
    if pattern and not re.search(pattern, body):
        return ProbeResult(False, "GET %s answered HTTP %d but the body does not match %r" % (url, status, pattern))
    return ProbeResult(True, "GET %s answered HTTP %d" % (url, status))


def probe_postgres(spec, default_host, timeout):
    import psycopg2  # guarded by the module (HAS_PSYCOPG2)

    conn = psycopg2.connect(host=_host(spec, default_host), port=int(spec["port"]), user=spec["user"],
                            password=spec.get("password"), dbname=spec.get("dbname") or "postgres",
                            connect_timeout=max(1, int(timeout)))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(spec.get("query") or "SELECT 1")
            missing = []
            for table in spec.get("tables") or []:
                cur.execute("SELECT to_regclass(%s)", (table,))
                if cur.fetchone()[0] is None:
                    missing.append(table)
        if missing:
            return ProbeResult(False, "database %s answers, but table(s) missing: %s"
                               % (spec.get("dbname") or "postgres", ", ".join(missing)))
        return ProbeResult(True, "database %s answers%s" % (
            spec.get("dbname") or "postgres",
            ", tables present: %s" % ", ".join(spec["tables"]) if spec.get("tables") else ""))
    finally:
        conn.close()


def probe_redis(spec, default_host, timeout):
    host, port = _host(spec, default_host), int(spec["port"])
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        if spec.get("password"):
            sock.sendall(b"AUTH %s\r\n" % str(spec["password"]).encode())
            answer = sock.recv(128)
            if not answer.startswith(b"+OK"):
                return ProbeResult(False, "redis %s:%d refused AUTH: %s" % (host, port, answer.decode(errors="replace").strip()))
        sock.sendall(b"PING\r\n")
        answer = sock.recv(128)
    if answer.startswith(b"+PONG"):
        return ProbeResult(True, "redis %s:%d answered PONG" % (host, port))
    return ProbeResult(False, "redis %s:%d answered %s" % (host, port, answer.decode(errors="replace").strip()))


def probe_amqp(spec, default_host, timeout):
    import pika  # guarded by the module (HAS_PIKA)

    host, port = _host(spec, default_host), int(spec["port"])
    params = pika.ConnectionParameters(
        host=host, port=port, virtual_host=spec.get("vhost") or "/",
        credentials=pika.PlainCredentials(spec.get("user") or "guest", spec.get("password") or "guest"),
        socket_timeout=timeout, blocked_connection_timeout=timeout, connection_attempts=1, retry_delay=0)
    connection = pika.BlockingConnection(params)
    missing = []
    try:
        version = connection._impl.server_properties.get("version", b"")  # pylint: disable=protected-access
        for queue in spec.get("queues") or []:
            channel = connection.channel()
            try:
                channel.queue_declare(queue=queue, passive=True)
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                missing.append(queue)
    finally:
        connection.close()
    if missing:
        return ProbeResult(False, "amqp %s:%d connected, but queue(s) missing: %s" % (host, port, ", ".join(missing)))
    if isinstance(version, bytes):
        version = version.decode(errors="replace")
    return ProbeResult(True, "amqp %s:%d connected (RabbitMQ %s)%s" % (
        host, port, version or "?", ", queues present: %s" % ", ".join(spec["queues"]) if spec.get("queues") else ""))


def temporal_address(spec, default_host):
    return spec.get("address") or "%s:%d" % (_host(spec, default_host), int(spec["port"]))


def probe_temporal(spec, default_host, timeout):
    from ansible_collections.ananta.platform.plugins.module_utils import _temporal

    address = temporal_address(spec, default_host)
    namespace = spec.get("namespace") or "default"
    info = _temporal.describe_namespace_once(address, namespace, timeout)
    if info is None:
        return ProbeResult(False, "temporal %s answers, but namespace %s does not exist" % (address, namespace))
    return ProbeResult(True, "temporal %s: namespace %s %s" % (address, namespace, info.get("state", "")))


def probe_dns(spec, default_host, timeout):  # pylint: disable=unused-argument  # the resolver has its own
    """The name resolves (inside a cluster: a headless Service's name resolves only to pods that
    are ready, and a new name only once the cluster's DNS has it)."""
    host = _host(spec, default_host)
    addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    return ProbeResult(True, "%s resolves to %s" % (host, ", ".join(addresses)))


NETWORK_PROBES = {
    "dns": probe_dns,
    "tcp": probe_tcp,
    "http": probe_http,
    "postgres": probe_postgres,
    "redis": probe_redis,
    "amqp": probe_amqp,
    "temporal": probe_temporal,
}


def run_network_probe(spec, default_host, timeout=3.0):
    """Run the spec's network probe once; every failure becomes a not-ready result."""
    started = time.monotonic()
    try:
        result = NETWORK_PROBES[spec["probe"]](spec, default_host, timeout)
    except (OSError, ValueError) as exc:
        result = ProbeResult(False, "%s: %s" % (type(exc).__name__, exc))
    except Exception as exc:  # pylint: disable=broad-except  # drivers raise their own types
        text = str(exc).strip().splitlines()
        result = ProbeResult(False, "%s: %s" % (type(exc).__name__, text[0] if text else ""))
    result.duration = time.monotonic() - started
    return result
