"""Every stand-in of the lab catalog, started alone (none of its dependencies there): it fails the
way the real service fails when started too early; with its dependencies, its health path says 200."""

import os
import socket
import sys
import threading
import time

import pytest

from integration_helpers import LAB_IMAGE, TEST_LABEL, free_port, wait_for

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from inventory_helpers import inventory_vars  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.ananta.platform.plugins.module_utils._http import http_get  # noqa: E402

LAB = inventory_vars("lab")
STANDINS = [s for s in LAB["ananta_services"] if (s.get("command") or [""])[0] == "standin"]


def expectation(service):
    env = service.get("env") or {}
    if env.get("STANDIN_REQUIRES"):
        return "exits"
    if env.get("STANDIN_CHECKS"):
        return "unhealthy"
    return "healthy"


def test_every_private_service_of_the_seeds_has_a_stand_in():
    assert len(STANDINS) == 25
    assert {expectation(s) for s in STANDINS} == {"exits", "unhealthy", "healthy"}


def test_each_stand_in_alone_fails_as_the_real_one_would(docker_client, prefix):
    """Started with none of its dependencies: workers and services that need them at start-up exit
    non-zero; services that check them per request answer 503 on their real health path, naming
    what is missing; those without dependencies answer 200."""
    outcomes, containers = {}, []
    network = docker_client.networks.create("%s-alone" % prefix, labels={TEST_LABEL: prefix})

    def run(service):
        env = dict(service.get("env") or {})
        ports = env.get("STANDIN_PORTS", "").split()
        health = (env.get("STANDIN_HEALTH", "/").split() or ["/"])[0]
        host_port = free_port() if ports else None
        container = docker_client.containers.run(
            LAB_IMAGE, service["command"], name="%s-%s" % (prefix, service["name"]), detach=True, environment=env,
            network=network.name, labels={TEST_LABEL: prefix}, ports={"%s/tcp" % ports[0]: host_port} if ports else {})
        containers.append(container)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "exited":
                outcomes[service["name"]] = ("exits", container.attrs["State"]["ExitCode"],
                                             container.logs(tail=3).decode(errors="replace"))
                return
            if host_port and env.get("STANDIN_MODE") == "tcp":
                try:
                    socket.create_connection(("127.0.0.1", host_port), timeout=2).close()
                    outcomes[service["name"]] = ("healthy", None, "tcp open")
                    return
                except OSError:
                    pass
            elif host_port and expectation(service) != "exits":
                try:
                    status, body = http_get("http://127.0.0.1:%d%s" % (host_port, health), timeout=3)
                    outcomes[service["name"]] = ("healthy" if status == 200 else "unhealthy", status, body)
                    return
                except OSError:
                    pass
            time.sleep(0.5)
        outcomes[service["name"]] = ("no verdict", None, container.logs(tail=5).decode(errors="replace"))

    threads = [threading.Thread(target=run, args=(s,)) for s in STANDINS]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for container in containers:
            container.remove(force=True)
        network.remove()
    for service in STANDINS:
        kind, code, text = outcomes[service["name"]]
        wanted = expectation(service)
        assert kind == wanted, (service["name"], wanted, kind, code, text)
        if kind == "exits":
            assert code != 0 and "FATAL" in text, (service["name"], text)
        if kind == "unhealthy":
            assert code == 503 and "unhealthy" in text, (service["name"], text)


@pytest.mark.parametrize("name", ["arc-saas-minio", "novu-mongodb", "app-plane-minio"])
def test_stand_ins_without_dependencies_answer_their_health_path(lab, name):
    service = next(s for s in STANDINS if s["name"] == name)
    env = dict(service["env"])
    port = free_port()
    lab(name, service["command"], env=env, ports={"%s/tcp" % env["STANDIN_PORTS"].split()[0]: port})
    if env.get("STANDIN_MODE") == "tcp":
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, 20)
    else:
        path = env["STANDIN_HEALTH"].split()[0]
        wait_for(lambda: http_get("http://127.0.0.1:%d%s" % (port, path), timeout=2)[0] == 200, 20)
