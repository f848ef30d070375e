# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A release of the platform (playbooks/release.yml): its plan, read from a check-mode start
(which services change and how, who restarts after them, which irreversible steps are pending
per database), the backups it takes first, and its timeline as one start.

The order of a release: the plan; one backup per database with pending migrations (nothing
else starts until each is written and checked); the migrations; the changed services in
dependency order, all or nothing (docker_services' ``all_or_nothing``)."""

from __future__ import annotations

import re

from ansible_collections.ananta.platform.plugins.module_utils import _plan
from ansible_collections.ananta.platform.plugins.module_utils._catalog import container_port, listening_port
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import KINDS, database_plane

POSTGRES_PORT = 5432
CHANGING = ("create", "recreate", "start", "update")  # a Docker start's, a cluster start's
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def database_target(catalog, databases, key):
    """Where a database of ``ananta_databases`` is reached from its own container (a backup, a
    restore): ``{database, service, plane, container, dbname, user, port}``, the port PostgreSQL
    listens on inside the container (behind the database's published port). No password."""
    database = (databases or {}).get(key)
    if not isinstance(database, dict):
        raise AnantaError("database %s is none of the databases (%s)" % (key, ", ".join(sorted(databases or {}))))
    by_name = {s["name"]: s for s in catalog}
    service = by_name.get(database.get("service"))
    if service is None:
        raise AnantaError("database %s: its service %s is not in the catalog: it cannot be backed up or restored"
                          % (key, database.get("service")))
    return {"database": key, "service": service["name"], "plane": database_plane(database, by_name),
            "container": service.get("container_name") or service["name"], "dbname": database.get("dbname"),
            "user": database.get("user") or "postgres",
            "port": listening_port(service, database.get("port")) or container_port(service, POSTGRES_PORT)}


def _pending(check, steps):
    """``[(step, kind, database, items)]``: the pending work of each irreversible step, from a
    Docker start's step results (each with its check-mode ``result``) or a cluster start's (the
    changes of its Job's objects, read against the step's definition, ``steps``)."""
    found = []
    options = {(s.get("kind"), s.get("plane")): s.get("options") or {} for s in steps or []}
    for step in check.get("steps") or []:
        kind = KINDS.get(step.get("kind"))
        if kind is None or not kind.irreversible:
            continue
        if "result" in step:
            items = kind.pending(step.get("result"))
            if items:
                found.append((step, kind, kind.database(step["name"]), items))
            continue
        by_database = {}
        definition = options.get((kind.name, step.get("plane")), {})
        for database, item in kind.pending_in_cluster(step.get("changes"), definition):
            by_database.setdefault(database, []).append(item)
        for database, items in sorted(by_database.items()):  # the plane's Job migrates each of them
            found.append((dict(step, name="%s:%s" % (kind.name, database)), kind, database, items))
    return found


def plan(check, catalog, databases, release, directory, steps=None):
    """The plan of a release from a check-mode start's result (``check``: services and steps):
    ``{changed, restarts, pending, backups, order, lines}``. ``backups``: one per database with
    pending irreversible work, each with its container, database, user, port and the file it
    is written to (``directory``/``<database>.dump``); no password (the playbook gives it)."""
    services = check.get("services") or []
    changed = [s for s in services if s.get("action") in CHANGING]
    order = [n for n in _plan.topological_order(catalog) if n in {s["name"] for s in changed}]
    restarts = [{"name": s["name"], "by": list(s.get("restarted_by") or [])} for s in services if s.get("action") == "restart"]
    pending, backups = [], []
    for step, _kind, key, items in _pending(check, steps):
        if key not in (databases or {}):
            raise AnantaError("step %s has pending work on database %s, which ananta_databases does not declare"
                              % (step["name"], key))
        target = database_target(catalog, databases, key)
        pending.append({"database": key, "step": step["name"], "plane": step.get("plane"),
                        "versions": [i.get("version") for i in items], "files": [i.get("file") for i in items]})
        backups.append(dict(target, plane=step.get("plane"), versions=[i.get("version") for i in items],
                            path="%s/%s.dump" % (directory.rstrip("/"), SAFE_NAME.sub("_", key)) if directory
                            else "%s.dump" % SAFE_NAME.sub("_", key)))
    result = {"release": release, "changed": [{"name": s["name"], "plane": s.get("plane"), "level": s.get("level"),
                                               "action": s["action"], "changes": s.get("changes") or []} for s in changed],
              "order": order, "restarts": restarts, "pending": pending, "backups": backups,
              "nothing": not changed and not pending and not restarts}
    result["lines"] = lines(result)
    return result


def lines(plan_):
    """The plan as the operator reads it, in the order the release does it."""
    if plan_["nothing"]:
        return ["release %s: nothing to do (every service runs its wanted configuration, no migration is pending)"
                % plan_["release"]]
    found = ["release %s: %d service(s) change, %d migration(s) pending in %d database(s)" % (
        plan_["release"], len(plan_["changed"]), sum(len(p["versions"]) for p in plan_["pending"]), len(plan_["pending"]))]
    for backup in plan_["backups"]:
        found.append("1. back up database %s (%s, container %s) to %s" % (
            backup["database"], backup["dbname"], backup["container"], backup["path"]))
    for item in plan_["pending"]:
        found.append("2. migrate %s: %s" % (item["database"], ", ".join(
            "%s (%s)" % (v, f) for v, f in zip(item["versions"], item["files"]))))
    by_name = {s["name"]: s for s in plan_["changed"]}
    for position, name in enumerate(plan_["order"], 1):
        svc = by_name[name]
        what = "; ".join("%s: %s -> %s" % (c.get("parameter") or c.get("field"), c.get("before"), c.get("after"))
                         for c in svc["changes"][:6] if "annotations" not in str(c.get("field")))
        found.append("3.%d %s %s (%s level %s)%s" % (
            position, svc["action"], name, svc["plane"], svc["level"], ": " + what if what else ""))
    for item in plan_["restarts"]:
        found.append("4. restart %s after %s (restart_with)" % (item["name"], ", ".join(item["by"])))
    return found


def timeline_start(roll, migrate, backups):
    """The release as one start for the timeline and its Gantt chart: the backups (each after
    its database's service), the migrations (each after its database's backup) and the roll's
    services and steps (a step the migrations ran already is drawn once, as they ran it)."""
    steps = []
    backed, by_plane = {}, {}
    for backup in backups or []:
        if "item" in backup:  # a registered loop's result: the plan's backup, and what the module said
            backup = dict(backup["item"], started_at=backup.get("started_at"), seconds=backup.get("seconds"))
        if backup.get("started_at") is None:
            continue
        name = "backup:%s" % backup["database"]
        backed[backup["database"]] = name
        by_plane.setdefault(backup.get("plane"), []).append(name)
        steps.append({"name": name, "kind": "backup", "plane": backup.get("plane"), "started_at": backup["started_at"],
                      "elapsed": backup.get("seconds"), "after": [backup["service"]]})
    ran = set()
    for step in (migrate or {}).get("steps") or []:
        kind = KINDS.get(step.get("kind"))
        database = kind.database(step["name"]) if kind is not None and kind.irreversible else None
        if kind is not None and kind.irreversible and step["name"].split(":")[0] == kind.job:
            extra = ["step:%s" % name for name in by_plane.get(step.get("plane"), [])]  # a cluster's Job: the plane's
        elif database in backed:  # a node per database (a Docker host)
            extra = ["step:%s" % backed[database]]
        else:
            extra = []
        steps.append(dict(step, after=list(step.get("after") or []) + extra))
        ran.add(step["name"])
    steps += [s for s in (roll or {}).get("steps") or [] if s["name"] not in ran]
    return {"services": list((roll or {}).get("services") or []), "steps": steps}
