# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness on a Kubernetes cluster: the workload and its pods, read from the API and
judged by the rules of _k8s/rules.py."""

from __future__ import annotations

import json

from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_name, object_namespace
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._waiter import (
    CRASHED, FAILED, READY, WAITING, Observation,
)

try:
    from kubernetes import client as k8s_client, config as k8s_config
    from kubernetes.client.rest import ApiException
    from urllib3.util.retry import Retry
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules call missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc


# Seconds any Kubernetes API call may take when its caller gives no deadline of its own: a silent
# API server (a wrong address that accepts TCP, a hung proxy) is named instead of waited on forever.
REQUEST_TIMEOUT = 20.0


def api_client_for(params, request_timeout=REQUEST_TIMEOUT):
    """The client of a module's cluster connection options (``_k8s_rules.K8S_ARGSPEC``, the
    options every module of the ``ananta.platform.cluster`` action group takes): one mapping
    from the options to the client, for every module."""
    return api_client(params.get("kubeconfig"), params.get("context"), params.get("host"), params.get("api_key"),
                      params.get("validate_certs", True), params.get("ca_cert"), request_timeout=request_timeout)


def api_client(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=True, ca_cert=None,
               request_timeout=REQUEST_TIMEOUT):
    """An ApiClient configured as kubernetes.core names it: kubeconfig and context, or host
    and api_key, or the in-cluster service account. Every call it makes has a deadline
    (``request_timeout`` unless the call gives its own)."""
    if not HAS_KUBERNETES:
        raise RuntimeAdapterError("the kubernetes Python client is not installed: %s" % KUBERNETES_IMPORT_ERROR)
    configuration = k8s_client.Configuration()
    try:
        if host:
            configuration.host = host
            if api_key:
                configuration.api_key = {"authorization": "Bearer %s" % api_key}
            configuration.verify_ssl = validate_certs
            if ca_cert:
                configuration.ssl_ca_cert = ca_cert
        elif kubeconfig or context:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=configuration)
    except Exception as exc:
        raise RuntimeAdapterError("cannot configure the Kubernetes client: %s" % exc) from exc
    # a refused connection is tried again (an API server restarting); a request that reached the
    # server and met no answer is not: its deadline is the deadline (urllib3 would try it 3 more times)
    configuration.retries = Retry(total=3, connect=3, read=0, redirect=3, status=0, other=0)
    client = _DeadlineApiClient(configuration)
    client.request_timeout = request_timeout
    return client


if HAS_KUBERNETES:
    class _DeadlineApiClient(k8s_client.ApiClient):
        """An ApiClient whose calls all have a deadline: the client library's default is none."""

        request_timeout = REQUEST_TIMEOUT

        def call_api(self, *args, **kwargs):  # pylint: disable=arguments-differ
            if kwargs.get("_request_timeout") is None:
                kwargs["_request_timeout"] = self.request_timeout
            return super().call_api(*args, **kwargs)


class KubernetesChecker:
    def __init__(self, api, plane_namespaces=None, wait_missing=False):
        self.api = api
        self.plane_namespaces = plane_namespaces
        self.wait_missing = wait_missing

    @property
    def server(self):
        """The API server's address, for the errors."""
        try:
            return self.api.api_client.configuration.host
        except AttributeError:
            try:
                return self.api.configuration.host
            except AttributeError:
                return "the Kubernetes API"

    def _call(self, what, call, *args, raw=False, **kwargs):
        """A typed API call read as raw JSON (the object as the API shapes it, camelCase), so
        that no client model rejects a field the server left out; None for 404."""
        what = "%s from %s" % (what, self.server)
        try:
            response = call(*args, _preload_content=False, **kwargs)
            data = response.data
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RuntimeAdapterError("reading %s answered %s %s" % (what, exc.status, exc.reason)) from exc
        except Exception as exc:  # pylint: disable=broad-except  # urllib3 connection errors and the like
            text = str(exc)
            if "Connection refused" in text:
                text = "connection refused"
            elif "timed out" in text.lower():
                text = "no answer (timed out)"
            raise RuntimeAdapterError("reading %s failed: %s" % (what, text[-300:])) from exc
        status = getattr(response, "status", 200)
        if status == 404:
            return None
        if status >= 400:
            raise RuntimeAdapterError("reading %s answered %s" % (what, status))
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        if raw:
            return text
        try:
            return json.loads(text)
        except ValueError as exc:
            raise RuntimeAdapterError("reading %s: the answer is not JSON: %s" % (what, text[:200])) from exc

    def _workload(self, service):
        kind = kind_of(service)
        namespace = object_namespace(service, self.plane_namespaces)
        name = object_name(service)
        if kind == "StatefulSet":
            call = k8s_client.AppsV1Api(self.api).read_namespaced_stateful_set
        elif kind == "Deployment":
            call = k8s_client.AppsV1Api(self.api).read_namespaced_deployment
        else:
            call = k8s_client.BatchV1Api(self.api).read_namespaced_job
        obj = self._call("%s %s/%s" % (kind, namespace, name), call, name, namespace)
        if obj is not None:
            obj.setdefault("kind", kind)
        return obj, namespace

    def _pods(self, obj, namespace):
        selector = (obj.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
        if not selector:
            return []
        label_selector = ",".join("%s=%s" % item for item in sorted(selector.items()))
        data = self._call("pods %s in %s" % (label_selector, namespace), k8s_client.CoreV1Api(self.api).list_namespaced_pod,
                          namespace, label_selector=label_selector) or {}
        return data.get("items") or []

    def prepare(self, wait):
        obj, namespace = self._workload(wait.service)
        baselines = {}
        if obj is not None:
            for pod in self._pods(obj, namespace):
                statuses = (pod.get("status") or {}).get("containerStatuses") or []
                baselines[pod["metadata"]["name"]] = {s["name"]: int(s.get("restartCount") or 0) for s in statuses}
        wait.baseline = baselines

    def check(self, wait):
        obj, namespace = self._workload(wait.service)
        if obj is None:
            text = "%s %s/%s does not exist" % (kind_of(wait.service), namespace, object_name(wait.service))
            if self.wait_missing:
                return Observation(WAITING, text + " yet")
            return Observation(FAILED, text)
        pods = self._pods(obj, namespace)
        restarts = sum(int(s.get("restartCount") or 0) for p in pods
                       for s in (p.get("status") or {}).get("containerStatuses") or [])
        verdict, message = _k8s_rules.workload_verdict(obj, pods, wait.baseline)
        mapped = {"ready": READY, "waiting": WAITING, "failed": FAILED, "crashed": CRASHED}[verdict]
        return Observation(mapped, message, restarts)

    def status(self, service):
        """One workload as a status row: object, state, restarts, up, and the rules' message."""
        kind = kind_of(service)
        obj, namespace = self._workload(service)
        entry = {"object": "%s %s/%s" % (kind, namespace, object_name(service)), "restarts": 0}
        if obj is None:
            return dict(entry, state="missing", up=False, message="does not exist")
        pods = self._pods(obj, namespace)
        entry["restarts"] = sum(int(s.get("restartCount") or 0) for p in pods
                                for s in (p.get("status") or {}).get("containerStatuses") or [])
        verdict, message = _k8s_rules.workload_verdict(obj, pods, {})
        status = obj.get("status") or {}
        if kind == "Job":
            state = "complete" if verdict == "ready" else ("failed" if verdict == "failed" else "running")
        else:
            wanted = (obj.get("spec") or {}).get("replicas", 1)
            state = "%s/%s ready" % (status.get("readyReplicas") or 0, wanted)
            if verdict in ("failed", "crashed"):
                state += " (%s)" % verdict
        return dict(entry, state=state, up=verdict == "ready", message=message)

    def logs(self, wait, lines):
        """The last lines of the workload's pods, the pods that are not ready last (the message
        shows the tail: the failing pod's lines, not those of an old pod still serving). A
        container that restarted after a run ended gives that run's last lines first (they say
        why it ended: a gate's own verdict, a crash), then its current run's."""
        obj, namespace = self._workload(wait.service)
        if obj is None:
            return []
        core = k8s_client.CoreV1Api(self.api)

        def ready(pod):
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])

        found = []
        for pod in sorted(self._pods(obj, namespace), key=lambda p: not ready(p))[-3:]:
            name = pod["metadata"]["name"]
            statuses = {s["name"]: s for key in ("initContainerStatuses", "containerStatuses")
                        for s in (pod.get("status") or {}).get(key) or []}
            containers = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
            containers += [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
            for container in containers:
                status = statuses.get(container) or {}
                # found by the cluster test of a gate that never passes: the init container had
                # ended naming the gate and was already run again; its new run's lines hid why.
                # A status that says the run ended may lag the kubelet, which may have started
                # the next run already: the run before the current one is asked for then too
                # (none yet: the API refuses, and only the current run's lines are shown)
                ended = (status.get("lastState") or {}).get("terminated") or (status.get("state") or {}).get("terminated")
                for previous in ((True, False) if ended else (False,)):
                    try:
                        text = self._call("log of %s/%s" % (name, container), core.read_namespaced_pod_log, name, namespace,
                                          container=container, tail_lines=lines, previous=previous, raw=True) or ""
                    except RuntimeAdapterError:
                        text = ""
                    found.extend("[%s/%s%s] %s" % (name, container, ", the run that ended" if previous else "", line)
                                 for line in str(text).splitlines()[-lines:])
        return found
