"""The live progress file: its lines, their parsing, their format, and nothing secret in them."""

import json
import os
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible.module_utils.common.parameters import remove_values  # noqa: E402

from ansible_collections.ananta.platform.plugins.module_utils._progress import (  # noqa: E402
    Progress, format_event, parse_lines)


def test_lines_are_complete_json_and_masked(tmp_path):
    path = tmp_path / "p.jsonl"
    ticks = iter([10.0, 12.5, 13.0])
    progress = Progress(str(path), clock=lambda: next(ticks), mask=lambda text: remove_values(text, {"s3cret-pw"}))
    progress.emit("ready", "db", plane="app_plane", level=3, seconds=2.0, action="create")
    progress.emit("failed", "api", plane="app_plane", level=4, error="login with s3cret-pw refused")
    progress.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0] == {"t": 2.5, "event": "ready", "name": "db", "plane": "app_plane", "level": 3, "seconds": 2.0,
                          "action": "create"}
    assert records[1]["error"] == "login with ******** refused"
    progress.emit("ready", "late", plane="x")  # after close: nothing, no error
    assert len(path.read_text().splitlines()) == 2


def test_no_path_or_an_unwritable_one_never_fails_the_run(tmp_path):
    Progress(None).emit("ready", "db")
    Progress(str(tmp_path / "missing" / "dir" / "p.jsonl")).emit("ready", "db")


def test_concurrent_writers_never_interleave_a_line(tmp_path):
    path = tmp_path / "p.jsonl"
    progress = Progress(str(path))
    threads = [threading.Thread(target=lambda n=n: [progress.emit("ready", "svc-%d-%d" % (n, i), plane="p" * 200)
                                                    for i in range(200)]) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.close()
    records, rest = parse_lines(path.read_text())
    assert len(records) == 1600 and rest == ""


def test_parse_keeps_a_partial_line_for_the_next_read():
    records, rest = parse_lines('{"t": 1, "event": "ready", "name": "a"}\n{"t": 2, "ev')
    assert [r["name"] for r in records] == ["a"] and rest == '{"t": 2, "ev'
    records, rest = parse_lines(rest + 'ent": "step", "name": "b"}\n')
    assert [r["name"] for r in records] == ["b"] and rest == ""
    assert parse_lines("not json\n[1]\n\n")[0] == []


def test_format_names_time_plane_level_service_and_seconds():
    line = format_event({"t": 12.34, "event": "ready", "name": "cns-service", "plane": "app_plane", "level": 4,
                         "seconds": 5.04, "action": "create"})
    assert line.startswith("[  12.3 s] app_plane L4") and "cns-service" in line and line.endswith("ready in 5.0 s (create)")
    assert "already up" in format_event({"t": 0.1, "event": "ready", "name": "db", "plane": "p", "level": 1,
                                         "seconds": 0.0, "action": "unchanged"})
    step = format_event({"t": 3, "event": "step", "name": "migrations:x", "plane": "control_plane", "seconds": 0.171,
                         "changed": True})
    assert "control_plane" in step and "step done in 0.17 s, changed" in step
    assert "waits for a, b" in format_event({"t": 0, "event": "waits", "name": "c", "on": ["a", "b"]})
    assert "FAILED: boom" in format_event({"t": 0, "event": "failed", "name": "c", "error": "boom"})
    assert "starting 3 service(s) and 1 step(s)" in format_event({"t": 0, "event": "begin", "name": "start",
                                                                  "services": 3, "steps": 1})
