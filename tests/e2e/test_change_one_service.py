"""Change one service on the lab (issue 19), as an operator does: edit the service's override in
the inventory, see the diff with --check --diff, apply it; a new version that never becomes
ready is rolled back.

The inventory is a copy of the lab's, edited as an operator edits it. Each test compares every
container of the project before and after (ID and start time): what the change must not touch
is checked, not assumed. Each test sets up the state it starts from (the lab as its own
inventory says, or with the change applied), so that any one of them runs alone (issue 29).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import docker
import pytest

from test_platform import ROOT, playbook, recap, why

DECLARED = {"supabase-api", "supabase-meta", "cns-worker", "audit-logger"}  # restart_with: [supabase-db]
RESTART_LINE = re.compile(r"\[\s*([0-9.]+) s\] \S+ L\d +(\S+) +ready in ([0-9.]+) s \((\w+)\)")


@pytest.fixture(scope="module")
def client():
    return docker.from_env()


@pytest.fixture(scope="module")
def up():
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    yield
    # the lab as its own inventory says (what a test left changed is changed back)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """A copy of the lab's inventory; ``edit(old, new)`` changes its catalog as an operator would."""
    folder = str(tmp_path_factory.mktemp("inventory") / "lab")
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), folder)
    catalog = os.path.join(folder, "group_vars", "all", "catalog.yml")
    original = open(catalog, encoding="utf-8").read()

    class Inventory:
        hosts = os.path.join(folder, "hosts.yml")

        @staticmethod
        def edit(*pairs):
            text = original
            for old, new in pairs:
                assert text.count(old) == 1, old
                text = text.replace(old, new)
            with open(catalog, "w", encoding="utf-8") as handle:
                handle.write(text)

    return Inventory


def as_the_lab_says():
    """The lab as its own inventory says (a no-op when it is so already)."""
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)


def with_the_change(inventory):
    """The lab with supabase-db's new variable applied (a no-op when it is so already)."""
    inventory.edit(SUPABASE_DB_ENV)
    proc = playbook("start_platform.yml", "-i", inventory.hosts)
    assert proc.returncode == 0, why(proc)
    assert "PGTUNE_WORK_MEM=64MB" in docker.from_env().api.inspect_container("app-plane-supabase-db")["Config"]["Env"]


def snapshot(client):
    """container name -> (ID, start time, running) for every container of the lab's project."""
    from inventory_helpers import inventory_vars

    found = {}
    project = inventory_vars("lab")["ananta_project"]
    for item in client.api.containers(all=True, filters={"label": "ananta.platform.project=%s" % project}):
        attrs = client.api.inspect_container(item["Id"])
        found[attrs["Name"].lstrip("/")] = (attrs["Id"], attrs["State"]["StartedAt"], attrs["State"]["Running"])
    assert len([n for n in found if not n.endswith("-previous")]) == 34, sorted(found)  # every service's container
    return found


def container_of(name):
    return "app-plane-%s" % name if not name.startswith("app-plane") else name


SUPABASE_DB_ENV = ('''      POSTGRES_DB: postgres
  components-v2-postgres:''', '''      POSTGRES_DB: postgres
      PGTUNE_WORK_MEM: 64MB
  components-v2-postgres:''')


def test_check_diff_lists_the_changed_parameter_and_the_dependants_and_changes_nothing(up, client, inventory):
    as_the_lab_says()
    inventory.edit(SUPABASE_DB_ENV)
    before = snapshot(client)
    proc = playbook("start_platform.yml", "-i", inventory.hosts, "--check", "--diff")
    assert proc.returncode == 0, why(proc)
    out = proc.stdout
    assert "--- before: supabase-db (container app-plane-supabase-db, app_plane level 3): recreate" in out, out[-6000:]
    assert "-env.PGTUNE_WORK_MEM: (none)" in out and "+env.PGTUNE_WORK_MEM: 64MB" in out, out[-6000:]
    listed = re.search(r"\+restarts its dependants: (.*)", out).group(1).split(", ")
    assert set(listed) == DECLARED, listed
    for name in DECLARED:
        assert "+++ after: %s (container %s, app_plane level " % (name, container_of(name)) in out, name
    assert len(re.findall(r"^\+\+\+ after: ", out, re.M)) == 1 + len(DECLARED)  # nobody else would change
    assert snapshot(client) == before  # --check changed nothing


def test_a_changed_variable_recreates_it_and_restarts_exactly_its_declared_dependants_in_order(up, client, inventory):
    as_the_lab_says()
    inventory.edit(SUPABASE_DB_ENV)
    before = snapshot(client)
    proc = playbook("start_platform.yml", "-i", inventory.hosts)
    assert proc.returncode == 0, why(proc)
    after = snapshot(client)
    db = "app-plane-supabase-db"
    assert after[db][0] != before[db][0] and after[db][2]  # recreated, running
    assert "%s-previous" % db not in after  # the previous container went once the new one was ready
    env = client.api.inspect_container(db)["Config"]["Env"]
    assert "PGTUNE_WORK_MEM=64MB" in env
    for name in DECLARED:  # restarted: same container, started again
        container = container_of(name)
        assert after[container][0] == before[container][0] and after[container][1] != before[container][1], name
    untouched = set(before) - {db} - {container_of(n) for n in DECLARED}
    assert len(untouched) == 34 - 1 - len(DECLARED)
    for container in untouched:
        assert after[container] == before[container], "%s was touched" % container
    # in order: each declared dependant was restarted after supabase-db was ready
    timeline = json.load(open(max((os.path.join(ROOT, "artifacts", f) for f in os.listdir(os.path.join(ROOT, "artifacts"))
                                   if f.startswith("start-") and f.endswith(".json")), key=os.path.getmtime)))
    times = {s["name"]: s for s in timeline["services"]}
    for name in DECLARED:
        assert times[name]["started"] >= times["supabase-db"]["ready"], (name, times[name], times["supabase-db"])
    lines = {m.group(2): m.group(4) for m in RESTART_LINE.finditer(proc.stdout)}
    assert lines == dict({n: "restart" for n in DECLARED}, **{"supabase-db": "recreate"}), lines


def test_the_same_change_applied_again_changes_nothing(up, client, inventory):
    with_the_change(inventory)
    before = snapshot(client)
    proc = playbook("start_platform.yml", "-i", inventory.hosts)
    assert proc.returncode == 0, why(proc)
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)
    assert snapshot(client) == before


@pytest.fixture(scope="module")
def broken_image(client, tmp_path_factory):
    """A new release of a service that exits at once (its configuration cannot be read)."""
    from inventory_helpers import inventory_vars

    base = inventory_vars("lab")["ananta_lab_image"]
    folder = tmp_path_factory.mktemp("broken")
    (folder / "Dockerfile").write_text(
        "FROM %s\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo 'release 2: cannot read /etc/django/settings.py' >&2; exit 3\", \"--\"]\n"
        % base)
    subprocess.run(["docker", "build", "-q", "-t", "ananta-lab/broken-release:2", str(folder)], check=True,
                   capture_output=True, timeout=300)
    yield "ananta-lab/broken-release:2"
    subprocess.run(["docker", "rmi", "-f", "ananta-lab/broken-release:2"], check=False, capture_output=True)


def test_one_service_alone_touches_it_and_its_declared_dependants_only(up, client, inventory):
    """-e ananta_only_services=supabase-db with the lab's own inventory (the variable removed
    again): it is recreated, its declared dependants restarted, nothing else touched, no step
    run. A name that is no service is refused before anything changes."""
    with_the_change(inventory)
    before = snapshot(client)
    refused = playbook("start_platform.yml", "-e", "ananta_only_services=supabase-db,supabase-dbx")
    assert refused.returncode != 0 and "names: supabase-dbx is no service of the catalog" in refused.stdout, \
        refused.stdout[-3000:]
    assert snapshot(client) == before
    proc = playbook("start_platform.yml", "-e", "ananta_only_services=supabase-db")
    assert proc.returncode == 0, why(proc)
    assert "step done" not in proc.stdout  # no step runs for a change of one service
    after = snapshot(client)
    db = "app-plane-supabase-db"
    assert after[db][0] != before[db][0]
    assert "PGTUNE_WORK_MEM=64MB" not in client.api.inspect_container(db)["Config"]["Env"]
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {db} | {container_of(n) for n in DECLARED}, changed


DJANGO_IMAGE = '''    image: "{{ ananta_lab_image }}"
    command: [standin]
    env:
      STANDIN_NAME: django-backend'''


def test_a_new_image_that_never_becomes_ready_is_rolled_back(up, client, inventory, broken_image):
    """django-backend (level 4) on a release that exits at once: the previous container is put
    back, running and ready; the run fails naming the service and the new container's log;
    the next run with the old image changes nothing."""
    from inventory_helpers import inventory_vars

    base = inventory_vars("lab")["ananta_lab_image"]
    as_the_lab_says()
    inventory.edit((DJANGO_IMAGE, DJANGO_IMAGE.replace('"{{ ananta_lab_image }}"', broken_image)))
    before = snapshot(client)
    proc = playbook("start_platform.yml", "-i", inventory.hosts)
    assert proc.returncode != 0, why(proc)
    out = proc.stdout
    assert "service django-backend (level 4): the new container (image %s) did not become ready" % broken_image in out, out[-6000:]
    assert "release 2: cannot read /etc/django/settings.py" in out  # its log tail
    assert "the previous container app-plane-django-backend was put back and is ready again" in out, out[-6000:]
    after = snapshot(client)
    backend = "app-plane-django-backend"
    assert after[backend][0] == before[backend][0] and after[backend][2]  # the same container, running
    assert "%s-previous" % backend not in after
    assert client.api.inspect_container(backend)["Config"]["Image"] == base
    for container in set(before) - {backend}:  # its dependants were not restarted, nothing else touched
        assert after[container] == before[container], "%s was touched" % container
    # the inventory back to the image that works: nothing to do
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)


def test_a_run_that_stopped_with_a_container_set_aside_is_continued(up, client):
    """A run killed between setting the previous container aside and creating its successor
    leaves <name>-previous, stopped: the next start puts it back (the same container, its
    volumes with it) instead of creating a new one, and waits for it."""
    meta = "app-plane-supabase-meta"
    as_the_lab_says()
    before = snapshot(client)
    client.api.stop(meta, timeout=10)
    client.api.rename(meta, meta + "-previous")
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    after = snapshot(client)
    assert meta + "-previous" not in after
    assert after[meta][0] == before[meta][0] and after[meta][2]  # the same container, running again
    assert re.search(r"supabase-meta +ready in [0-9.]+ s \(start\)", proc.stdout), why(proc)


def test_a_restart_by_the_policy_before_the_run_is_not_this_runs(up, client):
    """A container that crashed once, was restarted by its policy and stayed up since does not
    fail later runs: the run judges the restarts that happen while it runs (found by CI: a
    lab left up while other tests loaded the machine, then every start failed with
    ``was ready, then restarted (restart count 1)``)."""
    service = "app-plane-cns-service"
    as_the_lab_says()
    killed = client.api.inspect_container(service)
    os.kill(killed["State"]["Pid"], signal.SIGKILL)  # a crash, not a stop
    deadline = time.monotonic() + 180
    while True:  # the engine restarts it by its policy (one more restart, a new start); then it is healthy again
        state = client.api.inspect_container(service)
        if state["RestartCount"] > killed["RestartCount"] and state["State"]["StartedAt"] != killed["State"]["StartedAt"] \
                and (state["State"].get("Health") or {}).get("Status") == "healthy":
            break
        assert time.monotonic() < deadline, state["State"]
        time.sleep(0.5)
    before = snapshot(client)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    assert all(counts["changed"] == 0 for counts in recap(proc).values()), recap(proc)
    assert snapshot(client) == before  # nothing touched: the restarted container is judged ready as it is
