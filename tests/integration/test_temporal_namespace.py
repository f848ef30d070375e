"""ananta.platform.temporal_namespace against a real Temporal server (temporal server start-dev)."""

import asyncio
import time

from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client

from integration_helpers import run_module


def names(prefix):
    return ["%s-arc-saas" % prefix, "%s-enrichment" % prefix]


def spec(prefix, retention="30d"):
    first, second = names(prefix)
    return [{"name": first, "retention": retention, "description": "Control plane workflows"},
            {"name": second, "retention": "7d", "description": "BOM enrichment", "owner_email": "ops@ananta.example"}]


def list_right_now(address, namespace):
    async def run():
        client = await Client.connect(address, namespace=namespace)
        resp = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=namespace, page_size=1))
        return len(resp.executions)
    return asyncio.run(run())


def test_create_then_idempotent_rerun_and_workflow_list_answers(temporal_server, prefix):
    result = run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)})
    assert not result.get("failed"), result.get("msg")
    assert [n["action"] for n in result["namespaces"]] == ["created", "created"]
    assert result["namespaces"][0]["retention_seconds"] == 30 * 86400
    # right after the module returns, a worker's first call works: no "namespace not found"
    for namespace in names(prefix):
        assert list_right_now(temporal_server, namespace) == 0
    again = run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)})
    assert again["changed"] is False
    assert [n["action"] for n in again["namespaces"]] == ["unchanged", "unchanged"]


def test_retention_drift_is_updated_with_a_diff(temporal_server, prefix):
    run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)})
    drift = run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix, retention="14d")},
                       diff=True)
    assert not drift.get("failed"), drift.get("msg")
    assert drift["changed"] is True
    assert drift["namespaces"][0]["action"] == "updated"
    first = names(prefix)[0]
    assert drift["diff"]["before"][first]["retention_seconds"] == 30 * 86400
    assert drift["diff"]["after"][first]["retention_seconds"] == 14 * 86400
    assert run_module("temporal_namespace", {"address": temporal_server,
                                             "namespaces": spec(prefix, retention="14d")})["changed"] is False


def test_check_mode_reports_and_changes_nothing(temporal_server, prefix):
    result = run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)}, check=True)
    assert result["changed"] is True
    assert [n["action"] for n in result["namespaces"]] == ["created", "created"]
    real = run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)})
    assert [n["action"] for n in real["namespaces"]] == ["created", "created"], "check mode created nothing"


def test_unreachable_server_fails_within_its_budget(prefix):
    started = time.monotonic()
    result = run_module("temporal_namespace", {"address": "127.0.0.1:1", "connect_timeout": 4,
                                               "namespaces": spec(prefix)})
    assert result["failed"]
    assert "Temporal at 127.0.0.1:1 did not answer within 4.0s; last status UNAVAILABLE" in result["msg"]
    assert time.monotonic() - started < 20


def test_invalid_name_and_short_retention_fail_before_any_call(prefix):
    bad_name = run_module("temporal_namespace", {"address": "127.0.0.1:1", "connect_timeout": 30,
                                                 "namespaces": [{"name": "bad name!"}]})
    assert bad_name["failed"] and "invalid namespace name 'bad name!'" in bad_name["msg"]
    short = run_module("temporal_namespace", {"address": "127.0.0.1:1", "connect_timeout": 30,
                                              "namespaces": [{"name": "ok", "retention": "1h"}]})
    assert short["failed"] and "retention 3600s is below the server's minimum of 1 day" in short["msg"]


def test_absent_deletes_only_when_asked(temporal_server, prefix):
    run_module("temporal_namespace", {"address": temporal_server, "namespaces": spec(prefix)})
    first = names(prefix)[0]
    gone = run_module("temporal_namespace", {"address": temporal_server, "namespaces": [{"name": first, "state": "absent"}]})
    assert not gone.get("failed"), gone.get("msg")
    assert gone["namespaces"][0]["action"] == "deleted"
