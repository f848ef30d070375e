"""The Kubernetes objects of the catalog: seed 000's phase order, the init containers, the Jobs,
secrets kept out of ConfigMaps, and every manifest of the lab and of the example cluster
inventory valid against the official schemas of Kubernetes 1.28 and of the newest version
kubernetes-validate knows (strict: an unknown field is an error)."""

import copy
import json

import kubernetes_validate
import pytest

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from ansible_collections.ananta.platform.plugins.module_utils._k8s.common import ANNOTATION_HASH, LABEL_STEP
from ansible_collections.ananta.platform.plugins.module_utils._k8s.naming import object_name
from ansible_collections.ananta.platform.plugins.module_utils._k8s.phases import stop_phases
from ansible_collections.ananta.platform.plugins.module_utils._errors import CatalogError
from inventory_helpers import inventory_vars

VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]


def plain(value):
    return json.loads(json.dumps(value, default=str))


def render_inventory(name, services=None, steps=None, **overrides):
    """The inventory's objects, its steps rendered from the definition's steps (the
    definitions the Docker start runs); ``steps`` keeps only the definitions of these kinds."""
    variables = plain(inventory_vars(name))
    services = services or variables["ananta_services"]
    definitions = [d for d in variables["ananta_platform_steps"] if steps is None or d["kind"] in steps]
    nodes, files = _k8s_render.step_nodes(definitions, services)
    options = dict(plane_namespaces=variables.get("ananta_plane_namespaces"), project=variables["ananta_project"],
                   step_image=variables["ananta_k8s_step_image"], migration_files=files, steps=nodes,
                   networks=variables["ananta_networks"])
    options.update(overrides)
    return variables, _k8s_render.Renderer(services, **options).render()


@pytest.fixture(scope="module")
def lab():
    return render_inventory("lab")


@pytest.fixture(scope="module")
def example():
    return render_inventory("kubernetes_example")


def all_objects(phases):
    return [obj for phase in phases for obj in phase["objects"]]


def find(phases, kind, name, namespace=None):
    found = [o for o in all_objects(phases) if o["kind"] == kind and o["metadata"]["name"] == name
             and (namespace is None or o["metadata"].get("namespace") == namespace)]
    assert len(found) == 1, "%s %s: %d found" % (kind, name, len(found))
    return found[0]


# ------------------------------------------------------------------ schemas
@pytest.mark.parametrize("inventory", ["lab", "kubernetes_example"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly(inventory, version, lab, example):
    phases = (lab if inventory == "lab" else example)[1]
    objects = all_objects(phases)
    assert len(objects) > 80
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append("%s %s: %s" % (obj["kind"], obj["metadata"]["name"], exc))
    assert not problems, "\n".join(problems)


def test_the_validation_is_strict():
    """The check above can fail: an unknown field, and a wrong type, are rejected."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                      "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "x", "image": "x", "command": "oops"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["command"] = ["ok"]
    kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)
    deployment["spec"]["template"]["spec"]["containers"][0]["initContainers"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


# ------------------------------------------------------------------ phase order
def test_phases_follow_seed_000(lab):
    _variables, phases = lab
    names = [p["name"] for p in phases]
    assert names == [
        "shared_temporal/namespace", "shared_temporal/config", "shared_temporal/statefulsets", "shared_temporal/jobs",
        "shared_temporal/level-0", "control_plane/namespace", "control_plane/config", "control_plane/statefulsets", "control_plane/jobs",
        "control_plane/level-1", "control_plane/level-2", "control_plane/level-5",
        "app_plane/namespace", "app_plane/config", "app_plane/statefulsets", "app_plane/jobs",
        "app_plane/level-3", "app_plane/level-4", "app_plane/level-5"]


def test_each_kind_in_its_phase_and_the_app_plane_as_seed_000_lists_it(lab):
    _variables, phases = lab
    by_name = {p["name"]: p for p in phases}
    for phase in phases:
        kinds = {o["kind"] for o in phase["objects"]}
        if phase["phase"] == "statefulsets":
            assert "Deployment" not in kinds and "Job" not in kinds
        if phase["phase"].startswith("level-"):
            assert kinds <= {"Deployment", "Service", "PersistentVolumeClaim"}
    app_sts = [o["metadata"]["name"] for o in by_name["app_plane/statefulsets"]["objects"] if o["kind"] == "StatefulSet"]
    assert app_sts == ["supabase-db", "components-db", "redis", "rabbitmq", "minio"]  # Phase 1, 1.1 to 1.5
    config = {o["metadata"]["name"] for o in by_name["app_plane/config"]["objects"]}
    assert {"cns-service-config", "cns-worker-config", "db-credentials"} <= config  # Phase 2
    jobs = [o["metadata"]["name"] for o in by_name["app_plane/jobs"]["objects"] if o["kind"] == "Job"]
    assert jobs == ["minio-init", "db-migration", "rabbitmq-stream-init"]  # Phase 3 (3.1, 3.2)
    level4 = [o["metadata"]["name"] for o in by_name["app_plane/level-4"]["objects"] if o["kind"] == "Deployment"]
    assert level4[:2] == ["cns-service", "cns-worker"]  # Phase 5, 5.1 and 5.2
    level5 = [o["metadata"]["name"] for o in by_name["app_plane/level-5"]["objects"] if o["kind"] == "Deployment"]
    assert {"cns-dashboard", "customer-portal"} <= set(level5)  # 5.3, 5.4


def test_every_dependency_is_ready_before_its_dependant_is_applied(lab):
    """Walking the phases in order, each workload's dependencies were applied in an earlier
    phase (and waited for), or in the same phase with an init container waiting for them."""
    variables, phases = lab
    catalog = {s["name"]: s for s in variables["ananta_services"]}
    waited = set()
    for phase in phases:
        names = {w["name"] for w in phase["waits"]}
        for name in names & set(catalog):
            for dep in catalog[name].get("depends_on") or []:
                if dep in waited:
                    continue
                assert dep in names, "%s is applied in %s before its dependency %s" % (name, phase["name"], dep)
                workload = [o for o in phase["objects"] if o["kind"] in ("StatefulSet", "Deployment", "Job")
                            and o["metadata"]["name"] == object_name(catalog[name])][0]
                init = workload["spec"]["template"]["spec"].get("initContainers") or []
                assert any(c["name"] == "wait-for-dependencies" for c in init), (name, dep)
        waited |= names


def test_external_waits_name_the_other_planes_services(lab):
    _variables, phases = lab
    by_name = {p["name"]: p for p in phases}
    assert [w["name"] for w in by_name["control_plane/level-2"]["external"]] == ["shared-temporal"]
    assert by_name["app_plane/statefulsets"]["external"] == []


def test_stop_order_is_the_reverse_without_config_and_namespaces(lab):
    _variables, phases = lab
    stop = [p["name"] for p in stop_phases(phases)]
    assert stop[0] == "app_plane/level-5" and stop[-1] == "shared_temporal/statefulsets"
    assert not any(name.endswith(("/config", "/namespace")) for name in stop)
    assert stop.index("app_plane/level-4") < stop.index("app_plane/jobs") < stop.index("app_plane/statefulsets")


# ------------------------------------------------------------------ init containers and Jobs
def init_config(phases, workload, container):
    secret = find(phases, "Secret", "db-credentials", "app-plane")
    return json.loads(secret["stringData"]["%s.%s.json" % (workload, container)])


def test_init_containers_of_seed_000(lab):
    _variables, phases = lab
    service = find(phases, "Deployment", "cns-service")
    init = [c["name"] for c in service["spec"]["template"]["spec"]["initContainers"]]
    assert init == ["wait-for-dependencies", "wait-for-schema"]
    schema = init_config(phases, "cns-service", "wait-for-schema")["probes"]
    tables = sorted(t for p in schema for t in p["tables"])
    assert tables == ["bom_processing_jobs", "components_v2.component_catalog"]
    # in-cluster: the services' names and container ports, not the Docker host's published ports
    assert {(p["host"], p["port"]) for p in schema} == {("supabase-db", 5432), ("components-v2-postgres", 5432)}
    worker = init_config(phases, "cns-worker", "wait-for-dependencies")["probes"]
    assert {"probe": "http", "host": "cns-service", "port": 8000, "path": "/health", "service": "cns-service"}.items() <= \
        [p for p in worker if p.get("service") == "cns-service"][0].items()
    command = service["spec"]["template"]["spec"]["initContainers"][0]["command"]
    assert command[-1] == "wait" and command[1].endswith("ansible_collections/ananta/platform/tools/ananta_step.py")


def test_jobs_run_the_collections_code_with_their_own_config_and_secret(lab):
    _variables, phases = lab
    migration = find(phases, "Job", "db-migration", "app-plane")
    container = migration["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ananta-lab/ee:0.1" and container["command"][-1] == "migrate"
    assert migration["spec"]["backoffLimit"] == 0
    config = json.loads(find(phases, "ConfigMap", "db-migration-config", "app-plane")["data"]["config.json"])
    assert [d["name"] for d in config["databases"]] == ["components-db", "supabase-db"]
    versions = [m["version"] for d in config["databases"] for m in d["migrations"]]
    assert sorted(versions) == ["001", "002", "005", "007", "008"]
    files = find(phases, "ConfigMap", "ananta-migrations", "app-plane")["data"]
    assert sorted(files) == ["001_SUPABASE_MASTER.sql", "002_COMPONENTS_V2_MASTER.sql", "005_DIRECTUS_ENRICHMENT_TABLES.sql",
                             "007_component_catalog_table.sql", "008_column_mapping_templates.sql"]
    control = json.loads(find(phases, "ConfigMap", "db-migration-config", "arc-saas")["data"]["config.json"])
    assert [m["version"] for m in control["databases"][0]["migrations"]] == ["003", "004", "006"]
    assert control["databases"][0]["migrations"][1]["skip"] is True
    topology = json.loads(find(phases, "ConfigMap", "rabbitmq-stream-init-config", "app-plane")["data"]["config.json"])
    assert [e["name"] for e in topology["exchanges"]] == ["platform.events", "bom.events", "enrichment.events"]
    assert len(topology["queues"]) == 6 and topology["host"] == "app-plane-rabbitmq"


def test_a_changed_migration_changes_the_job_hash_only(lab):
    variables, phases = lab
    files = _k8s_render.read_files(variables["ananta_migrations_path"], [e["file"] for e in variables["ananta_migrations"]])
    files["008_column_mapping_templates.sql"] += "\n-- changed\n"
    _v, again = render_inventory("lab", migration_files=files)
    before = {p["name"]: p["job_hashes"] for p in phases if p["job_hashes"]}
    after = {p["name"]: p["job_hashes"] for p in again if p["job_hashes"]}
    assert before["app_plane/jobs"]["db-migration"] != after["app_plane/jobs"]["db-migration"]
    assert before["app_plane/jobs"]["rabbitmq-stream-init"] == after["app_plane/jobs"]["rabbitmq-stream-init"]
    assert before["control_plane/jobs"] == after["control_plane/jobs"]


def test_steps_only_renders_the_step_objects(lab):
    variables, _phases = lab
    _v, phases = render_inventory("lab", steps=("migrations",))
    app_jobs = [p for p in phases if p["name"] == "app_plane/jobs"][0]
    assert "rabbitmq-stream-init" not in app_jobs["job_hashes"]
    nodes, files = _k8s_render.step_nodes([d for d in variables["ananta_platform_steps"] if d["kind"] == "migrations"],
                                          variables["ananta_services"])
    renderer = _k8s_render.Renderer(variables["ananta_services"], step_image="x", steps=nodes, migration_files=files)
    only = renderer.render(["app_plane"], steps_only=True)
    assert [p["name"] for p in only] == ["app_plane/jobs"]
    assert {(o["kind"], o["metadata"]["name"]) for o in only[0]["objects"]} == {
        ("ConfigMap", "ananta-migrations"), ("ConfigMap", "db-migration-config"),
        ("Secret", "db-migration-credentials"), ("Job", "db-migration")}


# ------------------------------------------------------------------ secrets and names
def test_no_secret_value_in_a_configmap_or_a_plain_env(example):
    variables, phases = example
    secrets = {str(v) for v in variables["ananta_secrets"].values() if len(str(v)) >= 3}
    for obj in all_objects(phases):
        if obj["kind"] == "Secret":
            continue
        text = json.dumps(obj)
        leaked = [s for s in secrets if s in text]
        assert not leaked, "%s %s holds a secret" % (obj["kind"], obj["metadata"]["name"])


def test_names_used_on_docker_resolve_in_every_namespace(lab):
    _variables, phases = lab
    aliases = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"] for o in all_objects(phases)
               if o["kind"] == "Service" and o["spec"].get("type") == "ExternalName"}
    assert aliases[("arc-saas", "shared-temporal")]["externalName"] == "shared-temporal.temporal.svc.cluster.local"
    assert aliases[("app-plane", "shared-temporal")]["externalName"] == "shared-temporal.temporal.svc.cluster.local"
    # a workload renamed for seed 000 (components-db) keeps its catalog name as a second Service
    renamed = find(phases, "Service", "components-v2-postgres", "app-plane")
    assert renamed["spec"]["selector"]["app.kubernetes.io/name"] == "components-db"


def test_datastores_keep_their_data_in_claims(lab):
    _variables, phases = lab
    sts = find(phases, "StatefulSet", "supabase-db")
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "app-plane-supabase-db-data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    mount = sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert mount["mountPath"] == "/var/lib/postgresql/data" and mount["subPath"] == "data"
    assert find(phases, "Service", "supabase-db", "app-plane")["spec"]["clusterIP"] == "None"


def test_bad_catalog_is_refused_naming_the_service(lab):
    variables, _phases = lab
    services = copy.deepcopy(variables["ananta_services"])
    db = [s for s in services if s["name"] == "supabase-db"][0]
    db["depends_on"] = ["supabase-meta"]  # a StatefulSet on a Deployment of a later phase
    db["level"] = 3
    meta = [s for s in services if s["name"] == "supabase-meta"][0]
    meta["depends_on"] = []
    meta.pop("restart_with", None)
    db["volumes"] = ["/srv/data:/var/lib/postgresql/data"]
    with pytest.raises(CatalogError) as caught:
        _k8s_render.Renderer(services, step_image="x")
    text = caught.value.message
    assert "'supabase-db' (StatefulSet) depends on 'supabase-meta' (Deployment)" in text
    assert "bind mount" in text and "supabase-db" in text


# ------------------------------------------------------------------ what a production cluster expects
def workload_containers(phases):
    for obj in all_objects(phases):
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            pod = obj["spec"]["template"]["spec"]
            for container in pod.get("initContainers", []) + pod["containers"]:
                yield obj, pod, container


@pytest.mark.parametrize("inventory", ["lab", "kubernetes_example"])
def test_every_container_has_requests_limits_and_no_privilege(inventory, lab, example):
    phases = (lab if inventory == "lab" else example)[1]
    seen = 0
    for obj, pod, container in workload_containers(phases):
        seen += 1
        where = "%s %s container %s" % (obj["kind"], obj["metadata"]["name"], container["name"])
        resources = container.get("resources") or {}
        assert resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory"), where
        assert resources.get("limits", {}).get("memory") and resources.get("limits", {}).get("cpu"), where
        security = container.get("securityContext") or {}
        assert security.get("privileged") is False and security.get("allowPrivilegeEscalation") is False, where
        assert pod["automountServiceAccountToken"] is False, where
        assert 1 <= pod["terminationGracePeriodSeconds"] <= 60, where
        # its last lines before an error kept in its status: the waits name why it ended
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError", where
    assert seen > 40


def test_the_kubelet_runs_what_it_can_itself_and_a_command_only_where_a_query_judges(lab):
    """Issue 28: httpGet/tcpSocket where the catalog's readiness is an HTTP or TCP check of the
    service's own port; the catalog's healthcheck command where only a query can tell (a
    database that must accept queries: pg_isready, redis-cli ping; Temporal's namespace; a
    worker's process); RabbitMQ's startup and liveness by its AMQP port, its readiness by its
    command. Every kind of the lab's catalog is met, and the periods keep an idle platform quiet."""
    variables, phases = lab
    by_name = {s["name"]: s for s in variables["ananta_services"]}
    seen = {}
    for obj, _pod, container in workload_containers(phases):
        if obj["kind"] == "Job" or container["name"] != obj["metadata"]["name"]:
            continue
        svc = by_name.get(obj["metadata"]["name"]) or next(
            s for s in variables["ananta_services"] if (s.get("kubernetes") or {}).get("k8s_name") == obj["metadata"]["name"])
        kind = (svc.get("readiness") or {}).get("probe")
        test = [str(t) for t in ((svc.get("healthcheck") or {}).get("test") or [])[1:]]
        ports = [p["containerPort"] for p in container.get("ports") or []]
        seen[kind] = seen.get(kind, 0) + 1
        probes = {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        if kind == "http":
            for name in ("startupProbe", "readinessProbe"):
                probe = probes[name]
                assert set(probe) & {"exec", "httpGet", "tcpSocket"} == {"httpGet"}, (svc["name"], name)
                assert probe["httpGet"]["path"] == svc["readiness"]["path"] and probe["httpGet"]["port"] in ports
            # liveness judges the process, not its dependencies (its health path reports them)
            assert probes["livenessProbe"]["tcpSocket"] == {"port": probes["readinessProbe"]["httpGet"]["port"]}
        elif kind == "amqp":
            assert probes["startupProbe"]["tcpSocket"]["port"] == 5672 and probes["livenessProbe"]["tcpSocket"]["port"] == 5672
            assert probes["readinessProbe"]["exec"]["command"] == test, svc["name"]
        else:
            for name in ("startupProbe", "readinessProbe"):
                assert probes[name]["exec"]["command"] == test, (svc["name"], name)
            # liveness: the process, by its port; by its command where it has none (a worker)
            if ports:
                assert probes["livenessProbe"]["tcpSocket"]["port"] in ports, svc["name"]
            else:
                assert probes["livenessProbe"]["exec"]["command"] == test, svc["name"]
        readiness = probes["readinessProbe"]
        assert readiness["periodSeconds"] == (60 if "exec" in readiness else 10), svc["name"]
        assert probes["livenessProbe"]["periodSeconds"] == (60 if "exec" in probes["livenessProbe"] else 20), svc["name"]
        # the startup probe checks every second (the readiness probe runs the moment it passes) and
        # its budget covers the service's readiness time budget: a slow boot is never killed
        startup = probes["startupProbe"]
        assert startup["periodSeconds"] == 1
        assert startup["periodSeconds"] * startup["failureThreshold"] >= float(svc["readiness"].get("timeout") or 300)
    assert seen.get("http", 0) >= 15 and seen.get("postgres") == 4 and seen.get("amqp") == 1, seen
    assert {"redis", "temporal", "process", "docker_health"} <= set(seen), seen


def test_a_dependency_without_a_port_is_waited_for_by_its_name(lab):
    """A StatefulSet with no port (novu-mongodb: the catalog publishes none) is gated by its
    headless Service's name, which resolves only once its pod is ready and the cluster's DNS has
    it (found by the one-call start: novu-api started the moment novu-mongodb was Ready and its
    first lookup failed)."""
    phases = lab[1]
    api = find(phases, "Deployment", "novu-api", "arc-saas")
    init = api["spec"]["template"]["spec"]["initContainers"][0]
    assert init["name"] == "wait-for-dependencies"
    secret = find(phases, "Secret", "db-credentials", "arc-saas")["stringData"]["novu-api.wait-for-dependencies.json"]
    probes = json.loads(secret)["probes"]
    assert {"probe": "dns", "host": "novu-mongodb.arc-saas.svc.cluster.local", "service": "novu-mongodb"} in probes


def test_the_namespaces_are_a_job_in_the_cluster_before_level_0(lab):
    phases = lab[1]
    names = [p["name"] for p in phases if p["plane"] == "shared_temporal"]
    assert names.index("shared_temporal/jobs") < names.index("shared_temporal/level-0")
    job = find(phases, "Job", "temporal-namespace-init", "temporal")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "namespaces"
    config = json.loads(find(phases, "ConfigMap", "temporal-namespace-init-config", "temporal")["data"]["config.json"])
    assert config["address"] == "shared-temporal:7233"
    assert [n["name"] for n in config["namespaces"]] == ["arc-saas", "enrichment", "default"]
    assert job["metadata"]["labels"][LABEL_STEP] == "namespaces"
    # the workers' gates wait for their namespace: the Job provides it
    worker = init_config(phases, "cns-worker", "wait-for-dependencies")
    assert any(p.get("probe") == "temporal" and p.get("namespace") == "enrichment" for p in worker["probes"])


def reachable(phases, namespaces_of, source, target):
    """Whether the NetworkPolicies let a pod of ``source`` (name, namespace, labels) reach ``target``."""
    src_name, src_ns, src_labels = source
    tgt_name, tgt_ns = target
    policies = [o for o in all_objects(phases) if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == tgt_ns]
    selecting = [p for p in policies if not p["spec"]["podSelector"]
                 or p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == tgt_name]
    if not selecting:
        return True  # no policy selects the pod: open

    def matches(selector, labels):
        for key, value in (selector.get("matchLabels") or {}).items():
            if labels.get(key) != value:
                return False
        for expr in selector.get("matchExpressions") or []:
            if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
                return False
            if expr["operator"] == "Exists" and expr["key"] not in labels:
                return False
        return True

    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                if "namespaceSelector" in peer:
                    if not matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": src_ns}):
                        continue
                elif src_ns != tgt_ns:
                    continue
                if matches(peer.get("podSelector") or {}, src_labels):
                    return True
    return False


def test_network_policies_carry_the_docker_networks_over(lab):
    """A pod reaches exactly the services it shares a Docker network with (and its plane's step
    Jobs reach their plane): checked pair by pair over the whole lab."""
    variables, phases = lab
    services = variables["ananta_services"]
    plane_network = {n["plane"]: n["name"] for n in variables["ananta_networks"]}
    namespace = {"shared_temporal": "temporal", "control_plane": "arc-saas", "app_plane": "app-plane"}

    def networks(svc):
        return set(svc.get("networks") or [plane_network[svc["plane"]]])

    def k8s_name(svc):
        return (svc.get("kubernetes") or {}).get("k8s_name") or svc["name"]

    pairs = denied = 0
    for source in services:
        for target in services:
            if source is target:
                continue
            pairs += 1
            expected = bool(networks(source) & networks(target))
            got = reachable(phases, namespace, (k8s_name(source), namespace[source["plane"]],
                                                {"app.kubernetes.io/name": k8s_name(source)}),
                            (k8s_name(target), namespace[target["plane"]]))
            assert got == expected, "%s -> %s: %s on Docker" % (source["name"], target["name"], "open" if expected else "closed")
            denied += not expected
    assert pairs > 1000 and denied > 300
    # the step Jobs reach their own plane's datastores, not another plane's
    step = ("db-migration", "app-plane", {"app.kubernetes.io/name": "db-migration", LABEL_STEP: "migrations"})
    assert reachable(phases, namespace, step, ("supabase-db", "app-plane"))
    assert not reachable(phases, namespace, step, ("arc-saas-postgres", "arc-saas"))


def test_a_gate_ends_itself_at_its_own_deadline(lab):
    variables = plain(inventory_vars("lab"))
    services = copy.deepcopy(variables["ananta_services"])
    for svc in services:
        if svc["name"] == "cns-worker":
            svc["kubernetes"]["gate_timeout"] = 20
    phases = _k8s_render.Renderer(services, step_image="x:1").render(["app_plane"])
    assert init_config(phases, "cns-worker", "wait-for-dependencies")["timeout"] == 20
    assert init_config(lab[1], "cns-worker", "wait-for-dependencies")["timeout"] == 600


def _template_hashes(phases):
    return {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"][ANNOTATION_HASH]
            for o in all_objects(phases) if o["kind"] in ("Deployment", "StatefulSet")}


def _changed(before, after):
    return {name for name in before if before[name] != after.get(name)}


def test_a_changed_config_value_rolls_exactly_the_workloads_that_use_it(lab):
    """A ConfigMap or Secret value is part of the pod template's checksum of the workloads that
    read it, and of no other: applying the change rolls exactly those (issue 19)."""
    variables, phases = lab
    before = _template_hashes(phases)
    # one plain variable of one service: its ConfigMap changes, and only its pods roll
    services = plain(variables["ananta_services"])
    cns = next(s for s in services if s["name"] == "cns-service")
    key = next(k for k in sorted(cns["env"]) if "PASSWORD" not in k and "SECRET" not in k and "URL" not in k)
    cns["env"][key] = "%s-changed" % cns["env"][key]
    _v, again = render_inventory("lab", services=services)
    assert _changed(before, _template_hashes(again)) == {object_name(cns)}
    # a password several services read (their Secrets' values, their init containers' probes):
    # exactly the workloads whose definition holds it roll
    services = plain(variables["ananta_services"])
    password = variables["ananta_secrets"]["rabbitmq_password"]
    readers = {object_name(s) for s in services if password in json.dumps(s)}
    assert len(readers) >= 3
    services = json.loads(json.dumps(services).replace(password, password + "-rotated"))
    _v, again = render_inventory("lab", services=services)
    assert _changed(before, _template_hashes(again)) == readers


def test_a_change_of_a_dependency_rolls_the_dependants_that_restart_with_it(lab):
    """supabase-api, supabase-meta, cns-worker and audit-logger declare ``restart_with:
    [supabase-db]``: a change of supabase-db's configuration changes their pod-template checksum
    too (they roll after it, their phase comes later); its other dependants (cns-service,
    django-backend) keep theirs (issue 19)."""
    variables, phases = lab
    before = _template_hashes(phases)
    services = plain(variables["ananta_services"])
    db = next(s for s in services if s["name"] == "supabase-db")
    db["env"]["ANANTA_TUNING"] = "work_mem=64MB"
    _v, again = render_inventory("lab", services=services)
    declared = {"supabase-api", "supabase-meta", "cns-worker", "audit-logger"}
    assert _changed(before, _template_hashes(again)) == {"supabase-db"} | declared
    # without the declaration, supabase-api is left alone
    services = plain(variables["ananta_services"])
    for svc in services:
        if svc["name"] == "supabase-api":
            del svc["restart_with"]
    _v, undeclared = render_inventory("lab", services=services)
    next(s for s in services if s["name"] == "supabase-db")["env"]["ANANTA_TUNING"] = "work_mem=64MB"
    _v, again = render_inventory("lab", services=services)
    assert _changed(_template_hashes(undeclared), _template_hashes(again)) == {"supabase-db"} | declared - {"supabase-api"}
