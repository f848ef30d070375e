# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop or remove catalog services on a Docker host: dependants first, side by side within a
wave, every thread's error in the result (docker_services' O(state=stopped) and O(state=absent))."""

from __future__ import annotations

import threading

from ansible_collections.ananta.platform.plugins.module_utils._plan import waves
from ansible_collections.ananta.platform.plugins.module_utils._docker.deploy import DockerDeployer
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError


def stop_or_remove(deployer, selected, remove, remove_volumes=False, stop_timeout=10, check_mode=False):
    """Dependants first, each wave of the start order reversed, side by side within a wave. A
    container that could not be stopped or removed is in the result with its error, and the
    containers it depends on are left as they are (raises AnantaError naming it): the next run
    continues from there."""
    results = []
    # dependants first: waves of the start order, reversed
    for wave in reversed(waves(selected)):
        lock = threading.Lock()

        def act(name):
            svc = next(s for s in selected if s["name"] == name)
            container = svc.get("container_name") or name
            entry = {"name": name, "container": container, "plane": svc.get("plane"), "level": svc.get("level"),
                     "action": "unchanged"}
            try:
                current = deployer.inspect(container)
                changed = current is not None and (remove or (current.get("State") or {}).get("Running"))
                if changed and not check_mode:
                    if remove:
                        deployer.remove(container, volumes=remove_volumes)
                    else:
                        deployer.stop(container, stop_timeout)
                if changed:
                    entry["action"] = "remove" if remove else "stop"
            except Exception as exc:  # pylint: disable=broad-except  # reported in the result, never lost in a thread
                entry["error"] = exc.message if isinstance(exc, AnantaError) else "%s: %s" % (type(exc).__name__, exc)
            with lock:
                results.append(entry)

        threads = [threading.Thread(target=act, args=(name,)) for name in wave]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = [r for r in results if r.get("error")]
        if failed:
            raise AnantaError("%s; what they depend on was left as it is" % "; ".join(
                "container %s (service %s): %s" % (r["container"], r["name"], r["error"]) for r in failed), results=results)
    if remove and remove_volumes and not check_mode:
        for svc in selected:
            for volume in DockerDeployer.volume_names(svc):
                deployer.remove_volume(volume)
    if remove and not check_mode:
        deployer.remove_networks()  # only the project's networks that no container uses any more
    return results
