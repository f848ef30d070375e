# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects of the catalog, in the phases of seed 000.

For every plane, in this order (each phase is applied, then waited for):

1. ``namespace``: the plane's Namespace, and the aliases that let its pods reach a service by the
   same name as on Docker (``ExternalName`` Services for services of the other planes, a second
   Service for an object renamed with ``kubernetes.k8s_name``).
2. ``config``: one ConfigMap per workload (``<name>-config``, e.g. cns-service-config,
   cns-worker-config) with the plain environment, the Secret ``db-credentials`` with every
   secret value (environment variables holding a credential, the init containers' probes, the
   steps' passwords), the migration files and the steps' configuration. Seed 000 applies them
   "alongside" the StatefulSets; they go first so that no pod starts without its configuration
   (which Kubernetes reports as CreateContainerConfigError).
3. ``statefulsets``: the datastores, each with its headless Service and volume claim templates.
4. ``jobs``: the catalog's Jobs (minio-init), ``db-migration`` (the collection's migration code:
   history, checksums, lock) and ``rabbitmq-stream-init`` (the collection's topology code).
5. ``level-N``: the Deployments of each level, with their Services, resources, readiness probes
   and the init containers of seed 000: ``wait-for-schema`` (the tables a service needs) and
   ``wait-for-dependencies`` (its dependencies answering, in-cluster), both running the
   collection's probes from the step image.

Pure functions of the catalog: nothing here talks to a cluster.
"""

from __future__ import annotations

import os

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _mask, _steps
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import KINDS
from ansible_collections.ananta.platform.plugins.module_utils._k8s import phases as _phases
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import DEFAULTS, _volumes
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import kind_of, object_namespace, plane_namespace


class Renderer:
    """The data the rendering reads (the catalog, the options, each plane's namespace, the
    secrets to keep out of ConfigMaps, the pod templates' checksums as they are computed), and
    its two entry points: ``units()`` (the start's graph) and ``render()`` (the phases in order).
    The work is functions over this data, in ``_k8s``: objects, config (ConfigMaps and Secrets),
    init_containers, jobs, aliases (and network policies), phases; naming in ``_k8s.naming``."""

    def __init__(self, services, **options):
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown rendering options: %s" % ", ".join(sorted(unknown)))
        self.opts = dict(DEFAULTS, **{k: v for k, v in options.items() if v is not None})
        self.services = list(services)
        _catalog.validate(self.services)
        self.by_name = {s["name"]: s for s in self.services}
        self.namespaces = {p: plane_namespace(p, self.opts["plane_namespaces"]) for p in _catalog.plane_order(self.services)}
        self.project = self.opts["project"]
        self.secret_values = {v for v in _mask.secret_values(self.services) if v}
        self.secret_values.update(v for v in _steps.secret_values(self.opts["steps"]) if v)
        self.host_ports = _catalog.host_ports(self.services)
        self._template_hashes = {}  # service -> its pod template's checksum
        self._check_kinds()

    def units(self, planes=None, steps_only=False):
        """The start's graph: see ``_k8s.phases.units``."""
        return _phases.units(self, planes, steps_only)

    def render(self, planes=None, steps_only=False):
        """The phases of the given planes, in order: see ``_k8s.phases.render``."""
        return _phases.render(self, planes, steps_only)

    def namespace_of(self, svc):
        return object_namespace(svc, self.namespaces)

    def _check_kinds(self):
        """Seed 000's phases start StatefulSets, then Jobs, then Deployments: a workload may
        only depend on what an earlier (or its own) phase starts."""
        rank = {"StatefulSet": 0, "Job": 1, "Deployment": 2}
        problems = []
        for svc in self.services:
            if not svc.get("kubernetes"):
                problems.append("service %r has no 'kubernetes' entry (kind: StatefulSet, Deployment or Job)" % svc["name"])
                continue
            for dep in svc.get("depends_on") or []:
                other = self.by_name[dep]
                if other.get("kubernetes") and rank[kind_of(other)] > rank[kind_of(svc)] and other["plane"] == svc["plane"]:
                    problems.append("service %r (%s) depends on %r (%s), which seed 000's phases start later" % (
                        svc["name"], kind_of(svc), dep, kind_of(other)))
            try:
                _volumes(svc)
            except CatalogError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CatalogError(problems)


def step_nodes(definitions, services):
    """The step nodes of the definitions (``_steps.build``, the nodes the Docker start runs) and
    the migration files they apply, read from each migrations node's ``path`` on this host:
    ``(nodes, files)``, the Renderer's ``steps`` and ``migration_files``."""
    nodes = _steps.build(definitions, services)
    files = {}
    for node in nodes:
        if KINDS[node.kind].files:  # the files its Job mounts, read from its options' path
            if not node.params.get("path"):
                raise AnantaError("step %s: options.path (the directory of the migration files) is required" % node.name)
            files.update(read_files(node.params["path"], KINDS[node.kind].file_names(node.params)))
    return nodes, files


def read_files(path, names):
    """The text of each named file under ``path`` that exists (a missing one is the kind's to name)."""
    files = {}
    for name in names:
        full = os.path.join(path, name)
        if os.path.exists(full):
            with open(full, encoding="utf-8") as handle:
                files[name] = handle.read()
    return files
