# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small synchronous client for the Temporal namespace API (temporalio SDK over gRPC)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

from ansible_collections.ananta.platform.plugins.module_utils._errors import TemporalError

try:
    from temporalio.api.enums.v1 import NamespaceState
    from temporalio.api.namespace.v1 import NamespaceConfig, UpdateNamespaceInfo
    from temporalio.api.operatorservice.v1 import DeleteNamespaceRequest
    from temporalio.api.workflowservice.v1 import (
        DescribeNamespaceRequest,
        ListWorkflowExecutionsRequest,
        RegisterNamespaceRequest,
        UpdateNamespaceRequest,
    )
    from temporalio.client import Client, TLSConfig
    from temporalio.service import RPCError, RPCStatusCode
    from google.protobuf.duration_pb2 import Duration
    HAS_TEMPORALIO = True
    TEMPORALIO_IMPORT_ERROR = None
except ImportError as exc:  # guarded: modules call missing_required_lib
    HAS_TEMPORALIO = False
    TEMPORALIO_IMPORT_ERROR = exc

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,253}[A-Za-z0-9]$|^[A-Za-z0-9]$")
MIN_RETENTION_SECONDS = 86400  # the server refuses a retention under one day
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value):
    """Seconds from 30d, 72h, 604800s, 604800 or 7 (as days when no unit? no: seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = DURATION_RE.match(str(value or ""))
    if not match:
        raise TemporalError("not a duration: %r (use e.g. 30d, 72h, 3600s)" % (value,))
    return int(float(match.group(1)) * DURATION_UNITS[match.group(2)])


def validate_namespace(name, retention_seconds=None):
    if not isinstance(name, str) or not NAMESPACE_RE.match(name):
        raise TemporalError("invalid namespace name %r: use letters, digits, '.', '_' and '-', "
                            "starting and ending with a letter or digit" % (name,))
    if retention_seconds is not None and retention_seconds < MIN_RETENTION_SECONDS:
        raise TemporalError("namespace %s: retention %ds is below the server's minimum of 1 day (86400s)"
                            % (name, retention_seconds))


def rpc_status_name(exc):
    status = getattr(exc, "status", None)
    return getattr(status, "name", str(status))


class TemporalConnection:
    """One gRPC connection; every call runs on the connection's own event loop."""

    def __init__(self, address, tls=False, api_key=None, client_cert=None, client_key=None,
                 server_root_ca_cert=None, server_name=None, connect_timeout=5.0):
        if not HAS_TEMPORALIO:
            raise TemporalError("the temporalio SDK is not installed: %s" % TEMPORALIO_IMPORT_ERROR)
        self.address = address
        self.loop = asyncio.new_event_loop()
        tls_config = None
        if tls or client_cert or server_root_ca_cert:
            tls_config = TLSConfig(
                server_root_ca_cert=_read(server_root_ca_cert), domain=server_name,
                client_cert=_read(client_cert), client_private_key=_read(client_key))
        try:
            # Client.connect's connect_timeout covers the TCP/HTTP2 connection only: its first call
            # (get_system_info) waits 30 s on an endpoint that accepts TCP and never answers gRPC.
            # The whole connect is held to connect_timeout here.
            self.client = self.loop.run_until_complete(asyncio.wait_for(Client.connect(
                address, api_key=api_key, tls=tls_config if tls_config else False,
                connect_timeout=timedelta(seconds=connect_timeout)), timeout=connect_timeout))
        except asyncio.TimeoutError as exc:
            self.loop.close()
            raise TemporalError("cannot connect to Temporal at %s: no gRPC answer within %ss (a listener that is not "
                                "Temporal, or a server still starting)" % (address, round(connect_timeout, 1)),
                                status="DEADLINE_EXCEEDED") from exc
        except Exception as exc:
            self.loop.close()
            raise TemporalError("cannot connect to Temporal at %s: %s" % (address, _first_line(exc)),
                                status="UNAVAILABLE") from exc

    def close(self):
        self.loop.close()

    def _call(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def describe(self, namespace, timeout=5.0):
        """The namespace as a dict, or None when it does not exist."""
        try:
            resp = self._call(self.client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout)))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return {
            "name": resp.namespace_info.name,
            "id": resp.namespace_info.id,
            "state": NamespaceState.Name(resp.namespace_info.state).replace("NAMESPACE_STATE_", "").lower(),
            "description": resp.namespace_info.description,
            "owner_email": resp.namespace_info.owner_email,
            "retention_seconds": resp.config.workflow_execution_retention_ttl.seconds,
        }

    def register(self, namespace, retention_seconds, description="", owner_email="", timeout=10.0):
        self._call(self.client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, description=description or "", owner_email=owner_email or "",
            workflow_execution_retention_period=Duration(seconds=int(retention_seconds))),
            timeout=timedelta(seconds=timeout)))

    def update(self, namespace, retention_seconds=None, description=None, owner_email=None, timeout=10.0):
        request = UpdateNamespaceRequest(namespace=namespace)
        if description is not None or owner_email is not None:
            request.update_info.CopyFrom(UpdateNamespaceInfo(
                description=description or "", owner_email=owner_email or ""))
        if retention_seconds is not None:
            request.config.CopyFrom(NamespaceConfig(
                workflow_execution_retention_ttl=Duration(seconds=int(retention_seconds))))
        self._call(self.client.workflow_service.update_namespace(request, timeout=timedelta(seconds=timeout)))

    def delete(self, namespace, timeout=10.0):
        self._call(self.client.operator_service.delete_namespace(
            DeleteNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=timeout)))

    def list_workflows(self, namespace, timeout=5.0):
        resp = self._call(self.client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=namespace, page_size=1), timeout=timedelta(seconds=timeout)))
        return len(resp.executions)


def _read(path):
    if not path:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe_namespace_once(address, namespace, timeout=3.0):
    """Connect, describe, close: for probes. None when the namespace does not exist."""
    conn = TemporalConnection(address, connect_timeout=timeout)
    try:
        return conn.describe(namespace, timeout=timeout)
    finally:
        conn.close()


def connect_with_retry(params):
    deadline = time.monotonic() + params["connect_timeout"]
    delay, last = 0.5, None
    while True:
        remaining = deadline - time.monotonic()
        try:
            return TemporalConnection(
                params["address"], tls=params["tls"], api_key=params["api_key"], client_cert=params["client_cert"],
                client_key=params["client_key"], server_root_ca_cert=params["ca_cert"], server_name=params["server_name"],
                connect_timeout=max(1.0, min(5.0, remaining)))
        except TemporalError as exc:
            last = exc
        if time.monotonic() + delay > deadline:
            raise TemporalError("Temporal at %s did not answer within %ss; last status %s: %s" % (
                params["address"], params["connect_timeout"], last.details.get("status", "UNAVAILABLE"), last.message))
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def wait_ready(conn, name, timeout):
    """Until describe and a workflow list both answer for the namespace."""
    started = time.monotonic()
    last = "not checked"
    while True:
        try:
            if conn.describe(name) is not None:
                conn.list_workflows(name)
                return round(time.monotonic() - started, 3)
            last = "describe says it does not exist"
        except Exception as exc:  # pylint: disable=broad-except  # RPC errors while the namespace cache warms up
            last = "%s %s" % (rpc_status_name(exc), exc)
        if time.monotonic() - started > timeout:
            raise TemporalError("namespace %s did not answer describe and a workflow list within %ss: %s" % (name, timeout, last))
        time.sleep(0.25)


def view(ns):
    return {"retention_seconds": ns.get("retention_seconds"), "description": ns.get("description", ""),
            "owner_email": ns.get("owner_email", "")}


def ensure(params, check_mode=False, result=None):
    """Ensure the namespaces ``params`` (ARGSPEC, validated) asks for.

    Returns (result, before, after); ``result`` (updated in place, so that a caller that
    catches an error still has what was done) holds changed, namespaces, started_at, elapsed."""
    result = result if result is not None else dict(changed=False, namespaces=[], address=params["address"])
    result["started_at"] = round(time.time(), 3)
    clock = time.monotonic()
    before, after, wanted = {}, {}, []
    for spec in params["namespaces"]:  # everything is validated before the first call
        retention = parse_duration(spec["retention"])
        validate_namespace(spec["name"], retention if spec["state"] == "present" else None)
        wanted.append((spec, retention))
    conn = connect_with_retry(params)
    try:
        for spec, retention in wanted:
            name = spec["name"]
            try:
                _ensure_one(conn, spec, retention, check_mode, params, result, before, after)
            except Exception as exc:  # pylint: disable=broad-except  # an RPC failure: the server gone, a refusal
                done = [e["name"] for e in result["namespaces"]]
                what = exc.message if isinstance(exc, TemporalError) else "%s %s" % (rpc_status_name(exc), _first_line(exc))
                raise TemporalError("Temporal at %s, namespace %s: %s; %s" % (
                    params["address"], name, what, ("handled before it: %s; " % ", ".join(done) if done else "")
                    + "every namespace is ensured again by the next run"), status=rpc_status_name(exc)) from exc
    finally:
        conn.close()
    result["changed"] = any(e["action"] != "unchanged" for e in result["namespaces"])
    result["elapsed"] = round(time.monotonic() - clock, 3)
    return result, before, after


def _ensure_one(conn, spec, retention, check_mode, params, result, before, after):
    """One namespace of ``ensure``: described, then created, updated or deleted as asked."""
    name = spec["name"]
    current = conn.describe(name)
    if current is not None and current.get("state") == "deleted":
        current = None
    entry = {"name": name}
    if spec["state"] == "absent":
        if current is not None:
            before[name] = view(current)
            if not check_mode:
                conn.delete(name)
            entry["action"] = "deleted"
        else:
            entry["action"] = "unchanged"
        result["namespaces"].append(entry)
        return
    target = {"retention_seconds": retention, "description": spec["description"], "owner_email": spec["owner_email"]}
    after[name] = target
    if current is None:
        entry["action"] = "created"
        if not check_mode:
            conn.register(name, retention, spec["description"], spec["owner_email"])
    else:
        before[name] = view(current)
        if view(current) == target:
            entry["action"] = "unchanged"
        else:
            entry["action"] = "updated"
            if not check_mode:
                conn.update(name, retention, spec["description"], spec["owner_email"])
    entry.update(target)
    if entry["action"] != "unchanged" and not check_mode:
        entry["ready_seconds"] = wait_ready(conn, name, params["ready_timeout"])
    result["namespaces"].append(entry)
