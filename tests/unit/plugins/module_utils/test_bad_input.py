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
