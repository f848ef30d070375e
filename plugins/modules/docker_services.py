#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_services
short_description: Start, stop or remove catalog services on a Docker host, in dependency order
version_added: 0.1.0
description:
  - Ensures the containers (and their networks and named volumes) of the selected catalog services.
  - With O(state=started), every service is started as soon as each of its dependencies is ready (by the
    dependency's own readiness probe) and each of its gates (C(start_after) probes, as the init containers
    of seed 000) passes. All services are handled concurrently, so independent chains start in parallel.
  - A dependency outside the selection is waited for (O(external=wait), when another plane starts it in
    the same run) or checked once (O(external=check)); if it is not ready, the module fails at once naming it.
  - A container whose wanted configuration differs from what it was created with (the hash in its
    C(ananta.platform.config-hash) label, which covers the image ID) is recreated; a running one with the
    same configuration is left alone; a finished one-shot service (probe C(exit_zero)) is not run again.
  - The result (and, with C(--diff), the diff) names per recreated service the parameters that differ
    (image and its ID, command, entrypoint, each environment variable by name, ports, volumes, networks,
    restart policy, healthcheck, resources, labels); the value of a secret variable is never shown.
  - The previous container of a recreated service is stopped and kept (as C(<name>-previous), its volumes
    with it) until the new one is ready. When the new one does not become ready within its readiness
    budget, the previous one is put back, started and waited for, and the module fails naming the service,
    the probe's last answer and the new container's log tail; nothing that depends on it is restarted.
  - A service that declares C(restart_with) a dependency (compose's C(depends_on.<dependency>.restart))
    is restarted when this call recreates, starts or restarts that dependency, once the dependency is
    ready, and waited for, in dependency order. Such a dependant outside the selection (see O(names)) is
    restarted too when it runs, and otherwise left alone; a dependant that does not declare it is never
    touched.
  - Every object carries the label C(ananta.platform.project); a container with the same name that the
    collection did not make is never touched.
  - With O(state=stopped) or O(state=absent), dependants go before what they depend on; named volumes are
    removed only with O(remove_volumes=true).
  - O(steps) run seed 000's Jobs inside the same start, as nodes of its dependency graph, each as soon as
    the services it comes after are ready (the Temporal namespaces, each database's migrations, the
    RabbitMQ topology, with the options and guarantees of M(ananta.platform.temporal_namespace),
    M(ananta.platform.pg_migrate) and M(ananta.platform.rabbitmq_topology)). A service whose gate a step of
    the call provides waits for that step; a failing step stops the start and is named.
  - Images are never pulled.
  - With O(state=started) outside check mode, the start reports as it goes. The module's action plugin runs it in
    the background on the target (as C(async) does) and prints a line on the controller as each service becomes
    ready and as each step finishes, with the seconds since the start began, plane, level, name and the seconds it
    took; with C(-v) also what each service waits for. The lines reach an AWX job's output too. A run
    interrupted on the controller (Ctrl-C, a cancelled AWX job) stops the start on the target through O(abort_file).
    With C(async) set on the task, the module runs as any asynchronous task, without these lines.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.selection.LEVELS
  - ananta.platform.docker
  - ananta.platform.steps
  - ananta.platform.attributes
  - ananta.platform.attributes.PROGRESS
attributes:
  check_mode:
    support: full
    details: Reports what would be created, recreated, started, stopped or removed.
  diff_mode:
    support: full
    details: Per service, what would be done, the parameters that differ and the dependants that would be restarted.
  idempotent:
    support: full
    details: A second run with the same catalog changes nothing.
requirements:
  - docker (Python SDK)
options:
  services:
    description: The whole catalog (dependencies outside the selection are looked up in it).
    type: list
    elements: dict
    required: true
  planes:
    description:
      - Select the services of these planes (the catalog's planes; one that no service belongs to is refused,
        naming it). An empty list selects none (a call that runs only O(steps)).
    type: list
    elements: str
  names:
    description:
      - Select the services with these names (change one service, or a few). Their dependencies outside the
        selection are checked once with O(external=check); their dependants that declare C(restart_with) them
        are restarted when they are recreated or restarted, and nothing else is touched.
    type: list
    elements: str
  networks:
    description: The declared networks (names or dicts with C(name) and C(driver)); those used by selected services are created.
    type: list
    elements: raw
    default: []
  project:
    description: Value of the C(ananta.platform.project) label on everything made.
    type: str
    default: ananta
  state:
    description: V(started), V(stopped) or V(absent).
    type: str
    choices: [started, stopped, absent]
    default: started
  external:
    description: For dependencies and gates outside the selection, V(wait) for them or V(check) them once.
    type: str
    choices: [wait, check]
    default: wait
  wait_all:
    description:
      - Also wait for the readiness of services that nothing in the selection depends on, and check at the
        end that no service of the call restarted or stopped on the way.
    type: bool
    default: false
  all_or_nothing:
    description:
      - A release (C(playbooks/release.yml)) - the services the call recreates stand or fall together. Each
        recreated service's previous container (C(<name>-previous)) is kept until every service of the call is
        ready, then removed. When one does not become ready, every service the call recreated is put back on its
        previous container, in the reverse of the start order, and waited for; the dependants that declared
        C(restart_with) one of them and were restarted are restarted again. RV(put_back) says what became of each.
      - Without it, each recreated service is judged alone (its previous container removed the moment it is ready).
    type: bool
    default: false
  recreate:
    description:
      - V(false) starts a service's container that exists as it is, whatever its configuration says now (no
        recreate); a missing one is created. C(playbooks/restore.yml) starts the users of a restored database so,
        the services going on as they ran (an inventory that holds a release not yet made must not make it).
    type: bool
    default: true
  remove_volumes:
    description: With O(state=absent), also remove the services' named volumes (the project's networks left empty are removed in any case).
    type: bool
    default: false
  healthcheck_defaults:
    description: Defaults merged into every service's C(healthcheck) (C(interval), C(timeout), C(retries), C(start_period)).
    type: dict
    default: {}
  probe_host:
    description: Address of the Docker host's published ports, for probes.
    type: str
    default: 127.0.0.1
  poll_interval:
    description:
      - Seconds between probes while waiting.
      - Each probe first looks at the container's state. Where the engine is this machine's (a unix socket) and
        the container, without a healthcheck, was seen running, that look reads its first process from this
        machine's C(/proc) instead of asking the engine, for up to 2 seconds after the engine last answered;
        when that process has ended (an exit, a restart by its policy) the engine is asked at once.
    type: float
    default: 0.5
  probe_timeout:
    description: Seconds one network probe may take.
    type: float
    default: 3.0
  stop_timeout:
    description: Seconds a container has to stop before it is killed.
    type: int
    default: 10
  durations:
    description:
      - Expected seconds to ready per service (what it took in an earlier run; start_platform keeps them
        beside its timelines). Containers are started a few at a time, those behind the longest expected
        chain (through the steps) first; without durations, the longest chains of dependants first.
      - With durations, the services on or near the critical path they predict (slack within 10 % of it) boot
        with a larger CPU weight (cgroup cpu shares 8192 instead of the engine's 1024; given at creation to a
        container this call creates), set back once each is ready, and for every service at the end of the
        call. The weight is not part of the container's configuration hash, so it never causes a recreation.
    type: dict
    default: {}
  abort_file:
    description:
      - A file whose appearance stops every wait at once, failing with its content (a step that runs
        side by side in the same start failed).
      - The action plugin sets one when the operator gives none, and writes it when the run is
        interrupted (Ctrl-C, an AWX job cancelled), so that the start stops waiting instead of running on.
    type: path
  progress_file:
    description:
      - A file to which the start appends one JSON line per event while it runs (a service ready, a step
        done, a failure, and what a service waits for), flushed at once.
      - The action plugin sets it and prints the lines on the controller as they come (see the notes); set
        it only when calling the module some other way. Nothing secret is written.
    type: path
"""

EXAMPLES = r"""
- name: Start level 4 of the app plane, each service once its dependencies are ready
  ananta.platform.docker_services:
    services: "{{ ananta_services }}"
    networks: "{{ ananta_networks }}"
    project: "{{ ananta_project }}"
    planes: [app_plane]
    levels: [4]

- name: Remove the control plane, with its volumes
  ananta.platform.docker_services:
    services: "{{ ananta_services }}"
    project: "{{ ananta_project }}"
    planes: [control_plane]
    state: absent
    remove_volumes: true
"""

RETURN = r"""
put_back:
  description:
    - With O(all_or_nothing), when a service did not become ready - what became of every other service the call
      recreated (put back on its previous container and ready, or why not) and of the dependants restarted again.
  returned: when O(all_or_nothing)
  type: list
  elements: dict
  contains:
    name: {description: Service., type: str}
    outcome: {description: "What became of it, e.g. C(put back and ready).", type: str}
services:
  description: One entry per selected service.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Service., type: str}
    action:
      description:
        - "V(create), V(recreate), V(start), V(restart) (a dependency it declares in C(restart_with) was renewed),
          V(stop), V(remove) or V(unchanged)."
        - A dependant outside the selection that declares C(restart_with) a selected service is listed too.
      type: str
    changes:
      description:
        - For a recreated service, the parameters that differ, each with its value before and after (C(env.NAME) per
          environment variable; a secret value shows as C((secret))).
      type: list
      elements: dict
    restarted_by: {description: The renewed dependencies that restarted it (its C(restart_with))., type: list, elements: str}
    restarts: {description: Its dependants restarted (or that would be) because it was renewed., type: list, elements: str}
    rolled_back:
      description: Its new container did not become ready and the previous one was put back.
      type: bool
    started_at: {description: "Epoch seconds when this run asked the engine to start the container (after any wait for a free start slot).", type: float}
    engine_start_seconds: {description: Seconds the engine's start call took (attaching networks and spawning the process)., type: float}
    depends_on: {description: The services it waited for (from the catalog)., type: list, elements: str}
    ready_at: {description: Epoch seconds when it was judged ready (services something waited on)., type: float}
    waited_for_dependencies: {description: Seconds spent waiting for dependencies and gates., type: float}
    after_steps: {description: Steps of the call this service waited for (its gates)., type: list, elements: str}
    cpu_weighted:
      description:
        - Whether its container had a larger CPU weight while it booted (cgroup cpu shares 8192 instead of 1024, set
          back once it was ready), as the services on or near the critical path expected from O(durations) do.
      type: bool
    error: {description: Why it failed or was not started., type: str}
steps:
  description: One entry per step node, with what its module returns under C(result).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: "The step (C(migrations:<database>) for each database of a migrations step).", type: str}
    kind: {description: "V(namespaces), V(migrations) or V(streams).", type: str}
    plane: {description: The plane., type: str}
    after: {description: The services it came after., type: list, elements: str}
    started_at: {description: Epoch seconds when it began., type: float}
    elapsed: {description: Seconds it took., type: float}
    changed: {description: Whether it changed anything., type: bool}
    error: {description: Why it failed., type: str}
    result: {description: What the step's module returns., type: dict}
elapsed:
  description: Seconds the call took.
  returned: always
  type: float
networks_created:
  description: Networks created by this run.
  returned: always
  type: list
  elements: str
"""

import gc
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.parameters import remove_values

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _catalog, _mask, _plan, _steps

from ansible_collections.ananta.platform.plugins.module_utils._docker import runtime as _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._docker.deploy import DockerDeployer
from ansible_collections.ananta.platform.plugins.module_utils._docker.spec import service_diff
from ansible_collections.ananta.platform.plugins.module_utils._docker.readiness import DockerChecker
from ansible_collections.ananta.platform.plugins.module_utils._docker.stop import stop_or_remove
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress
from ansible_collections.ananta.platform.plugins.module_utils._docker.starter import Starter


def main():
    # the imports' objects live as long as the process: keep them out of the collector's
    # passes (threads allocate all through a start) and out of its pass at exit
    gc.freeze()
    module = MaskingModule(  # the catalog's and the steps' secrets masked, in a failed validation too
        argument_spec=dict(
            _docker_runtime.DOCKER_ARGSPEC,
            services=dict(type="list", elements="dict", required=True),
            planes=dict(type="list", elements="str"),
            levels=dict(type="list", elements="int"),
            names=dict(type="list", elements="str"),
            networks=dict(type="list", elements="raw", default=[]),
            project=dict(type="str", default="ananta"),
            state=dict(type="str", choices=["started", "stopped", "absent"], default="started"),
            external=dict(type="str", choices=["wait", "check"], default="wait"),
            wait_all=dict(type="bool", default=False),
            all_or_nothing=dict(type="bool", default=False),
            recreate=dict(type="bool", default=True),
            remove_volumes=dict(type="bool", default=False),
            healthcheck_defaults=dict(type="dict", default={}),
            probe_host=dict(type="str", default="127.0.0.1"),
            poll_interval=dict(type="float", default=0.5),
            probe_timeout=dict(type="float", default=3.0),
            stop_timeout=dict(type="int", default=10),
            abort_file=dict(type="path"),
            progress_file=dict(type="path"),
            durations=dict(type="dict", default={}),
            steps=_argspecs.STEPS,  # run with state=started
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not _docker_runtime.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
    catalog = params["services"]
    # before anything can fail with them in its message or in the invocation (-vvv)
    module.no_log_values.update(_mask.secret_values(catalog) | _mask.secret_values(params["steps"]))
    result = dict(changed=False, services=[], steps=[], elapsed=0.0, networks_created=[])
    try:
        # the declared networks, when given, are the only ones a service may join (as catalog_plan checks)
        _catalog.validate(catalog, list(_catalog.network_drivers(params["networks"])) if params["networks"] else None)
        unknown = [n for n in params["names"] or [] if n not in {s["name"] for s in catalog}]
        if unknown:
            raise AnantaError("names: %s %s no service of the catalog (ananta_services); nothing was changed" % (
                ", ".join(unknown), "is" if len(unknown) == 1 else "are"))
        selected = _catalog.select(catalog, planes=params["planes"], levels=params["levels"], names=params["names"])
        if params["planes"] == []:
            selected = []
        steps = _steps.build(params["steps"], catalog) if params["state"] == "started" else []
        module.no_log_values.update(_steps.secret_values(steps))
        runtime = _docker_runtime.DockerRuntime(params["docker_host"])
        deployer = DockerDeployer(runtime, params["project"], params["healthcheck_defaults"])
        if params["state"] == "started":
            wanted_networks = _catalog.network_drivers(params["networks"])
            for svc in selected:
                deployer.image_id(svc["image"])  # fail before anything changes when an image is missing
                for net in svc.get("networks") or []:
                    if net not in wanted_networks:
                        wanted_networks[net] = "bridge"
            used = {net for svc in selected for net in svc.get("networks") or []}
            result["networks_created"] = deployer.ensure_networks({net: wanted_networks[net] for net in used},
                                                                  module.check_mode)
            # a dependency another plane of this run is creating may not exist yet: wait for it
            progress = Progress(None if module.check_mode else params["progress_file"],
                                mask=lambda text: remove_values(text, module.no_log_values))
            checker = DockerChecker(runtime, params["probe_host"], 0, params["probe_timeout"],
                                    wait_missing=params["external"] == "wait")
            starter = Starter(deployer, checker, selected, catalog, params["external"], params["probe_host"],
                              module.check_mode, params["poll_interval"], params["probe_timeout"], params["wait_all"],
                              abort_file=params["abort_file"], steps=steps, verify_restarts=params["wait_all"],
                              durations=params["durations"], progress=progress,
                              followers=_plan.restart_dependants(catalog, [s["name"] for s in selected]),
                              secret=lambda value: value in module.no_log_values, stop_timeout=params["stop_timeout"],
                              all_or_nothing=params["all_or_nothing"], recreate=params["recreate"])
            try:
                services, elapsed, failure = starter.run()
            finally:
                progress.close()
            result.update(services=services, elapsed=elapsed, steps=starter.step_results())
            if params["all_or_nothing"]:
                result["put_back"] = [{"name": name, "outcome": outcome} for name, outcome in starter.put_back]
                if failure and starter.put_back:
                    failure += "; the release's other services: %s" % "; ".join(
                        "%s %s" % (name, outcome) for name, outcome in starter.put_back)
            result["changed"] = bool(result["networks_created"]) or any(s["action"] != "unchanged" for s in services) \
                or any(s["changed"] for s in result["steps"])
            if failure:
                module.fail_json(msg="Failed to start services: %s" % failure, **result)
        else:
            result["services"] = stop_or_remove(deployer, selected, params["state"] == "absent", params["remove_volumes"],
                                                params["stop_timeout"], module.check_mode)
            for kept in deployer.kept_networks:
                module.warn(kept)
            result["changed"] = any(s["action"] != "unchanged" for s in result["services"])
    except AnantaError as exc:
        if exc.details.get("results") is not None:  # a stop or removal that failed part of the way: what it did
            result["services"] = exc.details["results"]
            result["changed"] = any(s["action"] != "unchanged" for s in result["services"])
        verb = {"started": "start", "stopped": "stop", "absent": "remove"}[params["state"]]
        module.fail_json(msg="Failed to %s services: %s" % (verb, exc.message), **result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        verb = {"started": "start", "stopped": "stop", "absent": "remove"}[params["state"]]
        module.fail_json(msg="Failed to %s services on the Docker engine at %s: unexpected %s: %s" % (
            verb, params["docker_host"], type(exc).__name__, exc), exception=traceback.format_exc(), **result)
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = service_diff(result["services"])
    gc.freeze()  # what the start built stays until exit: no collection pass over it at exit (~0.2 s)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
