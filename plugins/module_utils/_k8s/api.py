# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API as the cluster start reads and writes it.

One table (``KINDS``) maps each kind the collection renders to the typed client's calls
(``CoreV1Api.list_namespaced_config_map``...): no discovery, no dynamic client. Writes are
server-side apply with one field manager (``FIELD_MANAGER``); reads of what exists are one
LIST per kind and namespace, metadata only where the objects' bodies are not needed (a
Secret's values never travel for a comparison). Every call has a deadline, and every error
names the call, the object and the API server.
"""

from __future__ import annotations

import json

from ansible_collections.ananta.platform.plugins.module_utils._errors import RuntimeAdapterError

try:
    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException
    from kubernetes.watch.watch import iter_resp_lines
    HAS_KUBERNETES = True
except ImportError:  # guarded: the modules call missing_required_lib first
    HAS_KUBERNETES = False

FIELD_MANAGER = "ananta.platform"
# the hash of an object's rendered form, on the object itself: equal means nothing to write
APPLIED_HASH = "ananta.platform/applied-hash"
# what client-side apply (kubectl, kubernetes.core's k8s with apply: true) keeps on an object
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class Kind:
    """One kind: its typed API class and the suffix of its calls (``list_<suffix>``, ...)."""

    __slots__ = ("kind", "api", "suffix", "namespaced", "api_version")

    def __init__(self, kind, api, suffix, namespaced, api_version):
        self.kind, self.api, self.suffix, self.namespaced, self.api_version = kind, api, suffix, namespaced, api_version


KINDS = {k.kind: k for k in (
    Kind("Namespace", "CoreV1Api", "namespace", False, "v1"),
    Kind("Service", "CoreV1Api", "namespaced_service", True, "v1"),
    Kind("ConfigMap", "CoreV1Api", "namespaced_config_map", True, "v1"),
    Kind("Secret", "CoreV1Api", "namespaced_secret", True, "v1"),
    Kind("PersistentVolumeClaim", "CoreV1Api", "namespaced_persistent_volume_claim", True, "v1"),
    Kind("Pod", "CoreV1Api", "namespaced_pod", True, "v1"),
    Kind("Event", "CoreV1Api", "namespaced_event", True, "v1"),
    Kind("NetworkPolicy", "NetworkingV1Api", "namespaced_network_policy", True, "networking.k8s.io/v1"),
    Kind("StatefulSet", "AppsV1Api", "namespaced_stateful_set", True, "apps/v1"),
    Kind("Deployment", "AppsV1Api", "namespaced_deployment", True, "apps/v1"),
    Kind("Job", "BatchV1Api", "namespaced_job", True, "batch/v1"),
)}


def kind_of(kind):
    try:
        return KINDS[kind]
    except KeyError:
        raise RuntimeAdapterError("the collection does not apply objects of kind %s (it knows %s)"
                                  % (kind, ", ".join(sorted(KINDS)))) from None


def ref(obj):
    """``Kind namespace/name`` of an object, for messages."""
    meta = obj.get("metadata") or {}
    where = "%s/%s" % (meta["namespace"], meta.get("name")) if meta.get("namespace") else meta.get("name")
    return "%s %s" % (obj.get("kind"), where)


def key(obj):
    meta = obj.get("metadata") or {}
    return obj.get("kind"), meta.get("namespace"), meta.get("name")


def _failure(exc):
    """A connection error or timeout as the operator reads it (urllib3 names the whole URL)."""
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "no answer in time (timed out)"
    if "Connection reset" in text or "RemoteDisconnected" in text or "ProtocolError" in text:
        return "the connection was dropped (%s)" % text[-200:]
    return text[-300:]


def _reason(exc):
    """The API server's own message of a refused call (its Status body), else the HTTP reason."""
    try:
        body = json.loads(exc.body or "{}")
        return "%s %s: %s" % (exc.status, body.get("reason") or exc.reason, body.get("message") or "")
    except (TypeError, ValueError):
        return "%s %s" % (exc.status, exc.reason)


class Api:
    """The calls the cluster start makes, through the typed client of ``api_client`` (an
    ApiClient whose calls have a deadline: ``_k8s_readiness.api_client``)."""

    def __init__(self, api_client):
        self.client = api_client
        self._apis = {}

    @property
    def server(self):
        try:
            return self.client.configuration.host
        except AttributeError:
            return "the Kubernetes API"

    def _method(self, kind, verb):
        spec = kind_of(kind)
        if spec.api not in self._apis:
            self._apis[spec.api] = getattr(k8s_client, spec.api)(self.client)
        return getattr(self._apis[spec.api], "%s_%s" % (verb, spec.suffix)), spec

    def _call(self, what, method, *args, missing_ok=False, attempts=3, **kwargs):
        """The call's answer as JSON (the object as the API shapes it); None for 404 when
        ``missing_ok``. A call that met no answer in time or a dropped connection is made again
        on a new connection (every call of the start is idempotent: a server-side apply, a
        delete, a read), ``attempts`` times in all. Raises RuntimeAdapterError naming ``what``
        and the server."""
        for attempt in range(attempts):
            try:
                response = method(*args, _preload_content=False, **kwargs)
                break
            except ApiException as exc:
                if exc.status == 404 and missing_ok:
                    return None
                raise RuntimeAdapterError("%s on %s: %s" % (what, self.server, _reason(exc)), status=exc.status) from exc
            except Exception as exc:  # pylint: disable=broad-except  # urllib3's connection errors and timeouts
                text = _failure(exc)
                if attempt == attempts - 1 or text == "connection refused":
                    raise RuntimeAdapterError("%s on %s failed: %s" % (what, self.server, text)) from exc
        data = response.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        try:
            return json.loads(text) if text else {}
        except ValueError as exc:
            raise RuntimeAdapterError("%s on %s: the answer is not JSON: %s" % (what, self.server, text[:200])) from exc

    def list(self, kind, namespace=None, selector=None, metadata_only=False):
        """(items, resourceVersion) of one LIST, served from the API server's cache."""
        method, spec = self._method(kind, "list")
        args = [namespace] if spec.namespaced else []
        kwargs = {"resource_version": "0"}
        if selector:
            kwargs["label_selector"] = selector
        if metadata_only:
            kwargs["_headers"] = {"Accept": METADATA_ONLY}
        data = self._call("listing %s%s" % (kind, " in %s" % namespace if namespace else ""), method, *args, **kwargs) or {}
        items = data.get("items") or []
        for item in items:
            item.setdefault("kind", kind)
        return items, (data.get("metadata") or {}).get("resourceVersion")

    def read(self, kind, namespace, name):
        method, spec = self._method(kind, "read")
        args = [name, namespace] if spec.namespaced else [name]
        return self._call("reading %s %s" % (kind, name), method, *args, missing_ok=True)

    def apply(self, obj, dry_run=False):
        """Server-side apply of ``obj`` with the collection's field manager; fields another
        manager holds are taken over (``force``). Returns the object as the server made it."""
        method, spec = self._method(obj["kind"], "patch")
        meta = obj["metadata"]
        args = [meta["name"], meta["namespace"], obj] if spec.namespaced else [meta["name"], obj]
        kwargs = {"field_manager": FIELD_MANAGER, "force": True, "_content_type": "application/apply-patch+yaml"}
        if dry_run:
            kwargs["dry_run"] = "All"
        return self._call("%s %s" % ("dry-run applying" if dry_run else "applying", ref(obj)), method, *args, **kwargs)

    def json_patch(self, obj, operations):
        method, spec = self._method(obj["kind"], "patch")
        meta = obj["metadata"]
        args = [meta["name"], meta["namespace"], operations] if spec.namespaced else [meta["name"], operations]
        return self._call("patching %s" % ref(obj), method, *args, _content_type="application/json-patch+json")

    def delete(self, kind, namespace, name, propagation="Background", uid=None, grace=None):
        """Delete one object; None when it is gone already. ``uid``: only that object (not a
        successor of the same name)."""
        method, spec = self._method(kind, "delete")
        args = [name, namespace] if spec.namespaced else [name]
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        if grace is not None:
            body["gracePeriodSeconds"] = int(grace)
        return self._call("deleting %s %s/%s" % (kind, namespace, name), method, *args, body=body, missing_ok=True)

    def watch(self, kind, namespace, selector, resource_version, seconds, silence=15):
        """The events of one watch from ``resource_version``, as dicts (``type``, ``object``).
        The server ends the watch after ``seconds``; a connection that stays silent ``silence``
        seconds longer than that (a dropped watch) ends with an error instead of hanging."""
        method, spec = self._method(kind, "list")
        args = [namespace] if spec.namespaced else []
        try:
            response = method(*args, label_selector=selector, watch=True, resource_version=resource_version,
                              allow_watch_bookmarks=True, timeout_seconds=int(seconds), _preload_content=False,
                              _request_timeout=(min(10, silence), seconds + silence))
        except ApiException as exc:
            raise RuntimeAdapterError("watching %s in %s on %s: %s" % (kind, namespace, self.server, _reason(exc)),
                                      status=exc.status) from exc
        except Exception as exc:  # pylint: disable=broad-except  # connection errors and timeouts
            raise RuntimeAdapterError("watching %s in %s on %s failed: %s" % (kind, namespace, self.server, _failure(exc))) from exc
        try:
            for line in iter_resp_lines(response):
                line = line.strip() if isinstance(line, str) else line.decode("utf-8", "replace").strip()
                if line:
                    event = json.loads(line)
                    if isinstance(event.get("object"), dict):
                        event["object"].setdefault("kind", kind)
                    yield event
        except ValueError as exc:
            raise RuntimeAdapterError("watching %s in %s on %s: an event is not JSON: %s" % (kind, namespace, self.server, exc)) from exc
        except Exception as exc:  # pylint: disable=broad-except  # a dropped or silent connection
            raise RuntimeAdapterError("watching %s in %s on %s failed: %s" % (kind, namespace, self.server, _failure(exc))) from exc
        finally:
            response.release_conn()
