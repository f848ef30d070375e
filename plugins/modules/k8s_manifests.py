#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_manifests
short_description: Render the Kubernetes objects of the Ananta catalog, in the phases of seed 000
version_added: 0.2.0
description:
  - Renders, from the same service catalog the Docker target uses, every object of the given planes,
    grouped in the phases they are applied in. Per plane, in order
    C(namespace) (the Namespace, and Services that let pods reach the other planes' services by
    their Docker names), C(config) (a ConfigMap per workload such as cns-service-config, the
    Secret db-credentials, the migration files and the steps' configuration),
    C(statefulsets) (the datastores with headless Services and volume claim templates),
    C(jobs) (the catalog's Jobs, temporal-namespace-init, db-migration and rabbitmq-stream-init) and C(level-N)
    (the Deployments of each level with their Services, resources, readiness probes and the init
    containers wait-for-schema and wait-for-dependencies).
  - The Jobs and the init containers run the collection's own code from O(step_image)
    (migrations with history, checksums and lock; the RabbitMQ topology compared argument by
    argument; the readiness probes), not shell loops.
  - Talks to no cluster. M(ananta.platform.k8s_services) renders the same objects and applies them as one
    dependency graph; this module gives them as files (C(dest), one per phase, as C(export_manifests.yml) writes them), for
    review, GitOps or C(kubectl apply).
  - The result holds the Secrets' values. Run it with C(no_log).
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    support: full
    details: Renders as usual; with O(dest), reports what would be written without writing.
  diff_mode:
    support: partial
    details: Lists the files that would change under O(dest).
  idempotent:
    support: full
    details: The same catalog renders the same objects; O(dest) is only written when its content changes.
requirements:
  - PyYAML (for O(dest))
options:
  services:
    description: The service catalog (see the collection's C(docs/catalog.md)); every entry needs C(kubernetes.kind).
    type: list
    elements: dict
    required: true
  plane_namespaces:
    description:
      - Namespace per plane. A plane it does not name gets its own name with hyphens for underscores.
      - The platform's definition maps its planes to seed 000's namespaces (C(ananta_plane_namespaces)).
    type: dict
    default: {}
  project:
    description: Value of the C(ananta.platform/project) label every object carries.
    type: str
    default: ananta
  step_image:
    description:
      - Image of the Jobs and init containers. It holds the collection under O(step_collections_path)
        and its Python requirements (see the collection's C(images/ananta-ee)); the same image can
        serve as the AWX execution environment.
    type: str
    required: true
  step_collections_path:
    description: Directory of the step image holding C(ansible_collections/ananta/platform).
    type: str
    default: /usr/share/ansible/collections
  image_pull_policy:
    description: imagePullPolicy of every container.
    type: str
    choices: [Always, IfNotPresent, Never]
    default: IfNotPresent
  image_pull_secrets:
    description: Names of Secrets every pod pulls its images with.
    type: list
    elements: str
    default: []
  storage_class:
    description: storageClassName of the volume claims (a service's C(kubernetes.storage_class) overrides it); default the cluster's.
    type: str
  default_storage:
    description: Size of a volume claim whose service has no C(kubernetes.storage).
    type: str
    default: 1Gi
  default_resources:
    description: Resources of a container whose service has no C(kubernetes.resources).
    type: dict
  secret_name:
    description: Name of each plane's Secret.
    type: str
    default: db-credentials
  cluster_domain:
    description: The cluster's DNS domain, for the Services that alias another plane's services.
    type: str
    default: cluster.local
  wait_timeout:
    description: Seconds each workload may take to become ready (at least; a catalog budget above it stays); an init container's deadline too.
    type: int
    default: 600
  job_backoff_limit:
    description: backoffLimit of db-migration and rabbitmq-stream-init (0 fails the run at the first failed pod).
    type: int
    default: 0
  networks:
    description:
      - The Docker networks of the catalog (C(name), C(plane)), as C(ananta_networks) lists them. With them,
        each plane's namespace gets NetworkPolicies that carry the networks' segmentation over; a pod is
        reached only by the pods of services that share a Docker network with it, and by its plane's step Jobs.
      - Without them, no NetworkPolicy is rendered.
    type: list
    elements: dict
    default: []
  steps_only:
    description:
      - Render only the step Jobs (temporal-namespace-init, db-migration, rabbitmq-stream-init) of the planes, each with its own
        ConfigMap and Secret, for a run of the C(migrations) or C(streams) step alone.
    type: bool
    default: false
  dest:
    description:
      - A directory to write the phases to, one YAML file each (C(NN-<plane>-<phase>.yaml), mode 0600),
        for review or GitOps. Without it, nothing is written.
    type: path
extends_documentation_fragment:
  - ananta.platform.selection.PLANES
  - ananta.platform.steps
  - ananta.platform.attributes
notes:
  - The Jobs are rendered from the same step nodes the Docker start runs (O(steps)); in the plane of each
    step, C(temporal-namespace-init) from a V(namespaces) step, one C(db-migration) for the plane's
    V(migrations) nodes (the migration files read from each step's C(path) on the host the module runs on)
    and C(rabbitmq-stream-init) from a V(streams) step.
"""

EXAMPLES = r"""
- name: Render the app plane's objects
  ananta.platform.k8s_manifests:
    services: "{{ ananta_services }}"
    planes: [app_plane]
    step_image: registry.example/ananta-platform-ee:0.2.0
    # the app plane's steps, from the platform's definition
    steps: "{{ ananta_platform_steps | selectattr('plane', 'eq', 'app_plane') | list }}"
  register: rendered
  no_log: true  # the phases hold the Secrets

- name: Write every manifest to a directory for review
  ananta.platform.k8s_manifests:
    services: "{{ ananta_services }}"
    step_image: registry.example/ananta-platform-ee:0.2.0
    dest: /tmp/ananta-manifests
  no_log: true
"""

RETURN = r"""
phases:
  description: The phases in the order they are applied.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: "C(<plane>/<phase>).", type: str}
    plane: {description: The plane., type: str}
    phase: {description: "C(namespace), C(config), C(statefulsets), C(jobs) or C(level-N).", type: str}
    namespace: {description: The plane's namespace., type: str}
    objects: {description: The objects of the phase., type: list, elements: dict}
    waits: {description: Catalog entries to wait for after the phase (for M(ananta.platform.wait_healthy)., type: list, elements: dict}
    external: {description: Services of other planes the phase's workloads depend on., type: list, elements: dict}
    secret: {description: Whether the phase holds a Secret (apply it with no_log)., type: bool}
    job_hashes: {description: "Configuration hash of each Job of the phase (a Job whose hash changed is replaced: its pod template cannot change).", type: dict}
stop_phases:
  description:
    - The phases in the order a stop deletes them (the reverse), each with only the objects a stop
      deletes (workloads and their Services; namespaces, ConfigMaps, Secrets and volume claims stay).
  returned: always
  type: list
  elements: dict
plan:
  description: Readable plan, one line per phase and object (no values).
  returned: always
  type: list
  elements: str
files:
  description: Files written (or that would be) under O(dest).
  returned: when O(dest) is given
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ananta.platform.plugins.module_utils import _argspecs

from ansible_collections.ananta.platform.plugins.module_utils._k8s import phases as _k8s_phases
from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError


def main():
    # Not a MaskingModule: what it returns is the objects themselves, Secrets included, applied as
    # they are; the tasks that call it are no_log (roles/kubernetes_target/tasks/render.yml).
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="dict", required=True),
            planes=dict(type="list", elements="str"),
            plane_namespaces=dict(type="dict", default={}),
            project=dict(type="str", default="ananta"),
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
            networks=dict(type="list", elements="dict", default=[]),
            steps=_argspecs.STEPS,
            steps_only=dict(type="bool", default=False),
            dest=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["dest"] and not _k8s_phases.HAS_YAML:
        module.fail_json(msg="PyYAML is needed to write manifests (dest)")
    try:
        steps, files = _k8s_render.step_nodes(params["steps"], params["services"])
        renderer = _k8s_render.Renderer(
            params["services"], plane_namespaces=params["plane_namespaces"], project=params["project"],
            step_image=params["step_image"], step_collections_path=params["step_collections_path"],
            image_pull_policy=params["image_pull_policy"], image_pull_secrets=params["image_pull_secrets"],
            storage_class=params["storage_class"], default_storage=params["default_storage"],
            default_resources=params["default_resources"], secret_name=params["secret_name"],
            cluster_domain=params["cluster_domain"], wait_timeout=params["wait_timeout"],
            job_backoff_limit=params["job_backoff_limit"], migration_files=files, networks=params["networks"],
            steps=steps)
        phases = renderer.render(params["planes"], steps_only=params["steps_only"])
    except CatalogError as exc:
        module.fail_json(msg="Failed to render the Kubernetes objects: %s" % exc.message, problems=exc.problems)
    except AnantaError as exc:  # a step's definition, a selection of a plane the catalog does not have
        module.fail_json(msg="Failed to render the Kubernetes objects: %s" % exc.message)
    result = dict(changed=False, phases=phases, stop_phases=_k8s_phases.stop_phases(phases), plan=_k8s_phases.plan_lines(phases))
    if params["dest"]:
        changed, written, diff = _k8s_phases.write_phases(phases, params["dest"], module.check_mode)
        result.update(changed=changed, files=written)
        if module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": "", "after": "".join("changed: %s\n" % path for path in diff)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
