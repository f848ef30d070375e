#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wait_healthy
short_description: Wait until services of the Ananta catalog are ready, and fail fast naming the one that is not
version_added: 0.1.0
description:
  - Given catalog entries (all of them, or those of some levels, planes or names), probes every
    service concurrently and returns when all are ready.
  - On Docker, the container's state is checked before its probe. A missing container, an exit,
    a restart since the wait began, or a fresh C(unhealthy) past the grace period fail at once,
    not at the time budget. Health results from before the container's latest start are never trusted.
  - Probe C(running) has no probe of its own, so it is stricter. The container must run, must have stayed up
    2 seconds, and its restart count (restarts by its restart policy since it was last started, not only since
    the wait began) must be within O(restarts_allowed). A crash-looping container caught while up between two
    restarts fails as C(crashed).
  - On Kubernetes, the workload's own rules apply (StatefulSet, Deployment, Job) and its pods'
    failures (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, a failed init container, a failed
    Job) fail at once, naming the object.
  - Verdicts are C(ready), C(timed_out), C(unhealthy), C(crashed) and C(failed). The failure
    message names the service, its level, its probe and the last probe output; the result carries
    the last lines of its log.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.selection.PLANES
  - ananta.platform.selection.LEVELS
  - ananta.platform.selection.NAMES
  - ananta.platform.docker
  - ananta.platform.kubernetes
  - ananta.platform.attributes
  - ananta.platform.attributes.READ_ONLY
  - ananta.platform.attributes.PROGRESS
attributes:
  check_mode:
    details: Reports the current state of every service after one probe each, without waiting.
requirements:
  - docker (Python SDK) for O(target=docker)
  - kubernetes (Python client) for O(target=kubernetes)
  - psycopg2 for C(postgres) probes, pika for C(amqp) probes, temporalio for C(temporal) probes
options:
  services:
    description:
      - Catalog entries (see the collection's C(docs/catalog.md)); each needs C(name) and C(readiness).
    type: list
    elements: dict
    required: true
  target:
    description:
      - Where the services run. V(none) runs the probes only, without looking at containers or pods
        (for checks that are not services; C(command) probes then need C(container)).
    type: str
    choices: [docker, kubernetes, none]
    default: docker
  timeout:
    description:
      - Time budget of the whole call in seconds. Each service also has its own budget,
        C(readiness.timeout) (default 120); the smaller one applies.
    type: float
  poll_interval:
    description: Seconds between two probes of a service (a service's C(readiness.interval) overrides it).
    type: float
    default: 1.0
  backoff:
    description: Factor applied to a service's poll interval after each probe that did not pass (1.0 keeps it constant).
    type: float
    default: 1.0
  max_interval:
    description: Upper bound of the poll interval when O(backoff) grows it.
    type: float
    default: 5.0
  probe_timeout:
    description: Seconds one network probe may take.
    type: float
    default: 3.0
  restarts_allowed:
    description: Restarts tolerated during the wait before a service is judged C(crashed).
    type: int
    default: 0
  fail_fast:
    description: Stop at the first failure. With V(false), wait for every service and report every failure.
    type: bool
    default: true
  log_lines:
    description: Lines of log returned for a service that failed.
    type: int
    default: 20
  probe_host:
    description: Address of the Docker host's published ports, for probes without their own C(host) or C(url).
    type: str
    default: 127.0.0.1
  missing:
    description:
      - What a container (on Kubernetes, a workload object) that does not exist means. V(fail) at once
        (the default), or V(wait) for it (another plane of the same run is creating it).
    type: str
    choices: [fail, wait]
    default: fail
  abort_file:
    description:
      - A file whose appearance stops the wait at once, failing with its content. start_platform runs the
        planes and steps side by side; a failing step writes it so the others stop waiting.
      - The action plugin sets one when none is given, and writes it when the run is interrupted on the
        controller (Ctrl-C, a cancelled AWX job), so that the wait left in the background stops.
    type: path
  progress_file:
    description:
      - A file to which the wait appends one JSON line as each service becomes ready or fails. The action
        plugin sets it and prints the lines on the controller as they come; set it only when calling the
        module some other way.
    type: path
  through_cluster:
    description:
      - With O(target=none), the service catalog of a platform that runs on a Kubernetes cluster. Each
        probe that addresses a published host port of one of its services (C(127.0.0.1:27432), as the
        catalog writes it for a Docker host) goes instead through a port-forward of the API server
        (the cluster options) to a ready pod of that service's Kubernetes Service. Needs only API
        access, from outside the cluster or inside it. A service with no ready pod fails the call, named.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Wait for level 0 of the catalog
  ananta.platform.wait_healthy:
    services: "{{ ananta_services }}"
    levels: [0]

- name: Wait for two services with a one-minute budget, polling every half second
  ananta.platform.wait_healthy:
    services: "{{ ananta_services }}"
    names: [cns-service, cns-worker]
    timeout: 60
    poll_interval: 0.5

- name: Wait for the app plane's Deployments on a cluster
  ananta.platform.wait_healthy:
    services: "{{ ananta_services }}"
    planes: [app_plane]
    levels: [4]
    target: kubernetes
    kubeconfig: ~/.kube/config
"""

RETURN = r"""
services:
  description: One result per service waited for.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Service name., type: str}
    level: {description: Catalog level., type: int}
    probe: {description: Kind of probe., type: str}
    verdict: {description: "C(ready), C(waiting) (not judged yet when another failed first), C(timed_out), C(unhealthy), C(crashed) or C(failed).", type: str}
    seconds: {description: Seconds from the start of the call until ready., type: float}
    attempts: {description: Probes made., type: int}
    output: {description: Last probe output., type: str}
    restarts: {description: Restarts seen since the wait began., type: int}
    logs: {description: "Last lines of the service's log, for a failed service.", type: list, elements: str}
  sample:
    - {name: cns-service, level: 4, probe: http, verdict: ready, seconds: 5.2, attempts: 6, output: "GET ... answered HTTP 200", restarts: 0}
elapsed:
  description: Seconds the call took, on success and on failure.
  returned: always
  type: float
failed_services:
  description: Names of the services that failed.
  returned: always
  type: list
  elements: str
ready_services:
  description: Names of the services that are ready.
  returned: always
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _mask

from ansible_collections.ananta.platform.plugins.module_utils._docker import runtime as _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.rules import K8S_ARGSPEC
from ansible_collections.ananta.platform.plugins.module_utils._waiter import READY, Waiter
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress


def build_checker(module):
    params = module.params
    if params["target"] == "none":
        from ansible_collections.ananta.platform.plugins.module_utils._docker.readiness import ProbeChecker
        runtime = None
        if _docker_runtime.HAS_DOCKER and any((s.get("readiness") or {}).get("probe") == "command" for s in params["services"]):
            runtime = _docker_runtime.DockerRuntime(params["docker_host"])
        return ProbeChecker(runtime, params["probe_host"], params["probe_timeout"])
    if params["target"] == "docker":
        from ansible_collections.ananta.platform.plugins.module_utils._docker.readiness import DockerChecker
        if not _docker_runtime.HAS_DOCKER:
            module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
        runtime = _docker_runtime.DockerRuntime(params["docker_host"])
        return DockerChecker(runtime, params["probe_host"], params["restarts_allowed"], params["probe_timeout"],
                             wait_missing=params["missing"] == "wait")
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness
    if not _k8s_readiness.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
    api = _k8s_readiness.api_client_for(params)
    return _k8s_readiness.KubernetesChecker(api, params["plane_namespaces"], wait_missing=params["missing"] == "wait")


def cluster_probes(module):
    """Probes of published host ports sent through the cluster's API (see through_cluster)."""
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import tunnel as _k8s_tunnel
    params = module.params
    if not _k8s_readiness.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
    module.no_log_values.update(_mask.secret_values(params["through_cluster"]))
    api = _k8s_readiness.api_client_for(params)
    return _k8s_tunnel.ClusterProbes(api, params["through_cluster"], params["plane_namespaces"],
                                     local_hosts=("127.0.0.1", "localhost", params["probe_host"]))


def check_probe_libraries(module, services):
    needs = {"postgres": ("psycopg2", "psycopg2-binary"), "amqp": ("pika", "pika"), "temporal": ("temporalio", "temporalio")}
    if module.params["target"] == "kubernetes":
        return
    for svc in services:
        probe = (svc.get("readiness") or {}).get("probe")
        if probe in needs:
            lib, package = needs[probe]
            try:
                __import__(lib)
            except ImportError:
                module.fail_json(msg="%s (service %s uses a %s probe)" % (missing_required_lib(package), svc["name"], probe),
                                 exception=traceback.format_exc())


def main():
    module = MaskingModule(  # the input's secrets masked, in a failed validation of it too
        secret_options=("services", "through_cluster"),
        argument_spec=dict(
            _docker_runtime.DOCKER_ARGSPEC,
            **K8S_ARGSPEC,
            services=dict(type="list", elements="dict", required=True),
            levels=dict(type="list", elements="int"),
            planes=dict(type="list", elements="str"),
            names=dict(type="list", elements="str"),
            target=dict(type="str", choices=["docker", "kubernetes", "none"], default="docker"),
            timeout=dict(type="float"),
            poll_interval=dict(type="float", default=1.0),
            backoff=dict(type="float", default=1.0),
            max_interval=dict(type="float", default=5.0),
            probe_timeout=dict(type="float", default=3.0),
            restarts_allowed=dict(type="int", default=0),
            fail_fast=dict(type="bool", default=True),
            log_lines=dict(type="int", default=20),
            probe_host=dict(type="str", default="127.0.0.1"),
            missing=dict(type="str", choices=["fail", "wait"], default="fail"),
            abort_file=dict(type="path"),
            progress_file=dict(type="path"),
            through_cluster=dict(type="list", elements="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    module.no_log_values.update(_mask.secret_values(params["services"]))
    try:
        services = _catalog.select(params["services"], planes=params["planes"], levels=params["levels"], names=params["names"])
    except AnantaError as exc:  # a plane the catalog does not have
        module.fail_json(msg="Failed to wait: %s" % exc.message, services=[], elapsed=0.0, failed_services=[], ready_services=[])
    if params["names"]:
        unknown = sorted(set(params["names"]) - {s["name"] for s in services})
        if unknown:
            module.fail_json(msg="Failed to wait: no service named %s in the given services" % ", ".join(unknown),
                             services=[], elapsed=0.0, failed_services=[], ready_services=[])
    if not services:
        module.exit_json(changed=False, services=[], elapsed=0.0, failed_services=[], ready_services=[])
    for svc in services:
        problems = _catalog._check_probe(svc.get("name"), svc.get("readiness"))  # pylint: disable=protected-access
        if problems:
            module.fail_json(msg="Failed to wait: %s" % "; ".join(problems), services=[], elapsed=0.0, failed_services=[], ready_services=[])
    check_probe_libraries(module, services)

    tunnels = progress = None
    try:
        if params["through_cluster"] and params["target"] == "none":
            tunnels = cluster_probes(module)
            services = [dict(svc, readiness=tunnels.rewrite(svc.get("readiness"))) for svc in services]
        checker = build_checker(module)
        progress = Progress(None if module.check_mode else params["progress_file"],
                            mask=lambda text: remove_values(text, module.no_log_values))
        waiter = Waiter(services, checker, poll_interval=params["poll_interval"], timeout=params["timeout"],
                        backoff=params["backoff"], max_interval=params["max_interval"],
                        log_lines=params["log_lines"], fail_fast=params["fail_fast"], abort_file=params["abort_file"],
                        progress=progress)
        if module.check_mode:
            results, elapsed = waiter.snapshot()
            failed_waits = []
        else:
            results, elapsed, failed_waits = waiter.run()
    except AnantaError as exc:
        module.fail_json(msg="Failed to wait for services: %s" % exc.message, services=[], elapsed=0.0, failed_services=[], ready_services=[])
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to wait for services (target %s): unexpected %s: %s" % (params["target"], type(exc).__name__, exc),
                         exception=traceback.format_exc(), services=[], elapsed=0.0, failed_services=[], ready_services=[])
    finally:
        if tunnels is not None:
            tunnels.close()
        if progress is not None:
            progress.close()

    ready = [r["name"] for r in results if r["verdict"] == READY]
    failed = [w.name for w in failed_waits]
    if not module.check_mode and waiter.aborted:
        module.fail_json(msg="Failed to wait for services: stopped, because %s" % waiter.aborted, services=results,
                         elapsed=elapsed, failed_services=failed, ready_services=ready)
    result = dict(changed=False, services=results, elapsed=elapsed, failed_services=failed, ready_services=ready)
    if failed_waits:
        first = failed_waits[0]
        message = "Failed to wait for services: %s" % "; ".join(w.describe_failure() for w in failed_waits)
        if first.logs:
            message += "\nlast log lines of %s:\n  %s" % (first.container, "\n  ".join(first.logs[-10:]))
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
