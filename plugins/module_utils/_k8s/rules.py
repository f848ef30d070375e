# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes readiness rules on API objects (plain dicts, as the API returns them).

Pure functions: every rule is unit-tested on recorded object shapes. Each returns a
``(verdict, message)`` pair; verdicts are ``ready``, ``waiting`` and the failures
``failed``, ``crashed`` (never a wait: a failure fails the run at once).
"""

from __future__ import annotations

READY, WAITING, FAILED, CRASHED = "ready", "waiting", "failed", "crashed"
# The checksum the collection puts on every pod template (and so on its pods).
TEMPLATE_HASH = "ananta.platform/config-hash"
# Waiting reasons that never resolve by waiting.
IMAGE_FAILURES = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FAILURES = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
# ... except the kubelet's own ConfigMap or Secret cache not synced in time: it retries by itself
# (the wait's deadline still ends a cache that never syncs).
TRANSIENT_CONFIG = ("failed to sync configmap cache", "failed to sync secret cache")


def _name(obj):
    meta = obj.get("metadata") or {}
    return "%s/%s" % (obj.get("kind", "Object"), meta.get("name", "?"))


def _generation_observed(obj):
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)


def _condition(obj, kind):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def last_words(terminated):
    """The last line a container wrote before it ended with an error, as the kubelet keeps it in
    the container's status (``terminationMessagePolicy: FallbackToLogsOnError``, which the
    collection renders on every container): ``": <line>"``, or "" when there is none. The
    status holds it, so the verdict does not depend on a log read racing the container's next
    run (found by the cluster test of a gate that never passes)."""
    lines = [line.strip() for line in str((terminated or {}).get("message") or "").splitlines() if line.strip()]
    return ": %s" % lines[-1][-300:] if lines else ""


def _container_failure(pod_name, status, init=False):
    what = "init container" if init else "container"
    cname = status.get("name", "?")
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    if reason == "CrashLoopBackOff":
        last = ((status.get("lastState") or {}).get("terminated") or {})
        return CRASHED, "pod %s %s %s is in CrashLoopBackOff (restarts %s, last exit code %s%s): %s" % (
            pod_name, what, cname, status.get("restartCount", 0), last.get("exitCode"), last_words(last),
            waiting.get("message", ""))
    if reason in CONFIG_FAILURES and any(text in waiting.get("message", "") for text in TRANSIENT_CONFIG):
        return None
    if reason in IMAGE_FAILURES or reason in CONFIG_FAILURES:
        return FAILED, "pod %s %s %s: %s: %s" % (pod_name, what, cname, reason, waiting.get("message", ""))
    terminated = (status.get("state") or {}).get("terminated") or {}
    if init and terminated and terminated.get("exitCode", 0) != 0:
        return FAILED, "pod %s init container %s failed with exit code %s (%s)%s" % (
            pod_name, cname, terminated.get("exitCode"), terminated.get("reason", ""), last_words(terminated))
    # an init container that failed and is being run again (between two polls, or waiting out
    # its back-off): its gate failed, which the next run of it will not change
    last = (status.get("lastState") or {}).get("terminated") or {}
    if init and last and last.get("exitCode", 0) != 0:
        return FAILED, "pod %s init container %s failed with exit code %s (%s), restarted %s time(s)%s" % (
            pod_name, cname, last.get("exitCode"), last.get("reason", ""), status.get("restartCount", 0), last_words(last))
    return None


def pod_verdict(pod, restart_baseline=None):
    """A Pod: ready when its Ready condition is True; image, config, crash-loop and
    init-container failures fail at once. ``restart_baseline``: restart counts per
    container seen before the wait began; a higher count now is a crash."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase == "Failed":
        return FAILED, "pod %s failed: %s %s" % (name, status.get("reason", ""), status.get("message", ""))
    for init_status in status.get("initContainerStatuses") or []:
        failure = _container_failure(name, init_status, init=True)
        if failure:
            return failure
    for cstatus in status.get("containerStatuses") or []:
        failure = _container_failure(name, cstatus)
        if failure:
            return failure
        if restart_baseline is not None:
            before = restart_baseline.get(cstatus.get("name"), 0)
            if int(cstatus.get("restartCount") or 0) > before:
                last = ((cstatus.get("lastState") or {}).get("terminated") or {})
                return CRASHED, "pod %s container %s restarted (%s -> %s, last exit code %s)%s" % (
                    name, cstatus.get("name"), before, cstatus.get("restartCount"), last.get("exitCode"), last_words(last))
    if phase == "Succeeded":
        return READY, "pod %s succeeded" % name
    ready = _condition(pod, "Ready")
    if ready and ready.get("status") == "True":
        return READY, "pod %s is ready" % name
    pending_init = [s.get("name") for s in status.get("initContainerStatuses") or []
                    if not (s.get("state") or {}).get("terminated")]
    if pending_init:
        return WAITING, "pod %s waiting for init container(s) %s" % (name, ", ".join(pending_init))
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        return WAITING, "pod %s not scheduled: %s" % (name, scheduled.get("message", scheduled.get("reason", "")))
    return WAITING, "pod %s is %s, not ready yet" % (name, phase or "Pending")


def statefulset_verdict(sts):
    """All replicas ready and (for RollingUpdate) updated to the current revision.

    With OnDelete, pods are only replaced when deleted, so the updated count is not
    waited for: ready replicas and an observed generation are enough.
    """
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    name = _name(sts)
    if not _generation_observed(sts):
        return WAITING, "%s: generation not yet observed by the controller" % name
    ready = int(status.get("readyReplicas") or 0)
    if ready < wanted:
        return WAITING, "%s: %d of %d replicas ready" % (name, ready, wanted)
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate":
        partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        if updated < wanted - partition:
            return WAITING, "%s: %d of %d replicas updated" % (name, updated, wanted - partition)
        if partition == 0 and status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
            return WAITING, "%s: rolling out revision %s" % (name, status.get("updateRevision"))
    return READY, "%s: %d of %d replicas ready" % (name, ready, wanted)


def deployment_verdict(dep):
    """Observed generation, every replica updated and available, no old replica left;
    a progress deadline exceeded is a failure."""
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    name = _name(dep)
    progressing = _condition(dep, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return FAILED, "%s: progress deadline exceeded: %s" % (name, progressing.get("message", ""))
    if not _generation_observed(dep):
        return WAITING, "%s: generation not yet observed by the controller" % name
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    if updated < wanted:
        return WAITING, "%s: %d of %d replicas updated" % (name, updated, wanted)
    if total > updated:
        return WAITING, "%s: %d old replica(s) still terminating" % (name, total - updated)
    if available < wanted:
        return WAITING, "%s: %d of %d replicas available" % (name, available, wanted)
    return READY, "%s: %d of %d replicas available" % (name, available, wanted)


def job_verdict(job):
    """Complete is ready; Failed is a failure, never a wait."""
    name = _name(job)
    failed = _condition(job, "Failed")
    if failed and failed.get("status") == "True":
        return FAILED, "%s failed: %s: %s" % (name, failed.get("reason", ""), failed.get("message", ""))
    complete = _condition(job, "Complete")
    if complete and complete.get("status") == "True":
        return READY, "%s complete (%s succeeded)" % (name, (job.get("status") or {}).get("succeeded", 0))
    status = job.get("status") or {}
    return WAITING, "%s running (active %s, failed %s)" % (name, status.get("active", 0), status.get("failed", 0))


def replica_failure(obj):
    """A Deployment whose ReplicaSet cannot create its pods (a quota, an admission webhook, a
    pod security rule): ``ReplicaFailure`` True never heals by waiting. The message, or None."""
    failure = _condition(obj, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return "%s: its pods cannot be created: %s: %s" % (_name(obj), failure.get("reason", ""), failure.get("message", ""))
    return None


def unschedulable(pod):
    """Why the scheduler cannot place a pod (``PodScheduled`` False, reason Unschedulable), or
    None. Waited for a grace (a node may come, a volume may bind), then a failure."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return scheduled.get("message") or "Unschedulable"
    return None


WORKLOAD_RULES = {"StatefulSet": statefulset_verdict, "Deployment": deployment_verdict, "Job": job_verdict}


def workload_verdict(obj, pods=(), restart_baselines=None):
    """The workload's own rule, with its pods' failures taking precedence: a crash-looping
    pod or a failed init container fails the workload at once, naming the pod."""
    if obj is None:
        return FAILED, "object does not exist"
    restart_baselines = restart_baselines or {}
    # the pods of an older pod template (a rollout under way) do not judge the new one: they
    # may fail while what they depend on is replaced, and go once the new pods are ready
    wanted = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    for pod in pods:
        pod_name = (pod.get("metadata") or {}).get("name")
        own = (pod.get("metadata") or {}).get("annotations") or {}
        if TEMPLATE_HASH in wanted and TEMPLATE_HASH in own and own[TEMPLATE_HASH] != wanted[TEMPLATE_HASH]:
            continue  # a pod without the checksum (not made from our template) is judged
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue  # going away (a StatefulSet's pod being replaced may end as Failed): not a verdict
        verdict, message = pod_verdict(pod, restart_baselines.get(pod_name))
        if verdict in (FAILED, CRASHED):
            if obj.get("kind") == "Job" and verdict == FAILED and "init container" not in message:
                continue  # a Job's own backoffLimit decides whether a failed pod fails the Job
            return verdict, message
    rule = WORKLOAD_RULES.get(obj.get("kind"))
    if rule is None:
        return FAILED, "no readiness rule for kind %s" % obj.get("kind")
    verdict, message = rule(obj)
    if obj.get("kind") == "Job" and verdict == FAILED:
        message += _job_pods_last_words(pods)
    return verdict, message


def _job_pods_last_words(pods):
    """What a failed Job's last failed pod wrote last (its status's copy), "" when none did."""
    ended = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated") or {}
            if terminated.get("exitCode", 0) != 0 and last_words(terminated):
                ended.append((str(terminated.get("finishedAt") or ""), (pod.get("metadata") or {}).get("name", "?"),
                              status.get("name", "?"), last_words(terminated)))
    if not ended:
        return ""
    _at, pod_name, container, words = max(ended)
    return "; pod %s container %s ended%s" % (pod_name, container, words)


# The cluster options of the modules that read it (doc fragment ananta.platform.kubernetes).
K8S_ARGSPEC = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True, aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    plane_namespaces=dict(type="dict"),
)
