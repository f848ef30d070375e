# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run timeline of start_platform: when each service started and was ready, what
each step took, and the critical path through services and steps."""

from __future__ import annotations

import json
import os
import time

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _plan
from ansible_collections.ananta.platform.plugins.module_utils._steps import gate_needs, published_ports


def collect(start):
    """From a start's own result (docker_services' or k8s_services': one shape, read as it is):
    (started, ready, steps, after_steps, details).

    ``start``: ``services`` (each with ``started_at`` and ``ready_at``, epoch seconds, and
    ``after_steps``: the steps its gates waited for) and ``steps`` (each with ``started_at``,
    ``elapsed`` and ``after``). ``details``: service -> what the start says of it besides: the
    seconds the engine's start call took (``engine_start_seconds``), whether it booted with a
    raised CPU weight (``cpu_weighted``).
    """
    started, ready, steps, after_steps, details = {}, {}, [], {}, {}
    for step in (start or {}).get("steps") or []:
        if step.get("started_at") and step.get("elapsed") is not None:
            steps.append({"name": step["name"], "kind": step.get("kind"), "plane": step.get("plane"),
                          "started_at": step["started_at"], "seconds": step["elapsed"], "after": list(step.get("after") or [])})
    for svc in (start or {}).get("services") or []:
        if "after_steps" in svc:
            after_steps[svc["name"]] = list(svc["after_steps"])
        if svc.get("started_at"):
            started[svc["name"]] = svc["started_at"]
        said = {k: svc[k] for k in ("engine_start_seconds", "cpu_weighted") if svc.get(k) is not None}
        if said:
            details[svc["name"]] = said
        if svc.get("ready_at"):
            ready[svc["name"]] = svc["ready_at"]
    return started, ready, steps, after_steps, details


def step_graph(services, steps, step_after, after_steps=None):
    """Services and steps as one graph for the critical path: steps come after the services
    they need; services gated on a step's result come after the step (as the start reported
    it, or, for a start that does not report it, by the kind of the gate)."""
    after_steps = after_steps or {}
    services_by_name = {s["name"]: s for s in services}
    nodes = [dict(s) for s in services]
    by_name = {s["name"]: s for s in nodes}
    step_afters = {}
    for step in steps:
        after = list(dict.fromkeys(list(step["after"]) + list(step_after.get(step["name"].split(":")[0], []))))
        step_afters[step["name"]] = after
        node_name = "step:%s" % step["name"]
        by_name[node_name] = {"name": node_name, "level": 0, "depends_on": [a for a in after if a in by_name],
                              "plane": step["plane"]}
        nodes.append(by_name[node_name])
    for svc in nodes:
        if svc["name"].startswith("step:"):
            continue
        extra = []
        if svc["name"] in after_steps:
            gated_by = ["step:%s" % n for n in after_steps[svc["name"]] if "step:%s" % n in by_name]
            svc["depends_on"] = list(svc.get("depends_on") or []) + gated_by
            continue
        for gate in svc.get("start_after") or []:
            for step in steps:
                ports = [p for name in step_afters[step["name"]] for p in published_ports(services_by_name.get(name))]
                if gate_needs(gate, step.get("kind"), ports):
                    extra.append("step:%s" % step["name"])
        svc["depends_on"] = list(svc.get("depends_on") or []) + extra
    # the graph's own levels are irrelevant to the critical path: flatten them
    for svc in nodes:
        svc["level"] = 0
    return nodes


def build(services, start, run_started, run_finished, step_after=None):
    started, ready, steps, after_steps, details = collect(start)
    timeline_services, durations = [], {}
    for svc in services:
        name = svc["name"]
        entry = {"name": name, "plane": svc.get("plane"), "level": svc.get("level"),
                 "started": round(started[name] - run_started, 3) if name in started else None,
                 "ready": round(ready[name] - run_started, 3) if name in ready else None}
        if name in started and name in ready:
            entry["seconds_to_ready"] = round(max(0.0, ready[name] - started[name]), 3)
            durations[name] = entry["seconds_to_ready"]
        entry.update(details.get(name, {}))
        timeline_services.append(entry)
    for step in steps:
        durations["step:%s" % step["name"]] = step["seconds"]
    graph = step_graph(services, steps, step_after or {}, after_steps)
    path = _plan.critical_path(graph, durations)
    return {
        "started_at": run_started,
        "finished_at": run_finished,
        "wall_seconds": round(run_finished - run_started, 3),
        "services": timeline_services,
        "steps": [{"name": s["name"], "plane": s["plane"], "started": round(s["started_at"] - run_started, 3),
                   "seconds": s["seconds"]} for s in steps],
        # a service's time runs from the engine's start call to its probe passing: the part of
        # the path spent in those calls is shown on its own
        "critical_path": {"seconds": path["seconds"], "path": path["path"],
                          "engine_start_seconds": round(sum(details.get(n, {}).get("engine_start_seconds", 0.0)
                                                            for n in path["path"]), 3)},
        "services_started": len(started),
        "cpu_weighted": sorted(name for name, said in details.items() if said.get("cpu_weighted")),
    }


def summary(timeline):
    lines = ["started %d service(s) in %.1f s (wall clock of the whole run)" % (
        timeline["services_started"], timeline["wall_seconds"])]
    critical = timeline["critical_path"]
    if critical["path"]:
        lines.append("critical path %.1f s: %s" % (critical["seconds"], " -> ".join(critical["path"])))
    for step in timeline["steps"]:
        lines.append("step %-28s at %6.1f s, took %.2f s" % (step["name"], step["started"], step["seconds"]))
    slowest = sorted((s for s in timeline["services"] if s.get("seconds_to_ready") is not None),
                     key=lambda s: -s["seconds_to_ready"])[:5]
    for svc in slowest:
        lines.append("slowest: %-28s started at %6.1f s, ready %.1f s later" % (svc["name"], svc["started"], svc["seconds_to_ready"]))
    return lines


def write_report(services, start, started_at, path, step_after, check_mode=False):
    """What start_report returns: the timeline (written to ``path`` unless in check mode) and
    its summary. Shared by the module and its controller-side action plugin."""
    timeline = build(services, start, started_at, time.time(), step_after)
    svg_path = os.path.splitext(path)[0] + ".svg"
    if not check_mode:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(timeline, handle, indent=2)
        with open(svg_path, "w", encoding="utf-8") as handle:
            handle.write(gantt_svg(timeline, services))
        update_durations(os.path.join(os.path.dirname(path) or ".", DURATIONS_FILE), timeline)
    return dict(changed=not check_mode, timeline=timeline, summary=summary(timeline), path=path, svg=svg_path)


# one colour per plane, in the order the catalog defines the planes (no plane named here)
PALETTE = ("#7b61ff", "#1f8a70", "#e07b00", "#c0392b", "#2e86c1")


def plane_colours(timeline, services=None):
    """plane -> colour, the planes in the catalog's order (``services``), else in the order of
    the timeline's own entries (their lowest level first)."""
    entries = services or [e for e in timeline["services"] if e.get("plane")]
    planes = _catalog.plane_order([{"plane": e["plane"], "level": e.get("level") or 0} for e in entries])
    planes += [s["plane"] for s in timeline["steps"] if s.get("plane") and s["plane"] not in planes]
    return {plane: PALETTE[i % len(PALETTE)] for i, plane in enumerate(planes)}


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def gantt_svg(timeline, services=None):
    """The start as a self-contained SVG Gantt chart: one row per service this run started and
    per step, ordered by start; each row's wait for its dependencies (light), its start to
    ready (its plane's colour), its level; the critical path's rows marked (class ``critical``,
    outlined in red). ``services``: the catalog, for the dependencies (else no wait is drawn)."""
    deps = {svc["name"]: list(svc.get("depends_on") or []) for svc in services or []}
    colours = plane_colours(timeline, services)
    ready = {entry["name"]: entry["ready"] for entry in timeline["services"] if entry.get("ready") is not None}
    critical = set(timeline["critical_path"]["path"])
    rows = []
    for entry in timeline["services"]:
        if entry.get("started") is None:
            continue
        waited_from = max([ready[d] for d in deps.get(entry["name"], []) if d in ready] or [entry["started"]])
        rows.append({"kind": "service", "name": entry["name"], "plane": entry.get("plane"), "level": entry.get("level"),
                     "start": entry["started"], "end": entry.get("ready") if entry.get("ready") is not None else entry["started"],
                     "wait_from": min(waited_from, entry["started"]), "critical": entry["name"] in critical})
    for step in timeline["steps"]:
        rows.append({"kind": "step", "name": "step: %s" % step["name"], "plane": step.get("plane"), "level": None,
                     "start": step["started"], "end": step["started"] + step["seconds"], "wait_from": step["started"],
                     "critical": ("step:%s" % step["name"]) in critical})
    rows.sort(key=lambda r: (r["start"], r["name"]))
    total = max([r["end"] for r in rows] + [timeline.get("wall_seconds") or 0, 1.0])
    label_w, chart_w, row_h, top = 260, 760, 18, 46
    scale = chart_w / total
    height = top + row_h * len(rows) + 30
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" '
           'font-size="11">' % (label_w + chart_w + 20, height, label_w + chart_w + 20, height),
           '<title>Start of the Ananta Platform: %d services started, %d steps, %.1f s; critical path %.1f s</title>' % (
               timeline.get("services_started", len(rows)), len(timeline["steps"]), timeline.get("wall_seconds", 0),
               timeline["critical_path"]["seconds"]),
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           '<text x="8" y="16" font-size="13" font-weight="bold">Start of the platform: %.1f s, critical path %.1f s '
           '(red outline)</text>' % (timeline.get("wall_seconds", 0), timeline["critical_path"]["seconds"])]
    step = next((n for n in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if n * 15 >= total), total / 15.0)
    tick = 0
    while tick <= total + 1e-9:
        x = label_w + tick * scale
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>' % (x, top - 6, x, height - 24))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%gs</text>' % (x, top - 10, tick))
        tick += step
    for index, row in enumerate(rows):
        y = top + index * row_h
        classes = "row %s%s" % (row["kind"], " critical" if row["critical"] else "")
        colour = colours.get(row["plane"], "#888888")
        label = row["name"] if row["level"] is None else "L%s  %s" % (row["level"], row["name"])
        out.append('<g class="%s" data-name="%s">' % (classes, _esc(row["name"])))
        if index % 2:
            out.append('<rect x="0" y="%d" width="%d" height="%d" fill="#fafafa"/>' % (y, label_w + chart_w + 20, row_h))
        emphasis = ' font-weight="bold" fill="#b00020"' if row["critical"] else ""
        out.append('<text x="8" y="%d"%s>%s</text>' % (y + 13, emphasis, _esc(label)))
        if row["kind"] == "service" and deps.get(row["name"]) and row["wait_from"] > 0:
            out.append('<rect class="wait-dependencies" x="%d" y="%d" width="%.1f" height="%d" fill="#efefef"><title>%s '
                       'waited %.1f s for its dependencies</title></rect>' % (
                           label_w, y + 6, row["wait_from"] * scale, row_h - 12, _esc(row["name"]), row["wait_from"]))
        if row["start"] > row["wait_from"]:
            out.append('<rect class="wait" x="%.1f" y="%d" width="%.1f" height="%d" fill="#bdbdbd"><title>%s started %.1f s '
                       'after its dependencies were ready</title></rect>' % (
                           label_w + row["wait_from"] * scale, y + 4, (row["start"] - row["wait_from"]) * scale, row_h - 8,
                           _esc(row["name"]), row["start"] - row["wait_from"]))
        width = max(1.5, (row["end"] - row["start"]) * scale)
        stroke = ' stroke="#d00000" stroke-width="2"' if row["critical"] else ""
        out.append('<rect class="run" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"%s><title>%s: started at %.1f s, '
                   '%s at %.1f s (%.1f s)</title></rect>' % (
                       label_w + row["start"] * scale, y + 3, width, row_h - 6, colour, stroke, _esc(row["name"]),
                       row["start"], "ready" if row["kind"] == "service" else "done", row["end"], row["end"] - row["start"]))
        out.append("</g>")
    legend_y = height - 10
    x = 8
    for plane, colour in colours.items():
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>'
                   % (x, legend_y - 9, colour, x + 14, legend_y, plane))
        x += 130
    out.append('<rect x="%d" y="%d" width="10" height="10" fill="#efefef"/><text x="%d" y="%d">waiting for its '
               'dependencies</text>' % (x, legend_y - 9, x + 14, legend_y))
    out.append('<rect x="%d" y="%d" width="10" height="10" fill="#bdbdbd"/><text x="%d" y="%d">dependencies ready, '
               'not yet started</text>' % (x + 180, legend_y - 9, x + 194, legend_y))
    out.append("</svg>")
    return "\n".join(out) + "\n"


DURATIONS_FILE = "expected-durations.json"


def update_durations(path, timeline):
    """Keep, beside the timelines, each service's latest measured seconds to ready (a run that
    started nothing leaves the earlier figures): the next start starts the containers behind
    the longest expected chains first."""
    try:
        with open(path, encoding="utf-8") as handle:
            durations = json.load(handle)
    except (OSError, ValueError):
        durations = {}
    durations.update({s["name"]: s["seconds_to_ready"] for s in timeline["services"]
                      if s.get("seconds_to_ready") is not None})
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(durations, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)
