"""Benchmark: start_platform on a Kubernetes cluster against its critical path, beside the Docker figures.

On the cluster KUBECONFIG names (scripts/k8s_lab.sh up starts ../shared/k8s's and loads the lab
images), with inventories/lab_kubernetes: a cold start (volumes removed first), the critical path
from the run's timeline (on a cluster each workload's time runs from its phase's apply to ready),
the ratio, the container restarts, then a second start with nothing to do and the stop. With
--docker, the same cold start on the Docker lab (inventories/lab) for the comparison.

    KUBECONFIG=... .venv/bin/python benchmarks/k8s_start.py [--rounds N] [--docker]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from start_vs_compose import restarts as docker_restarts  # noqa: E402  pylint: disable=wrong-import-position
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")


def run(playbook, inventory, *args, timeout=1800):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, os.path.join(ROOT, "playbooks", playbook), "-i", os.path.join(ROOT, "inventories", inventory)]
                          + list(args), capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.exit("failed: %s %s\n%s" % (playbook, " ".join(args), proc.stdout[-3000:]))
    return time.monotonic() - started


def newest_timeline():
    return json.load(open(max(glob.glob(os.path.join(ROOT, "artifacts", "start-*.json")), key=os.path.getmtime),
                          encoding="utf-8"))


def k8s_restarts():
    out = subprocess.run(["kubectl", "get", "pods", "-A", "-l", "ananta.platform/project", "-o", "json"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return sum(s.get("restartCount", 0) for p in json.loads(out)["items"]
               for s in (p["status"].get("containerStatuses") or []) + (p["status"].get("initContainerStatuses") or []))


def round_on(target, inventory, restarts):
    run("stop_platform.yml", inventory, "-e", "ananta_remove_volumes=true")
    cold = run("start_platform.yml", inventory)
    timeline = newest_timeline()
    path = timeline["critical_path"]
    again = run("start_platform.yml", inventory)
    count = restarts()
    stop = run("stop_platform.yml", inventory)
    return {"target": target, "cold": cold, "path": path["seconds"], "chain": " -> ".join(path["path"]),
            "ratio": cold / path["seconds"] if path["seconds"] else None, "again": again, "stop": stop, "restarts": count}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--docker", action="store_true", help="also the Docker lab's cold start, for the comparison")
    options = parser.parse_args()
    if not os.environ.get("KUBECONFIG"):
        sys.exit("set KUBECONFIG (scripts/k8s_lab.sh up prints it)")
    rows = []
    for number in range(1, options.rounds + 1):
        rows.append(dict(round_on("kubernetes", "lab_kubernetes", k8s_restarts), round=number))
        if options.docker:
            rows.append(dict(round_on("docker", "lab", docker_restarts), round=number))
    header = ("target", "round", "cold (s)", "path (s)", "ratio", "no-op (s)", "stop (s)", "restarts", "critical path")
    print("%-10s %5s %10s %10s %7s %12s %8s %9s  %s" % header)
    for row in rows:
        print("%-10s %5d %10.1f %10.1f %7.2f %12.1f %8.1f %9d  %s" % (
            row["target"], row["round"], row["cold"], row["path"], row["ratio"] or 0, row["again"], row["stop"],
            row["restarts"], row["chain"]))


if __name__ == "__main__":
    main()
