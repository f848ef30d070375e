"""The lab proves the graph production runs (issue 18's first check): every inventory of the
repository (the lab, the Docker host example, and their Kubernetes twins) defines the same
services with the same dependencies, levels, planes, probe kinds, gates, workload kinds and
networks, the same migration order table, the same networks and the same steps (each reaching the
same service, each waited for by the same gated services). Only per-environment values may differ
(images, commands, env, ports, credentials, hosts)."""

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORIES = ["lab", "lab_kubernetes", "docker_host_example", "kubernetes_example"]


class _Loader(yaml.SafeLoader):
    """Ansible's !vault and !unsafe read as plain strings."""


_Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def group_vars(inventory):
    """The inventory's own files (what an operator edits)."""
    found = {}
    folder = os.path.join(ROOT, "inventories", inventory, "group_vars", "all")
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_Loader)  # noqa: S506  # a SafeLoader with two scalar tags
        if isinstance(data, dict):
            found.update(data)
    return found


def effective(inventory):
    """The inventory's variables as a run sees them: the platform's definition (the vars plugin
    ananta.platform.platform) with the inventory's own values, rendered, its steps (the
    definition's ``ananta_platform_steps``) among them."""
    import json
    import sys
    sys.path.insert(0, os.path.join(ROOT, ".collections"))
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from inventory_helpers import inventory_vars
    return json.loads(json.dumps(inventory_vars(inventory, extra={"inventory_dir": "/inventory"}), default=str))


def graph(inventory):
    """What decides the order and the readiness, per service; and the steps' tables."""
    data = effective(inventory)
    services = {}
    for svc in data["ananta_services"]:
        gates = [(g.get("probe"), g.get("url") or g.get("address") or g.get("port"), tuple(g.get("tables") or ()),
                  g.get("namespace")) for g in svc.get("start_after") or []]
        services[svc["name"]] = {
            "plane": svc.get("plane"), "level": svc.get("level"), "depends_on": sorted(svc.get("depends_on") or []),
            "restart_with": sorted(svc.get("restart_with") or []),
            "probe": (svc.get("readiness") or {}).get("probe"), "gates": gates,
            "kind": (svc.get("kubernetes") or {}).get("kind"), "networks": sorted(svc.get("networks") or []),
        }
    migrations = [(m.get("version"), m.get("file"), m.get("database"), m.get("schema"), bool(m.get("skip")))
                  for m in data.get("ananta_migrations") or []]
    networks = sorted(str(n.get("name") if isinstance(n, dict) else n) for n in data.get("ananta_networks") or [])
    # the steps as the start runs them (and the Jobs and the compose file render them): each node,
    # the service it reaches, and the services whose gates wait for it
    from ansible_collections.ananta.platform.plugins.module_utils import _steps
    nodes = _steps.build(data["ananta_platform_steps"], data["ananta_services"])
    steps = sorted((n.name, n.kind, n.plane, tuple(n.after), n.service,
                    tuple(sorted(s["name"] for s in data["ananta_services"]
                                 if any(n.provides(g) for g in s.get("start_after") or []))))
                   for n in nodes)
    return {"services": services, "migrations": migrations, "databases": sorted(data.get("ananta_databases") or {}),
            "verify_tables": data.get("ananta_verify_tables"), "verify_connectivity": data.get("ananta_verify_connectivity"),
            "networks": networks, "steps": steps}


@pytest.mark.parametrize("inventory", INVENTORIES[1:])
def test_every_inventory_runs_the_lab_s_graph(inventory):
    lab, other = graph("lab"), graph(inventory)
    assert sorted(other["services"]) == sorted(lab["services"]), "services differ"
    for name, shape in lab["services"].items():
        for field, value in shape.items():
            assert other["services"][name][field] == value, "%s: service %s, %s: lab %r, %s %r" % (
                inventory, name, field, value, inventory, other["services"][name][field])
    assert len(lab["steps"]) == 5 and all(step[5] for step in lab["steps"]), lab["steps"]  # each gates someone
    for part in ("migrations", "databases", "verify_tables", "verify_connectivity", "networks", "steps"):
        assert other[part] == lab[part], "%s: %s differ from the lab's" % (inventory, part)


# What an inventory may set of a service: per-environment values only, never its place in the graph.
PER_ENVIRONMENT = {"image", "command", "entrypoint", "env", "labels", "resources", "healthcheck", "volumes",
                   "restart_policy", "stop_grace_period", "kubernetes"}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_an_inventory_holds_its_own_values_not_the_platform_s_graph(inventory):
    """The platform is defined once (platform/definition.yml): no inventory writes the catalog,
    the networks or the migration order table; its overrides name services of the definition
    and set per-environment fields only."""
    own = group_vars(inventory)
    for variable in ("ananta_services", "ananta_networks", "ananta_migrations", "ananta_databases",
                     "ananta_verify_tables", "ananta_verify_connectivity", "ananta_platform_services"):
        assert variable not in own, "%s: %s is the platform's definition" % (inventory, variable)
    overrides = own.get("ananta_service_overrides") or {}
    assert overrides, inventory
    defined = {s["name"] for s in effective(inventory)["ananta_platform_services"]}
    for name, fields in overrides.items():
        assert name in defined, "%s: override of %s, which is not defined" % (inventory, name)
        assert set(fields) <= PER_ENVIRONMENT, "%s: %s sets %s" % (inventory, name, sorted(set(fields) - PER_ENVIRONMENT))


def test_the_graph_is_not_empty():
    lab = graph("lab")
    assert len(lab["services"]) == 34 and len(lab["migrations"]) == 8 and lab["networks"]


# The steps each service of the lab waits for, as its gates (seed 000's init containers) say:
# the tables it reads (the migrations of the database it probes), the Temporal namespace it uses,
# the streams it publishes to. No plane or level adds a step.
GATED = {
    "tenant-management-service": {"migrations:control-plane", "namespaces"},
    "temporal-worker-service": {"namespaces"},
    "cns-service": {"migrations:supabase-db", "migrations:components-db", "streams"},
    "cns-worker": {"migrations:supabase-db", "namespaces", "streams"},
    "django-backend": {"migrations:supabase-db"},
    "audit-logger": {"streams"},
}


def _lab():
    import json
    import sys
    sys.path.insert(0, os.path.join(ROOT, ".collections"))
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from inventory_helpers import inventory_vars
    return json.loads(json.dumps(inventory_vars("lab"), default=str))


def test_the_docker_start_the_jobs_the_compose_export_and_the_timeline_render_the_same_step_nodes():
    """One model of the steps: the plane roles' definitions become nodes once (``_steps.build``),
    and the Docker start, the Kubernetes Jobs, the compose file's one-shot services and the
    timeline all render those nodes; each links every service to the same steps, by one rule
    (``StepRun.provides``, ``_steps.gate_needs``)."""
    import json

    from ansible_collections.ananta.platform.plugins.module_utils import _compose, _steps, _timeline

    from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render

    lab = _lab()
    services = lab["ananta_services"]
    by_name = {s["name"]: s for s in services}
    nodes = _steps.build(lab["ananta_platform_steps"], services)
    assert sorted(n.name for n in nodes) == ["migrations:components-db", "migrations:control-plane",
                                             "migrations:supabase-db", "namespaces", "streams"]
    docker = {s["name"]: {n.name for n in nodes if any(n.provides(g) for g in s.get("start_after") or [])}
              for s in services}
    assert {k: v for k, v in docker.items() if v} == GATED

    # the compose file: a one-shot service per node, the gated services depending on the same ones
    steps = _compose.build_steps(nodes, by_name)
    names = {"temporal-namespaces": "namespaces", "rabbitmq-topology": "streams"}
    assert sorted(names.get(s["service"], s["service"].replace("migrate-", "migrations:")) for s in steps) == \
        sorted(n.name for n in nodes)
    compose = {s["name"]: {names.get(d, d.replace("migrate-", "migrations:")) for d in _compose.gate_steps(s, steps)}
               for s in services}
    assert {k: v for k, v in compose.items() if v} == GATED

    # the cluster: each node a Job (the migrations of a plane one db-migration Job), in the node's plane
    files = {e["file"]: "" for n in nodes if n.kind == "migrations" for e in n.params["migrations"]}
    phases = _k8s_render.Renderer(services, step_image="x", steps=nodes, migration_files=files).render()
    rendered = set()
    for phase in phases:
        for obj in phase["objects"]:
            if obj["kind"] != "ConfigMap" or not obj["metadata"]["name"].endswith("-config") or phase["phase"] != "jobs":
                continue
            config = json.loads(obj["data"]["config.json"])
            job = obj["metadata"]["name"][:-len("-config")]
            if job == "db-migration":
                rendered.update((phase["plane"], "migrations:" + d["name"]) for d in config["databases"])
            else:
                rendered.add((phase["plane"], {"temporal-namespace-init": "namespaces", "rabbitmq-stream-init": "streams"}[job]))
    assert rendered == {(n.plane, n.name) for n in nodes}

    timeline_steps = [{"name": n.name, "kind": n.kind, "plane": n.plane, "after": n.after} for n in nodes]
    graph = _timeline.step_graph(services, timeline_steps, {})
    timeline = {n["name"]: {d[len("step:"):] for d in n.get("depends_on") or [] if d.startswith("step:")}
                for n in graph if not n["name"].startswith("step:")}
    assert {k: v for k, v in timeline.items() if v} == GATED


def test_the_compose_export_carries_restart_with_as_restart_true():
    """A dependant that restarts with its dependency (catalog ``restart_with``) has compose's
    ``depends_on: {X: {restart: true}}``; the others do not (issue 19)."""
    from ansible_collections.ananta.platform.plugins.module_utils import _compose

    services = _lab()["ananta_services"]
    by_name = {s["name"]: s for s in services}
    declared = {(s["name"], d) for s in services for d in s.get("restart_with") or []}
    assert ("supabase-api", "supabase-db") in declared and ("supabase-meta", "supabase-db") in declared
    for svc in services:
        entry = _compose.service_entry(svc, by_name, {}, {}, "ananta")
        for dep, condition in (entry.get("depends_on") or {}).items():
            assert condition.get("restart", False) == ((svc["name"], dep) in declared), (svc["name"], dep)


def test_no_plane_is_named_in_the_code():
    """The planes are the definition's (issue 18): no string in the collection's Python code
    names one, outside documentation (docstrings, DOCUMENTATION/EXAMPLES/RETURN, doc
    fragments). A rule about a plane written in code would not follow a catalog of one's own."""
    import ast

    planes = {svc["plane"] for svc in effective("lab")["ananta_services"]}
    assert len(planes) == 3, planes
    found = []
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        if os.path.basename(folder) == "doc_fragments":
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            tree = ast.parse(open(path, encoding="utf-8").read())
            documentation = set()
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                        and isinstance(body[0].value, ast.Constant):
                    documentation.add(id(body[0].value))  # a docstring
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("DOCUMENTATION", "EXAMPLES", "RETURN")
                                                        for t in node.targets):
                    documentation.add(id(node.value))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation:
                    named = sorted(p for p in planes if p in node.value)
                    if named:
                        found.append("%s:%d names %s" % (os.path.relpath(path, ROOT), node.lineno, ", ".join(named)))
    assert not found, "\n".join(found)
