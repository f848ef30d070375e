# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters of the platform's definition (documented in platform_services.yml,
service_sources.yml, plane_namespaces.yml, catalog_planes.yml and step_checks.yml beside this file)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.ananta.platform.plugins.module_utils._catalog import plane_order

from ansible_collections.ananta.platform.plugins.module_utils._definition import merge_overrides, override_sources
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import plane_namespace
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from ansible_collections.ananta.platform.plugins.module_utils._step_kinds import verify_checks
from ansible_collections.ananta.platform.plugins.module_utils import _plan, _release


def _named(work, definition, overrides):
    """An override that matches nothing fails the templating with its name, as the catalog does."""
    try:
        return work(definition, overrides or {})
    except CatalogError as exc:
        raise AnsibleFilterError(exc.message) from None


def platform_services(definition, overrides=None, planes=None, networks=None):
    """The effective catalog; with ``planes`` (and ``networks``), each service's plane (and each
    network it joins) must be one of those declared."""
    try:
        return merge_overrides(definition, overrides or {}, planes, networks)
    except CatalogError as exc:
        raise AnsibleFilterError(exc.message) from None


def service_sources(definition, overrides=None):
    return _named(override_sources, definition, overrides)


def plane_namespaces(services, mapping=None):
    """The namespaces of the catalog's planes, in the planes' order, each once."""
    found = []
    for plane in plane_order(services or []):
        namespace = plane_namespace(plane, mapping)
        if namespace not in found:
            found.append(namespace)
    return found


def catalog_planes(services):
    """The catalog's planes, in their start order (that of their lowest level)."""
    return plane_order(services or [])


def step_checks(steps):
    """What verify checks after the steps ran, as the table of step kinds says for each kind."""
    try:
        return verify_checks(steps or [])
    except (AnantaError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("step_checks: %s" % getattr(exc, "message", exc)) from None


def service_users(services, names):
    """The services that depend on ``names`` (a name or a list), directly or in turn."""
    return _plan.users_of(services or [], [names] if isinstance(names, str) else list(names or []))


def release_plan(check, services, databases, release, directory, steps=None):
    """A release's plan from a check-mode start (the module_utils _release)."""
    try:
        return _release.plan(check or {}, services or [], databases or {}, str(release), str(directory or ""), steps or [])
    except AnantaError as exc:
        raise AnsibleFilterError("release_plan: %s" % exc.message) from None


def database_target(services, databases, name):
    """Where a database is reached from its own container (the module_utils _release)."""
    try:
        return _release.database_target(services or [], databases or {}, str(name))
    except AnantaError as exc:
        raise AnsibleFilterError("database_target: %s" % exc.message) from None


def release_start(roll, migrate=None, backups=None):
    """A release (its backups, migrations and roll) as one start, for ananta.platform.start_report."""
    return _release.timeline_start(roll or {}, migrate or {}, backups or [])


class FilterModule:
    def filters(self):
        return {"platform_services": platform_services, "service_sources": service_sources,
                "plane_namespaces": plane_namespaces, "catalog_planes": catalog_planes, "step_checks": step_checks,
                "release_plan": release_plan, "release_start": release_start, "service_users": service_users,
                "database_target": database_target}
