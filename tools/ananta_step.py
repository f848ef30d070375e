# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's steps as a command, for one-shot containers (compose export, Kubernetes Jobs).

    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py migrate
    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py topology
    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py wait
    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py namespaces

Configuration comes from the environment as JSON (ANANTA_STEP_CONFIG), secrets from their own
variables (PGPASSWORD, RABBITMQ_PASSWORD, TEMPORAL_API_KEY), so that they can come from a Secret. The same
guarantees as the modules: history, checksums and the advisory lock for migrations; argument
by argument comparison, conflicts reported and never deleted, for the topology.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

# Errors that waiting cannot heal: a gate that meets one exits at once (exit code 3), so that the
# pod fails and the run names it, instead of looping until the deadline.
PERMANENT = re.compile(
    r"No module named|is not installed|password authentication failed|ACCESS_REFUSED|"
    r"authentication failed|ProbeAuthenticationError|role \S+ does not exist|no pg_hba.conf entry", re.I)
EXIT_PERMANENT = 3


def _config():
    try:
        return json.loads(os.environ["ANANTA_STEP_CONFIG"])
    except (KeyError, ValueError) as exc:
        sys.exit("ananta-step: ANANTA_STEP_CONFIG must hold the step's JSON configuration: %s" % exc)


def _retry(what, call, timeout):
    """Retry a connection until it answers (the server may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Exception as exc:  # pylint: disable=broad-except
            if time.monotonic() > deadline:
                sys.exit("ananta-step: %s did not answer within %ss: %s" % (what, timeout, exc))
            time.sleep(1)


def _migrate_one(config):
    from ansible_collections.ananta.platform.plugins.module_utils import _migrations, _pg_migrator
    from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError

    conninfo = dict(host=config["host"], port=int(config.get("port", 5432)), user=config.get("user", "postgres"),
                    password=os.environ.get(config.get("password_env", "PGPASSWORD")), dbname=config["dbname"],
                    connect_timeout=5, application_name="ananta.platform step migrate")
    try:
        files = _migrations.build_files(config["path"], config.get("migrations"), config.get("skip"), config.get("schema"))
        migrator = _pg_migrator.Migrator(conninfo, lock_timeout=float(config.get("lock_timeout", 120)))
        _retry("database %s on %s" % (config["dbname"], config["host"]), migrator.connect, float(config.get("wait", 120)))
        try:
            outcome = _pg_migrator.migrate(
                migrator, files, config.get("accept_checksums"), config.get("out_of_order", False),
                report=lambda item, ms: print("applied %s (%s) in %d ms" % (item.version, item.name, ms), flush=True))
        finally:
            migrator.close()
        print("database %s: %d applied, %d already applied, %d skipped" % (
            config["dbname"], len(outcome["applied"]), len(outcome["already_applied"]), len(outcome["skipped"])), flush=True)
    except MigrationError as exc:
        sys.exit("ananta-step: failed to migrate database %s: %s" % (config["dbname"], exc.message))


def migrate(config):
    """One database, or ``databases``: a list (the Kubernetes db-migration Job migrates every
    database of its plane), each entry completed by the top-level keys and with its password
    in the variable ``password_env`` names."""
    databases = config.get("databases")
    if databases is None:
        _migrate_one(config)
        return
    shared = {k: v for k, v in config.items() if k != "databases"}
    for database in databases:
        _migrate_one(dict(shared, **database))


def wait(config):
    """Seed 000's init containers: wait until every probe passes (tables exist, a dependency
    answers), printing what is still awaited. ``timeout`` 0 waits for ever (Kubernetes restarts
    nothing while an init container runs; the run's own wait judges the time)."""
    from ansible_collections.ananta.platform.plugins.module_utils import _probes

    probes = config.get("probes") or []
    interval = float(config.get("interval", 5))
    timeout = float(config.get("timeout", 0))
    deadline = time.monotonic() + timeout if timeout else None
    pending = list(probes)
    while pending:
        still = []
        for spec in pending:
            try:
                result = _probes.run_network_probe(spec, spec.get("host", "127.0.0.1"), float(config.get("probe_timeout", 3)))
                ok, output = result.ok, result.output
            except Exception as exc:  # pylint: disable=broad-except
                ok, output = False, "%s: %s" % (type(exc).__name__, exc)
            if ok:
                print("ready: %s" % output, flush=True)
                continue
            if PERMANENT.search(output):
                print("failed: %s" % output, flush=True)
                sys.stderr.write("ananta-step: %s: gate %s cannot pass, waiting will not heal it: %s\n" % (
                    config.get("what", "wait"), _gate_name(spec), output))
                sys.exit(EXIT_PERMANENT)
            print("waiting: %s" % output, flush=True)
            still.append(spec)
        pending = still
        if not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            sys.exit("ananta-step: %s: %d gate(s) did not pass within %gs: %s" % (
                config.get("what", "wait"), len(pending), timeout, ", ".join(_gate_name(s) for s in pending)))
        time.sleep(interval)
    print("%s: all dependencies ready" % config.get("what", "wait"), flush=True)


def _gate_name(spec):
    """A gate as the operator reads it: what it probes, where, and for which dependency."""
    where = spec.get("url") or spec.get("address") or "%s:%s" % (spec.get("host", "?"), spec.get("port", "?"))
    what = spec.get("probe", "?")
    extra = []
    if spec.get("tables"):
        extra.append("tables %s" % ", ".join(spec["tables"]))
    if spec.get("queues"):
        extra.append("queues %s" % ", ".join(spec["queues"]))
    if spec.get("namespace"):
        extra.append("namespace %s" % spec["namespace"])
    label = "%s %s%s" % (what, where, " (%s)" % "; ".join(extra) if extra else "")
    return "%s [%s]" % (label, spec["service"]) if spec.get("service") else label


def namespaces(config):
    """The Temporal namespaces (seed 000's registration step, run in the cluster): registered or
    updated as the module does, each waited for until it answers describe and a workflow list."""
    from ansible_collections.ananta.platform.plugins.module_utils import _temporal
    from ansible_collections.ananta.platform.plugins.module_utils._errors import TemporalError

    if not _temporal.HAS_TEMPORALIO:
        sys.exit("ananta-step: the temporalio SDK is not installed in the step image: %s" % _temporal.TEMPORALIO_IMPORT_ERROR)
    params = dict(address=config["address"], tls=bool(config.get("tls", False)), ca_cert=config.get("ca_cert"),
                  client_cert=config.get("client_cert"), client_key=config.get("client_key"),
                  server_name=config.get("server_name"), api_key=os.environ.get("TEMPORAL_API_KEY") or None,
                  connect_timeout=float(config.get("wait", 300)), ready_timeout=float(config.get("ready_timeout", 60)),
                  namespaces=[dict({"retention": "3d", "description": "", "owner_email": "", "state": "present"}, **ns)
                              for ns in config.get("namespaces") or []])
    try:
        result, _before, _after = _temporal.ensure(params)
    except TemporalError as exc:
        sys.exit("ananta-step: failed to ensure the Temporal namespaces at %s: %s" % (config["address"], exc.message))
    except Exception as exc:  # pylint: disable=broad-except  # an RPC failure names its gRPC status
        sys.exit("ananta-step: failed to ensure the Temporal namespaces at %s: %s %s" % (
            config["address"], _temporal.rpc_status_name(exc), exc))
    for entry in result["namespaces"]:
        print("namespace %s: %s" % (entry["name"], entry["action"]), flush=True)


def topology(config):
    from ansible_collections.ananta.platform.plugins.module_utils import _rabbitmq_client, _rabbitmq_topology
    from ansible_collections.ananta.platform.plugins.module_utils._errors import TopologyError

    try:
        wanted = _rabbitmq_topology.validate(config.get("exchanges", []), config.get("queues", []), config.get("bindings", []))
        client = _retry("RabbitMQ at %s" % config["host"], lambda: _rabbitmq_client.RabbitClient(
            config["host"], int(config.get("port", 5672)), config.get("vhost", "/"), config.get("user", "guest"),
            os.environ.get("RABBITMQ_PASSWORD", "guest"), management_url=config.get("management_url")),
            float(config.get("wait", 120)))
        try:
            result = _rabbitmq_topology.TopologyEnsurer(client).ensure(wanted, config.get("bindings", []))
        finally:
            client.close()
        for label in result["created"] + result["ensured"]:
            print("created %s" % label if label in result["created"] else "ensured %s" % label)
        conflicts = [c["message"] for c in result["conflicts"]]
        if conflicts:
            sys.exit("ananta-step: %d conflict(s), nothing deleted:\n  %s" % (len(conflicts), "\n  ".join(conflicts)))
    except TopologyError as exc:
        sys.exit("ananta-step: failed to ensure the RabbitMQ topology: %s" % exc.message)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    steps = {"migrate": migrate, "topology": topology, "wait": wait, "namespaces": namespaces}
    if len(argv) != 1 or argv[0] not in steps:
        sys.exit("usage: ananta-step {%s}   (configuration in ANANTA_STEP_CONFIG)" % ",".join(sorted(steps)))
    steps[argv[0]](_config())


def run(argv=None):
    """main(), then leave without the interpreter's finalization: the temporalio runtime's own
    threads can crash it (PyGILState_Release at shutdown) after the step has succeeded, which
    would turn a done step into a failed Job or init container."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
            code = 1
        else:
            code = exc.code or 0
    except Exception as exc:  # pylint: disable=broad-except  # named, never a bare traceback
        sys.stderr.write("ananta-step: unexpected %s: %s\n" % (type(exc).__name__, exc))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
    run()
