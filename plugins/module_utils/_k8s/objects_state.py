# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a start must write: each rendered object against what the cluster holds.

Pure functions on objects as the API shapes them (plain dicts): the hash of an object's
rendered form (kept on the object, ``APPLIED_HASH``), the action it needs (``create``,
``update``, ``recreate`` for a Job whose pod template changed or that failed, ``unchanged``),
the takeover of an object that client-side apply wrote (its manager's fields become the
collection's, so that a field the collection later drops is removed), and the fields a change
touches, for ``--diff``.
"""

from __future__ import annotations

import copy
import hashlib
import json

from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import APPLIED_HASH, FIELD_MANAGER, LAST_APPLIED
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import ANNOTATION_HASH

CREATE, UPDATE, RECREATE, UNCHANGED = "create", "update", "recreate", "unchanged"
# what the server sets on an object, never compared
SERVER_FIELDS = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers", "ownerReferences")


def rendered_hash(obj):
    """The hash of an object's rendered form (before the collection adds this hash to it)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]


def with_hash(obj, digest):
    """The object to apply: the rendered one with its hash among its annotations."""
    body = copy.deepcopy(obj)
    body["metadata"].setdefault("annotations", {})[APPLIED_HASH] = digest
    return body


def _annotations(current):
    return ((current or {}).get("metadata") or {}).get("annotations") or {}


def job_failed(job):
    return any(c.get("type") == "Failed" and c.get("status") == "True"
               for c in ((job or {}).get("status") or {}).get("conditions") or [])


def action(obj, current, digest):
    """What ``obj`` needs, given ``current`` (the cluster's object, or only its metadata; None
    when it does not exist) and the hash of its rendered form."""
    if current is None:
        return CREATE
    if obj["kind"] == "Job":
        # a Job's pod template cannot change: one of another configuration, or that failed, is
        # run again (the steps are idempotent); the same one, complete or running, is left alone
        wanted = (obj["metadata"].get("annotations") or {}).get(ANNOTATION_HASH)
        if _annotations(current).get(ANNOTATION_HASH) != wanted or job_failed(current):
            return RECREATE
    if _annotations(current).get(APPLIED_HASH) == digest:
        return UNCHANGED
    return UPDATE


def last_applied(current):
    """What client-side apply last wrote of an object the collection has not applied yet (its
    annotation), or None."""
    annotations = _annotations(current)
    if APPLIED_HASH in annotations or LAST_APPLIED not in annotations:
        return None
    try:
        return json.loads(annotations[LAST_APPLIED])
    except ValueError:
        return None


def takeover(current):
    """The managedFields that make the collection the owner of what client-side apply wrote
    (``kubectl apply``, kubernetes.core's ``apply: true``): the entries of the manager that owns
    the last-applied annotation are merged into the collection's own apply entry, as kubectl's
    upgrade to server-side apply does. None when there is nothing to take over."""
    entries = ((current or {}).get("metadata") or {}).get("managedFields") or []
    old = [e for e in entries if e.get("operation") == "Update" and not e.get("subresource")
           and "f:%s" % LAST_APPLIED in ((e.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations", {})]
    if not old:
        return None
    mine = [e for e in entries if e.get("manager") == FIELD_MANAGER and e.get("operation") == "Apply"]
    fields = copy.deepcopy(mine[0].get("fieldsV1") or {}) if mine else {}
    for entry in old:
        _merge(fields, entry.get("fieldsV1") or {})
    kept = [e for e in entries if e not in old and e not in mine]
    merged = {"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": old[0].get("apiVersion"),
              "fieldsType": "FieldsV1", "fieldsV1": fields}
    if old[0].get("time"):
        merged["time"] = old[0]["time"]
    return kept + [merged]


def _merge(into, other):
    for name, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(name), dict):
            _merge(into[name], value)
        elif name not in into:
            into[name] = copy.deepcopy(value)


def _comparable(obj):
    obj = copy.deepcopy(obj or {})
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for name in SERVER_FIELDS:
        meta.pop(name, None)
    (meta.get("annotations") or {}).pop(LAST_APPLIED, None)
    if meta.get("annotations") == {}:
        meta.pop("annotations")
    return obj


def _key_of(items):
    """A list of mappings that all have a name is compared by name, as Kubernetes merges it."""
    if items and all(isinstance(i, dict) and "name" in i for i in items):
        return lambda i: "[name=%s]" % i["name"]
    return None


def changed_fields(before, after, secret=False, path=""):
    """The fields that differ between two objects (a server-side dry-run's answer and the
    current object), as ``(path, before, after)``; values of a Secret's data are not shown."""
    if path == "":
        before, after = _comparable(before), _comparable(after)
    found = []
    if isinstance(before, dict) and isinstance(after, dict):
        for name in sorted(set(before) | set(after)):
            sub = "%s.%s" % (path, name) if path else name
            found.extend(changed_fields(before.get(name), after.get(name), secret, sub))
        return found
    if isinstance(before, list) and isinstance(after, list):
        keyed = _key_of(before) and _key_of(after)
        if keyed:
            left = {keyed(i): i for i in before}
            right = {keyed(i): i for i in after}
            for name in list(left) + [n for n in right if n not in left]:
                found.extend(changed_fields(left.get(name), right.get(name), secret, path + name))
            return found
        if len(before) == len(after):
            for index, (left, right) in enumerate(zip(before, after)):
                found.extend(changed_fields(left, right, secret, "%s[%d]" % (path, index)))
            return found
    if before != after:
        hide = secret and path.split(".")[0] in ("data", "stringData")
        found.append((path, "(hidden)" if hide and before is not None else before,
                      "(hidden)" if hide and after is not None else after))
    return found
