"""ananta.platform.k8s_services against the real cluster's API, on small platforms of their own
(a namespace each, removed at the end): the takeover of objects that client-side apply wrote
(what the collection's earlier releases did, through kubernetes.core), and the API's faults:
a closed port, a silent listener, an API server that dies mid-way, connections that go silent.
The faults are a proxy and a listener on loopback in front of the cluster's own API server."""

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster_helpers import Proxy, SilentListener, kubectl, restarts_of, token_connection  # noqa: E402  pylint: disable=wrong-import-position
from integration_helpers import free_port, run_module  # noqa: E402  pylint: disable=wrong-import-position

# no cluster: skipped, except in CI where ../shared/k8s is there to start one (a skip there would hide it)
pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG") and not (
    os.environ.get("CI") and os.path.exists(os.path.join(ROOT, "..", "shared", "k8s", "up.sh"))),
    reason="no Kubernetes cluster (KUBECONFIG is not set)")
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
IMAGE = "ananta-lab/platform:0.1"


def small_platform(web_env=None, web_delay=0):
    """A datastore (real Redis) and a service that depends on it (the stand-in, which checks it)."""
    env = {"STANDIN_NAME": "tk-web", "STANDIN_PORTS": "8080", "STANDIN_HEALTH": "/health",
           "STANDIN_CHECKS": "redis://tk-db:6379", "STANDIN_DELAY": str(web_delay)}
    env.update(web_env or {})
    return [
        {"name": "tk-db", "plane": "app_plane", "level": 3, "depends_on": [], "image": IMAGE, "command": ["lab-redis"],
         "ports": ["16391:6379"], "healthcheck": {"test": ["CMD", "redis-cli", "ping"]},
         "readiness": {"probe": "redis", "port": 16391, "timeout": 60}, "kubernetes": {"kind": "StatefulSet"}},
        {"name": "tk-web", "plane": "app_plane", "level": 4, "depends_on": ["tk-db"], "image": IMAGE, "command": ["standin"],
         "env": env, "ports": ["16392:8080"],
         "healthcheck": {"test": ["CMD", "curl", "-fsS", "-o", "/dev/null", "http://localhost:8080/health"]},
         "readiness": {"probe": "http", "port": 16392, "path": "/health", "timeout": 60}, "kubernetes": {"kind": "Deployment"}},
    ]


@pytest.fixture(scope="module")
def connection(tmp_path_factory):
    variables, _path = token_connection(str(tmp_path_factory.mktemp("api")))
    return variables


def args_for(namespace, services, connection, host=None, **extra):
    args = {"services": services, "project": namespace, "plane_namespaces": {"app_plane": namespace},
            "step_image": "ananta-lab/ee:0.1", "image_pull_policy": "Never", "wait_timeout": 120,
            "host": host or connection["ananta_k8s_host"], "api_key": connection["ananta_k8s_api_key"],
            "ca_cert": connection["ananta_k8s_ca_cert"]}
    args.update(extra)
    return args


def remove(namespace, wait=False):
    """Delete the test's namespace; ``wait``: until it is gone (a namespace being deleted takes no new objects)."""
    kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=%s" % ("true" if wait else "false"),
            "--timeout=120s", timeout=150, check=False)


def objects_of(namespace):
    found = {}
    for kind in ("statefulset", "deployment", "service", "configmap", "secret", "networkpolicy"):
        listed = json.loads(kubectl("-n", namespace, "get", kind, "-l", "ananta.platform/project=%s" % namespace,
                                    "-o", "json", "--show-managed-fields").stdout)["items"]
        for obj in listed:
            found["%s/%s" % (kind, obj["metadata"]["name"])] = obj
    return found


def pod_uids(namespace):
    listed = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in listed if not p["metadata"].get("deletionTimestamp")}


# ------------------------------------------------------------------ the takeover
def test_a_platform_started_by_client_side_apply_is_taken_over_without_a_restart(connection, tmp_path):
    """Issue 28: today's release applied every object with kubernetes.core's client-side apply
    (``apply: true``), phase by phase. The first start of the new one takes them over: no
    field-manager conflict, nothing restarted (same pods, same generations), the collection the
    only manager of what it applies (the old manager's fields and its last-applied annotation,
    which held the Secret's values in plain text, are gone); a second start writes nothing; and
    a variable dropped from the definition is removed from its ConfigMap, which a field the old
    manager still co-owned would not be."""
    namespace = "ananta-takeover"
    remove(namespace, wait=True)
    services = small_platform({"OLD_VAR": "1", "API_TOKEN": "takeover-secret-value-41"})
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
    phases = _k8s_render.Renderer(services, plane_namespaces={"app_plane": namespace}, project=namespace,
                                  step_image="ananta-lab/ee:0.1", image_pull_policy="Never", wait_timeout=120).render()
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Apply %s as the earlier release did (kubernetes.core client-side apply)" % phase["name"],
         "kubernetes.core.k8s": {"state": "present", "apply": True, "definition": phase["objects"]}, "no_log": True}
        for phase in phases]}]
    path = tmp_path / "client_side_apply.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    applied = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                              "ansible_python_interpreter=%s" % sys.executable, str(path)],
                             capture_output=True, text=True, env=env, timeout=300, check=False)
    assert applied.returncode == 0, applied.stdout[-3000:]
    try:
        kubectl("-n", namespace, "rollout", "status", "statefulset/tk-db", "--timeout=120s", timeout=150)
        kubectl("-n", namespace, "rollout", "status", "deployment/tk-web", "--timeout=120s", timeout=150)
        before, uids = objects_of(namespace), pod_uids(namespace)
        assert any(LAST_APPLIED in (o["metadata"].get("annotations") or {}) for o in before.values())
        result = run_module("k8s_services", args_for(namespace, services, connection))
        assert not result.get("failed"), result.get("msg")
        assert result["written"] > 0  # the takeover writes its annotation on each object
        after = objects_of(namespace)
        assert pod_uids(namespace) == uids  # nothing restarted
        for name, obj in after.items():
            if name.split("/")[0] in ("deployment", "statefulset"):
                # the same pod template and revision (a Deployment counts its generation up for a new
                # annotation, which it copies to its ReplicaSet, but makes no new one)
                assert obj["spec"]["template"] == before[name]["spec"]["template"], name
                assert (obj["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
                        == before[name]["metadata"]["annotations"].get("deployment.kubernetes.io/revision")), name
                assert obj["status"].get("updateRevision") == before[name]["status"].get("updateRevision"), name
            annotations = obj["metadata"].get("annotations") or {}
            assert LAST_APPLIED not in annotations and "ananta.platform/applied-hash" in annotations, name
            managers = {(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"] if not e.get("subresource")}
            assert ("ananta.platform", "Apply") in managers and not [m for m in managers if m[0] == "OpenAPI-Generator"], (name, managers)
        assert "takeover-secret-value-41" not in json.dumps(after)  # no copy of the Secret's values in an annotation
        assert "takeover-secret-value-41" not in json.dumps(result)
        again = run_module("k8s_services", args_for(namespace, services, connection))
        assert not again.get("failed") and again["written"] == 0 and not again["changed"], again.get("msg")
        assert {k: o["metadata"]["resourceVersion"] for k, o in objects_of(namespace).items()} == \
            {k: o["metadata"]["resourceVersion"] for k, o in after.items()}
        dropped = small_platform({"API_TOKEN": "takeover-secret-value-41"})
        result = run_module("k8s_services", args_for(namespace, dropped, connection))
        assert not result.get("failed"), result.get("msg")
        config = json.loads(kubectl("-n", namespace, "get", "configmap", "tk-web-config", "-o", "json").stdout)
        assert "OLD_VAR" not in config["data"] and config["data"]["STANDIN_NAME"] == "tk-web", config["data"]
    finally:
        remove(namespace)


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# ------------------------------------------------------------------ the API's faults
def test_a_closed_port_is_named_at_once(connection):
    port = free_port()
    started = time.monotonic()
    result = run_module("k8s_services", args_for("ananta-faults", small_platform(), connection,
                                                 host="https://127.0.0.1:%d" % port, api_timeout=5))
    assert result.get("failed")
    assert "https://127.0.0.1:%d" % port in result["msg"] and "connection refused" in result["msg"], result["msg"]
    assert time.monotonic() - started < 30


def test_a_silent_api_server_is_named_within_its_deadline(connection):
    silent = SilentListener()
    try:
        started = time.monotonic()
        result = run_module("k8s_services", args_for("ananta-faults", small_platform(), connection,
                                                     host="https://127.0.0.1:%d" % silent.port, api_timeout=3))
        took = time.monotonic() - started
    finally:
        silent.close()
    assert result.get("failed")
    assert "https://127.0.0.1:%d" % silent.port in result["msg"] and "no answer in time" in result["msg"], result["msg"]
    assert took < 30, took


def wait_for_object(namespace, kind, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kubectl("-n", namespace, "get", kind, name, check=False).returncode == 0:
            return True
        time.sleep(0.3)
    return False


def test_an_api_server_that_dies_mid_way_is_named(connection):
    namespace = "ananta-faults"
    remove(namespace, wait=True)
    target = urlparse(connection["ananta_k8s_host"])
    proxy = Proxy(target.hostname, target.port)
    try:
        started = time.monotonic()
        finish = run_module("k8s_services", args_for(namespace, small_platform(web_delay=20), connection,
                                                     host="https://127.0.0.1:%d" % proxy.port, api_timeout=3),
                            background=True)
        assert wait_for_object(namespace, "deployment", "tk-web"), "the start did not get as far as tk-web"
        proxy.kill()
        result = finish()
        took = time.monotonic() - started
    finally:
        proxy.kill()
        remove(namespace)
    assert result.get("failed"), result
    assert "https://127.0.0.1:%d" % proxy.port in result["msg"], result["msg"]
    assert "connection refused" in result["msg"] or "no answer in time" in result["msg"], result["msg"]
    assert took < 90, took


def test_connections_that_go_silent_are_replaced_and_the_start_completes(connection):
    """A dropped watch (every open connection goes silent, new ones work) must not hang the run:
    the watches notice their silence and start again on new connections, a call that met a
    silent connection is made again on a new one (every call of the start is idempotent), and
    the start ends ready."""
    namespace = "ananta-silent"
    remove(namespace, wait=True)
    target = urlparse(connection["ananta_k8s_host"])
    proxy = Proxy(target.hostname, target.port)
    try:
        started = time.monotonic()
        finish = run_module("k8s_services", args_for(namespace, small_platform(web_delay=10), connection,
                                                     host="https://127.0.0.1:%d" % proxy.port, api_timeout=4),
                            background=True)
        assert wait_for_object(namespace, "deployment", "tk-web"), "the start did not get as far as tk-web"
        proxy.blackhole()
        result = finish()
        took = time.monotonic() - started
        assert not result.get("failed"), result.get("msg")
        assert {s["name"]: s["state"] for s in result["services"]} == {"tk-db": "ready", "tk-web": "ready"}
        assert took < 90, took
        listed = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
        assert not [k for k, v in restarts_of(listed).items() if v]
    finally:
        proxy.kill()
        remove(namespace)
