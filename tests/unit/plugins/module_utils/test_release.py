"""The release's plan and timeline (module_utils/_release.py), from start results of the shape
docker_services returns, and the users of a database (_plan.users_of)."""

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _plan, _release
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError

CATALOG = [
    {"name": "db", "plane": "p", "level": 1, "container_name": "p-db", "ports": ["27432:5432"]},
    {"name": "cache", "plane": "p", "level": 1},
    {"name": "api", "plane": "p", "level": 2, "depends_on": ["db", "cache"]},
    {"name": "worker", "plane": "p", "level": 3, "depends_on": ["api"], "restart_with": ["db"]},
    {"name": "portal", "plane": "p", "level": 3, "depends_on": ["cache"]},
]
DATABASES = {"main": {"service": "db", "port": 27432, "user": "owner", "password": "s3cret", "dbname": "maindb"}}


def check(services, pending=()):
    step = {"name": "migrations:main", "kind": "migrations", "plane": "p",
            "result": {"pending": [{"version": v, "file": "%s_x.sql" % v} for v in pending]}}
    other = {"name": "streams", "kind": "streams", "plane": "p", "result": {"changed": True}}
    return {"services": services, "steps": [step, other]}


def test_the_plan_orders_the_changed_services_by_their_dependencies_and_backs_up_each_pending_database():
    services = [{"name": "worker", "plane": "p", "level": 3, "action": "recreate",
                 "changes": [{"parameter": "image", "before": "w:1", "after": "w:2"}]},
                {"name": "api", "plane": "p", "level": 2, "action": "recreate", "changes": []},
                {"name": "portal", "plane": "p", "level": 3, "action": "unchanged"},
                {"name": "cache", "plane": "p", "level": 1, "action": "restart", "restarted_by": ["db"]}]
    plan = _release.plan(check(services, ["009", "010"]), CATALOG, DATABASES, "2.0", "/b/2.0-x/")
    assert plan["order"] == ["api", "worker"]
    assert plan["backups"] == [{"database": "main", "service": "db", "plane": "p", "container": "p-db", "dbname": "maindb",
                                "user": "owner", "port": 5432, "path": "/b/2.0-x/main.dump", "versions": ["009", "010"]}]
    assert "s3cret" not in repr(plan)
    assert plan["lines"] == [
        "release 2.0: 2 service(s) change, 2 migration(s) pending in 1 database(s)",
        "1. back up database main (maindb, container p-db) to /b/2.0-x/main.dump",
        "2. migrate main: 009 (009_x.sql), 010 (010_x.sql)",
        "3.1 recreate api (p level 2)",
        "3.2 recreate worker (p level 3): image: w:1 -> w:2",
        "4. restart cache after db (restart_with)"]


def test_nothing_to_release_backs_nothing_up():
    plan = _release.plan(check([{"name": "api", "action": "unchanged"}]), CATALOG, DATABASES, "2.0", "/b")
    assert plan["nothing"] and plan["backups"] == [] and plan["pending"] == []
    assert plan["lines"][0].startswith("release 2.0: nothing to do")


def test_a_pending_database_that_is_not_declared_or_has_no_service_is_named():
    with pytest.raises(AnantaError, match="database main, which ananta_databases does not declare"):
        _release.plan(check([], ["009"]), CATALOG, {}, "2.0", "/b")
    with pytest.raises(AnantaError, match="database main: its service gone is not in the catalog"):
        _release.plan(check([], ["009"]), CATALOG, {"main": dict(DATABASES["main"], service="gone")}, "2.0", "/b")


def test_the_timeline_draws_each_migration_after_its_backup_and_each_step_once():
    backups = [{"item": {"database": "main", "service": "db", "plane": "p"}, "started_at": 100.0, "seconds": 0.5},
               {"item": {"database": "other", "service": "db", "plane": "p"}, "skipped": True}]
    migrate = {"steps": [{"name": "migrations:main", "kind": "migrations", "plane": "p", "after": ["db"],
                          "started_at": 101.0, "elapsed": 0.2},
                         {"name": "migrations:other", "kind": "migrations", "plane": "p", "after": ["db"],
                          "started_at": 101.0, "elapsed": 0.2}]}
    roll = {"services": [{"name": "api", "started_at": 102.0, "ready_at": 103.0}],
            "steps": [{"name": "migrations:main", "kind": "migrations", "plane": "p", "after": ["db"],
                       "started_at": 102.0, "elapsed": 0.01},
                      {"name": "streams", "kind": "streams", "plane": "p", "after": [], "started_at": 102.0, "elapsed": 0.1}]}
    start = _release.timeline_start(roll, migrate, backups)
    assert [s["name"] for s in start["steps"]] == ["backup:main", "migrations:main", "migrations:other", "streams"]
    assert start["steps"][2]["after"] == ["db"]  # a database without a backup waits for no other's
    assert start["steps"][0] == {"name": "backup:main", "kind": "backup", "plane": "p", "started_at": 100.0,
                                 "elapsed": 0.5, "after": ["db"]}
    assert start["steps"][1]["after"] == ["db", "step:backup:main"] and start["steps"][1]["started_at"] == 101.0
    assert start["services"] == roll["services"]


def test_the_users_of_a_database_are_its_dependants_in_turn():
    assert _plan.users_of(CATALOG, ["db"]) == ["api", "worker"]
    assert _plan.users_of(CATALOG, ["cache"]) == ["api", "worker", "portal"]
    assert _plan.users_of(CATALOG, ["portal"]) == []


def test_on_a_cluster_the_pending_migrations_are_the_files_new_in_the_jobs_configuration():
    """A check-mode start on a cluster: the migrations Job of the plane would run again, its
    ConfigMap of files has one new file (and one changed, applied already): the new one is
    pending, in the database the order table gives it."""
    order = [{"version": "001", "file": "001_a.sql", "database": "main"},
             {"version": "009", "file": "009_new.sql", "database": "main"},
             {"version": "010", "file": "010_skip.sql", "database": "main", "skip": True}]
    steps = [{"name": "migrations", "kind": "migrations", "plane": "p", "options": {"order": order}}]
    job = {"name": "db-migration:p-ns", "kind": "migrations", "plane": "p", "action": "recreate", "changes": [
        {"object": "ConfigMap p-ns/ananta-migrations", "field": "data.009_new.sql", "before": None, "after": "CREATE ..."},
        {"object": "ConfigMap p-ns/ananta-migrations", "field": "data.001_a.sql", "before": "old", "after": "new"},
        {"object": "ConfigMap p-ns/ananta-migrations", "field": "data.010_skip.sql", "before": None, "after": "x"},
        {"object": "ConfigMap p-ns/db-migration-config", "field": "data.config.json", "before": None, "after": "{}"}]}
    services = [{"name": "api", "plane": "p", "level": 2, "action": "update",
                 "changes": [{"object": "Deployment p-ns/api", "field": "spec.template.spec.containers[0].image",
                              "before": "api:1", "after": "api:2"}]}]
    plan = _release.plan({"services": services, "steps": [job]}, CATALOG, DATABASES, "2.0", "2.0-x", steps)
    assert plan["pending"] == [{"database": "main", "step": "migrations:main", "plane": "p", "versions": ["009"],
                                "files": ["009_new.sql"]}]
    assert [b["path"] for b in plan["backups"]] == ["2.0-x/main.dump"]
    assert "3.1 update api (p level 2): spec.template.spec.containers[0].image: api:1 -> api:2" in plan["lines"]
    unchanged = dict(job, action="unchanged", changes=[])
    assert _release.plan({"services": [], "steps": [unchanged]}, CATALOG, DATABASES, "2.0", "x", steps)["nothing"]
    # the timeline: the plane's one Job after the plane's backups
    start = _release.timeline_start({}, {"steps": [dict(job, started_at=5.0, elapsed=1.0, after=[])]},
                                    [{"item": {"database": "main", "service": "db", "plane": "p"}, "started_at": 1.0,
                                      "seconds": 2.0}])
    assert start["steps"][1]["after"] == ["step:backup:main"]
