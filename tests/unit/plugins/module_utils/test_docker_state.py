"""Docker container state rules on recorded `docker inspect` output."""

import copy

from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import ContainerState, parse_timestamp
from conftest import load_fixture

STALE = load_fixture("docker", "inspect_restarted_stale_healthy.yml")


def test_parse_timestamp_nanoseconds_and_zero():
    assert parse_timestamp("2026-11-20T10:00:30.123456789Z") == parse_timestamp("2026-11-20T10:00:30Z") + 0.123456789
    assert parse_timestamp("0001-01-01T00:00:00Z") == 0.0
    assert parse_timestamp("2026-11-20T12:00:30+02:00") == parse_timestamp("2026-11-20T10:00:30Z")


def test_healthy_from_before_the_restart_is_not_trusted():
    state = ContainerState(STALE)
    assert state.health_status == "healthy"
    status, output = state.fresh_health()
    assert status is None
    assert "no health check has run since the container started" in output


def test_fresh_healthy_is_trusted():
    attrs = copy.deepcopy(STALE)
    attrs["State"]["Health"]["Log"].append(
        {"Start": "2026-11-20T10:00:32.000000001Z", "End": "2026-11-20T10:00:32.1Z", "ExitCode": 0, "Output": "up"})
    assert ContainerState(attrs).fresh_health() == ("healthy", "up")


def test_fresh_unhealthy():
    attrs = copy.deepcopy(STALE)
    attrs["State"]["Health"]["Status"] = "unhealthy"
    attrs["State"]["Health"]["Log"].append(
        {"Start": "2026-11-20T10:00:40Z", "End": "2026-11-20T10:00:41Z", "ExitCode": 1, "Output": "HTTP 503"})
    assert ContainerState(attrs).fresh_health() == ("unhealthy", "HTTP 503")


def test_state_fields():
    state = ContainerState(STALE)
    assert state.name == "app-plane-cns-service"
    assert state.restart_count == 1 and state.restart_policy == "unless-stopped"
    assert state.published_ports() == ["0.0.0.0:27200->8000/tcp"]


def test_a_network_the_engine_will_not_remove_though_nothing_is_attached_is_kept_and_named():
    """Found by CI: after a compose project on the lab's networks went down, the engine refused
    to remove app-plane ("has active endpoints") though no container was attached, and every
    later stop failed. The engine's own refusal is the input here (it cannot be produced on
    demand): the stop keeps that network, names it, and removes the others; another error fails."""
    import pytest
    from docker.errors import APIError

    from ansible_collections.ananta.platform.plugins.module_utils._docker.deploy import DockerDeployer

    class Engine:
        def __init__(self, refusal):
            self.refusal, self.removed = refusal, []

        def networks(self, filters):
            return [{"Id": "1", "Name": "app-plane"}, {"Id": "2", "Name": "arc-saas"}]

        def inspect_network(self, net_id):
            return {"Containers": {}}

        def remove_network(self, net_id):
            if net_id == "1":
                raise APIError("403 Client Error", explanation=self.refusal)
            self.removed.append(net_id)

    class Runtime:
        def __init__(self, api):
            self.api = api

    deployer = DockerDeployer(Runtime(Engine("error while removing network: network app-plane id 1 has active endpoints")),
                              "ananta-lab")
    assert deployer.remove_networks() == ["arc-saas"]
    assert len(deployer.kept_networks) == 1 and deployer.kept_networks[0].startswith("network app-plane kept")
    with pytest.raises(APIError):
        DockerDeployer(Runtime(Engine("permission denied")), "ananta-lab").remove_networks()
