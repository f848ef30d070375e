# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of a catalog: the start order and its waves, who restarts with whom, what a selection needs from outside, the start
plan by level and wave, the stop order, the critical path, the services' URLs, and what
catalog_plan returns (the lines plan.yml prints)."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils._catalog import network_drivers, parse_port, plane_order, select, validate
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError


def topological_order(services):
    """Names in an order where each service follows its dependencies (stable: catalog order breaks ties)."""
    index = {s["name"]: i for i, s in enumerate(services)}
    deps = {s["name"]: [d for d in s.get("depends_on") or [] if d in index] for s in services}
    done, order = set(), []
    pending = sorted(index, key=lambda n: (services[index[n]]["level"], index[n]))
    while pending:
        ready = [n for n in pending if all(d in done for d in deps[n])]
        if not ready:
            raise CatalogError(["dependency cycle among %s" % ", ".join(pending)])
        order.extend(ready)
        done.update(ready)
        pending = [n for n in pending if n not in done]
    return order


def waves(services):
    """Group services into waves: each service's wave is one more than its latest dependency's.

    Depth counts only dependencies inside the same level (earlier levels are done by
    then). Returns a list of lists of names, in start order.
    """
    known = {s["name"]: s for s in services}
    depth = {}
    for name in topological_order(services):
        level = known[name]["level"]
        deps = [d for d in known[name].get("depends_on") or [] if d in known and known[d]["level"] == level]
        depth[name] = 1 + max((depth[d] for d in deps), default=-1)
    grouped = {}
    for name in known:  # catalog order inside a wave
        grouped.setdefault((known[name]["level"], depth[name]), []).append(name)
    return [grouped[key] for key in sorted(grouped)]


def _behind(services, names, field):
    """Every service whose ``field`` (a list of names) names one of ``names``, and those whose
    ``field`` names them in turn, in catalog order, ``names`` themselves left out."""
    wanted, grew = set(names), True
    while grew:
        grew = False
        for svc in services:
            if svc["name"] not in wanted and wanted & set(svc.get(field) or []):
                wanted.add(svc["name"])
                grew = True
    return [svc["name"] for svc in services if svc["name"] in wanted and svc["name"] not in names]


def restart_dependants(services, names):
    """The services to restart when ``names`` are recreated or restarted: every service whose
    ``restart_with`` names one of them, and theirs in turn (compose's ``depends_on: {X: {restart:
    true}}``), in catalog order, ``names`` themselves left out."""
    return _behind(services, names, "restart_with")


def users_of(services, names):
    """Every service that depends on one of ``names``, directly or in turn (what uses a database
    and must stop while it is restored), in catalog order, ``names`` themselves left out."""
    return _behind(services, names, "depends_on")


def external_dependencies(services, selected):
    """Dependencies of ``selected`` that lie outside it: name -> list of dependants."""
    inside = {s["name"] for s in selected}
    outside = {}
    for svc in selected:
        for dep in svc.get("depends_on") or []:
            if dep not in inside:
                outside.setdefault(dep, []).append(svc["name"])
    return outside


def start_plan(services):
    """Level by level, each level split into dependency waves: ``[{level, plane(s), waves}]``."""
    plan = []
    for level in sorted({s["level"] for s in services}):
        members = [s for s in services if s["level"] == level]
        plan.append({
            "level": level,
            "planes": [p for p in plane_order(services) if any(s["plane"] == p for s in members)],
            "waves": waves(members),
        })
    return plan


def stop_order(services):
    """Reverse of the start order, level by level from the highest: dependants stop
    before what they depend on, the shared Temporal last."""
    levels = {s["name"]: s["level"] for s in services}
    reverse = list(reversed(topological_order(services)))
    return sorted(reverse, key=lambda name: -levels[name])


def critical_path(services, durations):
    """Longest chain of ready times through the dependency graph.

    ``durations``: name -> seconds from start to ready. Each service starts when its
    latest dependency is ready (levels ignored: that is the lower bound any ordering
    can reach). Returns ``{"seconds": total, "path": [names], "finish": {name: t}}``.
    """
    known = {s["name"]: s for s in services}
    finish, via = {}, {}
    for name in topological_order(services):
        deps = [d for d in known[name].get("depends_on") or [] if d in known]
        start = 0.0
        for dep in deps:
            if finish[dep] > start:
                start, via[name] = finish[dep], dep
        finish[name] = start + float(durations.get(name, 0.0))
    if not finish:
        return {"seconds": 0.0, "path": [], "finish": {}}
    last = max(finish, key=lambda n: finish[n])
    path = [last]
    while path[-1] in via:
        path.append(via[path[-1]])
    return {"seconds": round(finish[last], 3), "path": list(reversed(path)), "finish": finish}


def published_url(svc, host="localhost"):
    """The service's URL on the Docker host, from its readiness probe and published ports."""
    readiness = svc.get("readiness") or {}
    if readiness.get("url"):
        return readiness["url"]
    ports = []
    for port in svc.get("ports") or []:
        try:
            ports.append(parse_port(port))
        except ValueError:
            continue
    published = [p for p in ports if p[1] is not None]
    if not published:
        return None
    if readiness.get("probe") == "http":
        scheme = readiness.get("scheme", "http")
        return "%s://%s:%s%s" % (scheme, host, readiness.get("port", published[0][1]), readiness.get("path", "/"))
    return "%s:%d" % (host, published[0][1])


def plan_lines(services, sources=None):
    """The startup plan as readable lines (what playbooks/plan.yml prints); ``sources``: where
    each service's entry comes from (defined, overridden: fields, added)."""
    lines = []
    known = {s["name"]: s for s in services}
    for step in start_plan(services):
        lines.append("LEVEL %d (%s)" % (step["level"], ", ".join(step["planes"])))
        for number, wave in enumerate(step["waves"], 1):
            for name in wave:
                svc = known[name]
                deps = ", ".join(svc.get("depends_on") or []) or "-"
                probe = (svc.get("readiness") or {}).get("probe")
                line = "  wave %d  %-28s %-15s after: %s  probe: %s" % (number, name, svc["plane"], deps, probe)
                if sources is not None:
                    line += "  [%s]" % sources.get(name, "the inventory's own ananta_services")
                lines.append(line)
    return lines


def plan_result(services, networks=None, planes=None, levels=None, durations=None, sources=None):
    """What catalog_plan returns: the catalog validated (CatalogError otherwise), then the
    plan of the selection. Shared by the module and its controller-side action plugin."""
    names = None if networks is None else list(network_drivers(networks))
    validate(services, names)
    selected = select(services, planes=planes, levels=levels)
    result = dict(changed=False, levels=start_plan(selected), order=topological_order(selected),
                  stop_order=stop_order(selected), external_dependencies=external_dependencies(services, selected),
                  lines=plan_lines(selected, sources))
    if durations is not None:
        path = critical_path(selected, durations)
        result["critical_path"] = {"seconds": path["seconds"], "path": path["path"]}
    return result
