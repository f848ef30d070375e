"""The table of step kinds (plugins/module_utils/_step_kinds.py) is the one place a kind is
written: a made-up kind added there, and nowhere else, is validated, run by the Docker start,
gates services, is rendered as a Kubernetes Job and as a compose one-shot service running the same
command, is checked by verify and drawn in the timeline."""

import json

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _compose, _step_kinds, _steps, _timeline

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._docker.starter import Starter
from inventory_helpers import inventory_vars

RAN = []


class Caches(_step_kinds.StepKind):
    """A made-up kind: warm a Redis cache's keys before the services gated on them start."""

    name = "caches"
    spec = {"login_host": {"type": "str", "required": True}, "port": {"type": "int", "required": True},
            "login_password": {"type": "str", "no_log": True, "default": ""},
            "keys": {"type": "list", "elements": "str", "required": True}}
    gate = "redis"
    default_port = 6379
    verb = "caches"
    job = "redis-cache-init"
    service = "redis-caches"
    password_env = "REDIS_PASSWORD"
    declares = "cache key"

    # a Redis gate names the key it needs in its query (a field every probe may carry)
    def provides(self, gate, ports):
        return bool(gate.get("query"))

    def wanted(self, gate):
        return [gate["query"]] if gate.get("query") else []

    def declared(self, params):
        return list(params["keys"])

    def run(self, params, check_mode):
        RAN.append(params["keys"])
        return {"changed": True}

    def reach(self, node, service, port):
        return {"host": service["name"], "port": port, "keys": node.params["keys"]}, node.params["login_password"]

    def checks(self, step, many):
        return [{"name": "cache keys warm", "plane": step["plane"], "level": 0,
                 "readiness": {"probe": "redis", "host": step["options"]["login_host"], "port": step["options"]["port"]}}]


@pytest.fixture(scope="module")
def lab():
    return json.loads(json.dumps(inventory_vars("lab"), default=str))


@pytest.fixture()
def caches(monkeypatch, lab):
    """The kind in the table, the lab's definition with one step of it and a service gated on it."""
    monkeypatch.setitem(_step_kinds.KINDS, "caches", Caches())
    port = int(lab["ananta_host_ports"]["app-plane-redis"])
    step = {"name": "caches", "kind": "caches", "plane": "app_plane", "after": ["app-plane-redis"],
            "options": {"login_host": "127.0.0.1", "port": port, "login_password": "s3cret-cache", "keys": ["boms"]}}
    services = [dict(s) for s in lab["ananta_services"]]
    gated = next(s for s in services if s["name"] == "cns-service")
    gated["start_after"] = list(gated.get("start_after") or []) + [
        {"probe": "redis", "host": "127.0.0.1", "port": port, "query": "boms"}]
    return services, list(lab["ananta_platform_steps"]) + [step]


def test_an_unknown_kind_is_refused_naming_the_step_and_the_nearest_kind(lab):
    step = dict(lab["ananta_platform_steps"][0], name="ns", kind="namespace")
    with pytest.raises(AnantaError) as failed:
        _steps.build([step], lab["ananta_services"])
    assert "step ns: kind 'namespace' is not one of the table of step kinds" in failed.value.message
    assert "did you mean namespaces?" in failed.value.message


def test_a_kind_added_to_the_table_alone_is_built_gates_and_runs(caches):
    services, steps = caches
    nodes = _steps.build(steps, services)
    node = next(n for n in nodes if n.kind == "caches")
    assert (node.name, node.service, node.after) == ("caches", "app-plane-redis", ["app-plane-redis"])
    assert "s3cret-cache" in _steps.secret_values(nodes)
    # the service whose gate it provides waits for it, by the one rule of the start
    starter = Starter(None, None, services, services, steps=nodes)
    assert "caches" in [s.name for s in starter.starts["cns-service"].after_steps]
    assert "caches" not in [s.name for s in starter.starts["django-backend"].after_steps]
    # run by the start's node, with its validated options
    del RAN[:]
    node.run()
    assert RAN == [["boms"]] and node.outcome == {"changed": True}
    # a gate on a key no step declares is refused, naming it and the nearest declared one
    services[[s["name"] for s in services].index("cns-service")]["start_after"][-1]["query"] = "bomz"
    with pytest.raises(AnantaError) as failed:
        _steps.build(steps, services)
    assert "service cns-service waits (start_after) for the cache key bomz, which no step declares" in failed.value.message
    assert "did you mean boms?" in failed.value.message


def test_a_kind_added_to_the_table_alone_is_a_job_a_compose_service_a_check_and_a_timeline_node(caches):
    services, steps = caches
    nodes = _steps.build(steps, services)
    by_name = {s["name"]: s for s in services}

    # the Kubernetes Job: in the plane's namespace, the kind's command, its password from a Secret
    files = {e["file"]: "" for n in nodes if _step_kinds.KINDS[n.kind].files for e in n.params["migrations"]}
    phases = _k8s_render.Renderer(services, step_image="x", steps=nodes, migration_files=files).render()
    objects = [o for phase in phases for o in phase["objects"]]
    job = next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == "redis-cache-init")
    assert job["metadata"]["namespace"] == "app-plane"
    assert job["metadata"]["labels"]["ananta.platform/step"] == "caches"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "caches"
    assert [e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})] == ["REDIS_PASSWORD"]
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "redis-cache-init-config")
    expected = {"host": "app-plane-redis", "port": 6379, "keys": ["boms"], "wait": 300}
    assert json.loads(config["data"]["config.json"]) == expected
    assert "s3cret-cache" not in json.dumps(config)

    # the compose one-shot service: the same command, the same configuration, the password apart
    entries = _compose.build_steps(nodes, by_name)
    document = _compose.compose_document(services, [], entries, "ee", "/collection", "ananta")
    service = document["services"]["redis-caches"]
    assert service["command"][-2:] == [_compose.STEP_COMMAND[-1], "caches"]
    assert json.loads(service["environment"]["ANANTA_STEP_CONFIG"])["keys"] == ["boms"]
    assert service["environment"]["REDIS_PASSWORD"] == "s3cret-cache"
    assert service["depends_on"] == {"app-plane-redis": {"condition": "service_healthy"}}
    assert document["services"]["cns-service"]["depends_on"]["redis-caches"] == {
        "condition": "service_completed_successfully"}

    # verify's check
    assert [c["name"] for c in _step_kinds.verify_checks(steps) if c["readiness"]["probe"] == "redis"] == \
        ["cache keys warm"]

    # the timeline: the gated service comes after the step on the critical path
    graph = _timeline.step_graph(services, [{"name": "caches", "kind": "caches", "plane": "app_plane",
                                             "after": ["app-plane-redis"], "started_at": 1, "seconds": 1}], {})
    assert "step:caches" in next(s for s in graph if s["name"] == "cns-service")["depends_on"]
