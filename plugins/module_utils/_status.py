# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What service_info reports of each service, on Docker or on a cluster, and its table."""

from __future__ import annotations

from ansible_collections.ananta.platform.plugins.module_utils import _plan


def describe(service, state, url_host):
    """A service's row from its container's state (None: no container)."""
    readiness = service.get("readiness") or {}
    entry = {"name": service["name"], "plane": service.get("plane"), "level": service.get("level"),
             "container": service.get("container_name") or service["name"], "url": _plan.published_url(service, url_host)}
    if state is None:
        entry.update(state="missing", health="none", restarts=0, ports=[], up=False)
        return entry
    entry.update(state="restarting" if state.restarting else state.status, health=state.health_status or "none",
                 restarts=state.restart_count, ports=state.published_ports())
    if readiness.get("probe") == "exit_zero":
        entry["up"] = state.status == "exited" and state.exit_code == 0
        entry["state"] = "done" if entry["up"] else "%s (exit %s)" % (state.status, state.exit_code)
    else:
        entry["up"] = state.running and not state.restarting and state.health_status != "unhealthy"
    return entry


def describe_k8s(service, checker, url_host):
    """A service's row from its workload, as the cluster's readiness rules read it."""
    row = checker.status(service)
    return {"name": service["name"], "plane": service.get("plane"), "level": service.get("level"), "container": row["object"],
            "state": row["state"], "health": row["message"], "restarts": row["restarts"], "ports": [],
            "url": _plan.published_url(service, url_host), "up": row["up"]}


def table(entries):
    """The rows as the aligned table status.yml prints."""
    header = ("LEVEL", "PLANE", "SERVICE", "STATE", "HEALTH", "RESTARTS", "URL")
    rows = [header] + [(str(e["level"]), e["plane"], e["name"], e["state"], e["health"], str(e["restarts"]), e["url"] or "-")
                       for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
