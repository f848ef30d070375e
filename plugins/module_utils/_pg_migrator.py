# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying migrations to one PostgreSQL database.

Guarantees:
- one transaction per file (the file and its history row commit together, or neither);
- a session-level advisory lock per database and history table, taken by polling
  ``pg_try_advisory_lock`` outside any transaction, so a waiting run holds no snapshot
  that a ``CREATE INDEX CONCURRENTLY`` would wait for, and the lock dies with the session
  (a killed run leaves no lock row behind);
- nothing to repair after a failure: a failed transactional file left no trace; a failed
  non-transactional file is recorded with success=false and retried by the next run.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time

from ansible_collections.ananta.platform.plugins.module_utils import _migrations
from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError

try:
    import psycopg2
    from psycopg2 import sql as pgsql
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # guarded: the module calls missing_required_lib
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc

HISTORY_COLUMNS = """
    version      text PRIMARY KEY,
    file         text NOT NULL,
    checksum     text NOT NULL,
    status       text NOT NULL DEFAULT 'applied',
    success      boolean NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  integer NOT NULL DEFAULT 0,
    applied_by   text NOT NULL,
    target_schema text
"""


def lock_key(schema, table):
    digest = hashlib.sha256(("ananta.platform.pg_migrate:%s.%s" % (schema, table)).encode()).digest()
    return struct.unpack(">q", digest[:8])[0]


class Migrator:
    def __init__(self, conninfo, history_schema="ananta_migrations", history_table="schema_migrations",
                 applied_by=None, lock_timeout=60.0):
        if not HAS_PSYCOPG2:
            raise MigrationError("psycopg2 is not installed: %s" % PSYCOPG2_IMPORT_ERROR)
        self.conninfo = conninfo
        self.schema = history_schema
        self.table = history_table
        self.applied_by = applied_by
        self.lock_timeout = lock_timeout
        self.conn = None
        self.locked = False
        self.waited_for_lock = 0.0

    # -- connection and lock -------------------------------------------------------------
    def connect(self):
        try:
            self.conn = psycopg2.connect(**self.conninfo)
        except psycopg2.Error as exc:
            raise MigrationError("cannot connect to database %s on %s:%s: %s" % (
                self.conninfo.get("dbname"), self.conninfo.get("host"), self.conninfo.get("port"), str(exc).strip()))
        self.conn.autocommit = True
        if not self.applied_by:
            try:
                with self.conn.cursor() as cur:
                    cur.execute("SELECT current_user")
                    self.applied_by = "%s@%s (ananta.platform.pg_migrate)" % (cur.fetchone()[0], socket.gethostname())
            except psycopg2.Error as exc:
                raise self.lost(exc, "the session began")

    def lock(self):
        key = lock_key(self.schema, self.table)
        started = time.monotonic()
        delay = 0.05
        with self.conn.cursor() as cur:
            while True:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                if cur.fetchone()[0]:
                    self.locked = True
                    self.waited_for_lock = round(time.monotonic() - started, 3)
                    return
                if time.monotonic() - started >= self.lock_timeout:
                    cur.execute("SELECT pid, application_name, backend_start FROM pg_locks JOIN pg_stat_activity USING (pid) "
                                "WHERE locktype = 'advisory' AND objid = (%s::bigint & 4294967295)::oid", (key,))
                    holder = cur.fetchone()
                    raise MigrationError("another migration run holds the lock of %s.%s in database %s (pid %s) and did not "
                                         "finish within %ss" % (self.schema, self.table, self.conninfo.get("dbname"),
                                                                holder[0] if holder else "?", self.lock_timeout))
                time.sleep(delay)
                delay = min(1.0, delay * 1.5)

    def close(self):
        if self.conn is not None:
            try:
                if self.locked and not self.conn.closed:
                    with self.conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.schema, self.table),))
            except psycopg2.Error:
                pass  # the connection is gone: the server released the session's lock with it
            finally:
                self.locked = False
                self.conn.close()
                self.conn = None

    def where(self):
        return "database %s on %s:%s" % (self.conninfo.get("dbname"), self.conninfo.get("host"), self.conninfo.get("port"))

    def lost(self, exc, doing):
        """The MigrationError for a connection that broke (the server died, the network dropped)."""
        return MigrationError("the connection to %s was lost while %s: %s" % (self.where(), doing, str(exc).strip() or type(exc).__name__))

    def _connection_lost(self, exc):
        """Whether ``exc`` is the connection breaking (no SQLSTATE: the server gone, the network cut),
        not a statement's error (a lock or statement timeout is an OperationalError with a SQLSTATE)."""
        if self.conn is None or self.conn.closed:
            return True
        return isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) and not getattr(exc, "pgcode", None)

    def _rollback(self):
        """Roll back if the connection still stands; a lost connection rolled back on the server."""
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.rollback()
            except psycopg2.Error:
                pass

    # -- history ---------------------------------------------------------------------------
    def _history_ident(self):
        return pgsql.SQL("{}.{}").format(pgsql.Identifier(self.schema), pgsql.Identifier(self.table))

    def history_exists(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", ("%s.%s" % (pgsql.Identifier(self.schema).as_string(self.conn),
                                                              pgsql.Identifier(self.table).as_string(self.conn)),))
            return cur.fetchone()[0] is not None

    def ensure_history(self):
        with self.conn.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))
            cur.execute(pgsql.SQL("CREATE TABLE IF NOT EXISTS {} (%s)" % HISTORY_COLUMNS).format(self._history_ident()))

    def history(self):
        if not self.history_exists():
            return {}
        with self.conn.cursor() as cur:
            cur.execute(pgsql.SQL("SELECT version, file, checksum, status, success, applied_at, duration_ms, applied_by "
                                  "FROM {}").format(self._history_ident()))
            rows = cur.fetchall()
        return {r[0]: {"file": r[1], "checksum": r[2], "status": r[3], "success": r[4],
                       "applied_at": r[5].isoformat() if r[5] else None, "duration_ms": r[6], "applied_by": r[7]}
                for r in rows}

    def _record(self, cur, item, status, success, duration_ms):
        cur.execute(pgsql.SQL(
            "INSERT INTO {} (version, file, checksum, status, success, duration_ms, applied_by, target_schema) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (version) DO UPDATE SET file = EXCLUDED.file, checksum = EXCLUDED.checksum, "
            "status = EXCLUDED.status, success = EXCLUDED.success, applied_at = now(), "
            "duration_ms = EXCLUDED.duration_ms, applied_by = EXCLUDED.applied_by, target_schema = EXCLUDED.target_schema"
        ).format(self._history_ident()), (item.version, item.name, item.checksum or "", status, success,
                                          int(duration_ms), self.applied_by, item.schema))

    def record_skip(self, item):
        with self.conn.cursor() as cur:
            self._record(cur, item, "skipped", True, 0)

    def accept_checksum(self, item):
        with self.conn.cursor() as cur:
            cur.execute(pgsql.SQL("UPDATE {} SET checksum = %s WHERE version = %s").format(self._history_ident()),
                        (item.checksum, item.version))

    # -- applying ----------------------------------------------------------------------------
    def _search_path(self, cur, item, local):
        if not item.schema:
            return
        cur.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(item.schema)))
        cur.execute(pgsql.SQL("SET %s search_path TO {}, public" % ("LOCAL" if local else "SESSION")).format(
            pgsql.Identifier(item.schema)))

    def apply(self, item):
        """Apply one file; return its duration in ms. Raise MigrationError naming file, line and message;
        on a lost connection, naming the database, the file and what became of it."""
        try:
            return self._apply(item)
        except psycopg2.Error as exc:
            if self._connection_lost(exc):
                if item.transactional:
                    fate = "it was rolled back with its transaction and is not recorded: the next run applies it again"
                else:
                    fate = ("it is not transactional: the statements before the break stay applied and it is not "
                            "recorded: the next run applies it again from its start")
                raise MigrationError("migration %s (%s): the connection to %s was lost while the file was applied (%s); %s"
                                     % (item.version, item.name, self.where(), str(exc).strip() or type(exc).__name__, fate))
            raise MigrationError("migration %s (%s) could not be recorded in %s: %s"
                                 % (item.version, item.name, self.where(), str(exc).strip()))

    def _apply(self, item):
        started = time.monotonic()
        if item.transactional:
            self.conn.autocommit = False
            try:
                with self.conn.cursor() as cur:
                    self._search_path(cur, item, local=True)
                    try:
                        cur.execute(item.sql)
                    except psycopg2.Error as exc:
                        if self._connection_lost(exc):
                            raise
                        self._rollback()
                        raise self._error(item, exc, item.sql, 0)
                    duration = (time.monotonic() - started) * 1000
                    self._record(cur, item, "applied", True, duration)
                self.conn.commit()
            except psycopg2.Error:
                self._rollback()
                raise
            finally:
                if not self.conn.closed:
                    self.conn.autocommit = True
            return int(duration)
        # Non-transactional: one statement at a time, in autocommit.
        with self.conn.cursor() as cur:
            self._search_path(cur, item, local=False)
            try:
                for statement, offset in _migrations.split_statements(item.sql):
                    try:
                        cur.execute(statement)
                    except psycopg2.Error as exc:
                        if self._connection_lost(exc):
                            raise
                        duration = (time.monotonic() - started) * 1000
                        self._record(cur, item, "applied", False, duration)
                        raise self._error(item, exc, item.sql, offset, partial=True)
                duration = (time.monotonic() - started) * 1000
                self._record(cur, item, "applied", True, duration)
            finally:
                if not self.conn.closed:
                    cur.execute("RESET search_path")
        return int(duration)

    def _error(self, item, exc, sql, base_offset, partial=False):
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        where = ""
        if position:
            line = _migrations.line_of(sql, base_offset + int(position) - 1)
            where = " at line %d" % line
        elif base_offset:
            where = " in the statement starting at line %d" % _migrations.line_of(sql, base_offset)
        message = (getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)).strip()
        state = " (SQLSTATE %s)" % exc.pgcode if getattr(exc, "pgcode", None) else ""
        tail = ("; the file is not transactional: statements before this one stay applied, it is recorded "
                "with success=false and retried by the next run" if partial else
                "; the file was rolled back and is not recorded: the next run starts again from it")
        return MigrationError("migration %s (%s) failed%s: %s%s%s" % (item.version, item.name, where, message, state, tail))


def migrate(migrator, files, accept_checksums=(), out_of_order=False, check_mode=False, report=None):
    """Plan and (unless check_mode) apply: the one sequence both the module and the step command run.

    ``migrator`` is connected. Returns the plan with what was done: lists ``applied``
    (dicts with version, file, schema, transactional, duration_ms), ``skipped``, ``accepted``,
    ``pending`` (files left), ``already_applied``, ``missing``. On a failure, MigrationError
    carries the partial outcome in ``details['outcome']``.
    """
    try:
        if not check_mode:
            migrator.lock()
            migrator.ensure_history()
        history = migrator.history()
    except psycopg2.Error as exc:
        raise migrator.lost(exc, "the lock was taken and the history read")
    todo = _migrations.plan(files, history, accept_checksums, out_of_order)
    outcome = {"applied": [], "skipped": [f.version for f in todo["skip"]], "accepted": [f.version for f in todo["accept"]],
               "pending": list(todo["pending"]), "already_applied": todo["applied"], "missing": todo["missing"]}
    if check_mode:
        return outcome
    outcome["skipped"], outcome["accepted"] = [], []
    try:
        for item in todo["accept"]:
            migrator.accept_checksum(item)
            outcome["accepted"].append(item.version)
        for item in todo["skip"]:
            migrator.record_skip(item)
            outcome["skipped"].append(item.version)
        for item in todo["pending"]:
            duration = migrator.apply(item)
            outcome["applied"].append(item.describe(duration_ms=duration))
            outcome["pending"].pop(0)
            if report:
                report(item, duration)
    except MigrationError as exc:
        exc.details["outcome"] = outcome
        raise
    except psycopg2.Error as exc:  # the history's bookkeeping (accept, skip) met a broken connection
        error = migrator.lost(exc, "the history was written")
        error.details["outcome"] = outcome
        raise error
    return outcome


class MigrationRun:
    """One database's migrations from ``params`` (ARGSPEC, validated): what pg_migrate does,
    and what each database of a migrations step of docker_services does."""

    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        conninfo = dict(host=params["login_host"], port=params["port"], user=params["login_user"],
                        password=params["login_password"], dbname=params["db"], sslmode=params["ssl_mode"],
                        connect_timeout=params["connect_timeout"], application_name="ananta.platform.pg_migrate",
                        # a server that vanishes without closing the connection (a host down, a network
                        # cut) is noticed within about 25 s, even in the middle of a long statement
                        keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
        if params["ca_cert"]:
            conninfo["sslrootcert"] = params["ca_cert"]
        self.migrator = Migrator(conninfo, params["history_schema"], params["history_table"],
                                 params["applied_by"], params["lock_timeout"])
        self.result = dict(changed=False, applied=[], skipped_versions=[], pending=[], accepted=[], already_applied=[],
                           missing_files=[], history_table="%s.%s" % (params["history_schema"], params["history_table"]),
                           lock_wait=0.0, started_at=round(time.time(), 3))
        self.clock = time.monotonic()

    def run(self):
        params = self.params
        # Everything that can be checked without the database is checked first.
        if not str(params.get("db") or "").strip():
            raise MigrationError("db is empty: name the database to migrate (an empty name would migrate the "
                                 "login user's default database on %s:%s)" % (params.get("login_host"), params.get("port")))
        files = _migrations.build_files(params["path"], params["migrations"], params["skip"], params["schema"])
        self.migrator.connect()
        try:
            outcome = migrate(self.migrator, files, params["accept_checksums"], params["out_of_order"], self.check_mode)
        except MigrationError as exc:
            self.record(exc.details.get("outcome"))
            raise
        finally:
            self.migrator.close()
        self.record(outcome)
        self.result["elapsed"] = round(time.monotonic() - self.clock, 3)
        return self.result

    def record(self, outcome):
        if outcome is None:
            return
        self.result.update(applied=outcome["applied"], skipped_versions=outcome["skipped"], accepted=outcome["accepted"],
                           pending=[f.describe() for f in outcome["pending"]], already_applied=outcome["already_applied"],
                           missing_files=outcome["missing"], lock_wait=self.migrator.waited_for_lock)
        self.result["changed"] = bool(outcome["applied"] or outcome["skipped"] or outcome["accepted"]
                                      or (self.check_mode and outcome["pending"]))
        if self.diff:
            before = sorted(outcome["already_applied"], key=_migrations.version_key)
            after = sorted(before + [a["version"] for a in outcome["applied"]] + [f.version for f in outcome["pending"]],
                           key=_migrations.version_key)
            self.result["diff"] = {"before": {"applied": before}, "after": {"applied": after}}
