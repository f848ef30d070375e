# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's backup on a Docker host, taken and restored in the database's own container
with the scripts a cluster's Jobs run too (``_pg_scripts``: the server's own pg_dump,
pg_restore and psql): the backup is written to a directory of its own in the container's /tmp,
checked there, copied out through the engine's archive API (binary-safe) to a ``.partial`` file
beside the destination, its SHA-256 compared with the container's, then renamed; a restore
copies the file in and runs the restore script (a new database, swapped in).

Every command runs under ``timeout`` (the deadline), the password travels in the exec's
environment (never on a command line or in a message), and what was left in the container is
removed whatever happens."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import uuid

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._pg_scripts import (
    DUMP, RESTORE, plain_name, restore_names, result_of,
)

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
        self.where = "database %s (container %s)" % (dbname, container)
        self.dbname = plain_name(dbname, self.where)
        self.user = user
        self.password = password
        self.port = int(port)
        self.timeout = int(timeout)

    def _exec(self, argv, what, env=None):
        """Run ``argv`` in the container under ``timeout``; its output, or an error naming ``what``."""
        command = ["timeout", str(self.timeout)] + list(argv)
        environment = dict(env or {}, PGPASSWORD=str(self.password or ""))
        try:
            exec_id = self.api.exec_create(self.container, command, stdout=True, stderr=True,
                                           environment=environment)["Id"]
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

    def _script(self, script, what, directory, **env):
        """One of the scripts, on ``directory`` of the container: its result line, as data."""
        output = self._exec(["sh", "-c", script], what, dict(
            env, MOUNT=directory, CLAIM="the container %s" % self.container, PGHOST="127.0.0.1", PGPORT=str(self.port),
            PGUSER=str(self.user), PGDATABASE=self.dbname))
        return result_of(output.splitlines(), self.where)

    def _remove(self, path):
        try:
            self.api.exec_start(self.api.exec_create(self.container, ["rm", "-rf", path])["Id"])
        except (DockerException, RequestException):
            pass  # a directory in /tmp of the container: gone with the container at worst

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
        inside = "/tmp/ananta-backup-%s" % uuid.uuid4().hex
        try:
            written = self._script(DUMP, "the backup (pg_dump -Fc, checked with pg_restore --list)", inside, FILE="backup.dump")
            digest, size = self._copy_out(written["path"], partial)
            if digest != written["sha256"]:
                raise AnantaError("%s: the backup copied out (SHA-256 %s) differs from the container's (%s)"
                                  % (self.where, digest, written["sha256"]))
            os.replace(partial, dest)
        except OSError as exc:
            raise AnantaError("%s: the backup cannot be written to %s: %s" % (self.where, dest, exc.strerror or exc))
        finally:
            self._remove(inside)
            if os.path.exists(dest + ".partial"):
                os.unlink(dest + ".partial")
        return {"path": dest, "size": size, "sha256": digest, "entries": written["entries"],
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

    def restore(self, source):
        """Restore the backup at ``source`` (on this host) into the database (the restore script:
        a new database in one transaction, swapped in; a restore that fails before the swap
        changes nothing): ``{entries, seconds}``."""
        started = time.monotonic()
        try:
            data = io.BytesIO()
            with tarfile.open(fileobj=data, mode="w") as archive:
                archive.add(source, arcname="ananta-restore.dump")
        except OSError as exc:
            raise AnantaError("%s: the backup %s cannot be read: %s" % (self.where, source, exc.strerror or exc))
        inside = "/tmp/ananta-restore-%s" % uuid.uuid4().hex
        self._exec(["mkdir", "-p", inside], "preparing the restore")
        try:
            try:
                if not self.api.put_archive(self.container, inside, data.getvalue()):
                    raise AnantaError("%s: the engine refused to copy the backup into the container" % self.where)
            except (DockerException, RequestException) as exc:
                raise AnantaError("%s: copying the backup into the container failed: %s" % (self.where, str(exc)[-300:]))
            restored = self._script(RESTORE, "the restore (into a new database, then swapped in)", inside,
                                    FILE="ananta-restore.dump", **restore_names(self.dbname))
        finally:
            self._remove(inside)
        return {"entries": restored["entries"], "seconds": round(time.monotonic() - started, 3)}
