"""Benchmark of ananta.platform.wait_healthy's waiting engine on the real Docker engine.

1. Overhead over the slowest service's own ready time, for 1, 30 and 200 lab stand-ins (a
   synthetic catalog; each answers its health path after a start-up delay of 3-6 s). An
   independent watcher polls every endpoint every 20 ms and records when it first answered
   200; the overhead is the waiter's return time minus the last of those times.
2. Crash detection latency: a worker that exits 1 at once under restart policy
   unless-stopped (seed 002's crash loop); from its first exit (Docker's `die` event) to the
   waiter's `crashed` verdict, and how many restarts Docker made meanwhile.

Targets: overhead <= one poll interval; crash detected before the second restart completes.

    .venv/bin/python benchmarks/wait_healthy_bench.py [--sizes 1 30 200] [--poll 0.5]
"""

import argparse
import os
import socket
import sys
import threading
import time
import uuid

import docker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.ananta.platform.plugins.module_utils._docker.readiness import DockerChecker  # noqa: E402
from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import DockerRuntime  # noqa: E402
from ansible_collections.ananta.platform.plugins.module_utils._http import http_get  # noqa: E402
from ansible_collections.ananta.platform.plugins.module_utils._waiter import Waiter  # noqa: E402

IMAGE = os.environ.get("ANANTA_LAB_IMAGE", "ananta-lab/platform:0.1")
LABEL = "ananta.platform.benchmark"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def watch_endpoints(ports, first_ok, stop):
    pending = dict(ports)
    while pending and not stop.is_set():
        for name, port in list(pending.items()):
            try:
                if http_get("http://127.0.0.1:%d/health" % port, timeout=0.5)[0] == 200:
                    first_ok[name] = time.monotonic()
                    del pending[name]
            except OSError:
                pass
        time.sleep(0.02)


def overhead(client, size, poll):
    run = uuid.uuid4().hex[:6]
    services, ports, containers = [], {}, []
    try:
        for number in range(size):
            name = "bench-%s-%03d" % (run, number)
            port = free_port()
            delay = 3 + (number % 4)
            containers.append(client.containers.run(
                IMAGE, "standin", name=name, detach=True, labels={LABEL: run}, ports={"8080/tcp": port},
                environment={"STANDIN_NAME": name, "STANDIN_PORTS": "8080", "STANDIN_HEALTH": "/health",
                             "STANDIN_DELAY": str(delay)}))
            ports[name] = port
            services.append({"name": name, "level": 4, "plane": "app_plane",
                             "readiness": {"probe": "http", "port": port, "path": "/health", "timeout": 600}})
        first_ok, stop = {}, threading.Event()
        watcher = threading.Thread(target=watch_endpoints, args=(ports, first_ok, stop), daemon=True)
        watcher.start()
        waiter = Waiter(services, DockerChecker(DockerRuntime(), "127.0.0.1"), poll_interval=poll)
        results, elapsed, failed = waiter.run()
        returned = time.monotonic()
        watcher.join(timeout=5)
        stop.set()
        assert not failed, [w.describe_failure() for w in failed]
        slowest = max(first_ok.values())
        return {"size": size, "elapsed": elapsed, "overhead": returned - slowest, "poll": poll,
                "ready": sum(1 for r in results if r["verdict"] == "ready")}
    finally:
        for container in containers:
            container.remove(force=True)


def crash_latency(client, poll):
    run = uuid.uuid4().hex[:6]
    name = "bench-%s-crash" % run
    dies, stop = [], threading.Event()

    def listen():
        for event in client.events(decode=True, filters={"container": name, "event": "die"}):
            dies.append(time.monotonic())
            if stop.is_set():
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    container = client.containers.run(
        IMAGE, ["standin", "bench-worker"], name=name, detach=True, labels={LABEL: run},
        restart_policy={"Name": "unless-stopped"},
        environment={"STANDIN_NAME": name, "STANDIN_MODE": "worker", "STANDIN_REQUIRES": "tcp://nowhere.invalid:7233"})
    try:
        service = {"name": name, "level": 2, "plane": "control_plane",
                   "readiness": {"probe": "process", "pattern": "bench-worker", "stable": 3, "timeout": 120}}
        waiter = Waiter([service], DockerChecker(DockerRuntime(), "127.0.0.1"), poll_interval=poll)
        results, _elapsed, failed = waiter.run()
        detected = time.monotonic()
        stop.set()
        restarts = client.api.inspect_container(name)["RestartCount"]
        return {"verdict": results[0]["verdict"], "latency": detected - dies[0] if dies else None,
                "restarts_seen": results[0]["restarts"], "restarts_total": restarts, "failed": bool(failed)}
    finally:
        container.remove(force=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 30, 200])
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()
    client = docker.from_env()
    print("wait_healthy engine, poll interval %.2f s" % args.poll)
    for size in args.sizes:
        figures = overhead(client, size, args.poll)
        print("  %3d services: returned %.2f s after the slowest became ready (target <= %.2f s); waited %.1f s in all"
              % (size, figures["overhead"], args.poll, figures["elapsed"]))
    crash = crash_latency(client, args.poll)
    print("  crash loop: verdict %s, detected %.2f s after the first exit; restarts seen at detection %d "
          "(Docker's count when read afterwards: %d)"
          % (crash["verdict"], crash["latency"] or -1, crash["restarts_seen"], crash["restarts_total"]))


if __name__ == "__main__":
    main()
