# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes of a cluster's services from the controller, through the Kubernetes API.

The catalog's probes address a service's published host port (``127.0.0.1:27432``), which is
what the controller reaches on a Docker host. On a cluster nothing is published: each such
probe is sent instead through a port-forward of the API server (the same stream as
``kubectl port-forward``) to a ready pod of the service's Kubernetes Service, from a local
listener that the probe connects to. It needs nothing but API access (a kubeconfig or a
token), so it works from outside the cluster and from AWX inside it alike.
"""

from __future__ import annotations

import re
import select
import socket
import threading

from ansible_collections.ananta.platform.plugins.module_utils import _catalog
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_name, object_namespace

try:
    from kubernetes import client as k8s_client
    from kubernetes.stream import portforward
except ImportError:  # guarded by the callers (HAS_KUBERNETES in _k8s/readiness.py)
    k8s_client = portforward = None

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
URL_RE = re.compile(r"^(\w+)://([^/:]+):(\d+)(.*)$")


def _relay(client, remote, idle_timeout):
    """Copy bytes both ways until one side closes or nothing moves for idle_timeout seconds."""
    sockets = [client, remote]
    try:
        while True:
            readable, _w, _x = select.select(sockets, [], [], idle_timeout)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (remote if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass


class Tunnel:
    """A local listener; each connection to it is forwarded to ``pod``'s ``port`` through the API."""

    def __init__(self, core, namespace, pod, port, what, connect_timeout=10.0, idle_timeout=60.0):
        self.core, self.namespace, self.pod, self.port, self.what = core, namespace, pod, port, what
        self.connect_timeout, self.idle_timeout = connect_timeout, idle_timeout
        self.last_error = None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.local_port = self.listener.getsockname()[1]
        thread = threading.Thread(target=self._accept, name="tunnel to %s" % what, daemon=True)
        thread.start()

    def _open(self):
        """The API's port-forward stream, opened under a deadline (the websocket has none of its own)."""
        box = {}

        def call():
            try:
                box["forward"] = portforward(self.core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                                             ports=str(self.port))
            except Exception as exc:  # pylint: disable=broad-except  # named below
                box["error"] = exc

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(self.connect_timeout)
        if worker.is_alive():
            raise RuntimeAdapterError("the port-forward to %s did not open within %ss" % (self.what, self.connect_timeout))
        if "error" in box:
            raise RuntimeAdapterError("the port-forward to %s failed: %s" % (self.what, box["error"]))
        return box["forward"]

    def _accept(self):
        while True:
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            forward = self._open()
            remote = forward.socket(self.port)
        except (RuntimeAdapterError, OSError, ValueError) as exc:
            self.last_error = str(exc)
            client.close()
            return
        _relay(client, remote, self.idle_timeout)
        forward.close()

    def close(self):
        try:
            self.listener.close()
        except OSError:
            pass


class ClusterProbes:
    """Rewrites probe specs that address published host ports so that they go through tunnels."""

    def __init__(self, api, catalog, plane_namespaces=None, local_hosts=LOCAL_HOSTS, connect_timeout=10.0):
        self.core = k8s_client.CoreV1Api(api)
        self.host_ports = _catalog.host_ports(catalog)
        self.plane_namespaces = plane_namespaces
        self.local_hosts = set(local_hosts)
        self.connect_timeout = connect_timeout
        self.tunnels = {}

    def _ready_pod(self, svc, container_port):
        """A ready pod behind the service's Kubernetes Service, and the pod port it forwards to."""
        name, namespace = object_name(svc), object_namespace(svc, self.plane_namespaces)
        what = "service %s (Service %s/%s, port %d)" % (svc["name"], namespace, name, container_port)
        try:
            service = self.core.read_namespaced_service(name, namespace, _request_timeout=self.connect_timeout)
            selector = service.spec.selector or {}
            target = container_port
            for port in service.spec.ports or []:
                if port.port == container_port and isinstance(port.target_port, int):
                    target = port.target_port
            pods = self.core.list_namespaced_pod(namespace, label_selector=",".join(
                "%s=%s" % item for item in sorted(selector.items())), _request_timeout=self.connect_timeout).items
        except Exception as exc:  # pylint: disable=broad-except  # ApiException, urllib3 errors: named
            raise RuntimeAdapterError("cannot reach %s through the cluster: %s" % (what, str(exc).splitlines()[0])) from exc
        for pod in pods:
            conditions = (pod.status.conditions or []) if pod.status else []
            if pod.metadata.deletion_timestamp is None and any(c.type == "Ready" and c.status == "True" for c in conditions):
                return pod.metadata.name, namespace, target, what
        raise RuntimeAdapterError("cannot reach %s through the cluster: no ready pod" % what)

    def _tunnel(self, svc, container_port):
        key = (svc["name"], container_port)
        if key not in self.tunnels:
            pod, namespace, target, what = self._ready_pod(svc, container_port)
            self.tunnels[key] = Tunnel(self.core, namespace, pod, target, "%s, pod %s" % (what, pod), self.connect_timeout)
        return "127.0.0.1", self.tunnels[key].local_port

    def _through(self, host, port):
        """(host, port) through a tunnel when it names a published host port of the catalog, else None."""
        if port is None or (host not in (None, "") and host not in self.local_hosts):
            return None
        entry = self.host_ports.get(int(port))
        if entry is None:
            return None
        return self._tunnel(entry[0], entry[1])

    def rewrite(self, spec):
        """The probe spec as the controller reaches it through the cluster (a copy)."""
        if not isinstance(spec, dict):
            return spec
        spec = dict(spec)
        if spec.get("url"):
            match = URL_RE.match(spec["url"])
            if match:
                through = self._through(match.group(2), match.group(3))
                if through:
                    spec["url"] = "%s://%s:%d%s" % (match.group(1), through[0], through[1], match.group(4))
            return spec
        if spec.get("address"):
            host, _sep, port = str(spec["address"]).rpartition(":")
            through = self._through(host, port if port.isdigit() else None)
            if through:
                spec["address"] = "%s:%d" % through
            return spec
        through = self._through(spec.get("host"), spec.get("port"))
        if through:
            spec["host"], spec["port"] = through
        return spec

    def close(self):
        for tunnel in self.tunnels.values():
            tunnel.close()
