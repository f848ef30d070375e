#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_services
short_description: Start or stop the platform's planes on a Kubernetes cluster in one call, over one dependency graph
version_added: 0.3.0
description:
  - The Kubernetes counterpart of M(ananta.platform.docker_services). With O(state=started), renders the objects of
    the selected planes (as M(ananta.platform.k8s_manifests) does, in seed 000's shape) and applies them as one
    dependency graph. Each plane's namespace and configuration, each workload and each step Job is a node,
    applied the moment everything it needs is ready, the nodes at the head of the longest expected chains
    (O(durations)) first. A StatefulSet comes after its namespace, configuration and the services it depends on; a step
    Job (C(temporal-namespace-init), C(db-migration), C(rabbitmq-stream-init)) after the services it comes after; a
    Deployment after what it depends on and the step Jobs its gates (C(start_after)) need. So the app plane's
    datastores do not wait for the control plane, and nothing waits for the slowest member of a phase it does not
    depend on; the init containers of seed 000 still guard every pod.
  - Nothing is written that has not changed. Every object is written by server-side apply with the field manager
    C(ananta.platform), and carries the hash of its rendered form in the annotation
    C(ananta.platform/applied-hash); what the cluster holds is read with one LIST per kind and namespace (never a
    GET per object), and an object whose hash is unchanged is not written. A node with nothing to write waits for
    nothing and is judged at once, so a second start only reads. A Job runs once per configuration (the hash on its
    pod template); one of another configuration, or one that failed, is deleted and run again.
  - An object written by client-side apply (the collection's releases before this module, or C(kubectl apply)) is
    taken over on the first start, as C(kubectl)'s upgrade to server-side apply does. The fields its manager owned
    become the collection's, so no field-manager conflict arises and a field later dropped from the definition is
    removed. Nothing whose pod template is unchanged is restarted.
  - Readiness is read from one watch per kind and namespace (workloads, pods, volume claims) and judged by
    kubectl's rollout rules (observed generation; updated, ready and available replicas; a StatefulSet's
    revisions; a Job Complete or Failed). A run fails at once, naming the workload, pod, container, reason and the
    last log lines, on CrashLoopBackOff or any restart, a failed init container (a gate that did not pass),
    ErrImagePull or ErrImageNeverPull, CreateContainerConfigError, a failed Job, a Deployment's ReplicaFailure, and
    after O(grace) seconds on a pod that cannot be scheduled or a volume claim that stays Pending. At the end it
    checks that no container of the run restarted on the way. Every API call has a deadline; a watch that fails
    for 30 s fails the run naming the API server's error.
  - Dependencies on planes not started by the call (C(--tags app_plane)) are checked once, before anything is
    written (O(external=check)); with O(external=wait) they are waited for.
  - With O(state=absent), the reverse of the same graph, without rendering anything new. The Jobs of the planes
    go first, then each workload (with its Services) once everything of the call that needs it is gone, all those
    whose dependants are gone at once; one watch says when each is gone. Namespaces, ConfigMaps, Secrets and
    network policies stay; the volume claims (the data) go only with O(remove_volumes=true).
  - With O(state=started) outside check mode, the start reports as it goes through its action plugin, a line as
    each workload is ready, as each step Job is done, and C(FAILED) at once.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.selection.PLANES
  - ananta.platform.kubernetes
  - ananta.platform.steps
  - ananta.platform.attributes
  - ananta.platform.attributes.PROGRESS
attributes:
  check_mode:
    support: full
    details: Reports, per object, whether it would be created, updated (the fields, from a server-side dry run) or run again.
  diff_mode:
    support: full
    details: Per object, the fields that differ (a Secret's values are never shown).
  idempotent:
    support: full
    details: A second run with the same definition writes nothing (every object's resourceVersion stays).
requirements:
  - kubernetes (the official Python client)
options:
  services:
    description: The whole catalog (dependencies outside the selected planes are looked up in it).
    type: list
    elements: dict
    required: true
  state:
    description: V(started) applies and waits; V(absent) deletes the workloads in reverse order.
    type: str
    choices: [started, absent]
    default: started
  external:
    description: Dependencies on services of planes the call does not start, V(check) them once or V(wait) for them.
    type: str
    choices: [check, wait]
    default: check
  remove_volumes:
    description: With O(state=absent), also delete the volume claims of the planes (the data).
    type: bool
    default: false
  project:
    description: Value of the C(ananta.platform/project) label on every object.
    type: str
    default: ananta
  networks:
    description: The declared networks (rendered as network policies).
    type: list
    elements: dict
    default: []
  durations:
    description:
      - Each service's seconds to ready in an earlier run (C(artifacts/expected-durations.json)); the nodes at the
        head of the longest expected chains are applied first.
    type: dict
    default: {}
  step_image:
    description: The image of the step Jobs and init containers (the execution environment image).
    type: str
    required: true
  step_collections_path:
    description: Where the collection lives in O(step_image).
    type: str
    default: /usr/share/ansible/collections
  image_pull_policy:
    description: The pods' image pull policy.
    type: str
    choices: [Always, IfNotPresent, Never]
    default: IfNotPresent
  image_pull_secrets:
    description: Names of Secrets the pods pull their images with.
    type: list
    elements: str
    default: []
  storage_class:
    description: The storage class of the volume claims (the cluster's default when omitted).
    type: str
  default_storage:
    description: The size of a volume claim whose service does not say.
    type: str
    default: 1Gi
  default_resources:
    description: Requests and limits of a container whose service does not say.
    type: dict
  secret_name:
    description: The name of each plane's Secret.
    type: str
    default: db-credentials
  cluster_domain:
    description: The cluster's DNS domain.
    type: str
    default: cluster.local
  all_or_nothing:
    description:
      - A release (C(playbooks/release.yml)) - what the start updates stands or falls together. Before an object
        is updated, what the cluster holds of it is kept (a ConfigMap's or Secret's values in memory only). When a
        unit fails, every unit the start wrote is put back, in the reverse of the order it was written - each kept
        object applied as it was (a Deployment's previous template brings its previous ReplicaSet back, as
        C(kubectl rollout undo) does) - and each workload waited for; RV(put_back) says what became of each.
        A Job is not put back (a step that ran is not undone), nor an object the start created.
    type: bool
    default: false
  wait_timeout:
    description: Seconds each workload (at least) and each step Job may take to be ready once applied.
    type: int
    default: 600
  job_backoff_limit:
    description: The step Jobs' backoffLimit.
    type: int
    default: 0
  grace:
    description: Seconds a pod may stay unschedulable, or its volume claim Pending, before the run fails naming it.
    type: float
    default: 30
  stop_timeout:
    description: With O(state=absent), seconds a workload's pods may take to be gone once it is deleted.
    type: int
    default: 120
  api_timeout:
    description:
      - Seconds any call to the Kubernetes API may take (a silent API server, a hung proxy), and the unit of how long
        a watch may stay silent or keep failing. A watch is restarted when it has said nothing for longer than its
        own span plus this, and the run fails, naming the API server's error, when the watches have been failing
        for twice this.
    type: float
    default: 20
  abort_file:
    description: A file whose appearance stops the run (the action plugin writes it on Ctrl-C or a cancelled job).
    type: path
  progress_file:
    description: Where the live progress lines go (the action plugin sets it).
    type: path
"""

EXAMPLES = r"""
- name: Start every plane of the platform on the cluster, each object once what it needs is ready
  ananta.platform.k8s_services:
    services: "{{ ananta_services }}"
    plane_namespaces: "{{ ananta_plane_namespaces }}"
    project: "{{ ananta_project }}"
    step_image: "{{ ananta_k8s_step_image }}"
    networks: "{{ ananta_networks }}"
    steps: "{{ ananta_platform_steps }}"
    durations: "{{ lookup('ansible.builtin.file', 'artifacts/expected-durations.json', errors='ignore') | default('{}', true) | from_json }}"

- name: Only the app plane (the planes it needs are checked once, before anything is written)
  ananta.platform.k8s_services:
    services: "{{ ananta_services }}"
    planes: [app_plane]
    step_image: "{{ ananta_k8s_step_image }}"
    steps: "{{ ananta_platform_steps | selectattr('plane', 'eq', 'app_plane') | list }}"

- name: Stop the platform, the data kept
  ananta.platform.k8s_services:
    services: "{{ ananta_services }}"
    step_image: "{{ ananta_k8s_step_image }}"
    state: absent
"""

RETURN = r"""
put_back:
  description: With O(all_or_nothing), when a unit failed - what became of each unit the start had written.
  returned: when O(all_or_nothing) and a unit failed
  type: list
  elements: dict
  contains:
    name: {description: "The unit (a service, a step Job, a plane's configuration).", type: str}
    outcome: {description: "What became of it, e.g. C(put back and ready).", type: str}
services:
  description:
    - Per workload of the call (O(state=started)) its plane, level, kind, namespace, what was done (V(create), V(update),
      V(unchanged)), when it was first written and judged ready (epoch seconds), its dependencies, the step Jobs its
      gates waited for (C(after_steps)), its state and its error; with O(state=absent), each workload's state.
  returned: always
  type: list
  elements: dict
steps:
  description: Per step Job (C(<job>:<namespace>)) its kind, plane, the services it came after, start, seconds and action.
  returned: with O(state=started)
  type: list
  elements: dict
objects:
  description: Every object of the call and what it needed (V(create), V(update), V(recreate), V(unchanged)).
  returned: with O(state=started)
  type: list
  elements: dict
written:
  description: How many objects needed a write (0 when nothing changed).
  returned: with O(state=started)
  type: int
units:
  description: Per plane its namespace and its configuration (ConfigMaps, Secret) as units of the graph, with what was done.
  returned: with O(state=started)
  type: list
  elements: dict
removed:
  description: The objects a stop deleted (or would delete, in check mode).
  returned: with O(state=absent)
  type: list
  elements: str
elapsed:
  description: Seconds the call took.
  returned: always
  type: float
"""

import gc
import json
import time
import traceback

from ansible.module_utils.basic import missing_required_lib, remove_values

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs, _catalog, _mask

from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._k8s import api as _api, start as _start, stop as _stop
from ansible_collections.ananta.platform.plugins.module_utils._k8s.rules import K8S_ARGSPEC
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule
from ansible_collections.ananta.platform.plugins.module_utils._progress import Progress


def render(params, check_mode):
    """The units of the call: the planes' objects as the start's graph (a step alone when no
    plane is selected)."""
    steps, files = ([], {}) if params["state"] == "absent" else _k8s_render.step_nodes(params["steps"], params["services"])
    renderer = _k8s_render.Renderer(
        params["services"], plane_namespaces=params["plane_namespaces"], project=params["project"],
        step_image=params["step_image"], step_collections_path=params["step_collections_path"],
        image_pull_policy=params["image_pull_policy"], image_pull_secrets=params["image_pull_secrets"],
        storage_class=params["storage_class"], default_storage=params["default_storage"],
        default_resources=params["default_resources"], secret_name=params["secret_name"],
        cluster_domain=params["cluster_domain"], wait_timeout=params["wait_timeout"],
        job_backoff_limit=params["job_backoff_limit"], migration_files=files, networks=params["networks"], steps=steps)
    planes = params["planes"]
    units = renderer.units(planes) if planes != [] else []
    if params["state"] == "started":
        # a step of a plane the call does not start (--tags migrations alone): its Job alone
        alone = sorted({node.plane for node in steps} - set(planes if planes is not None else _catalog.plane_order(params["services"])))
        if alone:
            units += renderer.units(alone, steps_only=True)
    return units, renderer


def _shown(value):
    if value is None:
        return "(none)"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def diff_of(result):
    """One diff per object the call changes (or would): the fields that differ, before and after."""
    diffs, by_object = [], {}
    for entry in result.get("units", []) + result.get("services", []) + result.get("steps", []):
        for change in entry.get("changes") or []:
            by_object.setdefault(change["object"], (entry, []))[1].append(change)
    for where, (entry, changes) in by_object.items():
        header = "%s (%s, %s)" % (where, entry["name"], entry.get("action"))
        diffs.append({"before_header": header, "after_header": header,
                      "before": "".join("%s: %s\n" % (c["field"], _shown(c["before"])) for c in changes),
                      "after": "".join("%s: %s\n" % (c["field"], _shown(c["after"])) for c in changes)})
    return diffs


def main():
    gc.freeze()
    module = MaskingModule(
        argument_spec=dict(
            K8S_ARGSPEC,
            services=dict(type="list", elements="dict", required=True),
            planes=dict(type="list", elements="str"),
            state=dict(type="str", choices=["started", "absent"], default="started"),
            external=dict(type="str", choices=["check", "wait"], default="check"),
            all_or_nothing=dict(type="bool", default=False),
            remove_volumes=dict(type="bool", default=False),
            project=dict(type="str", default="ananta"),
            networks=dict(type="list", elements="dict", default=[]),
            durations=dict(type="dict", default={}),
            step_image=dict(type="str", required=True),
            step_collections_path=dict(type="str", default="/usr/share/ansible/collections"),
            image_pull_policy=dict(type="str", choices=["Always", "IfNotPresent", "Never"], default="IfNotPresent"),
            image_pull_secrets=dict(type="list", elements="str", default=[], no_log=False),
            storage_class=dict(type="str"),
            default_storage=dict(type="str", default="1Gi"),
            default_resources=dict(type="dict"),
            secret_name=dict(type="str", default="db-credentials", no_log=False),
            cluster_domain=dict(type="str", default="cluster.local"),
            wait_timeout=dict(type="int", default=600),
            job_backoff_limit=dict(type="int", default=0),
            grace=dict(type="float", default=30.0),
            stop_timeout=dict(type="int", default=120),
            api_timeout=dict(type="float", default=20.0),
            abort_file=dict(type="path"),
            progress_file=dict(type="path"),
            steps=_argspecs.STEPS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not _k8s_readiness.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
    params["plane_namespaces"] = params["plane_namespaces"] or {}
    module.no_log_values.update(_mask.secret_values(params["services"]) | _mask.secret_values(params["steps"]))
    started = time.monotonic()
    result = dict(changed=False, services=[], elapsed=0.0)
    verb = "start" if params["state"] == "started" else "stop"
    progress = Progress(None if module.check_mode else params["progress_file"],
                        mask=lambda text: remove_values(text, module.no_log_values))
    try:
        units, renderer = render(params, module.check_mode)
        module.no_log_values.update(v for v in renderer.secret_values if v)
        api = _api.Api(_k8s_readiness.api_client_for(params, request_timeout=params["api_timeout"]))
        common = dict(progress=progress, abort_file=params["abort_file"], grace=params["grace"], check_mode=module.check_mode,
                      api_timeout=params["api_timeout"])
        if params["state"] == "started":
            checker = _k8s_readiness.KubernetesChecker(api.client, params["plane_namespaces"])
            runner = _start.ClusterStart(api, units, params["services"], params["project"], params["plane_namespaces"],
                                         external=params["external"], durations=params["durations"],
                                         diff=module._diff and not module.check_mode,  # pylint: disable=protected-access
                                         logs=lambda wait, lines: checker.logs(_Wait(wait), lines),
                                         all_or_nothing=params["all_or_nothing"], **common)
            result.update(runner.run())
            if runner.put_back:
                result["put_back"] = [{"name": name, "outcome": outcome} for name, outcome in runner.put_back]
            result["changed"] = result["written"] > 0
        else:
            runner = _stop.ClusterStop(api, [u for u in units if u.service], params["services"], params["project"],
                                       params["plane_namespaces"], remove_volumes=params["remove_volumes"],
                                       timeout=params["stop_timeout"], **common)
            result.update(runner.run())
            result["changed"] = bool(result["removed"])
        result["elapsed"] = round(time.monotonic() - started, 3)
        if module._diff:  # pylint: disable=protected-access
            result["diff"] = diff_of(result)
        if runner.failure:
            module.fail_json(msg="Failed to %s the platform on the cluster: %s" % (verb, runner.failure), **result)
    except CatalogError as exc:
        module.fail_json(msg="Failed to %s the platform on the cluster: %s" % (verb, exc.message), problems=exc.problems, **result)
    except AnantaError as exc:
        result["elapsed"] = round(time.monotonic() - started, 3)
        module.fail_json(msg="Failed to %s the platform on the cluster: %s" % (verb, exc.message), **result)
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to %s the platform on the cluster: unexpected %s: %s" % (verb, type(exc).__name__, exc),
                         exception=traceback.format_exc(), **result)
    finally:
        progress.close()
    module.exit_json(**result)


class _Wait:
    """What KubernetesChecker.logs reads of a wait: the service."""

    def __init__(self, service):
        self.service = service


if __name__ == "__main__":
    main()
