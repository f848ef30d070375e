# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform's definition and an inventory's overrides: the effective catalog is the
definition (platform/definition.yml) with ``ananta_service_overrides`` merged per service by name
(the filters platform_services and service_sources), every service's plane and networks among
the declared ones."""

from __future__ import annotations

import difflib

from ansible_collections.ananta.platform.plugins.module_utils._catalog import _problem
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError


def _merged(defined, override):
    """``override`` over ``defined``: mappings merged key by key (recursively), anything else
    replaced. A defined value that is replaced is never read (it may refer to variables that
    this environment does not define, such as the registry of an image it replaces)."""
    if not isinstance(override, dict) or not isinstance(defined, dict):
        return override
    merged = {}
    for key in defined:
        if key not in override:
            merged[key] = defined[key]
        elif isinstance(override[key], dict):
            merged[key] = _merged(defined[key], override[key])
        else:
            merged[key] = override[key]  # the defined value is not read
    for key in override:
        if key not in merged:
            merged[key] = override[key]
    return merged


ADDED_NEEDS = ("plane", "level", "image")


def _check_overrides(definition, overrides):
    if not isinstance(overrides, dict):
        raise CatalogError(["ananta_service_overrides must be a mapping of service names to the fields that differ"])
    names = [svc["name"] for svc in definition]
    problems = []
    for name, override in overrides.items():
        if not isinstance(override, dict):
            problems.append("ananta_service_overrides: %s: must be a mapping of fields (image, env, ...)" % name)
        elif name not in names and not override.get("absent") and any(f not in override for f in ADDED_NEEDS):
            close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.75)
            problems.append("ananta_service_overrides: %s is no service of the platform's definition%s (to add a "
                            "service of your own, give at least its %s)" % (
                                name, " (did you mean %s?)" % ", ".join(close[:3]) if close else "", ", ".join(ADDED_NEEDS)))
        elif name not in names and override.get("absent"):
            problems.append("ananta_service_overrides: %s: absent, but it is no service of the platform's definition" % name)
    if problems:
        raise CatalogError(problems)
    return names


def _declared(what, names):
    """The names of declarations (``[{name: ...}]`` or plain names), or None when not given."""
    if names is None:
        return None
    return [str(n.get("name") if isinstance(n, dict) else n) for n in names]


def check_declared(services, planes=None, networks=None):
    """Every service's plane among the declared planes and every network it joins among the
    declared networks; a problem names the service, the name and the nearest declared one."""
    problems = []
    planes, networks = _declared("plane", planes), _declared("network", networks)
    for svc in services:
        name = svc.get("name")
        if planes is not None and svc.get("plane") not in planes:
            near = difflib.get_close_matches(str(svc.get("plane")), planes, n=1)
            problems.append(_problem(name, "plane", "%r is not a declared plane (ananta_platform_planes: %s)%s" % (
                svc.get("plane"), ", ".join(planes), "; did you mean %s?" % near[0] if near else "")))
        for net in svc.get("networks") or [] if networks is not None else []:
            if net not in networks:
                near = difflib.get_close_matches(str(net), networks, n=1)
                problems.append(_problem(name, "networks", "%r is not a declared network (ananta_networks: %s)%s" % (
                    net, ", ".join(networks), "; did you mean %s?" % near[0] if near else "")))
    return problems


def merge_overrides(definition, overrides, planes=None, networks=None):
    """The effective catalog: the platform's definition (a list of services) with an
    inventory's ``ananta_service_overrides`` (service name -> fields) merged per service by
    name; ``{absent: true}`` removes a service, a new name with plane, level and image adds
    one. Raises CatalogError naming every override that matches nothing, and, when ``planes``
    (and ``networks``) are declared, every service whose plane (network) is not."""
    names = _check_overrides(definition, overrides)
    services = []
    for svc in definition:
        override = overrides.get(svc["name"])
        if override is None:
            services.append(svc)
        elif not override.get("absent"):
            services.append(_merged(svc, override))
    for name, override in overrides.items():
        if name not in names and not override.get("absent"):
            services.append(dict(override, name=name))
    problems = check_declared(services, planes, networks)
    if problems:
        raise CatalogError(problems)
    return services


def override_sources(definition, overrides):
    """Service name -> ``defined``, ``overridden: <fields>``, ``added`` or ``removed``."""
    names = _check_overrides(definition, overrides)
    sources = {}
    for name in names:
        override = overrides.get(name)
        if override is None:
            sources[name] = "defined"
        elif override.get("absent"):
            sources[name] = "removed"
        else:
            sources[name] = "overridden: %s" % ", ".join(sorted(override))
    for name in overrides:
        if name not in names:
            sources[name] = "added"
    return sources
