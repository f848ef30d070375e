"""Seed 000's Jobs and init containers as k8s_manifests renders them, run container by container
on the Docker engine against real servers started from the rendered StatefulSets: the
db-migration Job applies the order table with history (a second run applies nothing), the
rabbitmq-stream-init Job declares the exchanges, streams and bindings (a second run changes
nothing), and cns-service's wait-for-schema init container waits until the tables exist."""

import json
import os
import time

import pytest

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from integration_helpers import TEST_LABEL, wait_for
from pod_runner import PodRunner

EE_IMAGE = os.environ.get("ANANTA_EE_IMAGE", "ananta-lab/ee:0.1")


@pytest.fixture(scope="module")
def app_plane_objects(lab_vars):
    variables = json.loads(json.dumps(lab_vars, default=str))
    nodes, files = _k8s_render.step_nodes(variables["ananta_platform_steps"], variables["ananta_services"])
    renderer = _k8s_render.Renderer(variables["ananta_services"], project="ananta-itest", step_image=EE_IMAGE,
                                    migration_files=files, steps=nodes)
    phases = renderer.render(["app_plane"])
    return [o for p in phases for o in p["objects"]]


@pytest.fixture()
def pods(docker_client, lab, app_plane_objects):
    try:
        docker_client.images.get(EE_IMAGE)
    except Exception:  # pylint: disable=broad-except
        pytest.fail("step image %s is missing: run ansible-playbook playbooks/lab_images.yml" % EE_IMAGE)
    runner = PodRunner(docker_client, lab.network, app_plane_objects, lab.prefix, TEST_LABEL)
    yield runner
    runner.cleanup()


def workload(objects, kind, name):
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name][0]


def logs(container):
    return container.logs().decode("utf-8", "replace")


def test_jobs_and_init_container_do_seed_000s_work(pods, app_plane_objects):
    objects = app_plane_objects
    # Phase 1: the datastores, from their rendered StatefulSets, reachable by the Services' names
    supabase = pods.run(workload(objects, "StatefulSet", "supabase-db"), aliases=["supabase-db"])
    pods.run(workload(objects, "StatefulSet", "components-db"), aliases=["components-db", "components-v2-postgres"])
    pods.run(workload(objects, "StatefulSet", "rabbitmq"), aliases=["rabbitmq", "app-plane-rabbitmq"])

    # Phase 4's init container, started early: it must wait for the tables, not pass
    init = pods.run(workload(objects, "Deployment", "cns-service"), "wait-for-schema", init=True)
    # it says what it waits for (an event, not a fixed time), and is still waiting
    wait_for(lambda: "waiting" in logs(init) and "bom_processing_jobs" in logs(init), 120, interval=0.5)
    init.reload()
    assert init.status == "running", logs(init)

    # Phase 3.1: db_migration, the collection's migration code
    migration = pods.run(workload(objects, "Job", "db-migration"), detach=False)
    output = logs(migration)
    assert migration.attrs["State"]["ExitCode"] == 0, output
    assert "applied 001" in output and "applied 008" in output and "applied 007" in output
    assert "database postgres: 2 applied" in output and "database components_v2: 3 applied" in output

    # the init container sees the tables and lets the main container start
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        init.reload()
        if init.status == "exited":
            break
        time.sleep(1)
    assert init.status == "exited" and init.attrs["State"]["ExitCode"] == 0, logs(init)
    assert "all dependencies ready" in logs(init)

    # a gate whose password is refused ends at once (exit code 3), naming the gate: waiting
    # would not heal it, and the pod fails instead of looping until the deadline
    secret = workload(objects, "Secret", "db-credentials")
    key = "cns-service.wait-for-schema.json"
    kept = secret["stringData"][key]
    config = json.loads(kept)
    for probe in config["probes"]:
        probe["password"] = "a-refused-password"
    secret["stringData"][key] = json.dumps(config)
    try:
        started = time.monotonic()
        refused = pods.run(workload(objects, "Deployment", "cns-service"), "wait-for-schema", init=True, detach=False)
        seconds = time.monotonic() - started
    finally:
        secret["stringData"][key] = kept
    output = logs(refused)
    assert refused.attrs["State"]["ExitCode"] == 3, output
    assert "password authentication failed" in output and "cannot pass" in output, output
    assert "postgres supabase-db:5432" in output or "postgres components" in output, output
    assert seconds < 60, seconds  # config["timeout"] is 600: it did not wait for the deadline
    assert "a-refused-password" not in output

    # a second run (a Job re-created by a later start) applies nothing: the history holds
    again = pods.run(workload(objects, "Job", "db-migration"), detach=False)
    assert again.attrs["State"]["ExitCode"] == 0, logs(again)
    assert "database postgres: 0 applied, 2 already applied" in logs(again)
    code, out = supabase.exec_run(["psql", "-U", "postgres", "-tAc",
                                   "SELECT string_agg(version, ',' ORDER BY version) FROM ananta_migrations.schema_migrations"])
    assert code == 0 and out.decode().strip() == "001,008"

    # Phase 3.2: rabbitmq_stream_init, the collection's topology code
    topology = pods.run(workload(objects, "Job", "rabbitmq-stream-init"), detach=False)
    output = logs(topology)
    assert topology.attrs["State"]["ExitCode"] == 0, output
    for name in ("exchange platform.events", "exchange bom.events", "exchange enrichment.events", "stream.platform.admin",
                 "stream.webhook.events"):
        assert name in output, output
    again = pods.run(workload(objects, "Job", "rabbitmq-stream-init"), detach=False)
    assert again.attrs["State"]["ExitCode"] == 0, logs(again)
    assert "created" not in logs(again)
