"""The cluster start's graph and what it writes (issue 28): the units of the lab and what each
needs, the action each object needs against what the cluster holds, the takeover of what
client-side apply wrote, and the fields a change touches."""

import copy
import json

import pytest

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render

from ansible_collections.ananta.platform.plugins.module_utils._k8s import rules as _k8s_rules
from ansible_collections.ananta.platform.plugins.module_utils._k8s import objects_state
from ansible_collections.ananta.platform.plugins.module_utils._k8s.api import APPLIED_HASH, FIELD_MANAGER, LAST_APPLIED
from inventory_helpers import inventory_vars


def plain(value):
    return json.loads(json.dumps(value, default=str))


@pytest.fixture(scope="module")
def lab_units():
    variables = plain(inventory_vars("lab_kubernetes"))
    nodes, files = _k8s_render.step_nodes(variables["ananta_platform_steps"], variables["ananta_services"])
    renderer = _k8s_render.Renderer(variables["ananta_services"], plane_namespaces=variables["ananta_plane_namespaces"],
                                    project=variables["ananta_project"], step_image="ee:1", migration_files=files,
                                    steps=nodes, networks=variables["ananta_networks"])
    return variables, renderer, {u.name: u for u in renderer.units()}


def test_every_service_and_step_job_is_one_unit_with_its_namespace_and_configuration_first(lab_units):
    variables, _renderer, units = lab_units
    services = {s["name"] for s in variables["ananta_services"]}
    assert services <= set(units)
    steps = {n for n, u in units.items() if u.step}
    assert steps == {"temporal-namespace-init:temporal", "db-migration:arc-saas", "db-migration:app-plane",
                     "rabbitmq-stream-init:app-plane"}
    for name in services:
        unit = units[name]
        assert unit.needs[:2] == ["%s/namespace" % unit.plane, "%s/config" % unit.plane], name
        assert unit.wait is not None and unit.objects, name
    for name in steps:
        assert units[name].needs[0] == "%s/namespace" % units[name].plane
    assert units["app_plane/config"].needs == ["app_plane/namespace"]
    assert units["app_plane/namespace"].needs == []


def test_a_unit_needs_exactly_its_dependencies_and_the_step_jobs_its_gates_wait_for(lab_units):
    variables, _renderer, units = lab_units
    by_name = {s["name"]: s for s in variables["ananta_services"]}
    for name, svc in by_name.items():
        extra = [n for n in units[name].needs[2:] if n not in (svc.get("depends_on") or [])]
        assert extra == units[name].gates, name
    assert units["cns-service"].gates == ["db-migration:app-plane", "rabbitmq-stream-init:app-plane"]
    assert set(units["cns-worker"].gates) == {"db-migration:app-plane", "temporal-namespace-init:temporal",
                                              "rabbitmq-stream-init:app-plane"}
    assert units["django-backend"].gates == ["db-migration:app-plane"]
    assert set(units["tenant-management-service"].gates) == {"db-migration:arc-saas", "temporal-namespace-init:temporal"}
    # the app plane's datastores wait for nothing of the control plane
    for name in ("supabase-db", "components-v2-postgres", "app-plane-redis", "app-plane-rabbitmq", "app-plane-minio"):
        assert units[name].needs == ["app_plane/namespace", "app_plane/config"], name
    # a step Job comes after the datastores it reaches, nothing else
    assert units["db-migration:app-plane"].needs[0] == "app_plane/namespace"
    assert sorted(units["db-migration:app-plane"].needs[1:]) == ["components-v2-postgres", "supabase-db"]
    assert units["rabbitmq-stream-init:app-plane"].needs == ["app_plane/namespace", "app-plane-rabbitmq"]
    assert units["temporal-namespace-init:temporal"].needs == ["shared_temporal/namespace", "shared-temporal"]


def test_the_phases_are_the_units_grouped_in_seed_000s_order(lab_units):
    _variables, renderer, units = lab_units
    phases = renderer.render()
    by_phase = {}
    for unit in renderer.units():
        by_phase.setdefault("%s/%s" % (unit.plane, unit.phase), []).extend(unit.objects)
    assert [p["name"] for p in phases] == [name for name in by_phase if by_phase[name]]
    for phase in phases:
        assert phase["objects"] == by_phase[phase["name"]], phase["name"]
    assert len(units) == len(renderer.units())


def test_a_step_alone_is_its_job_with_its_own_configuration_and_no_need_of_its_plane(lab_units):
    _variables, renderer, _units = lab_units
    alone = renderer.units(["app_plane"], steps_only=True)
    assert [u.name for u in alone] == ["db-migration:app-plane", "rabbitmq-stream-init:app-plane"]
    assert all(u.needs == [] for u in alone)
    kinds = [o["kind"] for u in alone for o in u.objects]
    assert kinds.count("Job") == 2 and "Deployment" not in kinds and "StatefulSet" not in kinds


# ------------------------------------------------------------------ what an object needs
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns", "labels": {"a": "b"}},
              "spec": {"replicas": 1, "template": {"metadata": {"annotations": {"ananta.platform/config-hash": "h1"}},
                                                   "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}


def held(obj, digest=None, **meta):
    current = copy.deepcopy(obj)
    current["metadata"].update(meta)
    if digest:
        current["metadata"].setdefault("annotations", {})[APPLIED_HASH] = digest
    return current


def test_an_object_with_its_rendered_hash_is_not_written_and_any_change_is():
    digest = objects_state.rendered_hash(DEPLOYMENT)
    assert objects_state.action(DEPLOYMENT, None, digest) == "create"
    assert objects_state.action(DEPLOYMENT, held(DEPLOYMENT, digest), digest) == "unchanged"
    changed = copy.deepcopy(DEPLOYMENT)
    changed["spec"]["replicas"] = 2
    assert objects_state.rendered_hash(changed) != digest
    assert objects_state.action(changed, held(DEPLOYMENT, digest), objects_state.rendered_hash(changed)) == "update"
    # written by client-side apply: no hash of the collection's yet
    assert objects_state.action(DEPLOYMENT, held(DEPLOYMENT), digest) == "update"
    # the hash does not depend on the order of the keys
    reordered = json.loads(json.dumps(DEPLOYMENT, sort_keys=True))
    assert objects_state.rendered_hash(reordered) == digest


def test_a_job_runs_once_per_configuration_and_again_when_it_failed():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "db-migration", "namespace": "ns",
                                                                 "annotations": {"ananta.platform/config-hash": "c1"}},
           "spec": {"template": {"spec": {}}}}
    digest = objects_state.rendered_hash(job)
    complete = held(job, digest)
    complete["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert objects_state.action(job, complete, digest) == "unchanged"
    failed = held(job, digest)
    failed["status"] = {"conditions": [{"type": "Failed", "status": "True"}]}
    assert objects_state.action(job, failed, digest) == "recreate"
    other = copy.deepcopy(job)
    other["metadata"]["annotations"]["ananta.platform/config-hash"] = "c2"
    assert objects_state.action(other, complete, objects_state.rendered_hash(other)) == "recreate"
    # the same pod template, only a label of the Job changed: no rerun
    relabelled = copy.deepcopy(job)
    relabelled["metadata"]["labels"] = {"x": "y"}
    assert objects_state.action(relabelled, complete, objects_state.rendered_hash(relabelled)) == "update"


CSA_ENTRY = {"manager": "OpenAPI-Generator", "operation": "Update", "apiVersion": "v1", "time": "2026-12-05T01:06:31Z",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {".": {}, "f:KEY": {}, "f:GONE": {}},
                          "f:metadata": {"f:annotations": {".": {}, "f:%s" % LAST_APPLIED: {}}, "f:labels": {"f:a": {}}}}}
STATUS_ENTRY = {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "subresource": "status",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:replicas": {}}}}


def test_what_client_side_apply_wrote_becomes_the_collections_and_the_controllers_keep_theirs():
    current = {"kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [CSA_ENTRY, STATUS_ENTRY],
                                                 "annotations": {LAST_APPLIED: json.dumps({"data": {"KEY": "1"}})}}}
    fields = objects_state.takeover(current)
    assert [e["manager"] for e in fields] == ["kube-controller-manager", FIELD_MANAGER]
    mine = fields[-1]
    assert mine["operation"] == "Apply" and mine["fieldsV1"]["f:data"] == {".": {}, "f:KEY": {}, "f:GONE": {}}
    assert "f:%s" % LAST_APPLIED in mine["fieldsV1"]["f:metadata"]["f:annotations"]
    assert objects_state.last_applied(current) == {"data": {"KEY": "1"}}
    # an object the collection applied already, or that no client-side apply wrote, has nothing to take over
    assert objects_state.takeover({"metadata": {"managedFields": [STATUS_ENTRY]}}) is None
    mine_already = {"metadata": {"annotations": {APPLIED_HASH: "x", LAST_APPLIED: "{}"}}}
    assert objects_state.last_applied(mine_already) is None


def test_a_change_names_each_field_and_never_a_secrets_value():
    before = copy.deepcopy(DEPLOYMENT)
    before["metadata"].update(resourceVersion="7", managedFields=[CSA_ENTRY], uid="u")
    before["status"] = {"replicas": 1}
    after = copy.deepcopy(DEPLOYMENT)
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2"
    after["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "side:1"})
    fields = objects_state.changed_fields(before, after)
    assert ("spec.template.spec.containers[name=web].image", "web:1", "web:2") in fields
    assert ("spec.template.spec.containers[name=side]", None, {"name": "side", "image": "side:1"}) in fields
    assert len(fields) == 2, fields  # nothing the server keeps (status, resourceVersion, managedFields)
    secret_before = {"kind": "Secret", "data": {"PASSWORD": "b2xk"}, "metadata": {"name": "s"}}
    secret_after = {"kind": "Secret", "data": {"PASSWORD": "bmV3"}, "metadata": {"name": "s"}}
    assert objects_state.changed_fields(secret_before, secret_after, secret=True) == [("data.PASSWORD", "(hidden)", "(hidden)")]
    assert "bmV3" not in json.dumps(objects_state.changed_fields(secret_before, secret_after, secret=True))


# ------------------------------------------------------------------ the verdicts that need a clock
def test_an_unschedulable_pod_and_a_replica_failure_are_named():
    pod = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 Insufficient cpu."}]}}
    assert _k8s_rules.unschedulable(pod) == "0/1 nodes are available: 1 Insufficient cpu."
    assert _k8s_rules.unschedulable({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}) is None
    assert _k8s_rules.unschedulable({"status": {"phase": "Pending"}}) is None
    deployment = {"kind": "Deployment", "metadata": {"name": "web"}, "status": {"conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
         "message": 'pods "web-1" is forbidden: exceeded quota: q, requested: cpu=2'}]}}
    assert "exceeded quota" in _k8s_rules.replica_failure(deployment)
    assert _k8s_rules.replica_failure({"kind": "Deployment", "status": {"conditions": [
        {"type": "ReplicaFailure", "status": "False"}]}}) is None


def reversed_keys(value):
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def test_the_same_catalog_in_another_key_order_renders_the_same_objects(lab_units):
    """Found by the takeover test: a gate's configuration was written in the catalog's key order,
    so the same catalog given as extra vars' JSON (sorted keys) rolled every gated pod."""
    variables, renderer, _units = lab_units
    services = reversed_keys(variables["ananta_services"])
    assert list(services[0]) != list(variables["ananta_services"][0])
    other = _k8s_render.Renderer(services, plane_namespaces=variables["ananta_plane_namespaces"],
                                 project=variables["ananta_project"], step_image="ee:1",
                                 migration_files=renderer.opts["migration_files"], steps=renderer.opts["steps"],
                                 networks=variables["ananta_networks"])
    assert [o for p in other.render() for o in p["objects"]] == [o for p in renderer.render() for o in p["objects"]]
