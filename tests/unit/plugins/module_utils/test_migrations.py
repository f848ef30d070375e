"""Migration files: versions, statement splitting and the plan (pure parts of pg_migrate)."""

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _migrations
from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError


@pytest.mark.parametrize("sql, count", [
    ("CREATE TABLE a (id int); CREATE TABLE b (id int);", 2),
    ("INSERT INTO t VALUES ('a;b'); SELECT 1", 2),
    ("CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;", 1),
    ("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT 2;", 2),
    ("-- a; comment\nSELECT 1; /* block; comment */ SELECT 2;", 2),
    ('SELECT "weird;name" FROM t;', 1),
    ("-- only a comment;\n", 0),
])
def test_split_statements(sql, count):
    assert len(_migrations.split_statements(sql)) == count


def test_split_offsets_point_at_the_statement():
    sql = "SELECT 1;\n\nSELECT 2;"
    (_first_sql, first), (_second_sql, second) = _migrations.split_statements(sql)
    assert sql[first:].startswith("SELECT 1") and sql[second:].startswith("SELECT 2")
    assert _migrations.line_of(sql, second) == 3


def test_versions_sort_numerically():
    assert sorted(["010", "002", "1"], key=_migrations.version_key) == ["1", "002", "010"]


def test_version_of_needs_a_leading_number():
    assert _migrations.version_of("007_component_catalog_table.sql") == "007"
    with pytest.raises(MigrationError, match="starts with its number"):
        _migrations.version_of("init.sql")


def make(version, checksum="c", skip=False):
    item = _migrations.MigrationFile(version, "%s_x.sql" % version, skip=skip)
    item.checksum = checksum
    return item


def row(checksum="c", status="applied", success=True):
    return {"checksum": checksum, "status": status, "success": success}


def test_plan_pending_skip_and_applied():
    files = [make("001"), make("002"), make("004", skip=True), make("005")]
    result = _migrations.plan(files, {"001": row()})
    assert [f.version for f in result["pending"]] == ["002", "005"]
    assert [f.version for f in result["skip"]] == ["004"]
    assert result["applied"] == ["001"]


def test_plan_drift_names_every_file():
    with pytest.raises(MigrationError) as info:
        _migrations.plan([make("001", "new"), make("002", "new2")], {"001": row("old"), "002": row("old2")})
    assert len(info.value.details["problems"]) == 2
    assert "migration 001 (001_x.sql) changed since it was applied" in info.value.message


def test_plan_accepts_listed_checksums():
    result = _migrations.plan([make("001", "new")], {"001": row("old")}, accept_checksums=["001"])
    assert [f.version for f in result["accept"]] == ["001"]


def test_plan_refuses_out_of_order_unless_allowed():
    files = [make("001"), make("002"), make("003")]
    history = {"001": row(), "003": row()}
    with pytest.raises(MigrationError, match="numbered below the last applied version 003"):
        _migrations.plan(files, history)
    assert [f.version for f in _migrations.plan(files, history, out_of_order=True)["pending"]] == ["002"]


def test_failed_non_transactional_file_is_retried():
    result = _migrations.plan([make("001")], {"001": row(success=False)})
    assert [f.version for f in result["pending"]] == ["001"]


def test_missing_files_are_reported():
    assert _migrations.plan([make("002")], {"001": row(), "002": row()})["missing"] == ["001"]


def test_transaction_off_marker(tmp_path):
    path = tmp_path / "001_idx.sql"
    path.write_text("-- ananta:transaction=off\nCREATE INDEX CONCURRENTLY i ON t (c);\n")
    item = _migrations.MigrationFile("001", path.name, str(path)).load()
    assert item.transactional is False
    assert len(item.checksum) == 64
