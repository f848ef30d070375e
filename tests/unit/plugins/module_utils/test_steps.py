"""The steps of a start as nodes of its graph (plugins/module_utils/_steps.py), the start order
(_docker/starter.py: priority gate, expected chains through the steps) and the timeline of a start
that ran its steps inside docker_services (_timeline.py).

The step definitions are the platform's own (platform/definition.yml, ananta_platform_steps),
rendered with the lab inventory, so that these tests check the wiring the playbooks use."""

import threading
import time

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _step_kinds, _steps, _timeline
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._docker import start_containers
from ansible_collections.ananta.platform.plugins.module_utils._docker.start_nodes import PriorityGate
from ansible_collections.ananta.platform.plugins.module_utils._docker.starter import Starter
from inventory_helpers import inventory_vars

ROLES = ("shared_temporal", "control_plane", "app_plane")


@pytest.fixture(scope="module")
def lab():
    return inventory_vars("lab")


@pytest.fixture(scope="module")
def role_steps(lab):
    """Each plane's steps, as the definition gives them (ananta_platform_steps) on the lab: the
    steps the playbooks hand to the start."""
    steps = {role: [s for s in lab["ananta_platform_steps"] if s["plane"] == role] for role in ROLES}
    assert all(steps.values()), "a plane without steps in the definition: %s" % steps
    return steps


@pytest.fixture(scope="module")
def nodes(role_steps, lab):
    return _steps.build([s for role in ROLES for s in role_steps[role]], lab["ananta_services"])


def test_the_roles_steps_become_one_node_per_database_each_after_its_own_service(nodes, lab):
    by_name = {n.name: n for n in nodes}
    assert sorted(by_name) == ["migrations:components-db", "migrations:control-plane", "migrations:supabase-db",
                               "namespaces", "streams"]
    assert by_name["migrations:supabase-db"].after == ["supabase-db"]
    assert by_name["migrations:components-db"].after == ["components-v2-postgres"]
    assert by_name["migrations:control-plane"].after == ["arc-saas-postgres"]
    assert by_name["namespaces"].after == ["shared-temporal"]
    assert by_name["streams"].after == ["app-plane-rabbitmq"]
    # validated against pg_migrate's own argument spec: types converted, defaults filled
    params = by_name["migrations:components-db"].params
    assert isinstance(params["port"], int) and params["history_table"] == "schema_migrations"
    assert [m["version"] for m in params["migrations"]] == ["002", "005", "007"]
    assert [m["version"] for m in by_name["migrations:control-plane"].params["migrations"]] == ["003", "004", "006"]
    assert by_name["streams"].params["login_password"] == lab["ananta_rabbitmq"]["password"]


def test_each_gated_service_waits_for_exactly_the_steps_that_provide_its_gates(nodes, lab):
    starter = Starter(None, None, lab["ananta_services"], lab["ananta_services"], steps=nodes)
    waits = {name: sorted(s.name for s in start.after_steps) for name, start in starter.starts.items() if start.after_steps}
    assert waits == {
        "tenant-management-service": ["migrations:control-plane", "namespaces"],
        "temporal-worker-service": ["namespaces"],
        "cns-service": ["migrations:components-db", "migrations:supabase-db", "streams"],
        "cns-worker": ["migrations:supabase-db", "namespaces", "streams"],
        "django-backend": ["migrations:supabase-db"],
        "audit-logger": ["streams"],
    }


def test_bad_steps_are_all_refused_before_anything_starts_each_naming_its_step(role_steps, lab):
    streams = dict(role_steps["app_plane"][1], options=dict(role_steps["app_plane"][1]["options"], port="not-a-port"))
    migrations = dict(role_steps["control_plane"][0], options=dict(
        role_steps["control_plane"][0]["options"],
        order=role_steps["control_plane"][0]["options"]["order"] + [{"version": "099", "file": "x.sql", "database": "nowhere"}]))
    bad = [
        streams,
        migrations,
        {"name": "seed", "kind": "fixtures", "plane": "app_plane", "options": {}},
        {"name": "namespaces", "kind": "namespaces", "plane": "shared_temporal", "after": ["temporal-frontend"],
         "options": {"namespaces": []}},
        dict(role_steps["shared_temporal"][0], options={"address": "x:7233"}),
    ]
    with pytest.raises(AnantaError) as info:
        _steps.build(bad, lab["ananta_services"])
    message = info.value.message
    assert "the steps have 5 problem(s)" in message
    assert "step streams" in message and "port" in message
    assert "step migrations" in message and "nowhere" in message
    assert "step seed: kind 'fixtures'" in message
    assert "comes after temporal-frontend, not in the catalog" in message
    assert "step namespaces" in message and "namespaces" in message.split("step namespaces", 1)[1]


def test_the_steps_secrets_are_masked(nodes, lab):
    secrets = _steps.secret_values(nodes)
    assert lab["ananta_rabbitmq"]["password"] in secrets
    assert all(d["password"] in secrets for d in lab["ananta_databases"].values())


def test_expected_chains_run_through_the_steps(nodes, lab):
    durations = {"app-plane-rabbitmq": 15.0, "cns-service": 4.5, "backstage-portal": 3.5, "arc-saas-postgres": 5.0,
                 "arc-saas-keycloak": 12.0, "tenant-management-service": 4.0, "admin-app": 1.5}
    starter = Starter(None, None, lab["ananta_services"], lab["ananta_services"], steps=nodes, durations=durations)
    chains = starter._chain_lengths()  # pylint: disable=protected-access
    # rabbitmq -> (streams) -> cns-service -> backstage-portal; its gate is the only edge to cns-service's
    # dependants that runs through a step, and it is counted
    assert chains["app-plane-rabbitmq"] == pytest.approx(15.0 + 4.5 + 3.5)
    assert chains["arc-saas-postgres"] == pytest.approx(5.0 + 12.0 + 4.0 + 1.5)
    # without durations: the length of the longest chain of dependants
    plain = Starter(None, None, lab["ananta_services"], lab["ananta_services"], steps=nodes)._chain_lengths()  # pylint: disable=protected-access
    assert plain["admin-app"] == 1 and plain["arc-saas-postgres"] == 4


def test_the_expected_critical_path_boots_with_a_raised_cpu_weight_and_only_while_it_boots():
    services = [{"name": "db"}, {"name": "mq"}, {"name": "cache"},
                {"name": "api", "depends_on": ["db", "mq"]}, {"name": "web", "depends_on": ["api"]},
                {"name": "side", "depends_on": ["cache"]}]
    durations = {"db": 2.0, "mq": 10.0, "cache": 1.0, "api": 3.0, "web": 1.0, "side": 1.0}
    starter = Starter(None, None, services, services, durations=durations)
    # mq -> api -> web is the expected path (14 s); db has 8 s of slack, cache and side 12 s
    assert starter._critical(starter._chain_lengths()) == {"mq", "api", "web"}  # pylint: disable=protected-access
    # no durations (a first start): nothing to go on, no weight raised
    plain = Starter(None, None, services, services)
    assert plain._critical(plain._chain_lengths()) == set()  # pylint: disable=protected-access

    class Deployer:  # records the weights the start sets
        def __init__(self):
            self.calls = []

        def set_cpu_shares(self, name, shares):
            self.calls.append((name, shares))

    starter.deployer = Deployer()
    mq = starter.starts["mq"]
    start_containers.weigh(starter, mq, 8192)
    start_containers.unweigh(starter, mq)
    start_containers.unweigh(starter, starter.starts["db"])  # never raised: left alone
    assert starter.deployer.calls == [("mq", 8192), ("mq", 1024)]
    assert mq.result()["cpu_weighted"] is True and starter.starts["db"].result()["cpu_weighted"] is False


def test_the_priority_gate_lets_the_first_wave_in_by_priority_not_by_arrival():
    gate = PriorityGate(1, expected=[1, 3, 2, 7], hold=5.0, express=0)
    admitted, lock = [], threading.Lock()

    def worker(priority, delay):
        time.sleep(delay)
        ticket = gate.acquire(priority, expected=True)
        with lock:
            admitted.append(priority)
        time.sleep(0.02)
        gate.release(ticket)

    threads = [threading.Thread(target=worker, args=(p, d)) for p, d in ((1, 0.0), (3, 0.05), (2, 0.1))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert admitted == []  # the most important of the wave (7) has not come yet
    gate.withdraw(7)  # it was running already: it will not come
    for thread in threads:
        thread.join()
    assert admitted == [3, 2, 1]
    assert time.monotonic() - started < 2.0  # released when the wave was in, not at the hold limit


def test_the_priority_gate_lets_many_waiters_in_one_by_one_by_priority():
    """Issue 32: a release lets in the most important waiter (a start of 200 services has a
    hundred here at times), one at a time through one slot, whatever their arrival order."""
    gate = PriorityGate(1, express=0, hold=0)
    held = gate.acquire(0)
    admitted, lock = [], threading.Lock()
    priorities = [(7 * n) % 31 for n in range(1, 31)]  # 30 distinct priorities, shuffled

    def worker(priority):
        ticket = gate.acquire(priority)
        with lock:
            admitted.append(priority)
        gate.release(ticket)

    threads = [threading.Thread(target=worker, args=(p,)) for p in priorities]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(gate.waiting) < len(priorities) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(gate.waiting) == len(priorities) and admitted == []
    gate.release(held)
    for thread in threads:
        thread.join(10)
    assert admitted == sorted(priorities, reverse=True)
    assert gate.slots == 1 and gate.holding == [] and gate.waiting == []


def test_the_head_of_a_longer_chain_takes_the_express_slot_not_a_lesser_one():
    gate = PriorityGate(2, express=1)
    first, second = gate.acquire(5), gate.acquire(1)  # both slots held
    events, lock = [], threading.Lock()

    def worker(priority):
        ticket = gate.acquire(priority)
        with lock:
            events.append(("in", priority, ticket[0]))

    lesser = threading.Thread(target=worker, args=(3,))  # outranks one holder, not both: waits
    lesser.start()
    time.sleep(0.1)
    assert not events
    urgent = threading.Thread(target=worker, args=(9,))  # outranks every holder: let in at once
    urgent.start()
    urgent.join(2.0)
    assert events == [("in", 9, "express")]
    gate.release(second)
    lesser.join(2.0)
    assert events == [("in", 9, "express"), ("in", 3, "slot")]
    gate.release(first)


def test_the_timeline_puts_the_steps_run_by_docker_services_on_the_critical_path():
    services = [
        {"name": "mq", "plane": "app_plane", "level": 3, "depends_on": []},
        {"name": "api", "plane": "app_plane", "level": 4, "depends_on": ["mq"],
         "start_after": [{"probe": "amqp", "port": 1, "queues": ["q"]}]},
    ]
    result = {"services": [
        {"name": "mq", "started_at": 100.0, "ready_at": 110.0, "after_steps": []},
        {"name": "api", "started_at": 113.0, "ready_at": 115.0, "after_steps": ["streams"]},
    ], "steps": [{"name": "streams", "plane": "app_plane", "after": ["mq"], "started_at": 110.0, "elapsed": 2.5}]}
    timeline = _timeline.build(services, result, 99.0, 116.0)
    assert timeline["critical_path"]["path"] == ["mq", "step:streams", "api"]
    assert timeline["critical_path"]["seconds"] == pytest.approx(10.0 + 2.5 + 2.0)
    assert timeline["steps"] == [{"name": "streams", "plane": "app_plane", "started": 11.0, "seconds": 2.5}]


def test_the_timeline_from_the_start_result_alone_counts_each_services_start_call():
    """start_platform on Docker reports from docker_services' own result (no second pass over
    the catalog): each service's plane, level, dependencies and gating steps come from it,
    and the part of the path spent in the engine's start calls is shown on its own."""
    result = {"services": [
        {"name": "mq", "plane": "app_plane", "level": 3, "depends_on": [], "started_at": 100.0,
         "engine_start_seconds": 0.5, "ready_at": 110.0, "after_steps": []},
        {"name": "cache", "plane": "app_plane", "level": 3, "depends_on": [], "started_at": 100.0,
         "engine_start_seconds": 0.9, "ready_at": 101.0, "after_steps": []},
        {"name": "api", "plane": "app_plane", "level": 4, "depends_on": ["mq", "cache"], "started_at": 112.5,
         "engine_start_seconds": 0.75, "ready_at": 115.0, "after_steps": ["streams"]},
    ], "steps": [{"name": "streams", "plane": "app_plane", "after": ["mq"], "started_at": 110.0, "elapsed": 2.5}]}
    timeline = _timeline.build(result["services"], result, 99.0, 116.0)
    assert timeline["critical_path"] == {"seconds": pytest.approx(10.0 + 2.5 + 2.5), "path": ["mq", "step:streams", "api"],
                                         "engine_start_seconds": pytest.approx(0.5 + 0.75)}
    assert [s["engine_start_seconds"] for s in timeline["services"]] == [0.5, 0.9, 0.75]


def test_the_timeline_of_a_cluster_start_reads_its_result_as_it_is():
    """k8s_services returns the same shape as docker_services (issue 30: no result found again
    by its registered name): each step Job with what it came after, each workload with the
    Jobs its gates waited for."""
    services = [
        {"name": "temporal", "plane": "shared_temporal", "level": 0, "depends_on": []},
        {"name": "worker", "plane": "app_plane", "level": 4, "depends_on": ["temporal"],
         "start_after": [{"probe": "temporal", "namespace": "enrichment"}]},
    ]
    start = {"services": [{"name": "temporal", "started_at": 100.0, "ready_at": 110.0, "after_steps": []},
                          {"name": "worker", "started_at": 113.0, "ready_at": 114.0,
                           "after_steps": ["temporal-namespace-init:temporal"]}],
             "steps": [{"name": "temporal-namespace-init:temporal", "plane": "shared_temporal", "after": ["temporal"],
                        "started_at": 110.0, "elapsed": 3.0}]}
    timeline = _timeline.build(services, start, 99.0, 116.0)
    assert timeline["critical_path"]["path"] == ["temporal", "step:temporal-namespace-init:temporal", "worker"]
    assert timeline["critical_path"]["seconds"] == pytest.approx(10.0 + 3.0 + 1.0)
    # a step result that does not say what it came after: the definitions' after says it
    start["steps"][0]["after"] = []
    start["steps"][0]["name"] = "namespaces"
    start["services"][1]["after_steps"] = ["namespaces"]
    assert "step:namespaces" not in _timeline.build(services, start, 99.0, 116.0)["critical_path"]["path"]
    with_after = _timeline.build(services, start, 99.0, 116.0, step_after={"namespaces": ["temporal"]})
    assert with_after["critical_path"]["path"] == ["temporal", "step:namespaces", "worker"]


def test_the_docker_start_and_the_kubernetes_jobs_migrate_the_same_databases_per_plane(nodes, lab):
    """One rule chooses what each plane migrates (_step_kinds.plane_databases): the Docker start's
    migration nodes and the db-migration Job of each plane's namespace hold the same databases
    with the same versions."""
    import json

    from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import plane_namespace
    from test_k8s_render import all_objects, render_inventory

    docker = {n.name.split(":", 1)[1]: (plane_namespace(n.plane, lab["ananta_plane_namespaces"]),
                                        [m["version"] for m in n.params["migrations"]])
              for n in nodes if n.kind == "migrations"}
    _variables, phases = render_inventory("lab")
    kubernetes = {}
    for obj in all_objects(phases):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "db-migration-config":
            for database in json.loads(obj["data"]["config.json"])["databases"]:
                kubernetes[database["name"]] = (obj["metadata"]["namespace"], [m["version"] for m in database["migrations"]])
    assert docker == kubernetes and len(docker) == 3, (docker, kubernetes)


def test_a_database_without_a_plane_is_migrated_with_its_service_s_plane():
    catalog = {"db": {"name": "db", "plane": "data"}, "web": {"name": "web", "plane": "edge"}}
    databases = {"main": {"service": "db"}, "other": {"service": "web", "plane": "data"}, "unused": {"service": "db"}}
    order = [{"version": "001", "database": "main"}, {"version": "002", "database": "other"}]
    assert [(key, [e["version"] for e in entries]) for key, _d, entries in
            _step_kinds.plane_databases("data", databases, order, catalog)] == [("main", ["001"]), ("other", ["002"])]
    assert _step_kinds.plane_databases("edge", databases, order, catalog) == []


def test_inside_the_network_a_step_reaches_its_server_by_name_on_the_container_port(nodes, lab):
    """The Jobs and the compose file's services reach the service a step comes after by name, on the
    container port behind the published port of its options (the lab publishes RabbitMQ on 25672)."""
    by_name = {s["name"]: s for s in lab["ananta_services"]}
    found = {n.name: _steps.in_network(n, by_name) for n in nodes}
    service, port, config, password = found["streams"]
    assert service["name"] == "app-plane-rabbitmq" and port == 5672 and config["host"] == "app-plane-rabbitmq"
    assert nodes[[n.name for n in nodes].index("streams")].params["port"] != 5672  # the Docker host's port differs
    assert password and password not in str(config)
    assert found["namespaces"][2]["address"] == "shared-temporal:7233"
    assert found["migrations:components-db"][2]["host"] == "components-v2-postgres"


def test_a_step_with_no_single_server_is_refused_naming_it(lab):
    services = lab["ananta_services"]
    by_name = {s["name"]: s for s in services}
    options = {"login_host": "127.0.0.1", "port": 1, "queues": []}
    for after in ([], ["supabase-db", "app-plane-redis"]):
        node = _steps.build([{"name": "topo", "kind": "streams", "plane": "app_plane", "after": after,
                              "options": options}], services)[0]
        with pytest.raises(AnantaError, match="step topo: comes after no single service"):
            _steps.in_network(node, by_name)


def test_a_job_whose_server_is_in_another_plane_is_refused_naming_both(lab):
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
    from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError

    services = lab["ananta_services"]
    nodes = _steps.build([{"name": "streams", "kind": "streams", "plane": "control_plane",
                           "after": ["app-plane-rabbitmq"], "options": {"port": 5672}}], services)
    with pytest.raises(CatalogError, match="step streams of the control_plane connects to app-plane-rabbitmq, of the app_plane"):
        _k8s_render.Renderer(services, step_image="x", steps=nodes).render(["control_plane"])


# ------------------------------------------------------------------ names that refer to something declared (issue 29)
def test_a_database_of_an_undeclared_plane_is_refused_naming_the_nearest(role_steps, lab):
    steps = [dict(s) for s in role_steps["app_plane"] if s["kind"] == "migrations"]
    options = dict(steps[0]["options"])
    databases = {k: dict(v) for k, v in options["databases"].items()}
    databases["components-db"]["plane"] = "app_plan"
    steps[0] = dict(steps[0], options=dict(options, databases=databases))
    with pytest.raises(AnantaError, match=r"database components-db belongs to plane 'app_plan', no plane of the catalog "
                                          r"\(its planes: shared_temporal, control_plane, app_plane\); did you mean app_plane\?"):
        _steps.build(steps, lab["ananta_services"])


def test_a_gate_on_a_stream_no_step_declares_is_refused_naming_it(role_steps, lab):
    steps = [dict(s) for s in role_steps["app_plane"] if s["kind"] == "streams"]
    queues = [q for q in steps[0]["options"]["queues"] if q["name"] != "stream.bom.progress"]
    steps[0] = dict(steps[0], options=dict(steps[0]["options"], queues=queues))
    with pytest.raises(AnantaError) as caught:
        _steps.build(steps, lab["ananta_services"])
    assert "service cns-service waits (start_after) for the stream stream.bom.progress, which no step declares" in caught.value.message
    assert "service cns-worker waits (start_after) for the stream stream.bom.progress" in caught.value.message
    # the lab's own steps declare every stream and namespace its gates wait for
    assert _steps.build([s for role in ROLES for s in role_steps[role]], lab["ananta_services"])


def test_a_gate_on_a_namespace_no_step_declares_is_refused_naming_the_nearest(role_steps, lab):
    steps = [dict(s) for s in role_steps["shared_temporal"]]
    services = [dict(s) for s in lab["ananta_services"]]
    worker = next(s for s in services if s["name"] == "temporal-worker-service")
    worker["start_after"] = [dict(g, namespace="arc-sass") if g.get("probe") == "temporal" else g for g in worker["start_after"]]
    with pytest.raises(AnantaError, match=r"service temporal-worker-service waits \(start_after\) for the Temporal namespace "
                                          r"arc-sass, which no step declares .*; did you mean arc-saas\?"):
        _steps.build(steps, services)
