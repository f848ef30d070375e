# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's steps as a command, for one-shot containers (compose export, Kubernetes Jobs).

    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py migrate
    PYTHONPATH=<dir holding ansible_collections/> python3 tools/ananta_step.py topology

Configuration comes from the environment as JSON (ANANTA_STEP_CONFIG), secrets from their own
variables (PGPASSWORD, RABBITMQ_PASSWORD), so that they can come from a Secret. The same
guarantees as the modules: history, checksums and the advisory lock for migrations; argument
by argument comparison, conflicts reported and never deleted, for the topology.
"""

from __future__ import annotations

import json
import os
import sys
import time


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


def migrate(config):
    from ansible_collections.ananta.platform.plugins.module_utils import _migrations, _pg_migrator
    from ansible_collections.ananta.platform.plugins.module_utils._errors import MigrationError

    conninfo = dict(host=config["host"], port=int(config.get("port", 5432)), user=config.get("user", "postgres"),
                    password=os.environ.get("PGPASSWORD"), dbname=config["dbname"], connect_timeout=5,
                    application_name="ananta.platform step migrate")
    try:
        files = _migrations.build_files(config["path"], config.get("migrations"), config.get("skip"), config.get("schema"))
        migrator = _pg_migrator.Migrator(conninfo, lock_timeout=float(config.get("lock_timeout", 120)))
        _retry("database %s on %s" % (config["dbname"], config["host"]), migrator.connect, float(config.get("wait", 120)))
        try:
            outcome = _pg_migrator.migrate(
                migrator, files, config.get("accept_checksums"), config.get("out_of_order", False),
                report=lambda item, ms: print("applied %s (%s) in %d ms" % (item.version, item.name, ms)))
        finally:
            migrator.close()
        print("database %s: %d applied, %d already applied, %d skipped" % (
            config["dbname"], len(outcome["applied"]), len(outcome["already_applied"]), len(outcome["skipped"])))
    except MigrationError as exc:
        sys.exit("ananta-step: failed to migrate database %s: %s" % (config["dbname"], exc.message))


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
    steps = {"migrate": migrate, "topology": topology}
    if len(argv) != 1 or argv[0] not in steps:
        sys.exit("usage: ananta-step {%s}   (configuration in ANANTA_STEP_CONFIG)" % ",".join(sorted(steps)))
    steps[argv[0]](_config())


if __name__ == "__main__":
    main()
