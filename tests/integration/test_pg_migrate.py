"""ananta.platform.pg_migrate against a real PostgreSQL 15 (lab image)."""

import os
import shutil
import time

import psycopg2

from integration_helpers import ROOT, run_module

LAB_MIGRATIONS = os.path.join(ROOT, "inventories", "lab", "migrations")


def args(database, path, **extra):
    settings, dbname = database
    data = {"login_host": settings["host"], "port": settings["port"], "login_user": settings["user"],
            "login_password": settings["password"], "db": dbname, "path": str(path)}
    data.update(extra)
    return data


def query(database, sql, params=None):
    settings, dbname = database
    conn = psycopg2.connect(dbname=dbname, **settings)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def history(database):
    return query(database, "SELECT version, file, status, success FROM ananta_migrations.schema_migrations ORDER BY version")


def write(path, name, sql):
    path.joinpath(name).write_text(sql)


def test_fresh_apply_then_idempotent_rerun(database, tmp_path):
    write(tmp_path, "001_init.sql", "CREATE TABLE a (id int primary key);")
    write(tmp_path, "002_more.sql", "CREATE TABLE b (id int primary key, a_id int references a(id));\nINSERT INTO a VALUES (1);")
    first = run_module("pg_migrate", args(database, tmp_path))
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True
    assert [a["version"] for a in first["applied"]] == ["001", "002"]
    assert all(isinstance(a["duration_ms"], int) for a in first["applied"])
    assert history(database) == [("001", "001_init.sql", "applied", True), ("002", "002_more.sql", "applied", True)]
    assert "itest-pw" not in str(first)
    second = run_module("pg_migrate", args(database, tmp_path))
    assert second["changed"] is False
    assert second["applied"] == [] and second["already_applied"] == ["001", "002"]
    assert query(database, "SELECT count(*) FROM a") == [(1,)]


def test_check_mode_lists_pending_and_changes_nothing(database, tmp_path):
    write(tmp_path, "001_init.sql", "CREATE TABLE a (id int);")
    result = run_module("pg_migrate", args(database, tmp_path), check=True, diff=True)
    assert result["changed"] is True
    assert [p["version"] for p in result["pending"]] == ["001"]
    assert result["diff"] == {"before": {"applied": []}, "after": {"applied": ["001"]}}
    assert query(database, "SELECT to_regclass('a'), to_regclass('ananta_migrations.schema_migrations')") == [(None, None)]


def test_checksum_drift_fails_naming_the_file_and_can_be_accepted(database, tmp_path):
    write(tmp_path, "001_init.sql", "CREATE TABLE a (id int);")
    run_module("pg_migrate", args(database, tmp_path))
    write(tmp_path, "001_init.sql", "CREATE TABLE a (id bigint);")
    write(tmp_path, "002_next.sql", "CREATE TABLE b (id int);")
    drift = run_module("pg_migrate", args(database, tmp_path))
    assert drift["failed"]
    assert "migration 001 (001_init.sql) changed since it was applied" in drift["msg"]
    assert query(database, "SELECT to_regclass('b')") == [(None,)], "nothing applied after drift"
    accepted = run_module("pg_migrate", args(database, tmp_path, accept_checksums=["001"]))
    assert not accepted.get("failed"), accepted.get("msg")
    assert accepted["accepted"] == ["001"] and [a["version"] for a in accepted["applied"]] == ["002"]
    assert run_module("pg_migrate", args(database, tmp_path))["changed"] is False


def test_failure_mid_file_rolls_back_and_the_next_run_resumes(database, tmp_path):
    write(tmp_path, "001_ok.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "002_bad.sql", "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nINSERT INTO nope VALUES (1);\n")
    write(tmp_path, "003_after.sql", "CREATE TABLE c (id int);")
    failed = run_module("pg_migrate", args(database, tmp_path))
    assert failed["failed"]
    assert "migration 002 (002_bad.sql) failed at line 3" in failed["msg"]
    assert 'relation "nope" does not exist' in failed["msg"]
    assert [a["version"] for a in failed["applied"]] == ["001"]
    assert query(database, "SELECT to_regclass('b'), to_regclass('c')") == [(None, None)], "002 rolled back, 003 not run"
    assert [h[0] for h in history(database)] == ["001"]
    write(tmp_path, "002_bad.sql", "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n")
    resumed = run_module("pg_migrate", args(database, tmp_path))
    assert not resumed.get("failed"), resumed.get("msg")
    assert [a["version"] for a in resumed["applied"]] == ["002", "003"]


def test_two_concurrent_runs_apply_each_file_exactly_once(database, tmp_path):
    """Two runs at once, proven to overlap (issue 29: a 1 ms wait passed for proof): the test
    holds the migrations' lock until both runs are connected and waiting for it (seen in
    pg_stat_activity: an event, not a guess of timing), then lets them race for it."""
    from ansible_collections.ananta.platform.plugins.module_utils._pg_migrator import lock_key

    write(tmp_path, "001_log.sql", "CREATE TABLE runs (version text);")
    for number in range(2, 12):
        write(tmp_path, "%03d_step.sql" % number,
              "INSERT INTO runs VALUES ('%03d'); SELECT pg_sleep(0.2);" % number)
    settings, dbname = database
    holder = psycopg2.connect(dbname=dbname, **settings)
    holder.autocommit = True
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (lock_key("ananta_migrations", "schema_migrations"),))
        first = run_module("pg_migrate", args(database, tmp_path), background=True)
        second = run_module("pg_migrate", args(database, tmp_path), background=True)
        deadline = time.monotonic() + 120
        while True:  # both sessions are open, each polling for the lock the test holds
            waiting = query(database, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                      "AND application_name = 'ananta.platform.pg_migrate'", (dbname,))[0][0]
            if waiting == 2:
                break
            assert time.monotonic() < deadline, "the two runs did not both connect"
            time.sleep(0.1)
    finally:
        holder.close()  # the lock goes with the session
    results = [first(), second()]
    assert not any(r.get("failed") for r in results), [r.get("msg") for r in results]
    applied = sorted(a["version"] for r in results for a in r["applied"])
    assert applied == ["%03d" % n for n in range(1, 12)], "every file applied once, by one of the runs"
    assert query(database, "SELECT version, count(*) FROM runs GROUP BY version HAVING count(*) > 1") == []
    assert query(database, "SELECT count(*) FROM runs") == [(10,)]
    assert all(r["lock_wait"] > 0 for r in results), "both runs waited for the lock"


def test_non_transactional_file(database, tmp_path):
    write(tmp_path, "001_table.sql", "CREATE TABLE big (id int, name text);")
    write(tmp_path, "002_index.sql",
          "-- ananta:transaction=off\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_name_idx ON big (name);\n"
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_id_idx ON big (id);\n")
    result = run_module("pg_migrate", args(database, tmp_path))
    assert not result.get("failed"), result.get("msg")
    assert result["applied"][1]["transactional"] is False
    assert query(database, "SELECT count(*) FROM pg_indexes WHERE tablename = 'big'") == [(2,)]


def test_skip_list_records_skipped(database, tmp_path):
    for name in os.listdir(LAB_MIGRATIONS):
        if name.startswith(("003", "004", "006")):
            shutil.copy(os.path.join(LAB_MIGRATIONS, name), tmp_path)
    migrations = [{"version": "003", "file": "003_ARC_SAAS_MASTER.sql", "schema": "arc_saas"},
                  {"version": "004", "file": "004_DEPRECATED_ARC_SAAS_OVERLAP.sql", "schema": "arc_saas", "skip": True},
                  {"version": "006", "file": "006_DIRECTUS_CNS_ENRICHMENT_CONFIG.sql", "schema": "ananta"}]
    result = run_module("pg_migrate", args(database, tmp_path, migrations=migrations))
    assert not result.get("failed"), result.get("msg")
    assert result["skipped_versions"] == ["004"]
    assert [h[:3] for h in history(database)] == [("003", "003_ARC_SAAS_MASTER.sql", "applied"),
                                                  ("004", "004_DEPRECATED_ARC_SAAS_OVERLAP.sql", "skipped"),
                                                  ("006", "006_DIRECTUS_CNS_ENRICHMENT_CONFIG.sql", "applied")]
    assert query(database, "SELECT to_regclass('arc_saas.tenants'), to_regclass('ananta.cns_enrichment_config')") \
        == [("arc_saas.tenants", "ananta.cns_enrichment_config")]
    assert run_module("pg_migrate", args(database, tmp_path, migrations=migrations))["changed"] is False


def test_out_of_order_file_is_refused_unless_allowed(database, tmp_path):
    write(tmp_path, "001_a.sql", "CREATE TABLE a (id int);")
    write(tmp_path, "003_c.sql", "CREATE TABLE c (id int);")
    run_module("pg_migrate", args(database, tmp_path))
    write(tmp_path, "002_b.sql", "CREATE TABLE b (id int);")
    refused = run_module("pg_migrate", args(database, tmp_path))
    assert refused["failed"]
    assert "migration 002 (002_b.sql) is numbered below the last applied version 003" in refused["msg"]
    allowed = run_module("pg_migrate", args(database, tmp_path, out_of_order=True))
    assert [a["version"] for a in allowed["applied"]] == ["002"]


def test_missing_file_and_unreadable_directory_are_clear_errors(database, tmp_path):
    missing = run_module("pg_migrate", args(database, tmp_path, migrations=[{"version": "001", "file": "001_gone.sql"}]))
    assert missing["failed"]
    assert "migration 001: file %s does not exist" % tmp_path.joinpath("001_gone.sql") in missing["msg"]
    not_a_dir = tmp_path.joinpath("plain-file")
    not_a_dir.write_text("x")
    result = run_module("pg_migrate", args(database, not_a_dir))
    assert result["failed"] and "is not a directory" in result["msg"]
    # root reads through permission bits: a migration that is a directory cannot be read by anyone
    tmp_path.joinpath("sub").mkdir()
    tmp_path.joinpath("sub", "001_dir.sql").mkdir()
    unreadable = run_module("pg_migrate", args(database, tmp_path.joinpath("sub")))
    assert unreadable["failed"] and "cannot read" in unreadable["msg"] and "001_dir.sql" in unreadable["msg"]
    assert query(database, "SELECT to_regclass('ananta_migrations.schema_migrations')") == [(None,)], \
        "errors found before touching the database"


def test_lab_migration_set_on_three_databases(database, tmp_path):
    """The lab's order table, as the role applies it: every database gets its own files."""
    settings, dbname = database
    result = run_module("pg_migrate", args(database, LAB_MIGRATIONS, migrations=[
        {"version": "001", "file": "001_SUPABASE_MASTER.sql", "schema": "public"},
        {"version": "008", "file": "008_column_mapping_templates.sql", "schema": "public"}]))
    assert not result.get("failed"), result.get("msg")
    assert query(database, "SELECT to_regclass('bom_processing_jobs'), to_regclass('column_mapping_templates')") \
        == [("bom_processing_jobs", "column_mapping_templates")]
