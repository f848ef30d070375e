"""Benchmark of ananta.platform.pg_migrate against `psql -f` file by file (what seed 000's
apply-all-migrations.sh does), on a real PostgreSQL 15 (lab image, started here).

Sets: the lab's migration order table (files of one database at a time, as the role applies
them), and 500 small synthetic files. For each: the module through ansible-playbook (what an
operator runs, Ansible's start-up included), the module's engine in-process, and `psql -f` once
per file. Target: module <= 1.2 x psql.

    .venv/bin/python benchmarks/pg_migrate_bench.py [--files 500]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import docker
import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from ansible_collections.ananta.platform.plugins.module_utils import _migrations, _pg_migrator  # noqa: E402
from integration_helpers import free_port, run_module, wait_for  # noqa: E402

IMAGE = os.environ.get("ANANTA_LAB_IMAGE", "ananta-lab/platform:0.1")
PASSWORD = "bench-pw"


def fresh_db(settings, name):
    admin = psycopg2.connect(dbname="postgres", **settings)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % name)
    admin.close()
    return name


def with_psql(settings, dbname, files, schema=None):
    env = dict(os.environ, PGPASSWORD=PASSWORD, PGOPTIONS="-c search_path=%s,public" % schema if schema else "")
    if schema:
        subprocess.run(["psql", "-h", settings["host"], "-p", str(settings["port"]), "-U", "postgres", "-d", dbname, "-q",
                        "-c", "CREATE SCHEMA IF NOT EXISTS %s" % schema], env=env, check=True)
    started = time.monotonic()
    for path in files:
        subprocess.run(["psql", "-h", settings["host"], "-p", str(settings["port"]), "-U", "postgres", "-d", dbname, "-q",
                        "-v", "ON_ERROR_STOP=1", "-1", "-f", path], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def with_engine(settings, dbname, path, migrations):
    started = time.monotonic()
    files = _migrations.build_files(path, migrations)
    migrator = _pg_migrator.Migrator(dict(settings, dbname=dbname))
    migrator.connect()
    try:
        _pg_migrator.migrate(migrator, files)
    finally:
        migrator.close()
    return time.monotonic() - started


def with_module(settings, dbname, path, migrations):
    started = time.monotonic()
    result = run_module("pg_migrate", {"login_host": settings["host"], "port": settings["port"], "login_user": "postgres",
                                       "login_password": PASSWORD, "db": dbname, "path": path, "migrations": migrations})
    assert not result.get("failed"), result.get("msg")
    return time.monotonic() - started


def compare(label, settings, path, migrations, schema_of):
    files = [os.path.join(path, m["file"]) for m in migrations]
    psql = 0.0
    schemas = {schema_of(m) for m in migrations}
    run = uuid.uuid4().hex[:6]
    # psql: one database, each file with its schema on the search path (as the seed's script does)
    db = fresh_db(settings, "psql_%s" % run)
    for schema in sorted(schemas, key=str):
        psql += with_psql(settings, db, [f for f, m in zip(files, migrations) if schema_of(m) == schema], schema)
    engine = with_engine(settings, fresh_db(settings, "engine_%s" % run), path, migrations)
    module = with_module(settings, fresh_db(settings, "module_%s" % run), path, migrations)
    print("  %-32s psql -f %6.2f s | module %6.2f s (%.2f x psql) | engine in-process %6.2f s (%.2f x psql)"
          % (label, psql, module, module / psql, engine, engine / psql))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    args = parser.parse_args()
    if not shutil.which("psql"):
        sys.exit("psql is needed (Debian: postgresql-client; scripts/setup.sh installs it)")
    client = docker.from_env()
    port = free_port()
    container = client.containers.run(IMAGE, "lab-postgres", detach=True, name="ananta-bench-pg-%s" % uuid.uuid4().hex[:6],
                                      environment={"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": PASSWORD,
                                                   "POSTGRES_DB": "postgres"}, ports={"5432/tcp": port})
    settings = {"host": "127.0.0.1", "port": port, "user": "postgres", "password": PASSWORD}
    try:
        wait_for(lambda: psycopg2.connect(dbname="postgres", connect_timeout=2, **settings).close() is None, 60)
        lab = os.path.join(ROOT, "inventories", "lab", "migrations")
        print("pg_migrate vs psql -f, file by file")
        order = [
            {"version": "002", "file": "002_COMPONENTS_V2_MASTER.sql", "schema": "components_v2"},
            {"version": "005", "file": "005_DIRECTUS_ENRICHMENT_TABLES.sql", "schema": "components_v2"},
            {"version": "007", "file": "007_component_catalog_table.sql", "schema": "components_v2"}]
        compare("lab set (components-db: 002 005 007)", settings, lab, order, lambda m: m["schema"])
        synthetic = tempfile.mkdtemp(prefix="ananta-bench-")
        try:
            migrations = []
            for number in range(1, args.files + 1):
                name = "%04d_step.sql" % number
                with open(os.path.join(synthetic, name), "w", encoding="utf-8") as handle:
                    handle.write("CREATE TABLE t_%04d (id bigserial PRIMARY KEY, name text NOT NULL, created timestamptz "
                                 "DEFAULT now());\nINSERT INTO t_%04d (name) VALUES ('a'), ('b');\n" % (number, number))
                migrations.append({"version": "%04d" % number, "file": name})
            compare("%d synthetic files" % args.files, settings, synthetic, migrations, lambda m: None)
        finally:
            shutil.rmtree(synthetic)
    finally:
        container.remove(force=True, v=True)


if __name__ == "__main__":
    main()
