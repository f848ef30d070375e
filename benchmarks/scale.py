"""Benchmark: the Docker start at scale, against its critical path and against the engine itself.

For each N (default 34, 100, 200) it generates a synthetic catalog on the lab image: six levels,
each service depending on up to two of the level below (a fixed seed), each ready 1-3 s after its
start (a process probe), no steps; a project of its own (ananta-scale), so the lab is not touched.
Per N it prints:

- the cold start (start_platform.yml, the containers removed first) and its critical path (from
  the run's timeline), the catalog started once before (its own timelines, apart from other
  sizes': the durations an operator's second start learns); and that first start too, with no
  history (each service then expected to take 1 s);
- the engine's own time to start N containers of the same image, three at a time (``docker run
  -d``), the floor any starter meets: the mean of a measure just before the start and one just
  after (the machine's pace drifts between rounds; the two's difference is printed);
- the ratio of the cold start to the larger of the two, and the overhead per service
  ((cold - larger) / N);
- the second start with nothing to do, and the containers' restarts.

    .venv/bin/python benchmarks/scale.py [--sizes 34,100,200]

With ``--target kubernetes`` (KUBECONFIG names the cluster; scripts/k8s_lab.sh up starts
../shared/k8s's and loads the lab image), the same catalog as Deployments in a namespace of their
own (ananta-scale), each ready when the kubelet's tcpSocket probe reaches its port (a web server
started 1-3 s after the container; a command probe of 100 pods would be the load, not the start):

- the cold start (start_platform.yml with inventories/lab_kubernetes, one k8s_services call), its
  critical path from the run's timeline, the containers' restarts;
- the floor: the same exported objects (export_manifests.yml) applied by one ``kubectl apply``,
  then ``kubectl wait`` until every Deployment is Available (the init containers order them);
- the second start with nothing to do, and the stop.

    KUBECONFIG=... .venv/bin/python benchmarks/scale.py --target kubernetes --sizes 100

Figures, not pass/fail: the README's table carries them (targets: ratio <= 1.2 at 200, overhead
per service flat within 20 % from 34 to 200, no-op <= 5 s).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8s_start import kubectl, newest_timeline  # noqa: E402  # the cluster benchmark's helpers, shared
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
PROJECT = "ananta-scale"
LEVELS = 6
PATTERN = "sleep 1000000"
# the probe's pattern matches the process the command becomes after its delay, not the shell that
# waits (whose command line holds the same words)
PROBE = "^%s$" % PATTERN


def catalog(size, image, seed=28, network=False):
    """``size`` services over six levels; each of level L > 0 depends on up to two of level L - 1.
    ``network``: each serves HTTP on 8080 after its delay and is ready when its port answers (a
    tcp probe: the kubelet's own tcpSocket on a cluster), instead of a process probe."""
    rng = random.Random(seed)
    per_level = [size // LEVELS + (1 if index < size % LEVELS else 0) for index in range(LEVELS)]
    services, previous = [], []
    for level, count in enumerate(per_level):
        current = []
        for _number in range(count):
            name = "scale-%03d" % len(services)
            delay = round(rng.uniform(1.0, 3.0), 1)
            depends = sorted(rng.sample(previous, min(len(previous), rng.randint(1, 2)))) if previous else []
            service = {"name": name, "container_name": name, "plane": "app_plane", "level": level,
                       "depends_on": depends, "image": image,
                       "command": ["/bin/sh", "-c", "sleep %s; exec %s" % (delay, PATTERN)],
                       "restart_policy": "unless-stopped",
                       "readiness": {"probe": "process", "pattern": PROBE, "timeout": 300},
                       "kubernetes": {"kind": "Deployment"}}
            if network:
                port = 30000 + len(services)
                service.update(command=["/bin/sh", "-c", "sleep %s; exec python3 -m http.server 8080" % delay],
                               ports=["%d:8080" % port], readiness={"probe": "tcp", "port": port, "timeout": 300},
                               # 100 pods' requests within two cores (the gates' init containers ask 10m)
                               kubernetes={"kind": "Deployment", "resources": {"requests": {"cpu": "5m", "memory": "32Mi"}}})
            services.append(service)
            current.append(name)
        previous = current
    return services


def run(*args, timeout=1800):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK] + list(args), capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(args), proc.stdout[-4000:]))
    return time.monotonic() - started


def remove_all(label):
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=%s" % label], capture_output=True, text=True,
                         check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True, check=True, timeout=600)


def restarts(label):
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=%s" % label], capture_output=True, text=True,
                         check=True).stdout.split()
    if not ids:
        return 0
    out = subprocess.run(["docker", "inspect", "--format", "{{.RestartCount}}"] + ids, capture_output=True, text=True,
                         check=True).stdout.split()
    return sum(int(n) for n in out)


def engine_alone(size, image):
    """``docker run -d`` of N containers of the same image and command, three at a time."""
    from concurrent.futures import ThreadPoolExecutor

    label = "ananta-scale-engine=1"
    remove_all(label)

    def start(number):
        subprocess.run(["docker", "run", "-d", "--label", label, "--name", "scale-engine-%03d" % number, image,
                        "/bin/sh", "-c", "sleep 2; exec %s" % PATTERN], capture_output=True, check=True, timeout=300)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(start, range(size)))
    took = time.monotonic() - started
    remove_all(label)
    return took


def one_size(size, image, tmp):
    path = os.path.join(tmp, "scale-%d.json" % size)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"ananta_services": catalog(size, image), "ananta_project": PROJECT, "ananta_networks": []}, handle)
    label = "ananta.platform.project=%s" % PROJECT
    remove_all(label)
    # each catalog keeps its timelines (and the durations a start learns from them) apart: the
    # same names in another size's catalog are other services, with other times to ready
    timelines = os.path.join(tmp, "timelines-%d" % size)
    args = ["playbooks/start_platform.yml", "-i", "inventories/lab", "-e", "@" + path,
            "--skip-tags", "migrations,streams,namespaces", "-e", "ananta_timeline_dir=" + timelines]
    # the first start of this catalog ever: no earlier run tells what each service takes
    first = run(*args)
    remove_all(label)
    # the engine's own time just before and just after the start: it drifts by seconds between
    # rounds on this machine, and the start is measured against the mean of the two beside it
    before = engine_alone(size, image)
    cold = run(*args)
    timeline = newest_timeline(timelines)
    row = {"size": size, "first": first, "cold": cold, "path": timeline["critical_path"]["seconds"],
           "restarts": restarts(label)}
    row["noop"] = run(*args)
    remove_all(label)
    after = engine_alone(size, image)
    row["engine"], row["engine_spread"] = (before + after) / 2, abs(after - before)
    floor = max(row["path"], row["engine"])
    row["ratio"] = cold / floor if floor else 0.0
    row["per_service"] = (cold - floor) / size
    return row


NAMESPACE = "ananta-scale"


def empty_namespace():
    """No object of the benchmark left: its namespace deleted and gone."""
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=600s")


def pod_restarts():
    pods = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
    return sum(c.get("restartCount", 0) for p in pods for c in (p.get("status") or {}).get("containerStatuses") or [])


def one_size_on_cluster(size, image, tmp):
    path = os.path.join(tmp, "scale-k8s-%d.json" % size)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"ananta_services": catalog(size, image, network=True), "ananta_project": PROJECT,
                   "ananta_networks": [], "ananta_plane_namespaces": {"app_plane": NAMESPACE},
                   "ananta_platform_steps": []}, handle)
    common = ["-i", "inventories/lab_kubernetes", "-e", "@" + path, "--skip-tags", "migrations,streams,namespaces"]
    empty_namespace()
    cold = run("playbooks/start_platform.yml", *common)
    timeline = newest_timeline()
    row = {"size": size, "cold": cold, "path": timeline["critical_path"]["seconds"], "restarts": pod_restarts()}
    row["noop"] = run("playbooks/start_platform.yml", *common)
    row["stop"] = run("playbooks/stop_platform.yml", *common)
    empty_namespace()
    # the floor: every exported object applied at once, each Deployment waited for
    manifests = os.path.join(tmp, "manifests-%d" % size)
    run("playbooks/export_manifests.yml", *(common + ["-e", "ananta_manifests_dir=" + manifests]))
    started = time.monotonic()
    kubectl("apply", "-f", manifests)
    kubectl("wait", "--for=condition=Available", "deployment", "--all", "-n", NAMESPACE, "--timeout=900s", timeout=960)
    row["engine"] = time.monotonic() - started
    row["floor_restarts"] = pod_restarts()
    empty_namespace()
    floor = max(row["path"], row["engine"])
    row["ratio"] = cold / floor if floor else 0.0
    row["per_service"] = (cold - floor) / size
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="34,100,200")
    parser.add_argument("--target", choices=["docker", "kubernetes"], default="docker")
    options = parser.parse_args()
    from inventory_helpers import inventory_vars
    image = inventory_vars("lab")["ananta_lab_image"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(n) for n in options.sizes.split(",")):
            if options.target == "kubernetes":
                rows.append(one_size_on_cluster(size, image, tmp))
            else:
                rows.append(one_size(size, image, tmp))
            print("N=%d done: %s" % (size, json.dumps({k: round(v, 2) for k, v in rows[-1].items()})), flush=True)
    floor = "kubectl s" if options.target == "kubernetes" else "engine s"
    print("%9s %9s %9s %10s %7s %15s %10s %9s%s" % ("services", "cold s", "path s", floor, "ratio", "per service s",
                                                    "no-op s", "restarts",
                                                    " %8s %16s" % ("stop s", "kubectl restarts")
                                                    if options.target == "kubernetes"
                                                    else " %14s %14s" % ("engine drift s", "first start s")))
    for row in rows:
        print("%9d %9.1f %9.1f %10.1f %7.2f %15.3f %10.1f %9d%s" % (
            row["size"], row["cold"], row["path"], row["engine"], row["ratio"], row["per_service"], row["noop"],
            row["restarts"], " %8.1f %16d" % (row["stop"], row["floor_restarts"]) if "stop" in row
            else " %14.1f %14.1f" % (row["engine_spread"], row["first"])))


if __name__ == "__main__":
    main()
