"""Benchmark: start_platform's cold start against its critical path and `docker compose up --wait`.

Prints, from one run on the lab: start_platform's cold-start wall time (from clean, volumes
removed), the critical path computed from the run's timeline, `docker compose up -d --wait` on
the exported compose file (the same services and the same steps), and the two ratios, with the
restart count of each. Targets: <= 1.15 x the critical path, <= 1.0 x compose. Then the second
run with nothing to do, side by side: start_platform again with everything up (wall clock of
ansible-playbook, target <= 5 s) and `docker compose up -d --wait` again on the exported file
with everything up; each the median of --noop runs, and their ratio.

    .venv/bin/python benchmarks/start_vs_compose.py [--rounds N] [--noop N]
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


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def one_round(noop_runs):
    clean()
    wall = run([PLAYBOOK, "playbooks/start_platform.yml"])
    timeline_file = max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime)
    with open(timeline_file, encoding="utf-8") as handle:
        timeline = json.load(handle)
    ansible_restarts = restarts()
    # everything is up: a second start has nothing to do
    noop = [run([PLAYBOOK, "playbooks/start_platform.yml"]) for _run in range(noop_runs)]
    clean()
    run([PLAYBOOK, "playbooks/export_compose.yml"])
    compose = run(["docker", "compose", "-f", COMPOSE_FILE, "up", "-d", "--wait"])
    compose_restarts = restarts()
    compose_noop = [run(["docker", "compose", "-f", COMPOSE_FILE, "up", "-d", "--wait"]) for _run in range(noop_runs)]
    clean()
    return wall, timeline, ansible_restarts, compose, compose_restarts, noop, compose_noop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--noop", type=int, default=5, help="second runs with nothing to do, per round (median printed)")
    args = parser.parse_args()
    for number in range(1, args.rounds + 1):
        wall, timeline, ansible_restarts, compose, compose_restarts, noop, compose_noop = one_round(max(1, args.noop))
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
        print("  second start, nothing to do: start_platform (median)  %6.1f s   (target <= 5 s; runs %s)" % (
            median(noop), ", ".join("%.1f" % n for n in noop)))
        print("  second start, nothing to do: compose up -d --wait     %6.1f s   (runs %s)" % (
            median(compose_noop), ", ".join("%.1f" % n for n in compose_noop)))
        print("  ratio of the second starts, start_platform / compose  %6.2f" % (median(noop) / median(compose_noop)))


if __name__ == "__main__":
    main()
