"""wait_healthy and service_info on the Kubernetes target, through the real kubernetes client,
on complete API objects: the objects k8s_manifests renders from the lab catalog, with the
status a cluster reports, served by a read-only stand-in API server (no cluster runs here)."""

import json
import os
import threading
import time

import pytest
import yaml

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from integration_helpers import run_module
from k8s_api import FakeCluster, pod_for

NOW = "2026-11-22T06:00:00Z"
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "k8s")


def load_fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def rendered(lab_vars):
    services = json.loads(json.dumps(lab_vars["ananta_services"], default=str))
    definitions = json.loads(json.dumps([d for d in lab_vars["ananta_platform_steps"] if d["kind"] == "migrations"], default=str))
    nodes, files = _k8s_render.step_nodes(definitions, services)
    renderer = _k8s_render.Renderer(services, project="ananta-lab", step_image="ananta-lab/ee:0.1", migration_files=files,
                                    steps=nodes)
    phases = renderer.render(["app_plane"])
    objects = {(o["kind"], o["metadata"]["name"]): o for p in phases for o in p["objects"]}
    waits = {w["name"]: w for p in phases for w in p["waits"]}
    return {"objects": objects, "waits": waits, "services": services}


@pytest.fixture()
def cluster():
    fake = FakeCluster().start()
    yield fake
    fake.stop()


def pod_status(fixture_id):
    return {c["id"]: c["object"] for c in load_fixture("pods.yml")}[fixture_id]["status"]


def ready_statefulset(obj):
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["generation"] = 1
    obj["status"] = {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "currentReplicas": 1,
                     "updatedReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"}
    return obj


def deployment(obj, ready):
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["generation"] = 1
    obj["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                     "readyReplicas": 1 if ready else 0, "availableReplicas": 1 if ready else 0,
                     "conditions": [{"type": "Available", "status": "True" if ready else "False",
                                     "reason": "MinimumReplicasAvailable", "lastUpdateTime": NOW, "lastTransitionTime": NOW},
                                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                     "lastUpdateTime": NOW, "lastTransitionTime": NOW}]}
    return obj


def job(obj, condition):
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["uid"] = "uid-job-%s" % obj["metadata"]["name"]
    obj["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": obj["metadata"]["uid"]}}
    status = {"startTime": NOW}
    if condition == "Complete":
        status.update(succeeded=1, completionTime=NOW,
                      conditions=[{"type": "Complete", "status": "True", "lastProbeTime": NOW, "lastTransitionTime": NOW}])
    elif condition == "Failed":
        status.update(failed=1, conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                             "message": "Job has reached the specified backoff limit",
                                             "lastProbeTime": NOW, "lastTransitionTime": NOW}])
    else:
        status["active"] = 1
    obj["status"] = status
    return obj


def wait_args(cluster, entries, **extra):
    args = {"services": entries, "target": "kubernetes", "host": cluster.url, "api_key": "test-token",
            "poll_interval": 0.2, "timeout": 20}
    args.update(extra)
    return args


def test_ready_workloads_of_a_phase(cluster, rendered):
    objects, waits = rendered["objects"], rendered["waits"]
    cluster.put(ready_statefulset(objects[("StatefulSet", "supabase-db")]))
    cluster.put(pod_for(objects[("StatefulSet", "supabase-db")], "supabase-db-0", pod_status("ready")))
    cluster.put(deployment(objects[("Deployment", "cns-service")], ready=True))
    cluster.put(pod_for(objects[("Deployment", "cns-service")], "cns-service-7c9f8d6b5-x2k4p", pod_status("ready")))
    cluster.put(job(objects[("Job", "db-migration")], "Complete"))
    result = run_module("wait_healthy", wait_args(cluster, [waits["supabase-db"], waits["cns-service"], waits["db-migration"]]))
    assert not result.get("failed"), result["msg"]
    assert sorted(result["ready_services"]) == ["cns-service", "db-migration", "supabase-db"]
    # the workloads were read where the renderer put them
    assert "/apis/apps/v1/namespaces/app-plane/statefulsets/supabase-db" in cluster.requests
    assert "/apis/batch/v1/namespaces/app-plane/jobs/db-migration" in cluster.requests


def test_crash_looping_pod_fails_at_once_naming_the_pod(cluster, rendered):
    objects, waits = rendered["objects"], rendered["waits"]
    cluster.put(deployment(objects[("Deployment", "cns-worker")], ready=False))
    cluster.put(pod_for(objects[("Deployment", "cns-worker")], "cns-worker-5d9b7c8f4-9hqzt", pod_status("crash-loop")))
    cluster.logs[("app-plane", "cns-worker-5d9b7c8f4-9hqzt", "cns-worker")] = "worker: namespace enrichment not found\n"
    started = time.monotonic()
    result = run_module("wait_healthy", wait_args(cluster, [waits["cns-worker"]], timeout=120))
    assert result.get("failed")
    assert time.monotonic() - started < 30  # not the time budget
    assert "cns-worker-5d9b7c8f4-9hqzt" in result["msg"] and "CrashLoopBackOff" in result["msg"]
    assert result["services"][0]["verdict"] == "crashed"
    assert any("namespace enrichment not found" in line for line in result["services"][0]["logs"])


def test_failed_job_and_failed_init_container_fail_naming_the_object(cluster, rendered):
    objects, waits = rendered["objects"], rendered["waits"]
    cluster.put(job(objects[("Job", "db-migration")], "Failed"))
    result = run_module("wait_healthy", wait_args(cluster, [waits["db-migration"]]))
    assert result.get("failed") and "db-migration failed" in result["msg"] and "BackoffLimitExceeded" in result["msg"]

    cluster.put(deployment(objects[("Deployment", "cns-service")], ready=False))
    cluster.put(pod_for(objects[("Deployment", "cns-service")], "cns-worker-5d9b7c8f4-init1", pod_status("init-container-failed")))
    result = run_module("wait_healthy", wait_args(cluster, [waits["cns-service"]]))
    assert result.get("failed") and "init container" in result["msg"] and "cns-worker-5d9b7c8f4-init1" in result["msg"]


def test_an_init_container_run_again_shows_why_its_run_ended(cluster, rendered):
    """Found on the cluster: a gate that never passes ends its init container naming the gate;
    the kubelet runs it again at once, and the new run's lines hid the verdict. The run that
    ended comes first in the logs, then the current one."""
    objects, waits = rendered["objects"], rendered["waits"]
    pod = "customer-portal-7cf86c8c64-ptpjq"
    cluster.put(deployment(objects[("Deployment", "customer-portal")], ready=False))
    cluster.put(pod_for(objects[("Deployment", "customer-portal")], pod, pod_status("init-container-run-again")))
    cluster.logs[("app-plane", pod, "wait-for-dependencies", "previous")] = (
        "waiting: GET http://cns-service:8000/never-ready answered HTTP 404\n"
        "gate did not pass within 15s: http http://cns-service:8000/never-ready\n")
    cluster.logs[("app-plane", pod, "wait-for-dependencies")] = "waiting: GET http://cns-service:8000/never-ready answered HTTP 404\n"
    result = run_module("wait_healthy", wait_args(cluster, [waits["customer-portal"]]))
    assert result.get("failed") and "init container wait-for-dependencies failed" in result["msg"], result["msg"]
    logs = result["services"][0]["logs"]
    ended = [i for i, line in enumerate(logs) if "the run that ended" in line and "did not pass within 15s" in line]
    current = [i for i, line in enumerate(logs) if "/wait-for-dependencies] waiting" in line]
    assert ended and current and ended[0] < current[0], logs


def test_an_init_container_whose_status_lags_its_next_run_still_shows_why_it_ended(cluster, rendered):
    """Found by CI on the cluster: the status said the init container's run had ended (not yet
    restarted), but the kubelet had started its next run, whose lines the current log gave. The
    run before the current one is asked for whenever the status says a run ended; the status's
    own copy of the last lines names the gate in the verdict."""
    objects, waits = rendered["objects"], rendered["waits"]
    pod = "customer-portal-7cf86c8c64-9lhzl"
    status = pod_status("init-container-failed")
    verdict_line = "ananta-step: wait-for-dependencies: 1 gate(s) did not pass within 15s: http http://cns-service:8000/never-ready"
    status["initContainerStatuses"][0]["state"]["terminated"]["message"] = "waiting: never-ready\n%s\n" % verdict_line
    cluster.put(deployment(objects[("Deployment", "customer-portal")], ready=False))
    cluster.put(pod_for(objects[("Deployment", "customer-portal")], pod, status))
    cluster.logs[("app-plane", pod, "wait-for-dependencies", "previous")] = "waiting: never-ready\n%s\n" % verdict_line
    cluster.logs[("app-plane", pod, "wait-for-dependencies")] = "waiting: GET http://cns-service:8000/never-ready answered HTTP 404\n"
    result = run_module("wait_healthy", wait_args(cluster, [waits["customer-portal"]]))
    assert result.get("failed") and verdict_line in result["msg"], result["msg"]
    logs = result["services"][0]["logs"]
    assert any("the run that ended" in line and verdict_line in line for line in logs), logs
    # a container that did not run again: the API refuses its previous run, its current one is shown
    del cluster.logs[("app-plane", pod, "wait-for-dependencies", "previous")]
    cluster.logs[("app-plane", pod, "wait-for-dependencies")] = "waiting: never-ready\n%s\n" % verdict_line
    result = run_module("wait_healthy", wait_args(cluster, [waits["customer-portal"]]))
    logs = result["services"][0]["logs"]
    assert any(line.endswith("/wait-for-dependencies] " + verdict_line) for line in logs), logs
    assert not any("the run that ended" in line for line in logs), logs


def test_missing_object_fails_or_is_waited_for(cluster, rendered):
    objects, waits = rendered["objects"], rendered["waits"]
    result = run_module("wait_healthy", wait_args(cluster, [waits["app-plane-rabbitmq"]]))
    assert result.get("failed") and "StatefulSet app-plane/rabbitmq does not exist" in result["msg"]

    before = sum("served:" in p and "statefulsets/rabbitmq" in p for p in cluster.requests)

    def appear():
        # once the module has been told twice that the object is missing (an event: no guess of
        # how long the module takes to start on a busy machine), the object appears
        cluster.wait_for_reads("served:/apis/apps/v1/namespaces/app-plane/statefulsets/rabbitmq", before + 2)
        cluster.put(ready_statefulset(objects[("StatefulSet", "rabbitmq")]))
        cluster.put(pod_for(objects[("StatefulSet", "rabbitmq")], "rabbitmq-0", pod_status("ready")))

    threading.Thread(target=appear, daemon=True).start()
    result = run_module("wait_healthy", wait_args(cluster, [waits["app-plane-rabbitmq"]], missing="wait"))
    assert not result.get("failed"), result["msg"]
    assert result["services"][0]["attempts"] >= 2  # it looked, found nothing, and went on looking


def test_service_info_reads_the_cluster(cluster, rendered):
    objects, services = rendered["objects"], rendered["services"]
    cluster.put(ready_statefulset(objects[("StatefulSet", "supabase-db")]))
    cluster.put(pod_for(objects[("StatefulSet", "supabase-db")], "supabase-db-0", pod_status("ready")))
    cluster.put(deployment(objects[("Deployment", "cns-worker")], ready=False))
    cluster.put(pod_for(objects[("Deployment", "cns-worker")], "cns-worker-5d9b7c8f4-9hqzt", pod_status("crash-loop")))
    result = run_module("service_info", {"services": services, "planes": ["app_plane"], "target": "kubernetes",
                                         "host": cluster.url, "api_key": "test-token"})
    assert not result.get("failed"), result.get("msg")
    rows = {e["name"]: e for e in result["services"]}
    assert rows["supabase-db"]["up"] and rows["supabase-db"]["state"] == "1/1 ready"
    assert not rows["cns-worker"]["up"] and "crashed" in rows["cns-worker"]["state"]
    assert rows["cns-worker"]["restarts"] > 0
    assert rows["cns-service"]["state"] == "missing"
    assert "cns-worker" in result["down"] and "supabase-db" not in result["down"]
    assert any("SERVICE" in line for line in result["table"])
