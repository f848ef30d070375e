"""Bad input is refused before anything changes, naming the item and the field (issue 17's
findings 2 and 6): a malformed probe URL, a stream age that is not an age, an empty database name."""

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _catalog, _pg_migrator, _rabbitmq_topology
from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError, TopologyError


@pytest.mark.parametrize("url, why", [
    ("http//cns-service:8000/health", "is not an http(s) URL"),
    ("http://cns-service:27x00/health", "is not an http(s) URL"),
    ("http://cns-service:70000/health", "port 70000 is not a TCP port"),
    ("ftp://cns-service:21/", "is not an http(s) URL"),
    ("http://cns service:8000/", "is not an http(s) URL"),
])
def test_a_malformed_probe_url_is_named(url, why):
    problems = _catalog._check_probe("cns-service", {"probe": "http", "url": url})  # pylint: disable=protected-access
    assert len(problems) == 1
    assert problems[0].startswith("service 'cns-service', field 'readiness.url': %r" % url) and why in problems[0]


@pytest.mark.parametrize("url", ["http://cns-service:8000/health", "https://127.0.0.1/", "http://[::1]:8080/x?y=1",
                                 "http://keycloak:8080"])
def test_a_good_probe_url_passes(url):
    assert _catalog._check_probe("svc", {"probe": "http", "url": url}) == []  # pylint: disable=protected-access


def test_a_gate_with_a_malformed_url_is_named_by_its_place():
    services = [{"name": "cns-service", "plane": "app_plane", "level": 4, "depends_on": [], "image": "x",
                 "readiness": {"probe": "http", "url": "http://cns-service:8000/health"},
                 "start_after": [{"probe": "http", "url": "http//supabase-api:3000/"}]}]
    with pytest.raises(Exception) as raised:
        _catalog.validate(services)
    assert "service 'cns-service', field 'start_after[0].url'" in str(raised.value)


def test_a_bad_stream_age_names_the_queue():
    with pytest.raises(TopologyError) as raised:
        _rabbitmq_topology.validate([], [{"name": "stream.platform.admin", "type": "stream", "max_age": "7 days"}], [])
    assert raised.value.message.startswith("queue stream.platform.admin: x-max-age '7 days' is not a RabbitMQ age")


@pytest.mark.parametrize("db", ["", "   "])
def test_an_empty_database_name_is_refused_before_connecting(db):
    params = ArgumentSpecValidator(_argspecs.PG_MIGRATE).validate(
        {"db": db, "login_host": "192.0.2.1", "port": 9, "migrations": [{"version": "001", "file": "001.sql"}],
         "path": "/nonexistent"}).validated_parameters
    run = _pg_migrator.MigrationRun(params)
    with pytest.raises(MigrationError) as raised:
        run.run()  # 192.0.2.1:9 would time out: it must fail before any connection
    assert raised.value.message.startswith("db is empty: name the database to migrate")


# --- every field an operator writes in the catalog: refused, naming the service and the field ---

_DB = {"name": "db", "plane": "app_plane", "level": 3, "depends_on": [], "image": "x:1", "readiness": {"probe": "tcp", "port": 5432}}
_SVC = {"name": "cns-service", "plane": "app_plane", "level": 4, "depends_on": ["db"], "image": "x:1",
        "readiness": {"probe": "http", "url": "http://cns-service:8000/health"}}


@pytest.mark.parametrize("change, service, field, why", [
    ({"name": ""}, "#1", "name", "is not a valid name"),
    ({"name": "cns service"}, "cns service", "name", "is not a valid name"),
    ({"name": "CNS"}, "CNS", "name", "is not a valid name"),
    ({"plane": "Data Plane"}, "cns-service", "plane", "'Data Plane' is not a plane name"),
    ({"plane": None}, "cns-service", "plane", "None is not a plane name"),
    ({"level": "four"}, "cns-service", "level", "is not a level (a whole number from 0)"),
    ({"level": -1}, "cns-service", "level", "is not a level (a whole number from 0)"),
    ({"level": True}, "cns-service", "level", "is not a level (a whole number from 0)"),
    ({"depends_on": ["ghost"]}, "cns-service", "depends_on", "unknown service 'ghost'"),
    ({"depends_on": ["cns-service"]}, "cns-service", "depends_on", "depends on itself"),
    ({"depends_on": "db"}, "cns-service", "depends_on", "must be a list of service names"),
    ({"level": 2}, "cns-service", "depends_on", "'db' is at level 3, later than this service's level 2"),
    ({"image": ""}, "cns-service", "image", "missing"),
    ({"readiness": None}, "cns-service", "readiness", "missing or not a mapping"),
    ({"readiness": {"probe": "ping"}}, "cns-service", "readiness.probe", "'ping' is not one of"),
    ({"readiness": {"probe": "tcp"}}, "cns-service", "readiness.port", "probe 'tcp' needs port"),
    ({"readiness": {"probe": "tcp", "port": 0}}, "cns-service", "readiness.port", "0 is not a TCP port"),
    ({"readiness": {"probe": "tcp", "port": "http"}}, "cns-service", "readiness.port", "'http' is not a TCP port"),
    ({"readiness": {"probe": "tcp", "port": 80, "timeout": -5}}, "cns-service", "readiness.timeout", "is not a number >= 1"),
    ({"readiness": {"probe": "tcp", "port": 80, "timeout": "soon"}}, "cns-service", "readiness.timeout", "is not a number >= 1"),
    ({"readiness": {"probe": "tcp", "port": 80, "tiemout": 5}}, "cns-service", "readiness", "unknown field(s) tiemout"),
    ({"readiness": {"probe": "postgres", "port": 5432}}, "cns-service", "readiness.user", "probe 'postgres' needs user"),
    ({"readiness": {"probe": "http", "url": "http://a:1/", "status": 999}}, "cns-service", "readiness.status", "not an HTTP status"),
    ({"readiness": {"probe": "http", "url": "http://a:1/", "body": "(["}}, "cns-service", "readiness.body", "not a regular expression"),
    ({"readiness": {"probe": "process"}}, "cns-service", "readiness.pattern", "probe 'process' needs pattern"),
    ({"ports": ["80:abc"]}, "cns-service", "ports", "not a port mapping"),
    ({"ports": ["70000:80"]}, "cns-service", "ports", "port 70000 is not a TCP/UDP port"),
    ({"ports": ["8080:80/http"]}, "cns-service", "ports", "protocol 'http' is not tcp, udp or sctp"),
    ({"ports": "8080:80"}, "cns-service", "ports", "must be a list of port mappings"),
    ({"env": ["A=1"]}, "cns-service", "env", "must be a mapping"),
    ({"env": {"A": {"nested": 1}}}, "cns-service", "env.A", "must be a string, number or boolean"),
    ({"labels": "team=cns"}, "cns-service", "labels", "must be a mapping"),
    ({"command": ""}, "cns-service", "command", "must be a non-empty string or list"),
    ({"volumes": "data:/data"}, "cns-service", "volumes", "must be a list of names"),
    ({"restart_policy": "sometimes"}, "cns-service", "restart_policy", "'sometimes' is not one of"),
    ({"restart": "always"}, "cns-service", "restart", "unknown field(s) restart"),
    ({"depend_on": ["db"]}, "cns-service", "depend_on", "unknown field(s) depend_on"),
    ({"stop_grace_period": "-1s"}, "cns-service", "stop_grace_period", "is not a duration"),
    ({"healthcheck": {"interval": "5s"}}, "cns-service", "healthcheck", "must be a mapping with a test"),
    ({"healthcheck": {"test": ["CMD", "true"], "interval": "often"}}, "cns-service", "healthcheck.interval", "is not a duration"),
    ({"healthcheck": {"test": ["CMD", "true"], "retries": -1}}, "cns-service", "healthcheck.retries", "is not a count"),
    ({"kubernetes": {"kind": "DaemonSet"}}, "cns-service", "kubernetes.kind", "'DaemonSet' is not one of"),
    ({"start_after": [{"probe": "running"}]}, "cns-service", "start_after[0].probe", "a gate is a network probe"),
])
def test_every_bad_catalog_field_is_named(change, service, field, why):
    svc = dict(_SVC, **change)
    with pytest.raises(Exception) as raised:
        _catalog.validate([dict(_DB), svc])
    text = str(raised.value)
    assert "service %r, field %r" % (service, field) in text and why in text, text


def test_the_fields_the_catalog_documents_are_the_fields_it_accepts():
    import os
    import re
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "catalog.md")
    with open(docs, encoding="utf-8") as handle:
        table = handle.read().split("## Readiness probes")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)`", table, re.M)) | set(re.findall(r"`([a-z_]+)`(?:,|\s\|)", table))
    assert _catalog.SERVICE_FIELDS <= documented, _catalog.SERVICE_FIELDS - documented


# --- the modules' own options: refused before any connection, naming the option --------------------


@pytest.mark.parametrize("params, why", [
    ({"exchanges": [{"name": "", "type": "topic"}]}, "every exchange needs a name"),
    ({"exchanges": [{"name": "x", "type": "topic", "state": "gone"}]}, "state 'gone' is not present or absent"),
    ({"queues": [{"name": "q", "type": "stream", "max_age": "7 days"}]}, "queue q: x-max-age '7 days'"),
    ({"bindings": [{"source": "x"}]}, "a binding needs source and destination"),
    ({"bindings": [{"source": "x", "destination": "q", "destination_type": "topic"}]}, "destination_type must be queue or exchange"),
])
def test_bad_topology_input_is_named_before_connecting(params, why):
    args = {"exchanges": [], "queues": [], "bindings": []}
    args.update(params)
    with pytest.raises(TopologyError) as raised:
        _rabbitmq_topology.validate(args["exchanges"], args["queues"], args["bindings"])
    assert why in raised.value.message, raised.value.message


@pytest.mark.parametrize("name, retention, why", [
    ("", 86400, "invalid namespace name '': use letters, digits"),
    ("has space", 86400, "invalid namespace name 'has space'"),
    ("arc-saas", 3600, "namespace arc-saas: retention 3600s is below the server's minimum"),
])
def test_bad_namespace_input_is_named(name, retention, why):
    from ansible_collections.ananta.platform.plugins.module_utils import _temporal
    with pytest.raises(Exception) as raised:
        _temporal.validate_namespace(name, retention)
    assert why in str(raised.value), str(raised.value)


@pytest.mark.parametrize("value", ["7 days", "-1d", "d", ""])
def test_a_bad_retention_is_named(value):
    from ansible_collections.ananta.platform.plugins.module_utils import _temporal
    with pytest.raises(Exception) as raised:
        _temporal.parse_duration(value)
    # the value itself, quoted (issue 29: `value in text` passed on anything for the empty value)
    assert "not a duration: %r" % value in str(raised.value), str(raised.value)
