"""Helpers for integration tests: run the collection's modules through Ansible."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_IMAGE = os.environ.get("ANANTA_LAB_IMAGE", "ananta-lab/platform:0.1")
TEST_LABEL = "ananta.platform.test"


def run_module(module, args, check=False, diff=False, timeout=600, background=False):
    """Run one module task through ansible-playbook on localhost; return its result dict.

    ``background``: return a function that waits for the run and returns its result, so that
    runs can overlap."""
    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "under test", "ananta.platform.%s" % module: args, "register": "out",
                   "ignore_errors": True}],
    }]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, dir=tempfile.gettempdir()) as handle:
        yaml.safe_dump(play, handle)
        path = handle.name
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json")
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, path]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def finish():
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            os.unlink(path)
        try:
            data = json.loads(stdout)
        except ValueError as exc:
            raise AssertionError("ansible-playbook output is not JSON:\n%s\n%s" % (stdout[-3000:], stderr[-3000:])) from exc
        return data["plays"][0]["tasks"][0]["hosts"]["localhost"]

    return finish if background else finish()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthcheck(test, interval=1.0, retries=3, start_period=0.0, timeout=3.0):
    ns = 1_000_000_000
    return {"test": test, "interval": int(interval * ns), "timeout": int(timeout * ns), "retries": retries,
            "start_period": int(start_period * ns)}


def wait_for(condition, timeout, interval=0.5):
    """Poll condition() until it is true (exceptions count as false); fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception as exc:  # pylint: disable=broad-except
            last = exc
        time.sleep(interval)
    raise AssertionError("condition not met within %ss (last error: %s)" % (timeout, last))


def start_postgres(docker_client, kind="pg"):
    """A real PostgreSQL 15 (lab image) on a free port, answering: (container, settings, up)."""
    import psycopg2  # pylint: disable=import-outside-toplevel

    port = free_port()
    name = "ananta-itest-%s-%s" % (kind, uuid.uuid4().hex[:6])
    container = docker_client.containers.run(
        LAB_IMAGE, "lab-postgres", name=name, detach=True, labels={TEST_LABEL: name},
        environment={"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "itest-pw", "POSTGRES_DB": "postgres"},
        ports={"5432/tcp": port})
    settings = {"host": "127.0.0.1", "port": port, "user": "postgres", "password": "itest-pw"}

    def up():
        psycopg2.connect(dbname="postgres", connect_timeout=2, **settings).close()
        return True

    try:
        wait_for(up, 90)
    except AssertionError:
        container.remove(force=True, v=True)
        raise
    return container, settings, up


class CountingProxy:
    """Forwards every TCP connection on loopback to ``target_port`` (a subclass may connect
    elsewhere: ``_connect``); ``closed_one`` is set once a connection has been served to its end
    (a probe has had its answer): a test waits for that event instead of guessing how long a
    module takes to start. ``requests`` counts the HTTP requests clients sent through it;
    ``kill()`` closes the listener and every open connection: the server dying, as a client
    sees it."""

    def __init__(self, target_port=None):
        self.target_port = target_port
        self.closed_one = threading.Event()
        self.requests = 0
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self):
        return socket.create_connection(("127.0.0.1", self.target_port), timeout=10)

    def _accept(self):
        while True:
            try:
                client, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _pump(self, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client:
                    with self.lock:
                        self.requests += data.count(b"HTTP/1.1\r\n")
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _serve(self, client):
        try:
            server = self._connect()
        except OSError:
            client.close()
            return
        with self.lock:
            self.conns += [client, server]
        back = threading.Thread(target=self._pump, args=(server, client, False), daemon=True)
        back.start()
        self._pump(client, server, True)
        back.join(30)
        client.close()
        server.close()
        self.closed_one.set()

    def close(self):
        self.sock.close()

    def kill(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (a close alone would not stop it listening)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
