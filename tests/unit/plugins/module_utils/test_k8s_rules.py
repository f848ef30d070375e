"""Kubernetes readiness rules on recorded API object shapes (tests/fixtures/k8s)."""

import pytest

from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from conftest import load_fixture

CASES = []
for fixture, rule in (("statefulsets.yml", _k8s_rules.statefulset_verdict),
                      ("deployments.yml", _k8s_rules.deployment_verdict),
                      ("jobs.yml", _k8s_rules.job_verdict),
                      ("pods.yml", _k8s_rules.pod_verdict)):
    for case in load_fixture("k8s", fixture):
        CASES.append(pytest.param(rule, case, id="%s:%s" % (fixture.split(".", maxsplit=1)[0], case["id"])))


@pytest.mark.parametrize("rule, case", CASES)
def test_rule_on_recorded_object(rule, case):
    verdict, message = rule(case["object"])
    assert verdict == case["expect"], message
    assert case["object"]["metadata"]["name"] in message


def pods(name):
    return {c["id"]: c["object"] for c in load_fixture("k8s", "pods.yml")}[name]


def objects(fixture, name):
    return {c["id"]: c["object"] for c in load_fixture("k8s", fixture)}[name]


def test_crash_looping_pod_fails_a_deployment_that_would_wait():
    deployment = objects("deployments.yml", "progressing-rollout")
    verdict, message = _k8s_rules.workload_verdict(deployment, [pods("crash-loop")])
    assert verdict == "crashed"
    assert "cns-worker-5d9b7c8f4-9hqzt" in message and "CrashLoopBackOff" in message


def test_failed_init_container_fails_the_workload_naming_it():
    deployment = objects("deployments.yml", "progressing-rollout")
    verdict, message = _k8s_rules.workload_verdict(deployment, [pods("init-container-failed")])
    assert verdict == "failed"
    assert "init container wait-for-dependencies failed with exit code 2" in message


def test_a_failure_names_the_last_line_the_container_wrote():
    """Found by the cluster test of a gate that never passes: the log read after the verdict
    raced the init container's next run. The kubelet keeps the run's last lines in the status
    (FallbackToLogsOnError, rendered on every container): the verdict says why, from the status."""
    verdict, message = _k8s_rules.pod_verdict(pods("init-container-run-again"))
    assert verdict == "failed"
    assert message.endswith("restarted 1 time(s): ananta-step: wait-for-dependencies: 1 gate(s) did not pass within 15s: "
                            "http http://cns-service:8000/never-ready"), message
    verdict, message = _k8s_rules.pod_verdict(pods("crash-loop"))
    assert verdict == "crashed" and "last exit code 1: worker: namespace enrichment not found)" in message, message
    # a status without the lines (a pod not rendered by the collection) says what it knows, no more
    verdict, message = _k8s_rules.pod_verdict(pods("init-container-failed"))
    assert message.endswith("failed with exit code 2 (Error)"), message
    assert _k8s_rules.last_words({"message": "  \n\n"}) == ""


def test_a_failed_job_names_what_its_last_failed_pod_wrote_last():
    def failed_pod(name, finished, message):
        return {"metadata": {"name": name}, "status": {"phase": "Failed", "containerStatuses": [
            {"name": "db-migration", "restartCount": 0, "state": {"terminated": {
                "exitCode": 1, "reason": "Error", "finishedAt": finished, "message": message}}}]}}
    pods_of_job = [failed_pod("db-migration-b", "2026-11-20T10:06:00Z", "ananta-step: failed to migrate database components_v2: 009\n"),
                   failed_pod("db-migration-a", "2026-11-20T10:05:00Z", "an earlier try\n")]
    verdict, message = _k8s_rules.workload_verdict(objects("jobs.yml", "failed-backoff-limit"), pods_of_job)
    assert verdict == "failed"
    assert message.endswith("; pod db-migration-b container db-migration ended: ananta-step: failed to migrate database "
                            "components_v2: 009"), message
    verdict, message = _k8s_rules.workload_verdict(objects("jobs.yml", "failed-backoff-limit"), [])
    assert verdict == "failed" and "; pod" not in message


def test_image_pull_backoff_fails_the_workload():
    verdict, message = _k8s_rules.workload_verdict(objects("deployments.yml", "progressing-rollout"),
                                                   [pods("image-pull-backoff")])
    assert verdict == "failed" and "ImagePullBackOff" in message


def test_restart_since_baseline_is_a_crash():
    pod = pods("ready")
    pod = dict(pod, status=dict(pod["status"], containerStatuses=[dict(pod["status"]["containerStatuses"][0], restartCount=2)]))
    verdict, message = _k8s_rules.pod_verdict(pod, {"cns-service": 1})
    assert verdict == "crashed" and "restarted (1 -> 2" in message
    assert _k8s_rules.pod_verdict(pod, {"cns-service": 2})[0] == "ready"


def test_job_rule_decides_for_a_job_with_a_failed_pod():
    # A failed pod of a Job with backoff left is retried by the Job controller: keep waiting.
    failed_pod = {"metadata": {"name": "db-migration-abc"}, "status": {"phase": "Failed", "reason": "Error"}}
    assert _k8s_rules.workload_verdict(objects("jobs.yml", "running"), [failed_pod])[0] == "waiting"
    assert _k8s_rules.workload_verdict(objects("jobs.yml", "failed-backoff-limit"), [failed_pod])[0] == "failed"


def test_missing_object_fails():
    assert _k8s_rules.workload_verdict(None)[0] == "failed"


def test_a_crash_of_a_pod_of_the_previous_template_does_not_judge_the_rollout():
    """During a rollout (a dependency it restarts with was replaced, issue 19), the old pods may
    crash while their database is away: they go once the new ones are ready. A crash of a pod of
    the current template still fails at once, naming it."""
    import copy
    deployment = copy.deepcopy(objects("deployments.yml", "progressing-rollout"))
    deployment["spec"].setdefault("template", {}).setdefault("metadata", {})["annotations"] = {
        _k8s_rules.TEMPLATE_HASH: "new"}
    old = copy.deepcopy(pods("crash-loop"))
    old["metadata"]["annotations"] = {_k8s_rules.TEMPLATE_HASH: "old"}
    assert _k8s_rules.workload_verdict(deployment, [old])[0] == "waiting"
    current = copy.deepcopy(old)
    current["metadata"]["annotations"] = {_k8s_rules.TEMPLATE_HASH: "new"}
    verdict, message = _k8s_rules.workload_verdict(deployment, [old, current])
    assert verdict == "crashed" and "CrashLoopBackOff" in message
    unmarked = copy.deepcopy(old)
    del unmarked["metadata"]["annotations"]  # not made from the collection's template: judged
    assert _k8s_rules.workload_verdict(deployment, [old, unmarked])[0] == "crashed"


def test_a_pod_being_deleted_does_not_fail_the_workload():
    """A StatefulSet's pod replaced by a rollout may end in phase Failed while it terminates
    (seen on the cluster: `pod supabase-db-0 failed:` with no reason): it is going away."""
    import copy
    deployment = objects("deployments.yml", "progressing-rollout")
    pod = copy.deepcopy(pods("ready"))
    pod["status"] = {"phase": "Failed"}
    assert _k8s_rules.workload_verdict(deployment, [pod])[0] == "failed"
    pod["metadata"]["deletionTimestamp"] = "2026-11-29T09:12:50Z"
    assert _k8s_rules.workload_verdict(deployment, [pod])[0] != "failed"
