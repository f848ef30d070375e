#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_pod_logs
short_description: Write every pod's object and every container's log of the platform's namespaces to a directory
version_added: 0.3.0
description:
  - For each namespace, lists the pods that carry the project's label and writes, under O(dest)/<namespace>/,
    the pod object (C(<pod>.pod.json)) and the log of each container, init containers included
    (C(<pod>.<container>.log)); for a container that restarted, also the previous container's log
    (C(<pod>.<container>.previous.log)).
  - One task for the whole cluster, instead of one per container; every API call has a deadline (O(request_timeout)).
  - A container that never started has no log; its file says why (the API's answer), and the pod object tells the rest.
author:
  - Ananta Platform engineers (@ananta-platform)
extends_documentation_fragment:
  - ananta.platform.kubernetes
  - ananta.platform.attributes
  - ananta.platform.attributes.SNAPSHOT
attributes:
  check_mode:
    details: Reads the pods and reports what would be written, writing nothing.
options:
  namespaces:
    description: The namespaces to read.
    type: list
    elements: str
    required: true
  project:
    description: Only the pods labelled C(ananta.platform/project=<project>).
    type: str
    required: true
  dest:
    description: Directory to write to (created, mode 0700; files mode 0600).
    type: path
    required: true
  request_timeout:
    description: Seconds each API call may take.
    type: float
    default: 20
  tail_lines:
    description: Keep only the last lines of each log (0 for the whole log).
    type: int
    default: 0
  services:
    description:
      - The catalog (C(ananta_services)). The value of every secret it holds (passwords, tokens, keys; see
        C(docs/catalog.md)) is masked in every file written, wherever it appears.
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
"""

EXAMPLES = r"""
- name: Collect the logs of every pod of the platform
  ananta.platform.k8s_pod_logs:
    namespaces: [temporal, arc-saas, app-plane]
    project: ananta-prod
    dest: /tmp/ananta-logs/cluster
    kubeconfig: ~/.kube/config
"""

RETURN = r"""
pods:
  description: Pods read, as C(namespace/name).
  returned: always
  type: list
  elements: str
files:
  description: Files written (relative to O(dest)).
  returned: always
  type: list
  elements: str
missing:
  description: Containers without a log, with the API's answer.
  returned: always
  type: list
  elements: str
"""

import json
import os

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ananta.platform.plugins.module_utils import _mask

from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness
from ansible_collections.ananta.platform.plugins.module_utils._mask import mask_data, mask_text
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import LABEL_PROJECT
from ansible_collections.ananta.platform.plugins.module_utils._k8s.rules import K8S_ARGSPEC


def _write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def collect(api, params, check_mode, secrets=()):
    from kubernetes import client as k8s_client  # present: checked by the caller

    core = k8s_client.CoreV1Api(api)
    timeout = params["request_timeout"]
    result = dict(pods=[], files=[], missing=[])
    for namespace in params["namespaces"]:
        try:
            data = core.list_namespaced_pod(namespace, label_selector="%s=%s" % (LABEL_PROJECT, params["project"]),
                                            _preload_content=False, _request_timeout=timeout).data
        except Exception as exc:  # pylint: disable=broad-except  # ApiException, urllib3 errors: named
            raise AnantaError("listing the pods of namespace %s failed: %s" % (namespace, str(exc).splitlines()[0])) from exc
        pods = json.loads(data).get("items") or []
        directory = os.path.join(params["dest"], namespace)
        if not check_mode:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        for pod in pods:
            name = pod["metadata"]["name"]
            result["pods"].append("%s/%s" % (namespace, name))
            files = {"%s.pod.json" % name: json.dumps(mask_data(pod, secrets), indent=1, sort_keys=True)}
            statuses = {s["name"]: s for key in ("initContainerStatuses", "containerStatuses")
                        for s in (pod.get("status") or {}).get(key) or []}
            containers = [c["name"] for key in ("initContainers", "containers") for c in (pod.get("spec") or {}).get(key) or []]
            for container in containers:
                runs = [False] + ([True] if int((statuses.get(container) or {}).get("restartCount") or 0) > 0 else [])
                for previous in runs:
                    suffix = ".previous.log" if previous else ".log"
                    try:
                        text = core.read_namespaced_pod_log(name, namespace, container=container, previous=previous,
                                                            tail_lines=params["tail_lines"] or None,
                                                            _preload_content=False, _request_timeout=timeout).data
                        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                    except Exception as exc:  # pylint: disable=broad-except  # a container that never ran has no log
                        text = "no log: %s\n" % str(exc).splitlines()[0]
                        result["missing"].append("%s/%s/%s: %s" % (namespace, name, container, str(exc).splitlines()[0]))
                    files["%s.%s%s" % (name, container, suffix)] = mask_text(text, secrets)
            for filename, text in files.items():
                if not check_mode:
                    _write(os.path.join(directory, filename), text)
                result["files"].append(os.path.join(namespace, filename))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            K8S_ARGSPEC,
            namespaces=dict(type="list", elements="str", required=True),
            project=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            request_timeout=dict(type="float", default=20),
            tail_lines=dict(type="int", default=0),
            services=dict(type="list", elements="dict", default=[]),
            secrets=dict(type="list", elements="str", default=[], no_log=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not _k8s_readiness.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(_k8s_readiness.KUBERNETES_IMPORT_ERROR))
    try:
        secrets = set(params["secrets"]) | _mask.secret_values(params["services"])
        module.no_log_values.update(secrets)
        api = _k8s_readiness.api_client_for(params)
        result = collect(api, params, module.check_mode, secrets)
    except AnantaError as exc:
        module.fail_json(msg="Failed to collect the pods' logs: %s" % exc.message)
    except OSError as exc:
        module.fail_json(msg="Failed to write the pods' logs under %s: %s" % (params["dest"], exc))
    except Exception as exc:  # pylint: disable=broad-except  # the last resort: named, never a bare traceback
        module.fail_json(msg="Failed to collect the pods' logs: unexpected %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    module.exit_json(changed=not module.check_mode and bool(result["files"]), **result)


if __name__ == "__main__":
    main()
