"""The start's Gantt chart (issue 20): well-formed, one row per service started and per step, the
critical path's rows marked, the waits drawn from the catalog's dependencies."""

import time
import xml.etree.ElementTree as ET

from ansible_collections.ananta.platform.plugins.module_utils import _timeline

NS = "{http://www.w3.org/2000/svg}"
SERVICES = [
    {"name": "db", "plane": "app_plane", "level": 3, "depends_on": []},
    {"name": "api", "plane": "app_plane", "level": 4, "depends_on": ["db"]},
    {"name": "ui", "plane": "control_plane", "level": 5, "depends_on": ["api"]},
    {"name": "idle", "plane": "control_plane", "level": 1, "depends_on": []},
]
TIMELINE = {
    "wall_seconds": 12.5,
    "services": [
        {"name": "db", "plane": "app_plane", "level": 3, "started": 0.5, "ready": 4.0},
        {"name": "api", "plane": "app_plane", "level": 4, "started": 5.0, "ready": 7.5},
        {"name": "ui", "plane": "control_plane", "level": 5, "started": 7.6, "ready": 9.0},
        {"name": "idle", "plane": "control_plane", "level": 1, "started": None, "ready": None},
    ],
    "steps": [{"name": "migrations:db", "plane": "app_plane", "started": 4.1, "seconds": 2.0}],
    "critical_path": {"seconds": 8.5, "path": ["db", "step:migrations:db", "api", "ui"]},
    "services_started": 3,
}


def rows(svg):
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return [g for g in root.iter(NS + "g") if "row" in g.get("class", "").split()]


def test_one_row_per_started_service_and_step_in_start_order():
    found = rows(_timeline.gantt_svg(TIMELINE, SERVICES))
    assert [g.get("data-name") for g in found] == ["db", "step: migrations:db", "api", "ui"]


def test_the_critical_path_rows_are_marked():
    found = {g.get("data-name"): g.get("class").split() for g in rows(_timeline.gantt_svg(TIMELINE, SERVICES))}
    assert all("critical" in found[name] for name in ("db", "step: migrations:db", "api", "ui"))
    timeline = dict(TIMELINE, critical_path={"seconds": 4.0, "path": ["db"]})
    found = {g.get("data-name"): g.get("class").split() for g in rows(_timeline.gantt_svg(timeline, SERVICES))}
    assert "critical" in found["db"] and "critical" not in found["api"]


def test_the_wait_after_the_dependencies_is_drawn():
    found = {g.get("data-name"): g for g in rows(_timeline.gantt_svg(TIMELINE, SERVICES))}
    api_waits = [r for r in found["api"].iter(NS + "rect") if r.get("class") == "wait"]
    assert len(api_waits) == 1 and "1.0 s after its dependencies" in api_waits[0].find(NS + "title").text
    assert not [r for r in found["db"].iter(NS + "rect") if r.get("class") == "wait"]


def test_names_are_escaped():
    timeline = dict(TIMELINE, services=[dict(TIMELINE["services"][0], name="a<b&c")], steps=[],
                    critical_path={"seconds": 0, "path": []})
    assert rows(_timeline.gantt_svg(timeline))[0].get("data-name") == "a<b&c"


def test_write_report_writes_the_svg_beside_the_json(tmp_path):
    result = _timeline.write_report([], {}, time.time(), str(tmp_path / "start-1.json"), {})
    assert result["svg"] == str(tmp_path / "start-1.svg")
    ET.parse(result["svg"])


def test_a_long_run_keeps_a_bounded_axis():
    svg = _timeline.gantt_svg(dict(TIMELINE, wall_seconds=1e9))
    assert svg.count("<line ") <= 16
