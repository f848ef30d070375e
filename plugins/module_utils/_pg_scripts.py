# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database's backup and restore as shell scripts run on the database's own image (its own
pg_dump, pg_restore and psql): in its container on a Docker host (``_docker/backup``), in a Job
on a cluster (``_k8s/backup``). One implementation for both targets.

The environment says what they work on: ``MOUNT`` (a directory), ``FILE`` (the backup, under
it), ``CLAIM`` (where the file lives, for a message), the server (``PGHOST``, ``PGPORT``,
``PGUSER``, ``PGDATABASE``, ``PGPASSWORD``); the restore also ``FRESH`` and ``OLD`` (the names of
the database restored into and of the one it replaces).

- ``DUMP``: ``pg_dump -Fc`` to ``<file>.partial``, checked with ``pg_restore --list`` (an archive
  that lists no entry is refused), mode 0600, renamed; its last line says its path, size,
  SHA-256 and entries.
- ``RESTORE``: the archive checked, restored into a new database in one transaction, which then
  takes the database's name while the database refuses connections and its sessions are ended;
  the replaced database dropped. A restore that fails before that swap changes nothing, and a
  swap that fails puts the names back. Its last line says its entries.
"""

from __future__ import annotations

import json
import re

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError

RESULT = "ANANTA-RESULT "
PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

DUMP = r'''set -eu
out="$MOUNT/$FILE"
mkdir -p "$(dirname "$out")"
chmod 700 "$(dirname "$out")"
trap 'rm -f "$out.partial"' EXIT
pg_dump -Fc -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" -f "$out.partial"
entries=$(pg_restore --list "$out.partial" | grep -vc '^;' || true)
if [ "$entries" -eq 0 ]; then echo "the archive lists no entry (pg_restore --list): not a usable backup" >&2; exit 3; fi
chmod 600 "$out.partial"
mv "$out.partial" "$out"
echo "ANANTA-RESULT {\"path\": \"$out\", \"size\": $(stat -c %s "$out"), \"sha256\": \"$(sha256sum "$out" | cut -d' ' -f1)\", \"entries\": $entries}"
'''

RESTORE = r'''set -eu
f="$MOUNT/$FILE"
if [ ! -f "$f" ]; then echo "there is no backup $FILE on the volume claim $CLAIM" >&2; exit 3; fi
entries=$(pg_restore --list "$f" | grep -vc '^;' || true)
if [ "$entries" -eq 0 ]; then echo "the archive $FILE lists no entry (pg_restore --list)" >&2; exit 3; fi
sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d template1 "$@"; }
sql -c "DROP DATABASE IF EXISTS \"$FRESH\" WITH (FORCE)" -c "CREATE DATABASE \"$FRESH\""
if ! pg_restore --single-transaction --no-owner -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$FRESH" "$f"; then
  sql -c "DROP DATABASE IF EXISTS \"$FRESH\" WITH (FORCE)"
  echo "pg_restore failed: nothing was changed" >&2; exit 4
fi
sql -c "DROP DATABASE IF EXISTS \"$OLD\" WITH (FORCE)" -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS false" \
    -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$PGDATABASE' AND pid <> pg_backend_pid()"
if ! sql -c "ALTER DATABASE \"$PGDATABASE\" RENAME TO \"$OLD\""; then
  sql -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS true"; exit 5
fi
if ! sql -c "ALTER DATABASE \"$FRESH\" RENAME TO \"$PGDATABASE\""; then
  sql -c "ALTER DATABASE \"$OLD\" RENAME TO \"$PGDATABASE\"" -c "ALTER DATABASE \"$PGDATABASE\" ALLOW_CONNECTIONS true"; exit 6
fi
sql -c "DROP DATABASE \"$OLD\" WITH (FORCE)"
echo "ANANTA-RESULT {\"entries\": $entries}"
'''


def result_of(lines, where):
    """The script's result line among ``lines`` (its output), as data."""
    said = [line for line in lines if RESULT in line]
    if not said:
        raise AnantaError("%s: the script ended without its result line" % where)
    return json.loads(said[-1].split(RESULT, 1)[1])


def plain_name(dbname, where):
    """The scripts quote a database's name in SQL and shell: only a plain one is taken."""
    if not PLAIN.match(str(dbname or "")):
        raise AnantaError("%s: a backup or a restore needs a plain database name, not %r" % (where, dbname))
    return str(dbname)


def restore_names(dbname):
    """``FRESH`` and ``OLD`` of a restore of ``dbname``."""
    return {"FRESH": dbname[:40] + "_ananta_restore", "OLD": dbname[:40] + "_ananta_replaced"}
