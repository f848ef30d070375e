# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's backup on a Docker host, taken and restored from the database's own container
(its own pg_dump and pg_restore, the server's version): ``pg_dump -Fc`` to a file in the
container, checked there with ``pg_restore --list``, copied out through the engine's archive
API (binary-safe) to a ``.partial`` file beside the destination, then renamed; a restore copies
the file in, restores it into a new database in one transaction and swaps the names (``restore``).

Every command runs under ``timeout`` (the deadline), the password travels in the exec's
environment (never on a command line or in a message), and the file left in the container is
removed whatever happens."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import uuid

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError

try:
    from docker.errors import DockerException
    from requests.exceptions import RequestException
except ImportError:  # guarded by the module (DockerRuntime refuses to start without the SDK)
    DockerException = RequestException = Exception

CHUNK = 1 << 20


class Backup:
    """One database reached from its container: ``container``, ``dbname``, ``user``,
    ``password``, ``port`` (inside the container) and the deadline of each command."""

    def __init__(self, runtime, container, dbname, user, password, port=5432, timeout=600):
        self.runtime = runtime
        self.api = runtime.api
        self.container = container
        self.dbname = dbname
        self.user = user
        self.password = password
        self.port = int(port)
        self.timeout = int(timeout)
        self.where = "database %s (container %s)" % (dbname, container)

    def _exec(self, argv, what):
        """Run ``argv`` in the container under ``timeout``; its output, or an error naming ``what``."""
        command = ["timeout", str(self.timeout)] + list(argv)
        try:
            exec_id = self.api.exec_create(self.container, command, stdout=True, stderr=True,
                                           environment={"PGPASSWORD": str(self.password or "")})["Id"]
            output = self.api.exec_start(exec_id).decode("utf-8", "replace")
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        except (DockerException, RequestException) as exc:
            raise AnantaError("%s: %s: the Docker engine at %s refused or did not answer: %s"
                              % (self.where, what, self.runtime.host, str(exc)[-300:]))
        if code == 124:
            raise AnantaError("%s: %s did not finish within %ss" % (self.where, what, self.timeout))
        if code != 0:
            raise AnantaError("%s: %s failed (exit %s): %s" % (self.where, what, code, output.strip()[-600:] or "(no output)"))
        return output

    def _connect_args(self):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]

    def _remove(self, path):
        try:
            self.api.exec_start(self.api.exec_create(self.container, ["rm", "-f", path])["Id"])
        except (DockerException, RequestException):
            pass  # a temporary file in /tmp of the container: gone with the container at worst

    def _entries(self, path):
        """The archive's table of contents as ``pg_restore --list`` reads it (its entries)."""
        listing = self._exec(["pg_restore", "--list", path], "pg_restore --list (the check of the archive)")
        entries = [line for line in listing.splitlines() if line.strip() and not line.startswith(";")]
        if not entries:
            raise AnantaError("%s: the archive %s lists no entry (pg_restore --list): it is not a usable backup"
                              % (self.where, path))
        return entries

    def dump(self, dest):
        """Write the backup to ``dest`` (a path on this host): checked, then copied, then renamed;
        ``{path, size, sha256, entries, seconds}``. Nothing is left half-written at ``dest``."""
        started = time.monotonic()
        directory = os.path.dirname(dest) or "."
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            partial = dest + ".partial"
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # a database's data: the owner's alone
        except OSError as exc:
            raise AnantaError("%s: the backup cannot be written to %s: %s" % (self.where, directory, exc.strerror or exc))
        inside = "/tmp/ananta-backup-%s.dump" % uuid.uuid4().hex
        try:
            self._exec(["pg_dump", "-Fc", "-f", inside, "-d", self.dbname] + self._connect_args(), "pg_dump")
            entries = self._entries(inside)
            digest, size = self._copy_out(inside, partial)
            os.replace(partial, dest)
        except OSError as exc:
            raise AnantaError("%s: the backup cannot be written to %s: %s" % (self.where, dest, exc.strerror or exc))
        finally:
            self._remove(inside)
            if os.path.exists(dest + ".partial"):
                os.unlink(dest + ".partial")
        return {"path": dest, "size": size, "sha256": digest, "entries": len(entries),
                "seconds": round(time.monotonic() - started, 3)}

    def _copy_out(self, inside, partial):
        try:
            stream, stat = self.api.get_archive(self.container, inside, chunk_size=CHUNK)
            buffer = io.BytesIO()
            for chunk in stream:
                buffer.write(chunk)
        except (DockerException, RequestException) as exc:
            raise AnantaError("%s: copying the backup out of the container failed: %s" % (self.where, str(exc)[-300:]))
        buffer.seek(0)
        digest = hashlib.sha256()
        with tarfile.open(fileobj=buffer, mode="r|") as archive:
            member = next(iter(archive), None)
            source = archive.extractfile(member) if member is not None else None
            if source is None:
                raise AnantaError("%s: the engine's archive of %s holds no file" % (self.where, inside))
            with open(partial, "r+b") as handle:
                size = 0
                for block in iter(lambda: source.read(CHUNK), b""):
                    handle.write(block)
                    digest.update(block)
                    size += len(block)
                handle.flush()
                os.fsync(handle.fileno())
        if size != stat.get("size", size):
            raise AnantaError("%s: the backup copied out has %d bytes, the container's file %s"
                              % (self.where, size, stat.get("size")))
        return digest.hexdigest(), size

    def _sql(self, *statements, what):
        """Statements on the maintenance database (template1), each on its own (a database is
        created, renamed or dropped outside any transaction)."""
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "template1"] + self._connect_args()
        for statement in statements:
            argv += ["-c", statement]
        return self._exec(argv, what)

    def restore(self, source):
        """Restore the backup at ``source`` (on this host) into the database: into a new database
        first (``<db>_ananta_restore``, one transaction), which then takes the database's name
        while the database's connections are refused and ended; the replaced database is
        dropped. A restore that fails before the swap changes nothing; objects created after the
        backup do not survive it. ``{entries, seconds}``."""
        started = time.monotonic()
        try:
            data = io.BytesIO()
            with tarfile.open(fileobj=data, mode="w") as archive:
                archive.add(source, arcname="ananta-restore.dump")
        except OSError as exc:
            raise AnantaError("%s: the backup %s cannot be read: %s" % (self.where, source, exc.strerror or exc))
        name = "ananta-restore-%s" % uuid.uuid4().hex
        self._exec(["mkdir", "-p", "/tmp/" + name], "preparing the restore")
        inside = "/tmp/%s/ananta-restore.dump" % name
        fresh, replaced = _ident(self.dbname[:40] + "_ananta_restore"), _ident(self.dbname[:40] + "_ananta_replaced")
        target = _ident(self.dbname)
        try:
            try:
                if not self.api.put_archive(self.container, "/tmp/" + name, data.getvalue()):
                    raise AnantaError("%s: the engine refused to copy the backup into the container" % self.where)
            except (DockerException, RequestException) as exc:
                raise AnantaError("%s: copying the backup into the container failed: %s" % (self.where, str(exc)[-300:]))
            entries = self._entries(inside)
            self._sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % fresh, "CREATE DATABASE %s" % fresh,
                      what="creating the database to restore into (%s)" % fresh)
            try:
                self._exec(["pg_restore", "--single-transaction", "--no-owner", "-d", fresh.strip('"')]
                           + self._connect_args() + [inside], "pg_restore (nothing was changed)")
            except AnantaError:
                self._sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % fresh, what="dropping the failed restore")
                raise
            self._swap(target, fresh, replaced)
        finally:
            self._exec(["rm", "-rf", "/tmp/" + name], "removing the copy of the backup")
        return {"entries": len(entries), "seconds": round(time.monotonic() - started, 3)}

    def _swap(self, target, fresh, replaced):
        """The restored database takes the database's name; the replaced one is dropped. Any
        step that fails puts the names back as they were."""
        literal = "'%s'" % self.dbname.replace("'", "''")
        self._sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % replaced, "ALTER DATABASE %s ALLOW_CONNECTIONS false" % target,
                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                  "AND pid <> pg_backend_pid()" % literal,
                  what="closing the database's connections")
        try:
            self._sql("ALTER DATABASE %s RENAME TO %s" % (target, replaced), what="setting the database aside")
        except AnantaError:
            self._sql("ALTER DATABASE %s ALLOW_CONNECTIONS true" % target, what="opening the database again")
            raise
        try:
            self._sql("ALTER DATABASE %s RENAME TO %s" % (fresh, target), what="putting the restored database in place")
        except AnantaError:
            self._sql("ALTER DATABASE %s RENAME TO %s" % (replaced, target), "ALTER DATABASE %s ALLOW_CONNECTIONS true" % target,
                      what="putting the database back")
            raise
        self._sql("DROP DATABASE %s WITH (FORCE)" % replaced, what="dropping the replaced database")


def _ident(name):
    """A database name as an SQL identifier."""
    return '"%s"' % name.replace('"', '""')
