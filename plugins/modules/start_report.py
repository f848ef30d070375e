#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: start_report
short_description: Write the timeline of a platform start (start and ready times, steps, critical path) as JSON
version_added: 0.1.0
description:
  - Builds, from a start's own result (M(ananta.platform.docker_services) on a Docker host,
    M(ananta.platform.k8s_services) on a cluster, the same shape, read as it is), each service's start and ready
    times, each step's duration (namespaces, migrations, streams), and the critical path through services and
    steps, the shortest time any ordering could reach with these durations.
  - Writes it as JSON to O(path) and returns it with a few readable summary lines.
  - Runs on the controller (an action plugin of the same name does the work there), so O(path) is a
    path on the controller.
author:
  - Ananta Platform engineers (@ananta-platform)
attributes:
  check_mode:
    details: Computes the timeline; does not write the file.
options:
  services:
    description: The service catalog.
    type: list
    elements: dict
    required: true
  start:
    description:
      - The start's result, as registered (C(services) with C(started_at), C(ready_at) and C(after_steps); C(steps)
        with C(started_at), C(elapsed) and C(after)).
    type: dict
    required: true
  started_at:
    description: Epoch seconds when the run began.
    type: float
    required: true
  path:
    description:
      - Where to write the JSON timeline (directories are created).
      - A Gantt chart of the start is written beside it, with the extension C(.svg).
    type: path
    required: true
  step_after:
    description:
      - Services each step needs before it, by the step's name, for the critical path, for a step result that does
        not say it itself. The starts of this collection say it in their results.
    type: dict
    default: {}
extends_documentation_fragment:
  - ananta.platform.attributes
  - ananta.platform.attributes.SNAPSHOT
"""

EXAMPLES = r"""
- name: Build the timeline
  ananta.platform.start_report:
    services: "{{ ananta_services }}"
    results: "{{ plane_results }}"
    started_at: "{{ run_started }}"
    path: artifacts/start.json
  delegate_to: localhost
"""

RETURN = r"""
timeline:
  description: The timeline written to O(path).
  returned: always
  type: dict
  contains:
    wall_seconds: {description: Seconds from the start of the run to this report., type: float}
    services:
      description:
        - Per service, start and ready offsets in seconds, and the seconds from start to ready. A service's start is
          the moment the run asked the engine to start it; C(engine_start_seconds) is what that call took, and
          C(cpu_weighted) whether it booted with a raised CPU weight, when the start reports them.
      type: list
      elements: dict
    steps: {description: "Per step, start offset and duration.", type: list, elements: dict}
    critical_path:
      description:
        - C(seconds) and C(path) through services and steps, and C(engine_start_seconds), the part of it spent in
          the engine's start calls of the services on the path.
      type: dict
    cpu_weighted: {description: The services that booted with a raised CPU weight., type: list, elements: str}
summary:
  description: Readable lines about the run.
  returned: always
  type: list
  elements: str
path:
  description: The JSON file written.
  returned: always
  type: str
svg:
  description:
    - The Gantt chart written beside it, self-contained SVG. One row per service started and per step, ordered by start,
      each with its wait for its dependencies, its start to ready, its level; the critical path's rows outlined in red.
  returned: always
  type: str
"""


from ansible_collections.ananta.platform.plugins.module_utils import _mask, _timeline
from ansible_collections.ananta.platform.plugins.module_utils._module import MaskingModule

ARGUMENT_SPEC = dict(
    services=dict(type="list", elements="dict", required=True),
    start=dict(type="dict", required=True),
    started_at=dict(type="float", required=True),
    path=dict(type="path", required=True),
    step_after=dict(type="dict", default={}),
)


def main():
    module = MaskingModule(  # the input's secrets masked, in a failed validation of it too
        secret_options=("services", "start"),
        argument_spec=dict(ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    module.no_log_values.update(_mask.secret_values(params["services"]))
    module.exit_json(**_timeline.write_report(params["services"], params["start"], params["started_at"], params["path"],
                                              params["step_after"], module.check_mode))


if __name__ == "__main__":
    main()
