"""End to end on the lab: the playbooks against the whole platform on the real Docker engine.

The tests run in order and share the lab (module scope): the unordered start first (the
problem the collection exists to solve, kept visible), then start_platform from clean, its
idempotence, verify, status, --tags app_plane alone, stop and start again, the early failure
of --tags app_plane when the other planes are down, and the compose export.
"""

import glob
import json
import os
import re
import subprocess
import sys
import threading
import time

import docker
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from inventory_helpers import inventory_vars, recap  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.ananta.platform.plugins.module_utils._http import http_get  # noqa: E402

PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
WORKERS = ("arc-saas-temporal-worker", "app-plane-cns-worker")


def playbook(name, *args, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, os.path.join(ROOT, "playbooks", name)] + list(args), capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout, check=False)
    proc.seconds = time.monotonic() - started
    return proc


def why(proc, tail=1500):
    """What a failed run says: each failed task's block (from its ``fatal:``/``failed:`` line up
    to the next task) and the end of the output. An assertion shows this, so that a failure in
    CI names its cause and not only the recap that follows it."""
    blocks, current = [], None
    for line in proc.stdout.splitlines():
        if line.startswith(("fatal: [", "failed: [")) or "FAILED!" in line:
            current = [line]
            blocks.append(current)
        elif line.startswith(("TASK [", "RUNNING HANDLER [", "PLAY RECAP")):
            current = None
        elif current is not None and len(current) < 80:
            current.append(line)
    said = "\n".join("\n".join(block) for block in blocks)
    return "%s\n...\n%s%s" % (said[:6000], proc.stdout[-tail:], proc.stderr[-1000:])


READY_LINE = re.compile(r"^\S+ \[\s*([0-9.]+) s\] (\S+) L(\d) +(\S+) +ready in ([0-9.]+) s")


def playbook_streamed(name, *args, timeout=900):
    """The playbook with each output line stamped as it arrives (monotonic seconds since the
    run began): what an operator (or an AWX job's output) sees while it runs."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.Popen([PLAYBOOK, os.path.join(ROOT, "playbooks", name)] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        proc.wait()
    finally:
        timer.cancel()
    proc.seconds = time.monotonic() - started
    proc.lines = lines
    proc.stdout = "\n".join(line for _t, line in lines)
    proc.stderr = ""
    return proc


def restarts(client, containers):
    counts = {}
    for name in containers:
        try:
            counts[name] = client.api.inspect_container(name)["RestartCount"]
        except docker.errors.NotFound:
            counts[name] = None
    return counts


@pytest.fixture(scope="module")
def client():
    return docker.from_env()


@pytest.fixture(scope="module")
def lab():
    return inventory_vars("lab")


@pytest.fixture(scope="module")
def containers(lab):
    return [s["container_name"] for s in lab["ananta_services"]]


def clean():
    proc = playbook("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    assert proc.returncode == 0, why(proc)


def test_unordered_start_shows_the_seed_failures(client, lab, containers):
    """Everything at once, no ordering: the workers crash-loop, cns-service stays unhealthy."""
    from ansible_collections.ananta.platform.plugins.module_utils._docker.deploy import DockerDeployer
    from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import DockerRuntime

    clean()
    deployer = DockerDeployer(DockerRuntime(), lab["ananta_project"], lab["ananta_lab_healthcheck_timing"])
    deployer.ensure_networks({net["name"]: net.get("driver", "bridge") for net in lab["ananta_networks"]})
    specs = [deployer.spec(s) for s in lab["ananta_services"]]
    for spec in specs:
        deployer.create(spec)
    threads = [threading.Thread(target=deployer.start, args=(spec.name,)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 150
    cns_health = None
    while time.monotonic() < deadline:
        counts = restarts(client, WORKERS)
        try:
            cns_health = http_get("http://127.0.0.1:27200/health", timeout=2)
        except OSError as exc:
            cns_health = (None, str(exc))
        if all(counts[w] and counts[w] >= 1 for w in WORKERS) and cns_health[0] == 503:
            break
        time.sleep(2)
    counts = restarts(client, WORKERS)
    assert all(counts[w] >= 1 for w in WORKERS), "workers crash-loop without ordering: %s" % counts
    # cns-service runs but is unhealthy: its schema is missing (seed 000's wait-for-schema)
    assert cns_health[0] == 503 and "does not exist" in cns_health[1], cns_health
    print("\nunordered start: worker restarts %s; cns-service answers %s" % (counts, cns_health[1].strip()))


def engine_started(client, container):
    """When the engine started a container (its own timestamp), as epoch seconds."""
    from datetime import datetime
    value = client.api.inspect_container(container)["State"]["StartedAt"]
    whole, _dot, fraction = value.rstrip("Z").partition(".")
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=__import__("datetime").timezone.utc).timestamp() \
        + float("0." + (fraction or "0"))


def gate_steps(svc, lab):
    """The steps a service's gates wait for, worked out here from the catalog (not by the code
    under test): tables -> the migrations of the database that publishes the gate's port;
    queues -> streams; a Temporal namespace -> namespaces."""
    port_of = {str(db["port"]): name for name, db in lab["ananta_databases"].items()}
    found = set()
    for gate in svc.get("start_after") or []:
        if gate.get("probe") == "postgres" and gate.get("tables"):
            found.add("migrations:%s" % port_of[str(gate["port"])])
        elif gate.get("probe") == "amqp" and gate.get("queues"):
            found.add("streams")
        elif gate.get("probe") == "temporal" and gate.get("namespace"):
            found.add("namespaces")
    return found


def test_start_platform_from_clean_has_no_restarts(client, containers, lab):
    clean()
    proc = playbook_streamed("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    # the task's banner comes before the lines it prints as it runs (issue 29)
    assert proc.stdout.index("TASK [Start the planes of the run and their steps, each once what it needs is ready]") \
        < proc.stdout.index("starting 34 service(s)"), proc.stdout[:4000]
    # live progress: a line per service as it becomes ready, printed while the start runs. Each
    # line's arrival on the output stream is compared with the seconds the line itself reports:
    # spread over the run as the readiness was, not all at the end.
    ready = [(arrived, float(m.group(1)), m.group(4)) for arrived, line in proc.lines
             for m in [READY_LINE.match(line)] if m]
    assert sorted(name for _a, _t, name in ready) == sorted(s["name"] for s in lab["ananta_services"]), proc.stdout[-6000:]
    reported = ready[-1][1] - ready[0][1]
    arrived = ready[-1][0] - ready[0][0]
    assert reported > 5, ready
    assert arrived >= 0.5 * reported, "the ready lines came together, not as the services became ready: %s" % ready
    assert proc.seconds - ready[0][0] >= 0.5 * reported, "the first ready line came only at the end"
    assert "step done in" in proc.stdout and "waits for" not in proc.stdout  # the waits only with -v
    counts = restarts(client, containers)
    assert all(count == 0 for count in counts.values()), counts
    timeline = json.load(open(max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime)))
    assert timeline["services_started"] == len(containers)
    assert timeline["critical_path"]["path"]
    # The mission's first promise, from the run's own timeline and the engine's timestamps: each
    # container was started by the engine only after each of its dependencies was ready and each
    # step its gates wait for was done (issue 29).
    t0 = timeline["started_at"]
    ready = {s["name"]: t0 + s["ready"] for s in timeline["services"] if s.get("ready") is not None}
    done = {s["name"]: t0 + s["started"] + s["seconds"] for s in timeline["steps"]}
    assert len(ready) == len(containers) and {"namespaces", "streams", "migrations:supabase-db"} <= set(done), (ready, done)
    checked = 0
    for svc in lab["ananta_services"]:
        started = engine_started(client, svc["container_name"])
        needs = [(ready[d], d) for d in set(svc.get("depends_on") or [])] + [(done[g], "step " + g) for g in gate_steps(svc, lab)]
        for when, what in needs:
            assert started >= when - 0.01, "%s started at %.3f, before %s was ready (%.3f)" % (svc["name"], started, what, when)
            checked += 1
    expected = sum(len(set(s.get("depends_on") or [])) + len(gate_steps(s, lab)) for s in lab["ananta_services"])
    assert checked == expected and expected > 50, (checked, expected)
    print("\nstart_platform from clean: %.1f s, critical path %.1f s, 0 restarts"
          % (proc.seconds, timeline["critical_path"]["seconds"]))


def assert_no_lab_secret(proc):
    """No password of the lab inventory in a run's output (its -vvv included)."""
    secrets = [v for v in inventory_vars("lab")["ananta_secrets"].values() if isinstance(v, str) and len(v) >= 6]
    assert secrets
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr, "a password of the inventory appears in the output"


def test_second_run_changes_nothing_and_verify_passes():
    proc = playbook("start_platform.yml", "-vvv")
    assert proc.returncode == 0, why(proc)
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)
    assert "already up" in proc.stdout and "waits for" not in proc.stdout  # up: it waits for nothing
    verify = playbook("verify.yml", "-vvv")
    assert verify.returncode == 0, why(verify)
    status = playbook("status.yml", "-vvv")
    assert status.returncode == 0 and "all 34 services are up" in status.stdout
    for run in (proc, verify, status):  # in success, at -vvv
        assert_no_lab_secret(run)
    print("\nsecond start_platform run: %.1f s, changed=0" % proc.seconds)


def test_app_plane_tag_alone_when_the_other_planes_are_up():
    proc = playbook("start_platform.yml", "--tags", "app_plane")
    assert proc.returncode == 0, why(proc)
    # the app plane's steps ran, and only they: the other planes' steps belong to their planes
    latest = max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime)
    timeline = json.load(open(latest))
    assert sorted(s["name"] for s in timeline["steps"]) == ["migrations:components-db", "migrations:supabase-db", "streams"]
    # the Gantt chart beside it: one row per step here (nothing to start)
    with open(latest[:-len(".json")] + ".svg", encoding="utf-8") as handle:
        assert handle.read().count('class="row step') == 3
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)


def test_the_plane_roles_alone_change_nothing_on_a_platform_that_is_up():
    """The roles as an operator's own playbook uses them (tests/e2e/playbooks/planes_by_role.yml)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([PLAYBOOK, os.path.join(ROOT, "tests", "e2e", "playbooks", "planes_by_role.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, why(proc)
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)
    assert recap(proc)["localhost"]["ok"] >= 6, recap(proc)
    assert "[DEPRECATION WARNING] the role ananta.platform.migrations is deprecated" in proc.stdout, proc.stdout[-3000:]


def test_stop_then_start_again(client, containers, lab):
    running = {c.name for c in client.containers.list(filters={"label": "ananta.platform.project"})}
    assert len(running) >= 30, running  # the one-shots (minio-init) ended before: they have no stop to order
    begun = time.time()
    stop = playbook("stop_platform.yml")
    assert stop.returncode == 0, why(stop)
    # plane by plane in reverse, and in each plane the dependants before what they depend on:
    # from the engine's own events, each container's end ("die") as the engine recorded it
    died = {}
    for event in client.events(since=int(begun) - 1, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "die"}):
        name = event["Actor"]["Attributes"].get("name")
        died.setdefault(name, event["timeNano"] / 1e9)
    by_container = {s["container_name"]: s for s in lab["ananta_services"] if s["container_name"] in running}
    assert set(by_container) <= set(died), sorted(set(by_container) - set(died))
    order = ["app_plane", "control_plane", "shared_temporal"]
    for name, svc in by_container.items():
        for other, dep in by_container.items():
            if order.index(dep["plane"]) > order.index(svc["plane"]):
                assert died[name] <= died[other], "%s (%s) ended after %s (%s)" % (name, svc["plane"], other, dep["plane"])
        for dep in svc.get("depends_on") or []:
            dep_container = next(s["container_name"] for s in lab["ananta_services"] if s["name"] == dep)
            if dep_container in by_container:
                assert died[name] <= died[dep_container], "%s ended after its dependency %s" % (name, dep)
    assert all(v is None for v in restarts(client, containers).values()), "every container removed"
    assert client.volumes.list(filters={"label": "ananta.platform.project"}), "volumes kept unless asked"
    start = playbook("start_platform.yml", "-v")
    assert start.returncode == 0, why(start)
    assert "waits for arc-saas-postgres" in start.stdout  # -v: what each service waits for
    assert all(count == 0 for count in restarts(client, containers).values())
    # the earlier starts' durations were known: the expected critical path booted with a raised
    # CPU weight, and no container kept it
    timeline = json.load(open(max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime)))
    assert timeline["cpu_weighted"], timeline["critical_path"]
    weights = {c: client.api.inspect_container(c)["HostConfig"]["CpuShares"] for c in containers}
    assert all(w in (0, 1024) for w in weights.values()), weights


def test_app_plane_alone_fails_early_naming_what_is_missing():
    stop = playbook("stop_platform.yml", "--tags", "shared_temporal,control_plane")
    assert stop.returncode == 0, why(stop)
    proc = playbook("start_platform.yml", "--tags", "app_plane", "-vvv")
    assert proc.returncode != 0
    assert "is not ready" in proc.stdout and "start that plane first" in proc.stdout, proc.stdout[-3000:]
    assert "shared-temporal" in proc.stdout
    assert re.search(r"\] app_plane L\d +\S+ +FAILED: its dependency", proc.stdout), proc.stdout[-3000:]  # live too
    assert proc.seconds < 120
    assert_no_lab_secret(proc)  # in failure, at -vvv


def test_compose_export_does_the_same_work(client, containers):
    clean()
    export = playbook("export_compose.yml")
    assert export.returncode == 0, why(export)
    path = os.path.join(ROOT, "artifacts", "compose", "docker-compose.yml")
    up = subprocess.run(["docker", "compose", "-f", path, "up", "-d", "--wait"], capture_output=True, text=True,
                        timeout=600, check=False)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        verify = playbook("verify.yml")
        assert verify.returncode == 0, why(verify)
    finally:
        subprocess.run(["docker", "compose", "-f", path, "down", "-v", "--timeout", "5"], capture_output=True, check=False)
