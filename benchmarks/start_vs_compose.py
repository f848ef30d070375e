"""Benchmark: start_platform's cold start against its critical path and `docker compose up --wait`.

Prints, from one run on the lab: start_platform's cold-start wall time (from clean, volumes
removed), the critical path computed from the run's timeline, `docker compose up -d --wait` on
the exported compose file (the same services and the same steps), and the two ratios, with the
restart count of each. Targets: <= 1.15 x the critical path, <= 1.0 x compose.

    .venv/bin/python benchmarks/start_vs_compose.py [--rounds N]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
COMPOSE_FILE = os.path.join(ROOT, "artifacts", "compose", "docker-compose.yml")


def run(argv, timeout=900):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.exit("failed: %s\n%s\n%s" % (" ".join(argv), proc.stdout[-3000:], proc.stderr[-3000:]))
    return time.monotonic() - started


def restarts():
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=ananta.platform.project"], capture_output=True,
                         text=True, check=True).stdout.split()
    if not ids:
        return 0
    out = subprocess.run(["docker", "inspect", "--format", "{{.RestartCount}}"] + ids, capture_output=True, text=True,
                         check=True).stdout.split()
    return sum(int(n) for n in out)


def clean():
    if os.path.exists(COMPOSE_FILE):
        subprocess.run(["docker", "compose", "-f", COMPOSE_FILE, "down", "-v", "--timeout", "5"], capture_output=True, check=False)
    run([PLAYBOOK, "playbooks/stop_platform.yml", "-e", "ananta_remove_volumes=true"])


def one_round():
    clean()
    wall = run([PLAYBOOK, "playbooks/start_platform.yml"])
    timeline_file = max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime)
    with open(timeline_file, encoding="utf-8") as handle:
        timeline = json.load(handle)
    ansible_restarts = restarts()
    clean()
    run([PLAYBOOK, "playbooks/export_compose.yml"])
    compose = run(["docker", "compose", "-f", COMPOSE_FILE, "up", "-d", "--wait"])
    compose_restarts = restarts()
    clean()
    return wall, timeline, ansible_restarts, compose, compose_restarts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for number in range(1, args.rounds + 1):
        wall, timeline, ansible_restarts, compose, compose_restarts = one_round()
        critical = timeline["critical_path"]["seconds"]
        engine = timeline["critical_path"].get("engine_start_seconds", 0.0)
        print("round %d" % number)
        print("  start_platform cold start (wall, ansible-playbook)  %6.1f s   restarts %d" % (wall, ansible_restarts))
        print("  start_platform run, from its own timeline            %6.1f s" % timeline["wall_seconds"])
        print("  critical path from the timeline                      %6.1f s   %s" % (
            critical, " -> ".join(timeline["critical_path"]["path"])))
        print("    of which the engine's start calls                  %6.1f s   (a service's time runs from its start call)"
              % engine)
        print("  docker compose up -d --wait (exported file)          %6.1f s   restarts %d" % (compose, compose_restarts))
        print("  ratio start_platform / critical path                 %6.2f   (target <= 1.15)" % (wall / critical))
        print("  ratio start_platform / path without the start calls  %6.2f" % (wall / max(0.001, critical - engine)))
        print("  ratio start_platform / compose                       %6.2f   (target <= 1.00)" % (wall / compose))


if __name__ == "__main__":
    main()
