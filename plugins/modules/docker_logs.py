#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_logs
short_description: Write each container's inspect output and log to a directory, through the Docker API
version_added: 0.3.0
description:
  - For each container named, writes C(<container>.inspect.json) and C(<container>.log) (stdout and
    stderr, with time stamps) under O(dest); a container that does not exist gets C(<container>.missing).
  - Talks to the Docker engine through its API (the Docker SDK for Python), not the C(docker) command, so that
    it runs in an execution environment that has no Docker CLI (AWX) as well as on the Docker host.
  - The engine being unreachable is an error naming its address, not a list of missing containers.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.docker
  - ananta.platform.attributes
  - ananta.platform.attributes.SNAPSHOT
attributes:
  check_mode:
    details: Reads the containers and reports what would be written, writing nothing.
options:
  containers:
    description: The container names.
    type: list
    elements: str
    required: true
  dest:
    description: Directory to write to (created, mode 0700; files mode 0600).
    type: path
    required: true
  timeout:
    description: Seconds each API call may take.
    type: float
    default: 60
  tail_lines:
    description: Keep only the last lines of each log (0 for the whole log).
    type: int
    default: 0
  services:
    description:
      - The catalog (C(ananta_services)). The value of every secret it holds (passwords, tokens, keys; see
        C(docs/catalog.md)), is masked in every file written, wherever it appears.
    type: list
    elements: dict
    default: []
  secrets:
    description:
      - More values to mask (the steps' passwords, say). Besides these and the catalog's, every URL's password and
        the value of every environment variable whose name says secret (C(*PASSWORD*), C(*SECRET*), C(*TOKEN*),
        C(*KEY*)...) are masked as C(********); names, states, restart counts and log lines stay.
    type: list
    elements: str
    default: []
requirements:
  - docker (the Docker SDK for Python)
"""

EXAMPLES = r"""
- name: Every service's log and inspect output
  ananta.platform.docker_logs:
    containers: "{{ ananta_services | map(attribute='container_name') | list }}"
    dest: /tmp/ananta-logs/docker
"""

RETURN = r"""
files:
  description: Files written (relative to O(dest)).
  returned: always
  type: list
  elements: str
missing:
  description: Containers that do not exist.
  returned: always
  type: list
  elements: str
"""

import json
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _mask

from ansible_collections.ananta.platform.plugins.module_utils._docker import runtime as _docker_runtime
from ansible_collections.ananta.platform.plugins.module_utils._mask import mask_data, mask_text
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def collect(runtime, containers, dest, tail_lines, check_mode, secrets=()):
    files, missing = [], []
    if not check_mode:
        os.makedirs(dest, mode=0o700, exist_ok=True)
    for name in containers:
        try:
            attrs = runtime.api.inspect_container(name)
        except _docker_runtime.NotFound:
            missing.append(name)
            if not check_mode:
                _write(os.path.join(dest, name + ".missing"), b"container %s does not exist\n" % name.encode())
            files.append(name + ".missing")
            continue
        except _docker_runtime.DockerException as exc:
            raise AnantaError("cannot inspect container %s at the Docker engine: %s" % (name, exc)) from exc
        try:
            log = runtime.api.logs(name, stdout=True, stderr=True, timestamps=True, tail=tail_lines or "all")
        except _docker_runtime.DockerException as exc:
            log = ("(the engine did not give the log: %s)\n" % exc).encode()
        if not check_mode:
            _write(os.path.join(dest, name + ".inspect.json"),
                   json.dumps(mask_data(attrs, secrets), indent=2, sort_keys=True).encode())
            _write(os.path.join(dest, name + ".log"), mask_text((log or b"").decode("utf-8", "replace"), secrets).encode())
        files += [name + ".inspect.json", name + ".log"]
    return files, missing


def main():
    module = AnsibleModule(
        argument_spec=dict(containers=dict(type="list", elements="str", required=True),
                           dest=dict(type="path", required=True), timeout=dict(type="float", default=60),
                           tail_lines=dict(type="int", default=0), services=dict(type="list", elements="dict", default=[]),
                           secrets=dict(type="list", elements="str", default=[], no_log=True),
                           **_docker_runtime.DOCKER_ARGSPEC),
        supports_check_mode=True)
    if not _docker_runtime.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=str(_docker_runtime.DOCKER_IMPORT_ERROR))
    params = module.params
    try:
        runtime = _docker_runtime.DockerRuntime(params["docker_host"], timeout=params["timeout"])
    except AnantaError as exc:  # the engine cannot be reached: named, with its address
        module.fail_json(msg=exc.message)
    try:
        secrets = set(params["secrets"]) | _mask.secret_values(params["services"])
        module.no_log_values.update(secrets)
        files, missing = collect(runtime, params["containers"], params["dest"], params["tail_lines"], module.check_mode, secrets)
    except AnantaError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="collecting the logs into %s failed: unexpected %s: %s" % (params["dest"], type(exc).__name__, exc),
                         exception=traceback.format_exc())
    module.exit_json(changed=not module.check_mode, files=files, missing=missing)


if __name__ == "__main__":
    main()
