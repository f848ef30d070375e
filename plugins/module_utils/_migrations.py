# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration files: discovery, versions, checksums, statement splitting and the plan.

Pure functions (files are read, nothing else): the database side is _pg_migrator.py.
"""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError

VERSION_RE = re.compile(r"^(\d+)")
# A file declares itself non-transactional with this comment on a line of its own.
NO_TRANSACTION_RE = re.compile(r"^\s*--\s*ananta:transaction\s*=\s*(off|false|no)\s*$", re.IGNORECASE | re.MULTILINE)


class MigrationFile:
    __slots__ = ("version", "name", "path", "schema", "checksum", "sql", "transactional", "skip", "reason")

    def __init__(self, version, name, path=None, schema=None, skip=False, reason=""):
        self.version = version
        self.name = name
        self.path = path
        self.schema = schema
        self.skip = skip
        self.reason = reason
        self.sql = None
        self.checksum = None
        self.transactional = True

    def describe(self, **extra):
        """The file as the module and the step command report it."""
        data = {"version": self.version, "file": self.name, "schema": self.schema, "transactional": self.transactional}
        data.update(extra)
        return data

    def load(self):
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise MigrationError("migration %s: file %s does not exist" % (self.version, self.path))
        except (PermissionError, IsADirectoryError, OSError) as exc:
            raise MigrationError("migration %s: cannot read %s: %s" % (self.version, self.path, exc.strerror or exc))
        self.checksum = hashlib.sha256(data).hexdigest()
        try:
            self.sql = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationError("migration %s: %s is not UTF-8: %s" % (self.version, self.path, exc))
        self.transactional = not NO_TRANSACTION_RE.search(self.sql)
        return self


def version_key(version):
    """Sort key of a version: numeric where it is a number (002 < 010), text otherwise."""
    text = str(version)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def version_of(filename):
    match = VERSION_RE.match(os.path.basename(filename))
    if not match:
        raise MigrationError("cannot tell the version of %s: a migration file name starts with its number, e.g. 001_init.sql"
                             % filename)
    return match.group(1)


def discover(path):
    """Every *.sql file of a directory, as (version, name, full path), in version order."""
    if not os.path.isdir(path):
        raise MigrationError("migration directory %s does not exist or is not a directory" % path)
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(".sql"))
    except PermissionError as exc:
        raise MigrationError("cannot read migration directory %s: %s" % (path, exc.strerror))
    if not os.access(path, os.R_OK | os.X_OK):
        raise MigrationError("cannot read migration directory %s: permission denied" % path)
    found = [(version_of(n), n, os.path.join(path, n)) for n in names]
    return sorted(found, key=lambda item: version_key(item[0]))


def build_files(path=None, migrations=None, skip=None, default_schema=None):
    """The migration files to consider, loaded, in version order.

    ``migrations``: optional list of {version, file, schema, skip, reason}; files are relative
    to ``path``. Without it, every *.sql file of ``path``. ``skip``: versions to skip.
    """
    skip = {str(v) for v in skip or []}
    files = []
    if migrations:
        for entry in migrations:
            name = entry.get("file")
            version = str(entry.get("version") or (version_of(name) if name else ""))
            if not version:
                raise MigrationError("a migration entry needs a version or a file: %r" % (entry,))
            full = os.path.join(path, name) if (path and name and not os.path.isabs(name)) else name
            files.append(MigrationFile(version, os.path.basename(name) if name else version, full,
                                       entry.get("schema") or default_schema,
                                       skip=bool(entry.get("skip")) or version in skip, reason=entry.get("reason", "")))
    else:
        for version, name, full in discover(path):
            files.append(MigrationFile(version, name, full, default_schema, skip=version in skip))
    seen = {}
    for item in files:
        if item.version in seen:
            raise MigrationError("migration version %s is used twice: %s and %s" % (item.version, seen[item.version], item.name))
        seen[item.version] = item.name
    for item in files:
        if not item.skip:
            item.load()
    return sorted(files, key=lambda f: version_key(f.version))


def split_statements(sql):
    """Split SQL into statements at top-level semicolons, respecting quotes, dollar quotes
    and comments (for non-transactional files, which run one statement at a time).

    Returns (statement, offset) pairs; offset is the statement's position in ``sql``.
    """
    statements, start, i, n = [], 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in ("'", '"'):
            i += 1
            while i < n:
                if sql[i] == ch:
                    if i + 1 < n and sql[i + 1] == ch:  # doubled quote
                        i += 2
                        continue
                    break
                i += 1
            i += 1
            continue
        if ch == "$":
            match = re.match(r"\$[A-Za-z_0-9]*\$", sql[i:])
            if match:
                tag = match.group(0)
                end = sql.find(tag, i + len(tag))
                i = n if end < 0 else end + len(tag)
                continue
        if ch == ";":
            text = sql[start:i].strip()
            if _has_code(text):
                statements.append((text, start + (len(sql[start:i]) - len(sql[start:i].lstrip()))))
            start = i + 1
        i += 1
    text = sql[start:].strip()
    if _has_code(text):
        statements.append((text, start + (len(sql[start:]) - len(sql[start:].lstrip()))))
    return statements


def _has_code(text):
    stripped = re.sub(r"--[^\n]*", "", text)
    stripped = re.sub(r"/\*.*?\*/", "", stripped, flags=re.DOTALL)
    return bool(stripped.strip())


def line_of(sql, offset):
    """1-based line number of a 0-based character offset."""
    return sql.count("\n", 0, max(0, offset)) + 1


def plan(files, history, accept_checksums=(), out_of_order=False):
    """Compare files with the history; return the plan or raise MigrationError naming every problem.

    ``history``: version -> {file, checksum, success, status}. Returns a dict with lists
    ``pending`` (files to apply), ``skip`` (skips to record), ``accept`` (checksums to update),
    ``applied`` (versions already applied), ``missing`` (applied versions with no file now).
    """
    accept = {str(v) for v in accept_checksums or []}
    accept_all = "all" in accept
    result = {"pending": [], "skip": [], "accept": [], "applied": [], "missing": []}
    problems = []
    applied_versions = [v for v, row in history.items() if row.get("success") and row.get("status") == "applied"]
    highest = max(applied_versions, key=version_key) if applied_versions else None
    known = {f.version for f in files}
    for item in files:
        row = history.get(item.version)
        if item.skip:
            if row is None:
                result["skip"].append(item)
            continue
        if row is not None and row.get("success") and row.get("status") == "applied":
            result["applied"].append(item.version)
            if row.get("checksum") != item.checksum:
                if accept_all or item.version in accept:
                    result["accept"].append(item)
                else:
                    problems.append("migration %s (%s) changed since it was applied: checksum %s, recorded %s; "
                                    "restore the file, or accept the new checksum with accept_checksums: ['%s']"
                                    % (item.version, item.name, item.checksum[:12], str(row.get("checksum"))[:12], item.version))
            continue
        if row is not None and row.get("status") == "skipped":
            continue
        # not applied yet (or a non-transactional file that failed part-way: retried)
        if highest is not None and version_key(item.version) < version_key(highest) and not out_of_order:
            problems.append("migration %s (%s) is numbered below the last applied version %s: renumber it, "
                            "or allow it with out_of_order: true" % (item.version, item.name, highest))
            continue
        result["pending"].append(item)
    result["missing"] = sorted((v for v in applied_versions if v not in known), key=version_key)
    if problems:
        raise MigrationError("; ".join(problems), problems=problems)
    return result
