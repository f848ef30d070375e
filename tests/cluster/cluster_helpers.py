"""What the cluster tests share: the API's timestamps, restart counts, a pod watch that records
the order of events as the API server sends them, and the cluster reached by token and CA."""

import base64
import json
import os
import shutil
import subprocess
import threading
from datetime import datetime

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stamp(value):
    """An API timestamp (seconds resolution) as epoch seconds."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def restarts_of(pods):
    return {"%s/%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"], s["name"]): s.get("restartCount", 0)
            for p in pods for s in (p["status"].get("containerStatuses") or []) + (p["status"].get("initContainerStatuses") or [])}


def kubectl(*args, timeout=60, check=True):
    proc = subprocess.run(["kubectl"] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, (args, proc.stderr)
    return proc


class PodWatch:
    """One watch of every pod with ``selector``, in every namespace: the events in the order the
    API server sent them (one stream, so their order is the order of the changes), each as
    (index, type, namespace, app name, pod name, terminating)."""

    def __init__(self, api, selector):
        self.api = api
        self.selector = selector
        self.events = []
        self.stopped = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "the pod watch did not start"
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(40)

    def _run(self):
        from kubernetes import client, watch
        core = client.CoreV1Api(self.api)
        version = core.list_pod_for_all_namespaces(label_selector=self.selector).metadata.resource_version
        self.ready.set()
        while not self.stopped.is_set():
            stream = watch.Watch()
            for event in stream.stream(core.list_pod_for_all_namespaces, label_selector=self.selector,
                                       resource_version=version, timeout_seconds=5, _request_timeout=30):
                pod = event["object"]
                version = pod.metadata.resource_version
                self.events.append((len(self.events), event["type"], pod.metadata.namespace,
                                    (pod.metadata.labels or {}).get("app.kubernetes.io/name"), pod.metadata.name,
                                    pod.metadata.deletion_timestamp is not None))
                if self.stopped.is_set():
                    break

    def first(self, app, what):
        """Index of the first event of ``app``'s pods that ``what(event)`` accepts, or None."""
        return next((e[0] for e in self.events if e[3] == app and what(e)), None)

    def last(self, app, what):
        found = [e[0] for e in self.events if e[3] == app and what(e)]
        return found[-1] if found else None


def token_connection(tmp_dir):
    """The cluster as an operator without a kubeconfig reaches it (issue 18): the API server's
    address, a service account's token and the cluster's CA in a file. Returns the variables
    (as -e takes them) and the path of a file holding them (as a vault or an AWX credential would)."""
    with open(os.environ["KUBECONFIG"], encoding="utf-8") as handle:
        cluster = yaml.safe_load(handle)["clusters"][0]["cluster"]
    ca_file = os.path.join(tmp_dir, "ca.crt")
    if cluster.get("certificate-authority-data"):
        with open(ca_file, "wb") as handle:
            handle.write(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        shutil.copy(cluster["certificate-authority"], ca_file)
    for command in (["create", "serviceaccount", "ananta-operator", "-n", "kube-system"],
                    ["create", "clusterrolebinding", "ananta-operator", "--clusterrole=cluster-admin",
                     "--serviceaccount=kube-system:ananta-operator"]):
        made = kubectl(*command, check=False)
        assert made.returncode == 0 or "already exists" in made.stderr, made.stderr
    token = kubectl("-n", "kube-system", "create", "token", "ananta-operator", "--duration=2h").stdout.strip()
    variables = {"ananta_kubeconfig": "", "ananta_k8s_host": cluster["server"], "ananta_k8s_api_key": token,
                 "ananta_k8s_ca_cert": ca_file, "ananta_k8s_validate_certs": True}
    path = os.path.join(tmp_dir, "connection.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    return variables, path


class Proxy:
    """A TCP proxy on loopback in front of the cluster's API server (TLS passes through it), whose
    faults the tests choose: ``kill()`` closes the listener and every connection (the API server
    dies mid-way); ``blackhole()`` keeps every open connection but forwards nothing more on them
    (a dropped watch, a hung load balancer), while new connections are forwarded again."""

    def __init__(self, target_host, target_port):
        import socket
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = []  # [client, upstream, {"dead": bool}]
        self.lock = threading.Lock()
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while not self.closed.is_set():
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            state = {"dead": False}
            with self.lock:
                self.connections.append((client, upstream, state))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst, state), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, state):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if state["dead"]:
                continue  # swallowed: the other side hears nothing more
            try:
                dst.sendall(data)
            except OSError:
                return

    def blackhole(self):
        with self.lock:
            for _client, _upstream, state in self.connections:
                state["dead"] = True
            self.connections = []

    def kill(self):
        self.closed.set()
        self.listener.close()
        with self.lock:
            for client, upstream, _state in self.connections:
                for sock in (client, upstream):
                    try:
                        sock.shutdown(2)
                    except OSError:
                        pass
                    sock.close()
            self.connections = []


class SilentListener:
    """Accepts connections on loopback and never says a word."""

    def __init__(self):
        import socket
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.closed.set()
        self.listener.close()
        for conn in self.held:
            conn.close()
