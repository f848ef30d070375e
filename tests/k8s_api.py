"""A read-only stand-in for the Kubernetes API server, serving given objects over HTTP.

No cluster can run here; this lets the real kubernetes Python client (and so the modules that
read the cluster) be exercised end to end on complete API objects: the objects the collection
renders, with the status a cluster would give them. GET only: workloads by name, pods by label
selector, pod logs. Objects can be changed while a module is waiting.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PLURALS = {"StatefulSet": "statefulsets", "Deployment": "deployments", "Job": "jobs", "Pod": "pods"}
GROUPS = {"StatefulSet": "/apis/apps/v1", "Deployment": "/apis/apps/v1", "Job": "/apis/batch/v1", "Pod": "/api/v1"}
API_VERSIONS = {"StatefulSet": "apps/v1", "Deployment": "apps/v1", "Job": "batch/v1", "Pod": "v1"}


class FakeCluster:
    def __init__(self, token=None, tls=None):
        self.token = token  # when set, a request without "Authorization: Bearer <token>" gets 401
        self.tls = tls  # (certificate file, key file): served over HTTPS
        self.objects = {}  # (kind, namespace, name) -> object
        self.logs = {}  # (namespace, pod, container) -> text; (..., "previous"): the run that ended
        self.requests = []
        self.open_handlers = []
        self.lock = threading.Lock()
        self.read = threading.Condition(self.lock)  # notified at every request
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.server.server_address[1])

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def kill(self):
        """The API server dies: the listener closes, and so does every open connection."""
        self.stop()
        with self.lock:
            handlers, self.open_handlers = list(self.open_handlers), []
        for handler in handlers:
            try:
                handler.connection.shutdown(2)
                handler.connection.close()
            except OSError:
                pass

    def put(self, obj):
        obj = json.loads(json.dumps(obj))
        obj.setdefault("apiVersion", API_VERSIONS[obj["kind"]])
        meta = obj["metadata"]
        meta.setdefault("uid", "uid-%s-%s" % (obj["kind"].lower(), meta["name"]))
        meta.setdefault("creationTimestamp", "2026-11-22T06:00:00Z")
        with self.lock:
            self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj

    def wait_for_reads(self, path_part, count, timeout=120):
        """Block until ``count`` requests whose path contains ``path_part`` have been served
        (an event, not a guess of how long a module takes to start); False at the deadline."""
        with self.read:
            return self.read.wait_for(lambda: sum(path_part in p for p in self.requests) >= count, timeout)

    def delete(self, kind, namespace, name):
        with self.lock:
            self.objects.pop((kind, namespace, name), None)

    def served(self, path):
        """Record a request answered about an object (after its answer went out) and wake the waiters."""
        with self.read:
            self.requests.append("served:" + path)
            self.read.notify_all()

    def _handler(self):
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body, content_type="application/json"):
                data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self, what):
                self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                 "message": "%s not found" % what, "code": 404})

            def setup(self):
                super().setup()
                with cluster.lock:
                    cluster.open_handlers.append(self)

            def do_GET(self):  # noqa: N802
                parsed = urlparse(self.path)
                cluster.requests.append(parsed.path)
                if cluster.token and self.headers.get("Authorization") != "Bearer %s" % cluster.token:
                    return self._send(401, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                            "reason": "Unauthorized", "message": "Unauthorized", "code": 401})
                query = parse_qs(parsed.query)
                match = re.match(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$", parsed.path)
                if match:
                    key = (match.group(1), match.group(2), query.get("container", [""])[0])
                    if query.get("previous", ["false"])[0].lower() == "true":  # the run that ended
                        key += ("previous",)
                        if key not in cluster.logs:  # as the API answers for a container that did not restart
                            return self._send(400, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                    "reason": "BadRequest", "code": 400, "message":
                                                    'previous terminated container "%s" in pod "%s" not found' % (key[2], key[1])})
                    return self._send(200, cluster.logs.get(key, ""), "text/plain")
                match = re.match(r"^/api/v1/namespaces/([^/]+)/pods$", parsed.path)
                if match:
                    wanted = dict(item.split("=", 1) for item in query.get("labelSelector", [""])[0].split(",") if item)
                    with cluster.lock:
                        items = [o for (kind, ns, _n), o in sorted(cluster.objects.items())
                                 if kind == "Pod" and ns == match.group(1)
                                 and all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                            "items": items})
                for kind, plural in PLURALS.items():
                    match = re.match(r"^%s/namespaces/([^/]+)/%s/([^/]+)$" % (re.escape(GROUPS[kind]), plural), parsed.path)
                    if match:
                        with cluster.lock:
                            obj = cluster.objects.get((kind, match.group(1), match.group(2)))
                        if obj is None:
                            self._not_found("%s %s" % (plural, match.group(2)))
                            return cluster.served(parsed.path)
                        self._send(200, obj)
                        return cluster.served(parsed.path)
                return self._not_found(parsed.path)

        return Handler


def pod_for(workload, name, status, containers_log=None):
    """A pod of a rendered workload, with the given status (as a cluster reports it)."""
    template = workload["spec"]["template"]
    labels = dict(template["metadata"]["labels"])
    if workload["kind"] == "Job":
        labels = {"batch.kubernetes.io/controller-uid": workload["metadata"]["uid"], "job-name": workload["metadata"]["name"]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": workload["metadata"]["namespace"], "labels": labels,
                         "uid": "uid-pod-%s" % name, "creationTimestamp": "2026-11-22T06:00:00Z"},
            "spec": template["spec"], "status": status}
