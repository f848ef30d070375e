"""A release on the lab (issue 31), as an operator runs it: the inventory's new images and a new
migration, planned with --check --diff, then released (backup, migration, services in order);
a release whose service crash-loops (everything it changed back, the backup named); a restore of
the release's backup (rows checked); and the bad input that must stop a release before anything
irreversible (a missing image, a backup that cannot be written, a migration that fails).

The inventory is a copy of the lab's, edited as an operator edits it. The migrations of this
session are numbered from the clock (above any an earlier session applied), so that every one
is pending whatever the lab's database went through before; the module's teardown restores the
database from the first release's backup and puts the lab back as its inventory says.
"""

import os
import re
import shutil
import subprocess
import time

import docker
import pytest
import yaml

from test_platform import ROOT, playbook, recap, why

BASE_VERSION = int(time.time())
RELEASED = ("cns-service", "cns-worker")  # cns-worker depends on cns-service: the order is visible


def container(name):
    return "app-plane-%s" % name


def psql(client, sql):
    """One value from the components database (its own psql, in its container)."""
    out = client.containers.get("app-plane-components-v2-postgres").exec_run(
        ["psql", "-U", "postgres", "-d", "components_v2", "-tAc", sql])
    assert out.exit_code == 0, out.output
    return out.output.decode().strip()


def history(client, version):
    return int(psql(client, "SELECT count(*) FROM ananta_migrations.schema_migrations WHERE version = '%s'" % version))


def passwords():
    from inventory_helpers import inventory_vars

    found = [str(v) for v in inventory_vars("lab")["ananta_secrets"].values() if v]
    assert len(found) >= 5
    return found


def no_secret_in(proc):
    """No password of the inventory in what a run printed."""
    assert not [p for p in passwords() if p in proc.stdout or p in proc.stderr], "a password appears in the output"


def snapshot(client):
    """container name -> (ID, image, running) for every container of the lab's project."""
    found = {}
    for item in client.api.containers(all=True, filters={"label": "ananta.platform.project=ananta-lab"}):
        attrs = client.api.inspect_container(item["Id"])
        found[attrs["Name"].lstrip("/")] = (attrs["Id"], attrs["Config"]["Image"], attrs["State"]["Running"])
    assert len([n for n in found if not n.endswith("-previous")]) == 34, sorted(found)
    return found


@pytest.fixture(scope="module")
def client():
    return docker.from_env()


@pytest.fixture(scope="module")
def images(client, tmp_path_factory):
    """Release 2 and 3 of the platform's services (the lab image, relabelled: a new image ID),
    and a release 3 that exits at once."""
    from inventory_helpers import inventory_vars

    base = inventory_vars("lab")["ananta_lab_image"]
    built = {}
    for tag, extra in (("ananta-lab/platform:release-2", 'LABEL ananta.release="2"'),
                       ("ananta-lab/platform:release-3", 'LABEL ananta.release="3"'),
                       ("ananta-lab/broken-release:3",
                        'ENTRYPOINT ["/bin/sh", "-c", "echo release 3: cannot read /etc/cns/settings.toml >&2; exit 3", "--"]')):
        folder = tmp_path_factory.mktemp("image")
        (folder / "Dockerfile").write_text("FROM %s\n%s\n" % (base, extra))
        subprocess.run(["docker", "build", "-q", "-t", tag, str(folder)], check=True, capture_output=True, timeout=300)
        built[tag] = client.images.get(tag).id
    built["base"] = base
    yield built
    for tag in list(built)[:3]:
        subprocess.run(["docker", "rmi", "-f", tag], check=False, capture_output=True)


class Inventory:
    """A copy of the lab's inventory: a release is its services' images, its migrations and its
    backup directory."""

    def __init__(self, folder, backups):
        self.folder = folder
        self.hosts = os.path.join(folder, "hosts.yml")
        self.backups = backups
        self.catalog = os.path.join(folder, "group_vars", "all", "catalog.yml")
        self.original = open(self.catalog, encoding="utf-8").read()
        with open(os.path.join(ROOT, "platform", "definition.yml"), encoding="utf-8") as handle:
            self.migrations = yaml.safe_load(handle)["ananta_migrations"]

    def release(self, images, migrations=(), backup_dir=None):
        """``images``: service -> image; ``migrations``: [(version, sql)] for components-db."""
        text = self.original
        for name, image in images.items():
            old = '  %s:\n    image: "{{ ananta_lab_image }}"' % name
            assert text.count(old) == 1, name
            text = text.replace(old, "  %s:\n    image: %s" % (name, image))
        with open(self.catalog, "w", encoding="utf-8") as handle:
            handle.write(text)
        order = list(self.migrations)
        for version, sql in migrations:
            name = "%s_release.sql" % version
            with open(os.path.join(self.folder, "migrations", name), "w", encoding="utf-8") as handle:
                handle.write(sql)
            order.append({"version": str(version), "file": name, "database": "components-db", "schema": "components_v2"})
        with open(os.path.join(self.folder, "group_vars", "all", "release.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"ananta_migrations": order, "ananta_backup_dir": backup_dir or self.backups}, handle)

    def dumps(self):
        return sorted(os.path.join(d, f) for d, _s, files in os.walk(self.backups) for f in files)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("inventory") / "lab")
    shutil.copytree(os.path.join(ROOT, "inventories", "lab"), folder)
    return Inventory(folder, str(tmp_path_factory.mktemp("backups")))


NOTES = ("CREATE TABLE components_v2.release_notes_%d (id serial PRIMARY KEY, note text NOT NULL);\n"
         "INSERT INTO components_v2.release_notes_%d (note) VALUES ('release 2'), ('with a migration');\n"
         % (BASE_VERSION, BASE_VERSION))


@pytest.fixture(scope="module")
def released(client, images, inventory):
    """The lab as its inventory says, then release 2: cns-service and cns-worker on a new image
    and one new migration. Yields (the release's run, its backup); the teardown restores the
    database from that backup and puts the lab back as its inventory says."""
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)
    before = snapshot(client)
    inventory.release({n: "ananta-lab/platform:release-2" for n in RELEASED}, [(BASE_VERSION, NOTES)])
    plan = playbook("release.yml", "-i", inventory.hosts, "--check", "--diff")
    planned, planned_dumps = snapshot(client), inventory.dumps()
    proc = playbook("release.yml", "-i", inventory.hosts)
    dumps = inventory.dumps()
    yield plan, proc, before, dumps, planned, planned_dumps
    if dumps:
        restore = playbook("restore.yml", "-i", inventory.hosts, "-e", "ananta_restore_database=components-db",
                           "-e", "ananta_restore_file=%s" % dumps[0], "-e", "ananta_restore_confirm=components-db")
        assert restore.returncode == 0, why(restore)
    proc = playbook("start_platform.yml")
    assert proc.returncode == 0, why(proc)


def test_the_plan_says_what_the_release_does_in_its_order_and_changes_nothing(inventory, released):
    plan, _proc, before, _dumps, planned, planned_dumps = released
    assert plan.returncode == 0, why(plan)
    flat = " ".join(plan.stdout.split())
    said = flat[flat.index("TASK [The release's plan]"):]
    expected = ["1. back up database components-db (components_v2, container app-plane-components-v2-postgres) to %s/1.4.2-"
                % inventory.backups,
                "2. migrate components-db: %d (%d_release.sql)" % (BASE_VERSION, BASE_VERSION),
                "3.1 recreate cns-service (app_plane level 4): image: ananta-lab/platform:0.1",
                "3.2 recreate cns-worker (app_plane level 4): image: ananta-lab/platform:0.1"]
    places = [said.find(text) for text in expected]
    assert -1 not in places and places == sorted(places), (places, said[:3000])
    assert "3.3 " not in said and "4. restart" not in said  # nothing else changes, nobody else restarts
    assert planned == before and planned_dumps == []  # --check wrote nothing, changed nothing


def test_a_release_backs_up_migrates_and_rolls_in_order_then_changes_nothing(client, images, inventory, released):
    plan, proc, before, dumps, _planned, _planned_dumps = released
    assert proc.returncode == 0, why(proc)
    no_secret_in(plan)
    no_secret_in(proc)
    # the backup: one file, a pg_dump custom archive, the owner's alone, named by the release
    assert len(dumps) == 1 and re.search(r"/1\.4\.2-\d{8}T\d{6}/components-db\.dump$", dumps[0]), dumps
    with open(dumps[0], "rb") as handle:
        assert handle.read(5) == b"PGDMP"
    assert os.stat(dumps[0]).st_mode & 0o077 == 0
    assert "backup:components-db" in proc.stdout
    # the migration applied, its rows there
    assert history(client, BASE_VERSION) == 1
    assert psql(client, "SELECT count(*) FROM components_v2.release_notes_%d" % BASE_VERSION) == "2"
    # the two services on the new image, in dependency order, nothing else touched
    after = snapshot(client)
    for name in RELEASED:
        assert after[container(name)][1] == "ananta-lab/platform:release-2" and after[container(name)][2], name
    changed = {n for n in before if after.get(n) != before[n]}
    assert changed == {container(n) for n in RELEASED}, changed
    timeline = sorted(f for f in os.listdir(os.path.join(ROOT, "artifacts")) if f.startswith("release-1.4.2-"))[-2:]
    assert any(f.endswith(".svg") for f in timeline) and any(f.endswith(".json") for f in timeline), timeline
    steps = re.findall(r"step (\S+) +at +([0-9.]+) s, took ([0-9.]+) s", proc.stdout)
    at = {name: (float(start), float(took)) for name, start, took in steps}
    assert at["backup:components-db"][0] + at["backup:components-db"][1] <= at["migrations:components-db"][0] + 0.05, at
    assert re.search(r"critical path [0-9.]+ s: step:backup:components-db -> step:migrations:components-db -> "
                     r"cns-service -> cns-worker", proc.stdout), proc.stdout[-3000:]
    # the same release again: nothing to do, nothing saved
    again = playbook("release.yml", "-i", inventory.hosts)
    assert again.returncode == 0, why(again)
    assert recap(again)["localhost"]["changed"] == 0, recap(again)
    assert "nothing to do" in again.stdout
    assert inventory.dumps() == dumps


def test_a_release_whose_service_crash_loops_is_put_back_whole(client, images, inventory, released):
    """Release 3: cns-service on a good image, cns-worker on one that exits, a new migration.
    Both are back on release 2, ready; the error names cns-worker, its log and the backup."""
    before = snapshot(client)
    count = len(inventory.dumps())
    inventory.release({"cns-service": "ananta-lab/platform:release-3", "cns-worker": "ananta-lab/broken-release:3"},
                      [(BASE_VERSION, NOTES), (BASE_VERSION + 1, "ALTER TABLE components_v2.release_notes_%d "
                                                                 "ADD COLUMN author text;\n" % BASE_VERSION)])
    proc = playbook("release.yml", "-i", inventory.hosts, "-v")
    assert proc.returncode != 0, why(proc)
    no_secret_in(proc)
    out = proc.stdout
    assert "service cns-worker (level 4): the new container (image ananta-lab/broken-release:3) did not become ready" \
        in out, why(proc)
    assert "release 3: cannot read /etc/cns/settings.toml" in out
    assert "the release's other services: cns-service put back and ready" in out, why(proc)
    dumps = inventory.dumps()
    assert len(dumps) == count + 1
    new = sorted(set(dumps) - set(released[3]))[0]
    assert "playbooks/restore.yml -e ananta_restore_database=components-db -e ananta_restore_file=%s" % new \
        in " ".join(out.split()), why(proc)
    assert history(client, BASE_VERSION + 1) == 1  # applied, not undone: the error said so
    after = snapshot(client)
    assert not [n for n in after if n.endswith("-previous")], sorted(after)
    assert after == before  # the same containers (put back, not new ones), on their image, running as they were
    for name in RELEASED:
        assert after[container(name)][1] == "ananta-lab/platform:release-2"


def test_restore_puts_the_database_back_to_the_backup(client, inventory, released):
    _plan, _proc, _before, dumps, _planned, _planned_dumps = released
    assert history(client, BASE_VERSION) == 1
    assert psql(client, "SELECT to_regclass('components_v2.release_notes_%d') IS NOT NULL" % BASE_VERSION) == "t"
    before = snapshot(client)
    refused = playbook("restore.yml", "-i", inventory.hosts, "-e", "ananta_restore_database=components-db",
                       "-e", "ananta_restore_file=%s" % dumps[0])
    assert refused.returncode != 0 and "give -e ananta_restore_confirm=components-db to confirm it" in refused.stdout
    assert snapshot(client) == before
    proc = playbook("restore.yml", "-i", inventory.hosts, "-e", "ananta_restore_database=components-db",
                    "-e", "ananta_restore_file=%s" % dumps[0], "-e", "ananta_restore_confirm=components-db", "-v")
    assert proc.returncode == 0, why(proc)
    no_secret_in(proc)
    # the rows of the backup: no release table, no history row of the release's migrations
    assert psql(client, "SELECT to_regclass('components_v2.release_notes_%d') IS NULL" % BASE_VERSION) == "t"
    assert history(client, BASE_VERSION) == 0 and history(client, BASE_VERSION + 1) == 0
    assert int(psql(client, "SELECT count(*) FROM ananta_migrations.schema_migrations")) >= 3
    # its users were stopped and started again: every container that ran runs again, the same one
    after = snapshot(client)
    assert {n: v[:2] for n, v in after.items()} == {n: v[:2] for n, v in before.items()}
    assert [n for n in before if before[n][2] and not after[n][2]] == []


def test_bad_input_stops_the_release_before_anything_irreversible(client, images, inventory, released):
    """A missing image, a backup that cannot be written, a migration that fails: each is named,
    nothing irreversible happened, every container is as it was."""
    before = snapshot(client)
    pending = BASE_VERSION + 2
    with_pending = [(BASE_VERSION, NOTES), (BASE_VERSION + 1, "SELECT 1;\n"), (pending, "SELECT 1;\n")]

    inventory.release({"cns-service": "ananta-lab/platform:no-such-tag"}, with_pending)
    proc = playbook("release.yml", "-i", inventory.hosts)
    assert proc.returncode != 0 and "image ananta-lab/platform:no-such-tag is not on the" in proc.stdout, why(proc)
    assert history(client, pending) == 0 and snapshot(client) == before

    count = len(inventory.dumps())
    inventory.release({"cns-service": "ananta-lab/platform:release-3"}, with_pending, backup_dir="/etc/hostname/backups")
    proc = playbook("release.yml", "-i", inventory.hosts)
    assert proc.returncode != 0, why(proc)
    assert "the backup cannot be written to /etc/hostname/backups" in " ".join(proc.stdout.split()), why(proc)
    assert "It stopped before any migration ran and before any service changed" in " ".join(proc.stdout.split())
    assert history(client, pending) == 0 and snapshot(client) == before and len(inventory.dumps()) == count

    broken = [(BASE_VERSION, NOTES), (BASE_VERSION + 1, "SELECT 1;\n"), (pending, "SELEC broken;\n")]
    inventory.release({"cns-service": "ananta-lab/platform:release-3"}, broken)
    proc = playbook("release.yml", "-i", inventory.hosts)
    assert proc.returncode != 0, why(proc)
    assert "%d_release.sql" % pending in proc.stdout and "syntax error" in proc.stdout, why(proc)
    assert "No service was changed" in " ".join(proc.stdout.split()), why(proc)
    assert history(client, pending) == 0 and snapshot(client) == before
    assert len(inventory.dumps()) == count + 1  # the backup came first


def test_a_full_disk_stops_the_release_before_the_migration(client, images, inventory, released, tmp_path):
    """The backup directory on a filesystem too small for the dump (a 16 KiB tmpfs)."""
    tiny = str(tmp_path / "tiny")
    os.makedirs(tiny)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", tiny], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % mounted.stderr.decode()[-200:])
    try:
        before = snapshot(client)
        pending = BASE_VERSION + 3
        inventory.release({"cns-service": "ananta-lab/platform:release-3"},
                          [(BASE_VERSION, NOTES), (BASE_VERSION + 1, "SELECT 1;\n"), (BASE_VERSION + 2, "SELECT 1;\n"),
                           (pending, "SELECT 1;\n")], backup_dir=tiny)
        proc = playbook("release.yml", "-i", inventory.hosts)
        assert proc.returncode != 0, why(proc)
        assert "No space left on device" in proc.stdout, why(proc)
        assert history(client, pending) == 0 and snapshot(client) == before
        assert not [f for _d, _s, files in os.walk(tiny) for f in files]  # no half-written backup left
    finally:
        subprocess.run(["umount", tiny], check=False)
