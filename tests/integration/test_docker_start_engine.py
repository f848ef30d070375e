"""docker_services' start against the real engine: what it asks the engine for (issue 32)."""

import time
import uuid

import pytest

from integration_helpers import LAB_IMAGE, run_module, wait_for


@pytest.fixture()
def project(docker_client):
    name = "it%s" % uuid.uuid4().hex[:8]
    yield name
    for container in docker_client.containers.list(all=True, filters={"label": "ananta.platform.project=%s" % name}):
        container.remove(force=True)


def _service(project, name, command, readiness, depends_on=()):
    return {"name": name, "container_name": "%s-%s" % (project, name), "plane": "app_plane", "level": 1 + len(depends_on),
            "image": LAB_IMAGE, "command": command, "depends_on": list(depends_on), "readiness": readiness}


def test_the_expected_critical_path_is_created_with_its_raised_weight_and_lowered_once_ready(docker_client, project):
    """A service of the expected critical path gets its CPU weight at creation (not by an
    update call once it runs) and the engine's default back once it is ready."""
    # ready only once the test says so: its weight is read while it boots, without a race
    began = int(time.time()) - 1
    held = _service(project, "held", ["/bin/sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exec sleep 4646"],
                    {"probe": "process", "pattern": "^sleep 4646$", "timeout": 120})
    finish = run_module("docker_services", {"services": [held], "project": project, "planes": ["app_plane"],
                                            "wait_all": True, "poll_interval": 0.25, "durations": {"held": 3.0}},
                        background=True)
    container = held["container_name"]

    def running():
        return docker_client.api.inspect_container(container)["State"]["Running"]
    wait_for(running, 120, interval=0.2)
    assert docker_client.api.inspect_container(container)["HostConfig"]["CpuShares"] == 8192
    docker_client.containers.get(container).exec_run(["touch", "/tmp/go"])
    result = finish()
    assert not result.get("failed"), result.get("msg")
    assert result["services"][0]["cpu_weighted"] is True
    assert docker_client.api.inspect_container(container)["HostConfig"]["CpuShares"] in (0, 1024)
    # one update call in all, the lowering: the raise came with the creation
    events = docker_client.api.events(since=began, until=int(time.time()) + 1, decode=True,
                                      filters={"container": container, "type": "container"})
    actions = [event.get("Action") for event in events]
    assert "create" in actions and "start" in actions, actions
    assert actions.count("update") == 1, actions


def test_a_container_of_the_same_name_not_the_projects_is_named_and_left_alone(docker_client, project):
    """A name the engine lists is inspected before anything is created (a cold start creates the
    names it does not list without asking): a container that is not the project's is named."""
    service = _service(project, "taken", ["sleep", "infinity"], {"probe": "running", "timeout": 30})
    foreign = docker_client.containers.run(LAB_IMAGE, ["sleep", "4747"], name=service["container_name"], detach=True,
                                           labels={"ananta.platform.project": "someone-else"})
    try:
        result = run_module("docker_services", {"services": [service], "project": project, "planes": ["app_plane"]})
        assert result.get("failed")
        assert "container %s exists but was not made by this collection for project %s" % (
            service["container_name"], project) in result["msg"], result["msg"]
        foreign.reload()
        assert foreign.status == "running" and foreign.attrs["Config"]["Cmd"] == ["sleep", "4747"]
    finally:
        foreign.remove(force=True)
