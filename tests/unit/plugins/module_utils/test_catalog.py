"""Catalog validation and derived order (plugins/module_utils/_catalog.py)."""

import copy

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _definition, _mask, _plan
from ansible_collections.ananta.platform.plugins.module_utils._errors import AnantaError, CatalogError
from conftest import load_fixture

BAD = load_fixture("catalogs", "bad_catalogs.yml")
GOOD = load_fixture("catalogs", "small_catalog.yml")


@pytest.mark.parametrize("case", BAD, ids=[c["id"] for c in BAD])
def test_each_bad_catalog_names_service_and_field(case):
    with pytest.raises(CatalogError) as info:
        _catalog.validate(case["services"], case.get("networks"))
    message = str(info.value)
    for expected in case["expect"]:
        assert expected in message, "%r not in %s" % (expected, message)


def test_good_catalog_is_valid():
    assert _catalog.validate(GOOD, ["net-a", "net-b"]) is True


def test_all_problems_reported_at_once():
    services = copy.deepcopy(GOOD)
    services[0]["plane"] = "data plane"
    services[1]["depends_on"] = ["ghost"]
    with pytest.raises(CatalogError) as info:
        _catalog.validate(services)
    assert len(info.value.problems) == 2


@pytest.mark.parametrize("spec, expected", [
    ("27030:5432", (None, 27030, 5432, "tcp")),
    ("5432", (None, None, 5432, "tcp")),
    ("127.0.0.1:8080:80", ("127.0.0.1", 8080, 80, "tcp")),
    ("5353:53/udp", (None, 5353, 53, "udp")),
    (9000, (None, None, 9000, "tcp")),
])
def test_parse_port(spec, expected):
    assert _catalog.parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["a:b", "1:2:3:4", ""])
def test_parse_port_rejects(spec):
    with pytest.raises(ValueError):
        _catalog.parse_port(spec)


def test_same_host_port_other_protocol_is_fine():
    services = copy.deepcopy(GOOD)
    services[0]["ports"] = ["5353:53/udp"]
    services[1]["ports"] = ["5353:53/tcp"]
    assert _catalog.validate(services)


@pytest.mark.parametrize("graph, cycle", [
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
    ({"a": [], "b": ["a"]}, None),
    ({"x": ["y"], "y": ["x"], "z": []}, ["x", "y", "x"]),
])
def test_find_cycle(graph, cycle):
    assert _catalog.find_cycle(graph) == cycle


def test_waves_follow_dependencies_inside_levels():
    waves = _plan.waves(GOOD)
    assert waves == [["db"], ["api", "cache"], ["worker"], ["web"]]


def test_stop_order_is_reverse_by_level():
    order = _plan.stop_order(GOOD)
    assert order.index("web") < order.index("api") < order.index("db")
    assert order[-1] == "db"


def test_critical_path_takes_the_longest_chain():
    result = _plan.critical_path(GOOD, {"db": 5, "api": 10, "cache": 1, "worker": 2, "web": 1})
    assert result["path"] == ["db", "api", "worker"]
    assert result["seconds"] == 17


def test_select_and_external_dependencies():
    chosen = _catalog.select(GOOD, levels=[1])
    assert [s["name"] for s in chosen] == ["api", "cache", "worker"]
    assert _plan.external_dependencies(GOOD, chosen) == {"db": ["api", "worker"]}


def test_secret_values_found_in_env_probe_and_uris():
    services = [{
        "name": "a", "env": {"DB_PASSWORD": "hunter22", "URL": "postgres://u:p4ss@h:5432/db", "MODE": "x"},
        "readiness": {"probe": "postgres", "password": "probepw"},
    }]
    assert _mask.secret_values(services) == {"hunter22", "p4ss", "probepw"}


def test_lab_catalog_is_valid_and_complete(lab_vars):
    services = lab_vars["ananta_services"]
    _catalog.validate(services, [n["name"] for n in lab_vars["ananta_networks"]])
    names = {s["name"] for s in services}
    # Every service named in seeds 002 and 000.
    for name in ("temporal-postgresql", "shared-temporal", "shared-temporal-ui", "arc-saas-postgres",
                 "arc-saas-redis", "arc-saas-keycloak", "arc-saas-minio", "arc-saas-minio-init",
                 "novu-mongodb", "novu-redis", "novu-api", "novu-ws", "novu-worker", "novu-web",
                 "tenant-management-service", "temporal-worker-service", "admin-app", "supabase-db",
                 "components-v2-postgres", "app-plane-redis", "app-plane-rabbitmq", "app-plane-minio",
                 "app-plane-minio-init", "supabase-meta", "supabase-api", "supabase-studio", "cns-service",
                 "cns-worker", "django-backend", "audit-logger", "customer-portal", "cns-dashboard",
                 "backstage-portal", "dashboard"):
        assert name in names, name


def test_lab_catalog_derived_order(lab_vars):
    services = lab_vars["ananta_services"]
    plan = _plan.start_plan(services)
    assert [step["level"] for step in plan] == [0, 1, 2, 3, 4, 5]
    assert plan[0]["waves"] == [["temporal-postgresql"], ["shared-temporal"], ["shared-temporal-ui"]]
    order = _plan.topological_order(services)
    for svc in services:
        for dep in svc["depends_on"]:
            assert order.index(dep) < order.index(svc["name"])
    assert order.index("cns-service") < order.index("cns-worker")
    stop = _plan.stop_order(services)
    assert stop.index("cns-worker") < stop.index("cns-service") < stop.index("supabase-db")
    assert stop[-1] == "temporal-postgresql"


def test_lab_seed_ports(lab_vars):
    ports = {s["name"]: [_catalog.parse_port(p)[1:3] for p in s.get("ports", [])] for s in lab_vars["ananta_services"]}
    assert ports["shared-temporal"] == [(27020, 7233)]
    assert ports["shared-temporal-ui"] == [(27021, 8080)]
    assert ports["temporal-postgresql"] == [(27030, 5432)]
    assert ports["tenant-management-service"] == [(14000, 14000)]
    assert ports["cns-service"] == [(27200, 8000)]
    assert ports["app-plane-rabbitmq"] == [(27672, 5672), (27673, 15672)]
    assert ports["supabase-studio"] == [(27800, 3000)]


@pytest.mark.parametrize("inventory", ["docker_host_example", "kubernetes_example"])
def test_example_inventories_hold_a_valid_catalog_of_the_same_services(lab_vars, inventory):
    from inventory_helpers import inventory_vars

    hosts = {"docker_host_example": "docker-01.ananta.example", "kubernetes_example": "localhost"}
    example = inventory_vars(inventory, hosts[inventory])
    services = example["ananta_services"]
    _catalog.validate(services, [n["name"] for n in example["ananta_networks"]])
    assert [s["name"] for s in services] == [s["name"] for s in lab_vars["ananta_services"]]
    assert not any(s["image"].startswith("ananta-lab/") for s in services), "no lab image in a real inventory"
    assert all(not str(v).startswith("$ANSIBLE_VAULT") for v in example["ananta_secrets"].values())


def test_restart_dependants_follow_the_declarations_in_turn():
    services = copy.deepcopy(GOOD)
    by_name = {s["name"]: s for s in services}
    assert _plan.restart_dependants(services, ["db"]) == []  # nobody declares it
    by_name["api"]["restart_with"] = ["db"]
    by_name["web"]["restart_with"] = ["api"]  # restarted when api is: api is restarted when db is renewed
    assert _catalog.validate(services) is True
    assert _plan.restart_dependants(services, ["db"]) == ["api", "web"]
    assert _plan.restart_dependants(services, ["api"]) == ["web"]
    # worker depends on db and api without declaring it: never restarted for them
    assert "worker" not in _plan.restart_dependants(services, ["db", "api"])
    assert _plan.restart_dependants(services, ["web"]) == []


def test_overrides_merge_per_service_by_name():
    """An inventory's ananta_service_overrides over the platform's definition (issue 18):
    mappings merged, lists and scalars replaced, order kept, a service removed or added."""
    definition = copy.deepcopy(GOOD)
    definition[0]["env"] = {"A": "1", "B": "2"}
    overrides = {
        "db": {"image": "registry/db:2", "env": {"B": "two", "C": "3"}, "ports": ["25432:5432"]},
        "cache": {"absent": True},
        "extra": {"plane": "app_plane", "level": 2, "image": "registry/extra:1", "depends_on": ["api"]},
    }
    merged = _definition.merge_overrides(definition, overrides)
    by_name = {s["name"]: s for s in merged}
    assert [s["name"] for s in merged] == ["db", "api", "worker", "web", "extra"]
    assert by_name["db"]["image"] == "registry/db:2" and by_name["db"]["ports"] == ["25432:5432"]
    assert by_name["db"]["env"] == {"A": "1", "B": "two", "C": "3"}
    assert by_name["db"]["readiness"] == definition[0]["readiness"]  # what is not overridden is the definition's
    assert by_name["api"] is definition[1]  # untouched entries are the definition's own
    assert definition[0]["env"] == {"A": "1", "B": "2"}  # the definition itself is not changed
    assert _definition.override_sources(definition, overrides) == {
        "db": "overridden: env, image, ports", "api": "defined", "cache": "removed", "worker": "defined",
        "web": "defined", "extra": "added"}


def test_an_override_of_a_service_that_does_not_exist_is_named():
    with pytest.raises(CatalogError) as info:
        _definition.merge_overrides(GOOD, {"wrker": {"image": "x"}, "gone": {"absent": True}, "api": "oops"})
    message = str(info.value)
    assert "ananta_service_overrides: wrker is no service of the platform's definition (did you mean worker?)" in message
    assert "gone: absent, but it is no service of the platform's definition" in message
    assert "api: must be a mapping of fields" in message


def test_a_replaced_value_of_the_definition_is_never_read():
    """The lab replaces every image: the definition's (which refers to a registry the lab does
    not define) must not be evaluated."""
    class Exploding(dict):
        def __getitem__(self, key):
            if key == "image":
                raise AssertionError("the replaced image was read")
            return super().__getitem__(key)

    definition = [Exploding(name="db", plane="app_plane", level=0, image="{{ ananta_registry }}/db")]
    merged = _definition.merge_overrides(definition, {"db": {"image": "lab:1"}})
    assert merged[0]["image"] == "lab:1"


@pytest.mark.parametrize("ports, expected", [
    (["15672:15672", "5672:5672"], 5672),  # the usual port, wherever it is listed
    (["25672:5673"], 5673),  # not the usual port: its first one
    ([], 5672),
])
def test_one_container_port_rule_for_the_compose_export_and_the_cluster(ports, expected):
    """The compose export took the first port, the Kubernetes rendering the usual one first
    (issue 18): one rule now, in the catalog."""
    from ansible_collections.ananta.platform.plugins.module_utils._k8s import common
    from ansible_collections.ananta.platform.plugins.modules import compose_export
    broker = {"name": "mq", "ports": ports}
    assert _catalog.container_port(broker, 5672) == expected
    assert common.container_port is _catalog.container_port and compose_export._catalog is _catalog


def test_the_planes_are_the_catalogs_in_start_order():
    """No plane is named in the code: a catalog's planes come in the order of their lowest level,
    and a selection of a plane no service belongs to is refused, naming it."""
    services = [{"name": "web", "plane": "edge", "level": 2}, {"name": "db", "plane": "data", "level": 0},
                {"name": "cache", "plane": "data", "level": 1}, {"name": "api", "plane": "logic", "level": 1}]
    assert _catalog.plane_order(services) == ["data", "logic", "edge"]
    assert [s["name"] for s in _catalog.select(services, planes=["data"])] == ["db", "cache"]
    with pytest.raises(AnantaError) as info:
        _catalog.select(services, planes=["dta"])
    assert "planes: 'dta' is no plane of the catalog (its planes: data, logic, edge); did you mean data?" in str(info.value)
