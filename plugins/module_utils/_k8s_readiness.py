# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readiness on a Kubernetes cluster: the workload and its pods, read from the API and
judged by the rules of _k8s_rules.py."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils import _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError
from ansible_collections.ananta.platform.plugins.module_utils._waiter import (
    CRASHED, FAILED, READY, WAITING, Observation,
)

try:
    from kubernetes import client as k8s_client, config as k8s_config
    from kubernetes.client.rest import ApiException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules call missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

DEFAULT_PLANE_NAMESPACES = {"shared_temporal": "temporal", "control_plane": "arc-saas", "app_plane": "app-plane"}
API_PATHS = {"StatefulSet": ("apps/v1", "statefulsets"), "Deployment": ("apps/v1", "deployments"),
             "Job": ("batch/v1", "jobs")}


def object_name(service):
    kube = service.get("kubernetes") or {}
    return kube.get("k8s_name") or service["name"]


def object_namespace(service, plane_namespaces=None):
    kube = service.get("kubernetes") or {}
    return kube.get("namespace") or (plane_namespaces or DEFAULT_PLANE_NAMESPACES).get(service.get("plane"), "default")


def api_client(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=True, ca_cert=None):
    """An ApiClient configured as kubernetes.core names it: kubeconfig and context, or host
    and api_key, or the in-cluster service account."""
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
    return k8s_client.ApiClient(configuration)


class KubernetesChecker:
    def __init__(self, api, plane_namespaces=None):
        self.api = api
        self.plane_namespaces = plane_namespaces

    def _get(self, path):
        try:
            data = self.api.call_api(path, "GET", response_type="object", auth_settings=["BearerToken"],
                                     _return_http_data_only=True)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RuntimeAdapterError("GET %s answered %s %s" % (path, exc.status, exc.reason)) from exc
        return data

    def _workload(self, wait):
        kind = (wait.service.get("kubernetes") or {}).get("kind", "Deployment")
        group_version, plural = API_PATHS[kind]
        namespace = object_namespace(wait.service, self.plane_namespaces)
        obj = self._get("/apis/%s/namespaces/%s/%s/%s" % (group_version, namespace, plural, object_name(wait.service)))
        if obj is not None:
            obj.setdefault("kind", kind)
        return obj, namespace

    def _pods(self, obj, namespace):
        selector = (obj.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
        if not selector:
            return []
        label_selector = ",".join("%s=%s" % item for item in sorted(selector.items()))
        data = self._get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (namespace, label_selector)) or {}
        return data.get("items") or []

    def prepare(self, wait):
        obj, namespace = self._workload(wait)
        baselines = {}
        if obj is not None:
            for pod in self._pods(obj, namespace):
                statuses = (pod.get("status") or {}).get("containerStatuses") or []
                baselines[pod["metadata"]["name"]] = {s["name"]: int(s.get("restartCount") or 0) for s in statuses}
        wait.baseline = baselines

    def check(self, wait):
        obj, namespace = self._workload(wait)
        if obj is None:
            return Observation(FAILED, "%s %s/%s does not exist" % (
                (wait.service.get("kubernetes") or {}).get("kind", "Deployment"), namespace, object_name(wait.service)))
        pods = self._pods(obj, namespace)
        restarts = sum(int(s.get("restartCount") or 0) for p in pods
                       for s in (p.get("status") or {}).get("containerStatuses") or [])
        verdict, message = _k8s_rules.workload_verdict(obj, pods, wait.baseline)
        mapped = {"ready": READY, "waiting": WAITING, "failed": FAILED, "crashed": CRASHED}[verdict]
        return Observation(mapped, message, restarts)

    def logs(self, wait, lines):
        obj, namespace = self._workload(wait)
        if obj is None:
            return []
        found = []
        for pod in self._pods(obj, namespace)[:3]:
            name = pod["metadata"]["name"]
            containers = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
            containers += [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
            for container in containers:
                try:
                    text = self.api.call_api(
                        "/api/v1/namespaces/%s/pods/%s/log?container=%s&tailLines=%d" % (namespace, name, container, lines),
                        "GET", response_type="str", auth_settings=["BearerToken"], _return_http_data_only=True,
                        _preload_content=True)
                except ApiException:
                    continue
                found.extend("[%s/%s] %s" % (name, container, line) for line in str(text).splitlines()[-lines:])
        return found
