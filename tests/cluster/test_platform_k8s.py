"""The whole platform on a real Kubernetes cluster (the lab's images and stand-ins,
inventories/lab_kubernetes), with the playbooks as an operator runs them.

scripts/test.sh's ``cluster`` stage starts ../shared/k8s's single-node cluster, loads the lab
images into it and runs this module with KUBECONFIG set (or uses the cluster KUBECONFIG names).
Without a cluster the module is skipped. The tests run in order and share the cluster: a cold
start as one dependency graph (every pod created after what its workload needs was ready, read
from the API's own timestamps), a second start that writes nothing (every object's
resourceVersion kept), check mode, --tags app_plane, a change that rolls a workload and its
declared dependants, the logs, the failures that must end the run at once (a crash loop, a
gate, an image that is not there, a pod that cannot be scheduled, a claim no volume binds, a
datastore that listens but does not answer queries, a failing migration), the stop in reverse
order (from one watch of the pods) and a start with the data kept (these, and verify and status
after them, reach the cluster by host, token and CA file only), the stop with the volumes
removed. tests/cluster/test_k8s_api.py holds the takeover of client-side applied objects and the
API's faults, on small platforms of their own.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inventory_helpers import inventory_vars, recap  # noqa: E402  pylint: disable=wrong-import-position
from cluster_helpers import PodWatch, kubectl, restarts_of, stamp, token_connection as make_connection  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.path.join(ROOT, "inventories", "lab_kubernetes")
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
NAMESPACES = {"shared_temporal": "temporal", "control_plane": "arc-saas", "app_plane": "app-plane"}
SELECTOR = "ananta.platform/project=ananta-lab"
STEP_JOBS = [("temporal", "temporal-namespace-init"), ("arc-saas", "db-migration"), ("app-plane", "db-migration"),
             ("app-plane", "rabbitmq-stream-init"), ("app-plane", "minio-init"), ("arc-saas", "arc-saas-minio-init")]

# no cluster: skipped, except in CI where ../shared/k8s is there to start one (a skip there would hide it)
pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG") and not (
    os.environ.get("CI") and os.path.exists(os.path.join(ROOT, "..", "shared", "k8s", "up.sh"))),
    reason="no Kubernetes cluster (KUBECONFIG is not set)")


def playbook(name, *args, timeout=1200, connection=None):
    """The playbook on the lab_kubernetes inventory. ``connection``: a cluster reached by host,
    token and CA file only (the ``token_connection`` fixture): no KUBECONFIG in the
    environment, no kubeconfig in the inventory."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    if connection:
        env.pop("KUBECONFIG", None)
        args = list(args) + connection
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, os.path.join(ROOT, "playbooks", name), "-i", INVENTORY] + list(args),
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    proc.seconds = time.monotonic() - started
    print("%s %s: rc %s in %.1f s" % (name, " ".join(args), proc.returncode, proc.seconds))
    return proc


def tail(proc, size=3000):
    """What a failed run says: the failed task's message first (the end of the output is its
    result's long lists), then the end of the output."""
    failed = proc.stdout.split("fatal: [", 1)
    message = failed[1][:2000] if len(failed) > 1 else "(no task failed)"
    return "FAILED TASK: %s\n...\n%s%s" % (message, proc.stdout[-size:], proc.stderr[-1000:])


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config
    config.load_kube_config()
    return client.ApiClient()


def items(call, *args, **kwargs):
    return json.loads(call(*args, _preload_content=False, **kwargs).data)["items"]


def pods(api, namespace=None):
    from kubernetes import client
    core = client.CoreV1Api(api)
    return [p for ns in ([namespace] if namespace else NAMESPACES.values())
            for p in items(core.list_namespaced_pod, ns, label_selector=SELECTOR)]


def job(api, namespace, name):
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    try:
        return json.loads(client.BatchV1Api(api).read_namespaced_job(name, namespace, _preload_content=False).data)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def restarts(api):
    return restarts_of(pods(api))


def resource_versions(api, at_least=150):
    """Every object the collection made: kind/namespace/name -> resourceVersion (the namespaces,
    network policies and volume claims too); ``at_least`` of them (what is compared is there)."""
    from kubernetes import client
    versions = {}
    apps, batch, core, net = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api), client.NetworkingV1Api(api)
    for obj in items(core.list_namespace, label_selector=SELECTOR):
        versions["Namespace/%s" % obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]
    for ns in NAMESPACES.values():
        for kind, call in (("Deployment", apps.list_namespaced_deployment), ("StatefulSet", apps.list_namespaced_stateful_set),
                           ("Job", batch.list_namespaced_job), ("ConfigMap", core.list_namespaced_config_map),
                           ("Secret", core.list_namespaced_secret), ("Service", core.list_namespaced_service),
                           ("NetworkPolicy", net.list_namespaced_network_policy),
                           ("PersistentVolumeClaim", core.list_namespaced_persistent_volume_claim)):
            for obj in items(call, ns, label_selector=SELECTOR):
                versions["%s/%s/%s" % (kind, ns, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    assert len(versions) >= at_least, len(versions)  # what is compared is there
    return versions


def psql(namespace, pod, dbname, sql):
    out = kubectl("-n", namespace, "exec", pod, "--", "psql", "-U", "postgres", "-d", dbname, "-tAc", sql)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def lab():
    return inventory_vars("lab_kubernetes")


@pytest.fixture(scope="module")
def token_connection(tmp_path_factory):
    variables, path = make_connection(str(tmp_path_factory.mktemp("cluster")))

    class Connection(list):
        pass

    connection = Connection(["-e", "@" + path])
    connection.token = variables["ananta_k8s_api_key"]
    return connection


def catalog_file(services, tmp, **extra):
    path = os.path.join(tmp, "catalog.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dict(extra, ananta_services=services), handle)
    return "@" + path


def app(pod):
    return pod["metadata"]["labels"].get("app.kubernetes.io/name")


def object_name(svc):
    return (svc.get("kubernetes") or {}).get("k8s_name") or svc["name"]


def gate_jobs(svc, lab):
    """The step Jobs a service's gates wait for, worked out here from the catalog's gates (not by
    the code under test): tables -> the db-migration of the plane of the database that publishes
    the gate's port; queues -> rabbitmq-stream-init; a Temporal namespace -> temporal-namespace-init."""
    by_port = {}
    for other in lab["ananta_services"]:
        for spec in other.get("ports") or []:
            by_port[str(spec).split(":", maxsplit=1)[0]] = other
    found = set()
    for gate in svc.get("start_after") or []:
        if gate.get("probe") == "postgres" and gate.get("tables"):
            found.add((NAMESPACES[by_port[str(gate["port"])]["plane"]], "db-migration"))
        elif gate.get("probe") == "amqp" and gate.get("queues"):
            found.add(("app-plane", "rabbitmq-stream-init"))
        elif gate.get("probe") == "temporal" and gate.get("namespace"):
            found.add(("temporal", "temporal-namespace-init"))
    return found


# ------------------------------------------------------------------ a cold start
def test_cold_start_applies_each_workload_after_what_it_needs(api, lab):
    clean = playbook("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    assert clean.returncode == 0, tail(clean)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, tail(proc)
    # live progress: a line as each workload became ready, each created by this run
    # the task's banner comes before its live lines
    banner = proc.stdout.index("TASK [Start the planes of the run and their steps on the cluster")
    assert banner < proc.stdout.index("starting 34 service(s) and 4 step(s)"), tail(proc)
    created = set(re.findall(r"\] \S+ L\d +(\S+) +ready in [0-9.]+ s \(create\)", proc.stdout))
    assert created == {s["name"] for s in lab["ananta_services"]}, sorted(created)
    # every workload ready, zero container restarts (init containers included)
    assert not [k for k, v in restarts(api).items() if v], restarts(api)
    # every Job of seed 000 complete
    done = {}
    for namespace, name in STEP_JOBS:
        obj = job(api, namespace, name)
        assert obj and obj["status"].get("succeeded") == 1, (namespace, name, obj and obj["status"])
        done[(namespace, name)] = stamp(obj["status"]["completionTime"])
    # From the API's own timestamps: every pod was created once what its workload needs was
    # ready: its dependencies' pods Ready (a Job's: complete), the step Jobs its gates wait for
    # complete; and each step Job's pod once the datastores it reaches were ready.
    by_app = {}
    for pod in pods(api):
        by_app.setdefault((pod["metadata"]["namespace"], app(pod)), []).append(pod)
    ready_at = {}
    for svc in lab["ananta_services"]:
        key = (NAMESPACES[svc["plane"]], object_name(svc))
        if svc["kubernetes"]["kind"] == "Job":
            ready_at[svc["name"]] = done[key]
        else:
            ready_at[svc["name"]] = max(stamp(next(c["lastTransitionTime"] for c in p["status"]["conditions"] if c["type"] == "Ready"))
                                        for p in by_app[key])
    checked = 0
    for svc in lab["ananta_services"]:
        needs = [(ready_at[d], d) for d in set(svc.get("depends_on") or [])]
        needs += [(done[g], "Job %s/%s" % g) for g in gate_jobs(svc, lab)]
        for pod in by_app[(NAMESPACES[svc["plane"]], object_name(svc))]:
            created = stamp(pod["metadata"]["creationTimestamp"])
            for when, what in needs:
                assert created >= when, "pod %s created at %s, before %s was ready (%s)" % (
                    pod["metadata"]["name"], created, what, when)
                checked += 1
    step_after = {("app-plane", "db-migration"): ["supabase-db", "components-v2-postgres"],
                  ("arc-saas", "db-migration"): ["arc-saas-postgres"],
                  ("app-plane", "rabbitmq-stream-init"): ["app-plane-rabbitmq"],
                  ("temporal", "temporal-namespace-init"): ["shared-temporal"]}
    for (namespace, name), after in step_after.items():
        pod = next(p for p in pods(api, namespace) if p["metadata"]["labels"].get("job-name") == name)
        for dep in after:
            assert stamp(pod["metadata"]["creationTimestamp"]) >= ready_at[dep], (name, dep)
            checked += 1
    # every edge was checked (one pod a workload): what the loops went over is all there
    expected = sum(len(set(s.get("depends_on") or [])) + len(gate_jobs(s, lab)) for s in lab["ananta_services"]) + 5
    assert checked == expected and expected > 50, (checked, expected)
    # the app plane's datastores did not wait for the control plane: created alongside its
    # datastores, before the control plane's database was ready
    for name in ("supabase-db", "app-plane-rabbitmq", "components-v2-postgres"):
        pod = by_app[("app-plane", object_name(next(s for s in lab["ananta_services"] if s["name"] == name)))][0]
        assert stamp(pod["metadata"]["creationTimestamp"]) <= ready_at["arc-saas-postgres"], name
    status = playbook("status.yml")
    assert status.returncode == 0 and "all 34 services are up" in status.stdout, tail(status)
    verify = playbook("verify.yml")
    assert verify.returncode == 0, tail(verify)
    for check in ("tables exist in supabase-db: ready", "RabbitMQ streams exist: ready",
                  "Temporal namespace enrichment exists: ready", "health endpoint of cns-service answers 200: ready"):
        assert check in verify.stdout, tail(verify)


def test_a_second_start_only_reads(api):
    before, counts = resource_versions(api), restarts(api)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(proc).values()), recap(proc)
    assert len(re.findall(r"already up \(checked in", proc.stdout)) == 34, tail(proc)
    assert resource_versions(api) == before  # not one object written
    assert restarts(api) == counts


def test_check_diff_reports_and_changes_nothing(api, lab):
    before = resource_versions(api)
    proc = playbook("start_platform.yml", "--check", "--diff")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 for c in recap(proc).values()), recap(proc)
    services = copy.deepcopy(lab["ananta_services"])
    next(s for s in services if s["name"] == "dashboard")["env"]["DASHBOARD_THEME"] = "dark"
    with tempfile.TemporaryDirectory() as tmp:
        proc = playbook("start_platform.yml", "--check", "--diff", "-e", catalog_file(services, tmp))
    assert proc.returncode == 0, tail(proc)
    # per object, the fields: the new variable in the ConfigMap, the new checksum on the pod template
    assert "+data.DASHBOARD_THEME: dark" in proc.stdout, tail(proc)
    assert "ConfigMap app-plane/dashboard-config (app_plane/config, update)" in proc.stdout, tail(proc)
    assert re.search(r"\+spec\.template\.metadata\.annotations\.ananta\.platform/config-hash: \w+", proc.stdout), tail(proc)
    assert resource_versions(api) == before


def test_app_plane_alone_with_the_other_planes_up(api):
    before = resource_versions(api)
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 for c in recap(proc).values()), recap(proc)
    assert resource_versions(api) == before


def generations(api):
    """Every Deployment's and StatefulSet's name -> its generation (a new pod template counts one up)."""
    from kubernetes import client
    apps = client.AppsV1Api(api)
    return {obj["metadata"]["name"]: obj["metadata"]["generation"] for ns in NAMESPACES.values()
            for call in (apps.list_namespaced_deployment, apps.list_namespaced_stateful_set)
            for obj in items(call, ns, label_selector=SELECTOR)}


def test_a_changed_variable_rolls_the_workload_and_then_its_declared_dependants(api, lab):
    """Issue 19 on a cluster: a new variable of supabase-db rolls its StatefulSet, then the four
    Deployments that declare restart_with: [supabase-db] (their pods created after its pod was
    ready again); no other workload gets a new pod template. The original catalog rolls them back."""
    declared = {s["name"] for s in lab["ananta_services"] if "supabase-db" in (s.get("restart_with") or [])}
    assert declared == {"supabase-api", "supabase-meta", "cns-worker", "audit-logger"}
    services = copy.deepcopy(lab["ananta_services"])
    next(s for s in services if s["name"] == "supabase-db")["env"]["PGTUNE_WORK_MEM"] = "64MB"
    before = generations(api)
    with tempfile.TemporaryDirectory() as tmp:
        proc = playbook("start_platform.yml", "--tags", "app_plane", "-e", catalog_file(services, tmp))
    assert proc.returncode == 0, tail(proc)
    after = generations(api)
    assert {name for name in before if after[name] != before[name]} == {"supabase-db"} | declared
    db_pod = next(p for p in pods(api, "app-plane") if p["metadata"]["name"] == "supabase-db-0")
    db_ready = stamp(next(c["lastTransitionTime"] for c in db_pod["status"]["conditions"] if c["type"] == "Ready"))
    for pod in pods(api, "app-plane"):
        if app(pod) in declared and not pod["metadata"].get("deletionTimestamp"):
            assert stamp(pod["metadata"]["creationTimestamp"]) >= db_ready, pod["metadata"]["name"]
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, tail(proc)
    again = generations(api)
    assert {name for name in after if again[name] != after[name]} == {"supabase-db"} | declared


def test_collect_logs_holds_every_pods_logs_init_containers_included(api, lab, tmp_path):
    proc = playbook("collect_logs.yml", "-e", "ananta_logs_dir=%s" % tmp_path)
    assert proc.returncode == 0, tail(proc)
    archives = list(tmp_path.glob("ananta-logs-*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        names = archive.getnames()
        texts = {m.name: archive.extractfile(m).read().decode("utf-8", "replace") for m in archive.getmembers() if m.isfile()}
    # no password of the inventory in any file (issue 29), and the files still say what ran
    passwords = set(lab["ananta_secrets"].values())
    assert len(passwords) >= 5
    assert not sorted({n for n, text in texts.items() for p in passwords if p in text})
    assert any('"restartCount"' in text and '"containerStatuses"' in text for n, text in texts.items() if n.endswith(".pod.json"))
    listed = pods(api)
    assert len(listed) > 30
    for pod in listed:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        assert any(n.endswith("%s/%s.pod.json" % (ns, name)) for n in names), name
        for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            assert any(n.endswith("%s/%s.%s.log" % (ns, name, container["name"])) for n in names), (name, container["name"])


# ------------------------------------------------------------------ failures end the run at once
def failing_wait_seconds(proc):
    """The failing start's own elapsed time, from its result."""
    found = [float(v) for v in re.findall(r"elapsed: ([0-9.]+)", proc.stdout.split("fatal:", 1)[-1])]
    assert found, "the failed task's result names no elapsed time:\n%s" % tail(proc)
    return found[0]


def failing_start(lab, change, *args):
    services = copy.deepcopy(lab["ananta_services"])
    change(services)
    with tempfile.TemporaryDirectory() as tmp:
        return playbook("start_platform.yml", "--tags", "app_plane", "-e", catalog_file(services, tmp), *args)


def dashboard(services):
    return next(s for s in services if s["name"] == "dashboard")


def test_crash_looping_deployment_fails_the_run_naming_pod_and_log(api, lab):
    proc = failing_start(lab, lambda services: dashboard(services).update(
        command=["/bin/sh", "-c", "echo dashboard-boom-3 >&2; exit 3"]))
    assert proc.returncode != 0
    out = proc.stdout
    assert "FAILED: crashed" in out and "dashboard" in out, tail(out)
    assert re.search(r"pod dashboard-[a-z0-9]+-[a-z0-9]+ container dashboard", out), tail(proc)
    assert "dashboard-boom-3" in out, tail(proc)
    assert failing_wait_seconds(proc) < 60
    # the previous pods keep serving (a rolling update)
    dep = [p for p in pods(api, "app-plane") if app(p) == "dashboard"]
    assert any(c.get("ready") for p in dep for c in p["status"].get("containerStatuses") or [])


def test_gate_that_never_passes_ends_naming_the_gate(api, lab):
    def change(services):
        portal = next(s for s in services if s["name"] == "customer-portal")
        # cns-service answers, but never 200 on this path
        portal["start_after"] = list(portal.get("start_after") or []) + [{"probe": "http", "url": "http://cns-service:8000/never-ready"}]
        portal.setdefault("kubernetes", {})["gate_timeout"] = 15

    proc = failing_start(lab, change)
    assert proc.returncode != 0
    out = proc.stdout
    assert re.search(r"pod customer-portal-[a-z0-9]+-[a-z0-9]+ init container wait-for-dependencies failed", out), tail(proc)
    assert "did not pass within 15s: http http://cns-service:8000/never-ready" in out, tail(proc)
    assert failing_wait_seconds(proc) < 60


def test_an_image_that_is_not_there_is_named_at_once(api, lab):
    proc = failing_start(lab, lambda services: dashboard(services).update(image="ananta-lab/no-such-image:0.1"))
    assert proc.returncode != 0
    assert re.search(r"pod dashboard-\S+ container dashboard: ErrImageNeverPull", proc.stdout), tail(proc)
    assert "ananta-lab/no-such-image:0.1" in proc.stdout, tail(proc)
    assert failing_wait_seconds(proc) < 60


def test_a_pod_that_cannot_be_scheduled_is_named_after_the_grace(api, lab):
    def change(services):
        dashboard(services).setdefault("kubernetes", {})["resources"] = {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}

    proc = failing_start(lab, change, "-e", "ananta_k8s_grace=10")
    assert proc.returncode != 0
    assert re.search(r"pod dashboard-\S+ cannot be scheduled for 1\d s: 0/1 nodes are available: 1 Insufficient cpu", proc.stdout), tail(proc)
    assert failing_wait_seconds(proc) < 60


def extra_datastore(name, port, **fields):
    svc = {"name": name, "plane": "app_plane", "level": 3, "depends_on": [], "image": "ananta-lab/platform:0.1",
           "ports": ["%d:5432" % port], "networks": ["app-plane"], "volumes": ["%s-data:/data" % name],
           "readiness": {"probe": "postgres", "port": port, "user": "postgres", "password": "x", "dbname": "postgres",
                         "timeout": 15},
           "healthcheck": {"test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]},
           "kubernetes": {"kind": "StatefulSet", "storage": "100Mi"}}
    svc.update(fields)
    return svc


def remove_extra(name):
    for what in (["statefulset", name], ["service", name], ["pvc", "%s-data-%s-0" % (name, name)],
                 ["networkpolicy", "%s-ingress" % name], ["configmap", "%s-config" % name]):
        kubectl("-n", "app-plane", "delete", "--ignore-not-found", "--wait=false", *what)


def test_a_claim_that_no_volume_binds_is_named_after_the_grace(api, lab):
    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "ananta-test-unprovisioned"},
                     "provisioner": "example.com/nobody", "volumeBindingMode": "Immediate"}
    made = subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(storage_class), capture_output=True, text=True,
                          timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    try:
        proc = failing_start(lab, lambda services: services.append(extra_datastore(
            "unbound-db", 15991, command=["lab-postgres"], env={"POSTGRES_PASSWORD": "x"},
            kubernetes={"kind": "StatefulSet", "storage": "100Mi", "storage_class": "ananta-test-unprovisioned"})),
            "-e", "ananta_k8s_grace=10")
        assert proc.returncode != 0
        assert re.search(r"volume claim app-plane/unbound-db-data-unbound-db-0 of pod unbound-db-0 is still Pending", proc.stdout), tail(proc)
        assert "example.com/nobody" in proc.stdout, tail(proc)  # the claim's last event says who should provide it
        assert failing_wait_seconds(proc) < 60
    finally:
        remove_extra("unbound-db")
        kubectl("delete", "storageclass", "ananta-test-unprovisioned", "--ignore-not-found")


def test_a_datastore_that_listens_but_does_not_answer_queries_is_not_ready(api, lab):
    """Issue 28: the kubelet's readiness of a database stays a query (pg_isready), not its open
    port: a server that accepts TCP on 5432 but speaks no PostgreSQL never becomes ready; its
    startup probe ends its readiness budget (15 s), the kubelet restarts it, and the run (whose
    own budget is longer: 60 s) fails at that restart, naming the probe."""
    try:
        proc = failing_start(lab, lambda services: services.append(extra_datastore(
            "listen-only-db", 15992, command=["standin"],
            env={"STANDIN_NAME": "listen-only-db", "STANDIN_MODE": "tcp", "STANDIN_PORTS": "5432"})),
            "-e", "ananta_k8s_wait_timeout=60")
        assert proc.returncode != 0
        assert re.search(r"FAILED: .*listen-only-db.*Startup probe failed: 127\.0\.0\.1:5432 - no response", proc.stdout), tail(proc)
        assert failing_wait_seconds(proc) < 60
        deadline = time.monotonic() + 60
        while True:  # it runs again (the kubelet restarted it): it listens, and is not ready
            pod = json.loads(kubectl("-n", "app-plane", "get", "pod", "listen-only-db-0", "-o", "json").stdout)
            status = pod["status"]["containerStatuses"][0]
            if status["state"].get("running"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        listens = kubectl("-n", "app-plane", "exec", "listen-only-db-0", "--", "python3", "-c",
                          "import socket; socket.create_connection(('127.0.0.1', 5432), timeout=3); print('open')")
        assert listens.stdout.strip() == "open"
        assert not status["ready"], status
    finally:
        remove_extra("listen-only-db")


def test_migration_with_an_sql_error_fails_the_job_and_applies_nothing(api, lab):
    with tempfile.TemporaryDirectory() as tmp:
        migrations = os.path.join(tmp, "migrations")
        shutil.copytree(lab["ananta_migrations_path"], migrations)
        with open(os.path.join(migrations, "009_broken.sql"), "w", encoding="utf-8") as handle:
            handle.write("CREATE TABLE components_v2.half_applied (id int);\nSELECT * FROM no_such_table_009;\n")
        order = lab["ananta_migrations"] + [{"version": "009", "file": "009_broken.sql", "database": "components-db",
                                             "schema": "components_v2"}]
        extra = os.path.join(tmp, "extra.json")
        with open(extra, "w", encoding="utf-8") as handle:
            json.dump({"ananta_migrations_path": migrations, "ananta_migrations": order}, handle)
        proc = playbook("start_platform.yml", "--tags", "migrations", "-e", "@" + extra)
    assert proc.returncode != 0
    out = proc.stdout
    assert "Job/db-migration failed" in out, tail(proc)
    assert re.search(r"\[db-migration-[a-z0-9]+/db-migration\]", out), tail(proc)
    assert "no_such_table_009" in out, tail(proc)
    assert failing_wait_seconds(proc) < 60
    # nothing half-applied: neither the table nor a history row of 009
    assert psql("app-plane", "components-db-0", "components_v2",
                "SELECT to_regclass('components_v2.half_applied') IS NULL") == "t"
    history = psql("app-plane", "components-db-0", "components_v2",
                   "SELECT string_agg(version, ',' ORDER BY version) FROM ananta_migrations.schema_migrations WHERE success")
    assert "009" not in history.split(",") and "007" in history.split(","), history


def test_the_next_run_continues_from_there(api):
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, tail(proc)
    assert job(api, "app-plane", "db-migration")["status"].get("succeeded") == 1
    status = playbook("status.yml")
    assert status.returncode == 0, tail(status)


# ------------------------------------------------------------------ a release and its way back (issue 31)
RELEASE_VERSION = int(time.time())


def release_extra(lab, tmp, services, versions):
    """The extra variables of a release: the catalog, the migration files (the lab's and
    ``versions``: [(version, sql)] for components-db) and their order table."""
    migrations = os.path.join(tmp, "migrations")
    shutil.copytree(lab["ananta_migrations_path"], migrations)
    order = list(lab["ananta_migrations"])
    for version, sql in versions:
        with open(os.path.join(migrations, "%d_release.sql" % version), "w", encoding="utf-8") as handle:
            handle.write(sql)
        order.append({"version": str(version), "file": "%d_release.sql" % version, "database": "components-db",
                      "schema": "components_v2"})
    extra = os.path.join(tmp, "release.json")
    with open(extra, "w", encoding="utf-8") as handle:
        json.dump({"ananta_services": services, "ananta_migrations_path": migrations, "ananta_migrations": order}, handle)
    return "@" + extra


def released_services(lab, release, broken=None):
    services = copy.deepcopy(lab["ananta_services"])
    for svc in services:
        if svc["name"] in ("cns-service", "cns-worker"):
            svc.setdefault("env", {})["ANANTA_RELEASE"] = str(release)
        if svc["name"] == broken:
            svc["command"] = ["/bin/sh", "-c", "echo release %s: cannot read /etc/cns/settings.toml >&2; exit 3" % release]
    return services


def components_history(version):
    return psql("app-plane", "components-db-0", "components_v2",
                "SELECT count(*) FROM ananta_migrations.schema_migrations WHERE version = '%s'" % version)


def template_env(api, name):
    """The environment a Deployment's pods get (its ConfigMaps' and its own values), and the Deployment."""
    from kubernetes import client
    dep = json.loads(client.AppsV1Api(api).read_namespaced_deployment(name, "app-plane", _preload_content=False).data)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            env.update(json.loads(client.CoreV1Api(api).read_namespaced_config_map(
                source["configMapRef"]["name"], "app-plane", _preload_content=False).data).get("data") or {})
    env.update({e["name"]: e["value"] for e in container.get("env") or [] if "value" in e})
    assert env, "no environment read for %s" % name
    return env, dep


NOTES_SQL = ("CREATE TABLE components_v2.release_notes_%d (id serial PRIMARY KEY, note text);\n"
             "INSERT INTO components_v2.release_notes_%d (note) VALUES ('release 2'), ('on the cluster');\n"
             % (RELEASE_VERSION, RELEASE_VERSION))
RELEASE_BACKUP = {}


def test_a_release_backs_up_migrates_and_rolls_the_changed_workloads(api, lab):
    """Release 2: cns-service and cns-worker with a new variable, one new migration: the plan, a
    backup Job writing to the volume claim ananta-backups, the migration applied, exactly those
    two Deployments rolled; the same release again writes nothing and backs nothing up."""
    before = generations(api)
    RELEASE_BACKUP["history"] = psql("app-plane", "components-db-0", "components_v2",
                                     "SELECT string_agg(version, ',' ORDER BY version) FROM ananta_migrations.schema_migrations")
    with tempfile.TemporaryDirectory() as tmp:
        extra = release_extra(lab, tmp, released_services(lab, 2), [(RELEASE_VERSION, NOTES_SQL)])
        plan = playbook("release.yml", "-e", extra, "--check")
        assert plan.returncode == 0, tail(plan)
        flat = " ".join(plan.stdout.split())
        assert "1. back up database components-db (components_v2, container app-plane-components-v2-postgres) to 1.4.2-" \
            in flat, tail(plan)
        assert "2. migrate components-db: %d (%d_release.sql)" % (RELEASE_VERSION, RELEASE_VERSION) in flat, tail(plan)
        assert re.search(r"3\.1 update cns-service \(app_plane level 4\).*3\.2 update cns-worker \(app_plane level 4\)", flat)
        assert generations(api) == before and components_history(RELEASE_VERSION) == "0"  # --check changed nothing
        proc = playbook("release.yml", "-e", extra, "-v")
        assert proc.returncode == 0, tail(proc)
        again = playbook("release.yml", "-e", extra)
    passwords = [str(v) for v in lab["ananta_secrets"].values() if v]
    assert len(passwords) >= 5 and not [p for p in passwords if p in proc.stdout], "a password appears in the output"
    backup = re.search(r"ananta-backups:(1\.4\.2-\d{8}T\d{6}/components-db\.dump)", proc.stdout)
    assert backup, tail(proc)
    RELEASE_BACKUP["file"] = backup.group(1)
    assert components_history(RELEASE_VERSION) == "1"
    assert psql("app-plane", "components-db-0", "components_v2",
                "SELECT count(*) FROM components_v2.release_notes_%d" % RELEASE_VERSION) == "2"
    after = generations(api)
    assert {name for name in before if after[name] != before[name]} == {"cns-service", "cns-worker"}
    for name in ("cns-service", "cns-worker"):
        assert template_env(api, name)[0]["ANANTA_RELEASE"] == "2"
    assert re.search(r"critical path [0-9.]+ s: step:backup:components-db -> step:db-migration", proc.stdout), tail(proc)
    assert again.returncode == 0, tail(again)
    assert recap(again)["localhost"]["changed"] == 0 and "nothing to do" in again.stdout, tail(again)
    assert generations(api) == after


def test_a_release_whose_workload_crash_loops_is_put_back_whole(api, lab):
    """Release 3: cns-service with a new variable, cns-worker crashing, a new migration: both
    Deployments back on release 2's template and ready; the error names cns-worker, its log and
    the backup to restore."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = release_extra(lab, tmp, released_services(lab, 3, broken="cns-worker"),
                              [(RELEASE_VERSION, NOTES_SQL), (RELEASE_VERSION + 1, "SELECT 1;\n")])
        proc = playbook("release.yml", "-e", extra)
    assert proc.returncode != 0, tail(proc)
    flat = " ".join(proc.stdout.split())
    assert "service cns-worker (app_plane, level 4)" in flat and "release 3: cannot read /etc/cns/settings.toml" in flat, \
        tail(proc)
    assert "cns-service put back and ready" in flat and "cns-worker put back and ready" in flat, tail(proc)
    assert re.search(r"ananta_restore_database=components-db -e ananta_restore_file=1\.4\.2-\d{8}T\d{6}/components-db\.dump",
                     flat), tail(proc)
    assert components_history(RELEASE_VERSION + 1) == "1"  # applied, not undone: the error said so
    for name in ("cns-service", "cns-worker"):
        env, dep = template_env(api, name)
        assert env["ANANTA_RELEASE"] == "2", (name, env)
        assert "command" not in dep["spec"]["template"]["spec"]["containers"][0] or name != "cns-worker" or \
            "exit 3" not in " ".join(dep["spec"]["template"]["spec"]["containers"][0]["command"])
        status = dep["status"]
        assert status.get("readyReplicas") == dep["spec"]["replicas"] == status.get("updatedReplicas"), (name, status)


def test_restore_puts_the_database_back_to_the_release_backup(api, lab):
    assert RELEASE_BACKUP.get("file"), "the release test wrote no backup"
    refused = playbook("restore.yml", "-e", "ananta_restore_database=components-db",
                       "-e", "ananta_restore_file=%s" % RELEASE_BACKUP["file"])
    assert refused.returncode != 0 and "ananta_restore_confirm=components-db" in " ".join(refused.stdout.split())
    assert components_history(RELEASE_VERSION) == "1"
    proc = playbook("restore.yml", "-e", "ananta_restore_database=components-db", "-e",
                    "ananta_restore_file=%s" % RELEASE_BACKUP["file"], "-e", "ananta_restore_confirm=components-db")
    assert proc.returncode == 0, tail(proc)
    assert components_history(RELEASE_VERSION) == "0" and components_history(RELEASE_VERSION + 1) == "0"
    assert psql("app-plane", "components-db-0", "components_v2",
                "SELECT to_regclass('components_v2.release_notes_%d') IS NULL" % RELEASE_VERSION) == "t"
    # the history as it was before the release, row for row
    assert psql("app-plane", "components-db-0", "components_v2", "SELECT string_agg(version, ',' ORDER BY version) "
                "FROM ananta_migrations.schema_migrations") == RELEASE_BACKUP["history"], RELEASE_BACKUP["history"]
    assert RELEASE_BACKUP["history"].count(",") >= 2  # the lab's own migrations of this database are in it
    paused = re.search(r"\(paused: ([^)]*)\)", " ".join(proc.stdout.split()))
    assert paused and {"cns-service", "cns-worker"} <= set(paused.group(1).split(", ")), tail(proc)
    # the lab's own catalog again: the release's variable goes, every workload ready
    back = playbook("start_platform.yml", "--tags", "app_plane")
    assert back.returncode == 0, tail(back)
    assert "ANANTA_RELEASE" not in template_env(api, "cns-service")[0]


# ------------------------------------------------------------------ stop, start with the data, remove it
def test_stop_in_reverse_order_keeps_the_data(api, lab, token_connection):
    """The stop is the reverse of the start's graph: from one watch of every pod, no pod of a
    service began to terminate before every pod of each service that depends on it was gone.
    It reaches the cluster by host, token and CA file only."""
    with PodWatch(api, SELECTOR) as watch:
        proc = playbook("stop_platform.yml", connection=token_connection)
        assert proc.returncode == 0, tail(proc)
        deadline = time.monotonic() + 60
        while pods(api) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert pods(api) == []
    checked = 0
    for svc in lab["ananta_services"]:
        for dep in svc.get("depends_on") or []:
            other = next(s for s in lab["ananta_services"] if s["name"] == dep)
            gone = watch.last(object_name(svc), lambda e: e[1] == "DELETED")
            leaving = watch.first(object_name(other), lambda e: e[5])
            assert gone is not None and leaving is not None, (svc["name"], dep)
            assert leaving > gone, "%s began to stop (event %s) before %s was gone (event %s)" % (dep, leaving, svc["name"], gone)
            checked += 1
    assert checked > 40, checked
    from kubernetes import client
    claims = client.CoreV1Api(api).list_namespaced_persistent_volume_claim("app-plane").items
    assert claims, "the volume claims must stay"


def test_app_plane_alone_with_the_other_planes_down_fails_at_once(api, token_connection):
    # stopped: the namespaces, configuration, network policies and claims stay
    before = resource_versions(api, at_least=60)
    proc = playbook("start_platform.yml", "--tags", "app_plane", connection=token_connection)
    assert proc.returncode != 0
    assert "shared-temporal" in proc.stdout and "does not exist" in proc.stdout, tail(proc)
    assert "nothing was changed" in proc.stdout, tail(proc)
    assert resource_versions(api, at_least=60) == before  # it failed before anything was written


def test_start_again_with_the_data_kept(api, token_connection):
    proc = playbook("start_platform.yml", connection=token_connection)
    assert proc.returncode == 0, tail(proc)
    assert token_connection.token not in proc.stdout + proc.stderr  # the token never in the output
    assert not [k for k, v in restarts(api).items() if v], restarts(api)
    # the Jobs of the same configuration ran once: a stop removed them, so they run again, on the data
    logs = kubectl("-n", "app-plane", "logs", "job/db-migration").stdout
    assert re.search(r"database components_v2: 0 applied, 3 already applied", logs), logs
    for name in ("verify.yml", "status.yml"):  # through the API too (port-forwards, readiness) with the token
        proc = playbook(name, connection=token_connection)
        assert proc.returncode == 0, tail(proc)


def test_stop_with_remove_volumes_deletes_the_claims(api):
    proc = playbook("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    assert proc.returncode == 0, tail(proc)
    from kubernetes import client
    core = client.CoreV1Api(api)
    left = [c.metadata.name for ns in NAMESPACES.values() for c in core.list_namespaced_persistent_volume_claim(ns).items]
    assert not left, left  # the stop itself waits until they are gone
    proc = playbook("stop_platform.yml")
    assert proc.returncode == 0 and all(c["changed"] == 0 for c in recap(proc).values()), tail(proc)
