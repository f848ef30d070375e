"""Fixtures of the integration tests: lab containers on the real Docker engine."""

import uuid

import pytest

from integration_helpers import LAB_IMAGE, TEST_LABEL


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


