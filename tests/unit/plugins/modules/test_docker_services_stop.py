"""docker_services' stop and removal: dependants first, a failure in a thread is never lost."""

import os
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError  # noqa: E402
from ansible_collections.ananta.platform.plugins.module_utils._docker.stop import stop_or_remove  # noqa: E402


class Engine:
    """Containers that exist and run; removing ``broken`` fails as the engine would."""

    def __init__(self, names, broken=()):
        self.running = set(names)
        self.broken = set(broken)
        self.removed = []
        self.lock = threading.Lock()

    def inspect(self, name):
        return {"State": {"Running": True}} if name in self.running else None

    def remove(self, name, volumes=False):  # pylint: disable=unused-argument
        if name in self.broken:
            raise AnantaError("the engine refused to remove %s: device or resource busy" % name)
        with self.lock:
            self.running.discard(name)
            self.removed.append(name)

    def stop(self, name, timeout):  # pylint: disable=unused-argument
        self.remove(name)

    def remove_networks(self):
        pass


SERVICES = [
    {"name": "db", "plane": "app_plane", "level": 1, "image": "x"},
    {"name": "api", "plane": "app_plane", "level": 2, "image": "x", "depends_on": ["db"]},
    {"name": "worker", "plane": "app_plane", "level": 2, "image": "x", "depends_on": ["db"]},
    {"name": "web", "plane": "app_plane", "level": 3, "image": "x", "depends_on": ["api"]},
]


def test_dependants_go_first():
    engine = Engine(["db", "api", "worker", "web"])
    results = stop_or_remove(engine, SERVICES, remove=True)
    assert engine.removed.index("web") < engine.removed.index("api") < engine.removed.index("db")
    assert engine.removed.index("worker") < engine.removed.index("db")
    assert {r["name"]: r["action"] for r in results} == {"db": "remove", "api": "remove", "worker": "remove", "web": "remove"}


@pytest.mark.parametrize("remove", [True, False])
def test_a_failure_in_a_thread_is_reported_and_what_it_depends_on_stays(remove):
    engine = Engine(["db", "api", "worker", "web"], broken=["worker"])
    with pytest.raises(AnantaError) as caught:
        stop_or_remove(engine, SERVICES, remove=remove)
    assert "container worker (service worker)" in caught.value.message and "device or resource busy" in caught.value.message
    assert "db" in engine.running, "what the failed one depends on was left as it is"
    results = {r["name"]: r for r in caught.value.details["results"]}
    assert results["worker"]["error"] and results["api"]["action"] == ("remove" if remove else "stop")
    assert "db" not in results
