"""docker_services' live progress, through its action plugin, on the real Docker engine.

- Over a connection that is not local (community.docker.docker into the execution environment's
  image, which has Python and the Docker SDK and reaches this engine through its socket): the
  progress is read with shell commands on the target, the lines arrive while the start runs.
- Interrupted on the controller (SIGINT, as Ctrl-C or a cancelled AWX job): the start running
  in the background on the target stops at once through its abort file, instead of waiting out
  its services' budgets.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import yaml

from integration_helpers import LAB_IMAGE, ROOT, TEST_LABEL, free_port, wait_for

EE_IMAGE = os.environ.get("ANANTA_EE_IMAGE", "ananta-lab/ee:0.1")
READY = re.compile(r"\[\s*([0-9.]+) s\] \S+ L\d +(\S+) +ready in")


def _catalog(prefix, hang_port=None):
    def svc(name, level, depends_on=(), readiness=None):
        return {"name": name, "container_name": "%s-%s" % (prefix, name), "plane": "app_plane", "level": level,
                "image": LAB_IMAGE, "command": ["sleep", "infinity"], "depends_on": list(depends_on),
                "labels": {TEST_LABEL: prefix}, "readiness": readiness or {"probe": "running", "timeout": 60}}
    services = [svc("first", 1), svc("second", 2, ["first"]), svc("third", 3, ["second"])]
    if hang_port:
        # a probe that never passes: a port nobody listens on, a budget far longer than the test waits
        services.append(svc("hangs", 4, ["third"], {"probe": "tcp", "port": hang_port, "timeout": 600}))
    return services


def _play(tmp_path, prefix, services, host_vars):
    play = [{"hosts": "target", "gather_facts": False, "tasks": [{
        "name": "start with live progress",
        "ananta.platform.docker_services": {"services": services, "project": prefix, "planes": ["app_plane"],
                                            "wait_all": True, "poll_interval": 0.25}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"target": host_vars}}}))
    return str(path), str(inventory)


def _stream(cmd, env, on_line=None, timeout=300):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    started, lines = time.monotonic(), []
    try:
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
            if on_line:
                on_line(proc, line)
        proc.wait()
    finally:
        timer.cancel()
    return proc, lines, time.monotonic() - started


def _env(**extra):
    return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                PYTHONUNBUFFERED="1", **extra)


def _remove(docker_client, prefix):
    for container in docker_client.containers.list(all=True, filters={"label": "%s=%s" % (TEST_LABEL, prefix)}):
        container.remove(force=True, v=True)
    for container in docker_client.containers.list(all=True, filters={"label": "ananta.platform.project=%s" % prefix}):
        container.remove(force=True, v=True)


@pytest.fixture()
def target(docker_client):
    """The execution environment's image as a remote host: reached with community.docker.docker."""
    try:
        docker_client.images.get(EE_IMAGE)
    except Exception:  # pylint: disable=broad-except
        pytest.fail("execution environment image %s is missing: run ansible-playbook playbooks/lab_images.yml" % EE_IMAGE)
    name = "ananta-itest-target-%s" % uuid.uuid4().hex[:6]
    sock_gid = os.stat("/var/run/docker.sock").st_gid
    container = docker_client.containers.run(
        EE_IMAGE, ["sleep", "infinity"], name=name, detach=True, network_mode="host", entrypoint=[],
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
        group_add=[str(sock_gid)], labels={TEST_LABEL: name})
    try:
        yield name
    finally:
        container.remove(force=True)


def test_progress_over_a_remote_connection_arrives_while_the_start_runs(docker_client, target, tmp_path):
    prefix = "lp%s" % uuid.uuid4().hex[:6]
    play, inventory = _play(tmp_path, prefix, _catalog(prefix), {
        "ansible_connection": "community.docker.docker", "ansible_host": target,
        "ansible_python_interpreter": "/usr/bin/python3"})
    try:
        proc, lines, seconds = _stream([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory, play],
                                       _env())
        output = "\n".join(line for _t, line in lines)
        assert proc.returncode == 0, output[-4000:]
        ready = [(arrived, float(m.group(1)), m.group(2)) for arrived, line in lines for m in [READY.search(line)] if m]
        assert [name for _a, _t, name in ready] == ["first", "second", "third"], output[-4000:]
        reported = ready[-1][1] - ready[0][1]
        assert reported > 2, ready  # each waits for the one before it to be running for its stability window
        assert ready[-1][0] - ready[0][0] >= 0.5 * reported, "the lines came together: %s" % ready
        assert seconds - ready[0][0] >= 0.5 * reported, "the first line came only at the end: %s" % ready
        # the target's async dir keeps nothing of the run: progress and result removed
        left = subprocess.run(["docker", "exec", target, "sh", "-c", "ls -A ~/.ansible_async 2>/dev/null"],
                              capture_output=True, text=True, check=False).stdout.split()
        assert not [f for f in left if f.startswith("ananta-")], left
    finally:
        _remove(docker_client, prefix)


def test_interrupted_run_stops_the_start_on_the_target(docker_client, tmp_path):
    prefix = "li%s" % uuid.uuid4().hex[:6]
    async_dir = tmp_path / "async"
    play, inventory = _play(tmp_path, prefix, _catalog(prefix, hang_port=free_port()), {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable})
    interrupted = []

    def interrupt_when_hanging(proc, line):
        # the three before it are ready: the start now waits for a probe that never passes
        if not interrupted and READY.search(line) and " third " in line:
            interrupted.append(time.monotonic())
            proc.send_signal(signal.SIGINT)

    try:
        proc, lines, _seconds = _stream([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory, play],
                                        _env(ANSIBLE_ASYNC_DIR=str(async_dir)), on_line=interrupt_when_hanging)
        output = "\n".join(line for _t, line in lines)
        assert interrupted, output[-4000:]
        assert proc.returncode != 0
        # the job left in the background ends, stopped by the abort file, long before its 600 s budget

        def job_result():
            for path in glob.glob(str(async_dir / "j*")):
                with open(path, encoding="utf-8") as handle:
                    try:
                        data = json.load(handle)
                    except ValueError:
                        continue
                if "started" not in data:
                    return data
            return None

        wait_for(lambda: job_result() is not None, 60)  # else: the start kept running after the interrupt
        data = job_result()
        # Ctrl-C on ansible-playbook: the controller's plugin names the signal it met first (the
        # SIGINT itself, or the SIGTERM the main process sends its workers on the interrupt)
        assert data["failed"] and re.search(r"interrupted on the controller \(SIG(INT|TERM)\)", data["msg"]), data["msg"]
        print("\nstart stopped %.1f s after SIGINT: %s" % (time.monotonic() - interrupted[0], data["msg"]))
    finally:
        _remove(docker_client, prefix)


def test_wait_healthy_prints_each_service_as_it_becomes_ready(docker_client, lab, tmp_path):
    """The second service does not exist until the first one's line has been printed: its own
    line can only come from a wait that reports as it goes."""
    first = lab("first", ["sleep", "infinity"])
    services = [{"name": name, "container_name": "%s-%s" % (lab.prefix, name), "plane": "app_plane", "level": level,
                 "image": LAB_IMAGE, "readiness": {"probe": "running", "timeout": 60}}
                for name, level in (("first", 1), ("second", 2))]
    play = [{"hosts": "target", "gather_facts": False, "tasks": [{
        "name": "wait with live progress",
        "ananta.platform.wait_healthy": {"services": services, "missing": "wait", "poll_interval": 0.25}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"target": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    created = []

    def create_second(_proc, line):
        if not created and re.search(r"\] app_plane L1 +first +ready in [0-9.]+ s \(waited\)", line):
            created.append(lab("second", ["sleep", "infinity"]))

    proc, lines, _seconds = _stream([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", str(inventory),
                                     str(path)], _env(), on_line=create_second)
    output = "\n".join(line for _t, line in lines)
    assert proc.returncode == 0, output[-3000:]
    assert first and created, output[-3000:]
    assert re.search(r"\] app_plane L2 +second +ready in [0-9.]+ s \(waited\)", output), output[-3000:]
