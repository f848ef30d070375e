"""Benchmark: the platform's start on a Kubernetes cluster against its critical path and against
kubectl, the stop, and the cluster's idle CPU with the platform up.

On the cluster KUBECONFIG names (scripts/k8s_lab.sh up starts ../shared/k8s's and loads the lab
images), with inventories/lab_kubernetes, per round:

- cold start: start_platform.yml with the volumes removed first; its critical path from the run's
  timeline (each workload's time runs from its apply to ready), the ratio, container restarts;
- the second start, nothing to do (and how many objects it wrote: none);
- the idle CPU of the whole machine with the platform up (from /proc/stat, after the start settled);
- the stop (data kept), and the stop of an empty cluster;
- the floor: the same exported objects (export_manifests.yml) applied by one ``kubectl apply`` of
  every file, then ``kubectl rollout status``/``kubectl wait`` of each workload, and its restarts;
- seed 000 by hand: the same files one phase after another with kubectl, each waited for.

    KUBECONFIG=... .venv/bin/python benchmarks/k8s_start.py [--rounds N] [--idle-seconds S]

Figures, not pass/fail: the README's table carries them.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
INVENTORY = os.path.join(ROOT, "inventories", "lab_kubernetes")
SELECTOR = "ananta.platform/project=ananta-lab"


def run(playbook, *args, timeout=1800):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, os.path.join(ROOT, "playbooks", playbook), "-i", INVENTORY] + list(args),
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.exit("failed: %s %s\n%s" % (playbook, " ".join(args), proc.stdout[-3000:]))
    return time.monotonic() - started, proc.stdout


def kubectl(*args, timeout=900):
    proc = subprocess.run(["kubectl"] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        sys.exit("kubectl %s failed: %s" % (" ".join(args), proc.stderr[-2000:]))
    return proc.stdout


def newest_timeline(directory=None):
    path = max(glob.glob(os.path.join(directory or os.path.join(ROOT, "artifacts"), "start-*.json")), key=os.path.getmtime)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def restarts():
    pods = json.loads(kubectl("get", "pods", "-A", "-l", SELECTOR, "-o", "json"))["items"]
    return sum(s.get("restartCount", 0) for p in pods
               for s in (p["status"].get("containerStatuses") or []) + (p["status"].get("initContainerStatuses") or []))


def idle_cpu(seconds):
    """The share of both cores busy over ``seconds`` (all of the machine: the cluster's
    components, the kubelet's probes and the platform's processes)."""
    def read():
        with open("/proc/stat", encoding="utf-8") as handle:
            parts = [int(x) for x in handle.readline().split()[1:]]
        return parts[3] + parts[4], sum(parts)
    idle0, total0 = read()
    time.sleep(seconds)
    idle1, total1 = read()
    return 100.0 * (1 - (idle1 - idle0) / float(total1 - total0))


def workloads(directory):
    """(kind, namespace, name) of every workload in the exported files, file by file."""
    import yaml
    found = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            objects = [o for o in yaml.safe_load_all(handle) if o]
        found.append((path, [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects
                             if o["kind"] in ("Deployment", "StatefulSet", "Job")]))
    return found


def wait_for(items):
    for kind, namespace, name in items:
        if kind == "Job":
            kubectl("-n", namespace, "wait", "--for=condition=complete", "job/%s" % name, "--timeout=600s")
        else:
            kubectl("-n", namespace, "rollout", "status", "%s/%s" % (kind.lower(), name), "--timeout=600s")


def with_kubectl(directory, phase_by_phase):
    """The exported objects with kubectl: all at once (one apply of every file, then a wait for
    each workload) or seed 000 by hand (each phase's file applied, then its workloads waited for)."""
    files = workloads(directory)
    started = time.monotonic()
    if phase_by_phase:
        for path, items in files:
            kubectl("apply", "-f", path)
            wait_for(items)
    else:
        kubectl("apply", "-f", directory)
        wait_for([item for _path, items in files for item in items])
    return time.monotonic() - started


def one_round(idle_seconds, manifests):
    row = {}
    run("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    row["cold"], _out = run("start_platform.yml")
    timeline = newest_timeline()
    row["path"], row["chain"] = timeline["critical_path"]["seconds"], " -> ".join(timeline["critical_path"]["path"])
    row["restarts"] = restarts()
    row["again"], out = run("start_platform.yml")
    row["again_changed"] = "changed=0" not in out.split("PLAY RECAP")[-1]
    time.sleep(10)  # let the start's own work (and the kubelet's first probes) settle before measuring idle
    row["idle"] = idle_cpu(idle_seconds)
    row["stop"], _out = run("stop_platform.yml")
    row["stop_empty"], _out = run("stop_platform.yml")
    run("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    row["floor"] = with_kubectl(manifests, phase_by_phase=False)
    row["floor_restarts"] = restarts()
    run("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    row["by_hand"] = with_kubectl(manifests, phase_by_phase=True)
    row["by_hand_restarts"] = restarts()
    run("stop_platform.yml", "-e", "ananta_remove_volumes=true")
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    options = parser.parse_args()
    if not os.environ.get("KUBECONFIG"):
        sys.exit("set KUBECONFIG (scripts/k8s_lab.sh up prints it)")
    with tempfile.TemporaryDirectory() as tmp:
        manifests = os.path.join(tmp, "manifests")
        run("export_manifests.yml", "-e", "ananta_manifests_dir=%s" % manifests)
        rows = [dict(one_round(options.idle_seconds, manifests), round=n) for n in range(1, options.rounds + 1)]
    print("%5s %8s %8s %6s %8s %10s %8s %10s %9s %11s %9s %9s" % (
        "round", "cold s", "path s", "ratio", "restarts", "no-op s", "idle %", "stop s", "empty s", "floor s/rst",
        "hand s/rst", "written"))
    for row in rows:
        print("%5d %8.1f %8.1f %6.2f %8d %10.1f %8.1f %10.1f %9.1f %7.1f/%-3d %6.1f/%-3d %9s" % (
            row["round"], row["cold"], row["path"], row["cold"] / row["path"] if row["path"] else 0, row["restarts"],
            row["again"], row["idle"], row["stop"], row["stop_empty"], row["floor"], row["floor_restarts"],
            row["by_hand"], row["by_hand_restarts"], "some" if row["again_changed"] else "none"))
        print("      critical path: %s" % row["chain"])


if __name__ == "__main__":
    main()
