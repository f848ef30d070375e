"""The whole platform on a real Kubernetes cluster (the lab's images and stand-ins,
inventories/lab_kubernetes), with the playbooks as an operator runs them.

scripts/test.sh's ``cluster`` stage starts ../shared/k8s's single-node cluster, loads the lab
images into it and runs this module with KUBECONFIG set (or uses the cluster KUBECONFIG names).
Without a cluster the module is skipped. The tests run in order and share the cluster: a cold
start in seed 000's phases, its idempotence and check mode, --tags app_plane, status and the
logs, three failures that must end the run at once, stop and start with the data kept (these,
and verify and status after them, reach the cluster by host, token and CA file only, without a
kubeconfig), stop with the volumes removed.
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
from datetime import datetime

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from inventory_helpers import inventory_vars, recap  # noqa: E402  pylint: disable=wrong-import-position

INVENTORY = os.path.join(ROOT, "inventories", "lab_kubernetes")
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
NAMESPACES = {"shared_temporal": "temporal", "control_plane": "arc-saas", "app_plane": "app-plane"}
STEP_JOBS = [("temporal", "temporal-namespace-init"), ("arc-saas", "db-migration"), ("app-plane", "db-migration"),
             ("app-plane", "rabbitmq-stream-init"), ("app-plane", "minio-init"), ("arc-saas", "arc-saas-minio-init")]

pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="no Kubernetes cluster (KUBECONFIG is not set)")


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


def tail(proc, size=4000):
    return proc.stdout[-size:] + proc.stderr[-1000:]


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config
    config.load_kube_config()
    return client.ApiClient()


def pods(api, namespace=None):
    from kubernetes import client
    core = client.CoreV1Api(api)
    found = []
    for ns in ([namespace] if namespace else NAMESPACES.values()):
        data = core.list_namespaced_pod(ns, label_selector="ananta.platform/project=ananta-lab", _preload_content=False).data
        found.extend(json.loads(data)["items"])
    return found


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
    return {"%s/%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"], s["name"]): s.get("restartCount", 0)
            for p in pods(api) for s in (p["status"].get("containerStatuses") or []) + (p["status"].get("initContainerStatuses") or [])}


def stamp(value):
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def resource_versions(api):
    """Every object the collection made: kind/namespace/name -> resourceVersion."""
    from kubernetes import client
    versions = {}
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    for ns in NAMESPACES.values():
        for kind, call in (("Deployment", apps.list_namespaced_deployment), ("StatefulSet", apps.list_namespaced_stateful_set),
                           ("Job", batch.list_namespaced_job), ("ConfigMap", core.list_namespaced_config_map),
                           ("Secret", core.list_namespaced_secret), ("Service", core.list_namespaced_service)):
            for obj in json.loads(call(ns, label_selector="ananta.platform/project=ananta-lab", _preload_content=False).data)["items"]:
                versions["%s/%s/%s" % (kind, ns, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return versions


def psql(namespace, pod, dbname, sql):
    out = subprocess.run(["kubectl", "-n", namespace, "exec", pod, "--", "psql", "-U", "postgres", "-d", dbname, "-tAc", sql],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture(scope="module")
def lab():
    return inventory_vars("lab_kubernetes")


@pytest.fixture(scope="module")
def token_connection(tmp_path_factory):
    """The cluster as an operator without a kubeconfig reaches it (issue 18): the API server's
    address, a service account's token and the cluster's CA in a file, as -e variables."""
    import base64

    import yaml
    with open(os.environ["KUBECONFIG"], encoding="utf-8") as handle:
        cluster = yaml.safe_load(handle)["clusters"][0]["cluster"]
    ca_file = str(tmp_path_factory.mktemp("cluster") / "ca.crt")
    if cluster.get("certificate-authority-data"):
        with open(ca_file, "wb") as handle:
            handle.write(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        shutil.copy(cluster["certificate-authority"], ca_file)
    for command in (["create", "serviceaccount", "ananta-operator", "-n", "kube-system"],
                    ["create", "clusterrolebinding", "ananta-operator", "--clusterrole=cluster-admin",
                     "--serviceaccount=kube-system:ananta-operator"]):
        made = subprocess.run(["kubectl"] + command, capture_output=True, text=True, timeout=60, check=False)
        assert made.returncode == 0 or "already exists" in made.stderr, made.stderr
    token = subprocess.run(["kubectl", "-n", "kube-system", "create", "token", "ananta-operator", "--duration=2h"],
                           capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    variables = {"ananta_kubeconfig": "", "ananta_k8s_host": cluster["server"], "ananta_k8s_api_key": token,
                 "ananta_k8s_ca_cert": ca_file, "ananta_k8s_validate_certs": True}
    path = str(tmp_path_factory.mktemp("cluster") / "connection.json")
    with open(path, "w", encoding="utf-8") as handle:  # a file, as a vault or an AWX credential holds it
        json.dump(variables, handle)

    class Connection(list):
        pass

    connection = Connection(["-e", "@" + path])
    connection.token = token
    return connection


def catalog_file(services, tmp):
    path = os.path.join(tmp, "catalog.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"ananta_services": services}, handle)
    return "@" + path


# ------------------------------------------------------------------ a cold start
def test_cold_start_in_seed_000s_phases(api):
    clean = playbook("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    assert clean.returncode == 0, tail(clean)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, tail(proc)
    # live progress: a line as each workload of a phase became ready, printed by each phase's wait
    waited = set(re.findall(r"\] \S+ L\d +(\S+) +ready in [0-9.]+ s \(waited\)", proc.stdout))
    assert len(waited) >= 30, sorted(waited)
    # every workload ready, zero container restarts (init containers included)
    assert not [k for k, v in restarts(api).items() if v], restarts(api)
    status = playbook("status.yml")
    assert status.returncode == 0 and "all 34 services are up" in status.stdout, tail(status)
    # every Job of seed 000 complete
    done = {}
    for namespace, name in STEP_JOBS:
        obj = job(api, namespace, name)
        assert obj and obj["status"].get("succeeded") == 1, (namespace, name, obj and obj["status"])
        done[(namespace, name)] = stamp(obj["status"]["completionTime"])
    # the init containers held their services back until what their gates wait for existed:
    # cns-service's tables (the app plane's migrations), cns-worker's namespace and streams
    by_app = {p["metadata"]["labels"]["app.kubernetes.io/name"]: p for p in pods(api, "app-plane")}
    finished = {s["name"]: stamp(s["state"]["terminated"]["finishedAt"])
                for s in by_app["cns-service"]["status"]["initContainerStatuses"]}
    assert finished["wait-for-schema"] >= done[("app-plane", "db-migration")] - 1
    worker = {s["name"]: stamp(s["state"]["terminated"]["finishedAt"]) for s in by_app["cns-worker"]["status"]["initContainerStatuses"]}
    assert worker["wait-for-dependencies"] >= done[("app-plane", "rabbitmq-stream-init")] - 1
    assert worker["wait-for-dependencies"] >= done[("temporal", "temporal-namespace-init")] - 1
    for name, pod in by_app.items():
        for status_ in pod["status"].get("initContainerStatuses") or []:
            assert status_["state"]["terminated"]["exitCode"] == 0, (name, status_)
    verify = playbook("verify.yml")
    assert verify.returncode == 0, tail(verify)
    for check in ("tables exist in supabase-db: ready", "RabbitMQ streams exist: ready",
                  "Temporal namespace enrichment exists: ready", "health endpoint of cns-service answers 200: ready"):
        assert check in verify.stdout, tail(verify)


def test_second_start_changes_nothing(api):
    before = restarts(api)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(proc).values()), recap(proc)
    assert restarts(api) == before


def test_check_diff_reports_and_changes_nothing(api):
    before = resource_versions(api)
    proc = playbook("start_platform.yml", "--check", "--diff")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 for c in recap(proc).values()), recap(proc)
    assert resource_versions(api) == before


def test_app_plane_alone_with_the_other_planes_up(api):
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, tail(proc)
    assert all(c["changed"] == 0 for c in recap(proc).values()), recap(proc)


def generations(api):
    """Every Deployment's and StatefulSet's name -> its generation (a new pod template counts one up)."""
    from kubernetes import client
    apps = client.AppsV1Api(api)
    found = {}
    for ns in NAMESPACES.values():
        for call in (apps.list_namespaced_deployment, apps.list_namespaced_stateful_set):
            for obj in json.loads(call(ns, label_selector="ananta.platform/project=ananta-lab", _preload_content=False).data)["items"]:
                found[obj["metadata"]["name"]] = obj["metadata"]["generation"]
    return found


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
        if pod["metadata"]["labels"].get("app.kubernetes.io/name") in declared and not pod["metadata"].get("deletionTimestamp"):
            assert stamp(pod["metadata"]["creationTimestamp"]) >= db_ready, pod["metadata"]["name"]
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, tail(proc)
    again = generations(api)
    assert {name for name in after if again[name] != after[name]} == {"supabase-db"} | declared


def test_collect_logs_holds_every_pods_logs_init_containers_included(api, tmp_path):
    proc = playbook("collect_logs.yml", "-e", "ananta_logs_dir=%s" % tmp_path)
    assert proc.returncode == 0, tail(proc)
    archives = list(tmp_path.glob("ananta-logs-*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        names = archive.getnames()
    for pod in pods(api):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        assert any(n.endswith("%s/%s.pod.json" % (ns, name)) for n in names), name
        for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            assert any(n.endswith("%s/%s.%s.log" % (ns, name, container["name"])) for n in names), (name, container["name"])


# ------------------------------------------------------------------ failures end the run at once
def failing_wait_seconds(proc):
    """The failing wait's own elapsed time, from its result."""
    found = [float(v) for v in re.findall(r"elapsed: ([0-9.]+)", proc.stdout.split("fatal:", 1)[-1])]
    return found[0] if found else None


def test_crash_looping_deployment_fails_the_run_naming_pod_and_log(api, lab):
    services = copy.deepcopy(lab["ananta_services"])
    for svc in services:
        if svc["name"] == "dashboard":
            svc["command"] = ["/bin/sh", "-c", "echo dashboard-boom-3 >&2; exit 3"]
    with tempfile.TemporaryDirectory() as tmp:
        proc = playbook("start_platform.yml", "--tags", "app_plane", "-e", catalog_file(services, tmp))
    assert proc.returncode != 0
    out = proc.stdout
    assert "CrashLoopBackOff" in out or "restarted" in out, tail(out)
    assert re.search(r"pod dashboard-[a-z0-9]+-[a-z0-9]+ container dashboard", out), tail(proc)
    assert "dashboard-boom-3" in out, tail(proc)
    elapsed = failing_wait_seconds(proc)
    assert elapsed is not None and elapsed < 60, elapsed
    # the previous pods keep serving (a rolling update)
    dep = [p for p in pods(api, "app-plane") if p["metadata"]["labels"]["app.kubernetes.io/name"] == "dashboard"]
    assert any(c.get("ready") for p in dep for c in p["status"].get("containerStatuses") or [])


def test_gate_that_never_passes_ends_naming_the_gate(api, lab):
    services = copy.deepcopy(lab["ananta_services"])
    for svc in services:
        if svc["name"] == "customer-portal":
            # cns-service answers, but never 200 on this path (a TCP gate would not do: this
            # machine's egress proxy accepts any connection to an address it does not know)
            svc["start_after"] = list(svc.get("start_after") or []) + [{"probe": "http", "url": "http://cns-service:8000/never-ready"}]
            svc.setdefault("kubernetes", {})["gate_timeout"] = 15
    with tempfile.TemporaryDirectory() as tmp:
        proc = playbook("start_platform.yml", "--tags", "app_plane", "-e", catalog_file(services, tmp))
    assert proc.returncode != 0
    out = proc.stdout
    assert re.search(r"pod customer-portal-[a-z0-9]+-[a-z0-9]+ init container wait-for-dependencies failed", out), tail(proc)
    assert "did not pass within 15s: http http://cns-service:8000/never-ready" in out, tail(proc)
    elapsed = failing_wait_seconds(proc)
    assert elapsed is not None and elapsed < 60, elapsed


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
    elapsed = failing_wait_seconds(proc)
    assert elapsed is not None and elapsed < 60, elapsed
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


# ------------------------------------------------------------------ stop, start with the data, remove it
def test_stop_in_reverse_order_keeps_the_data(api, token_connection):
    """Stop, and the start and verify after it, reach the cluster by host, token and CA file only."""
    proc = playbook("stop_platform.yml", connection=token_connection)
    assert proc.returncode == 0, tail(proc)
    order = [m.group(1) for m in re.finditer(r"TASK \[.*Delete the phase's objects: (\S+)\]", proc.stdout)]
    planes = [name.split("/")[0] for name in order]
    assert planes == sorted(planes, key=["app_plane", "control_plane", "shared_temporal"].index), order
    app_levels = [name for name in order if name.startswith("app_plane/")]
    assert app_levels[:3] == ["app_plane/level-5", "app_plane/level-4", "app_plane/level-3"], order
    assert pods(api) == []
    from kubernetes import client
    claims = client.CoreV1Api(api).list_namespaced_persistent_volume_claim("app-plane").items
    assert claims, "the volume claims must stay"


def test_app_plane_alone_with_the_other_planes_down_fails_at_once(token_connection):
    proc = playbook("start_platform.yml", "--tags", "app_plane", connection=token_connection)
    assert proc.returncode != 0
    assert "shared-temporal" in proc.stdout and "does not exist" in proc.stdout, tail(proc)
    assert "Apply the phase's objects: app_plane/namespace" not in proc.stdout, "it must fail before anything changes"


def test_start_again_with_the_data_kept(api, token_connection):
    proc = playbook("start_platform.yml", connection=token_connection)
    assert proc.returncode == 0, tail(proc)
    assert token_connection.token not in proc.stdout + proc.stderr  # the token never in the output
    assert not [k for k, v in restarts(api).items() if v], restarts(api)
    logs = subprocess.run(["kubectl", "-n", "app-plane", "logs", "job/db-migration"], capture_output=True, text=True,
                          timeout=60, check=False).stdout
    assert re.search(r"database components_v2: 0 applied, 3 already applied", logs), logs
    for name in ("verify.yml", "status.yml"):  # through the API too (port-forwards, readiness) with the token
        proc = playbook(name, connection=token_connection)
        assert proc.returncode == 0, tail(proc)


def test_stop_with_remove_volumes_deletes_the_claims(api):
    proc = playbook("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    assert proc.returncode == 0, tail(proc)
    from kubernetes import client
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = [c.metadata.name for ns in NAMESPACES.values() for c in core.list_namespaced_persistent_volume_claim(ns).items]
        if not left:
            break
        time.sleep(1)
    assert not left, left
