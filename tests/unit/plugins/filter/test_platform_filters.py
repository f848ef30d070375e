"""The filters of the platform's definition that the playbooks take planes and databases from
(plugins/filter/platform.py): the same rules as the modules, on the lab's catalog."""

from ansible_collections.ananta.platform.plugins.filter import platform
from ansible_collections.ananta.platform.plugins.module_utils import _steps
from ansible_collections.ananta.platform.plugins.module_utils._catalog import plane_order


def test_the_planes_are_the_catalogs_in_start_order(lab_vars):
    services = lab_vars["ananta_services"]
    assert platform.catalog_planes(services) == plane_order(services) == ["shared_temporal", "control_plane", "app_plane"]
    # a catalog of one's own: its planes, by their lowest level
    assert platform.catalog_planes([{"name": "a", "plane": "edge", "level": 2},
                                    {"name": "b", "plane": "data", "level": 0}]) == ["data", "edge"]


def test_a_planes_databases_follow_the_start_rule(lab_vars):
    """What the migrations role migrates on Docker is what the start's nodes migrate: a database
    without its own plane takes its service's."""
    services = lab_vars["ananta_services"]
    databases = dict(lab_vars["ananta_databases"])
    by_name = {s["name"]: s for s in services}
    for plane in platform.catalog_planes(services):
        names = [item["key"] for item in platform.plane_databases(databases, plane, services)]
        assert names == [name for name, _db, _entries in _steps.plane_databases(plane, databases, lab_vars["ananta_migrations"], by_name)]
    unnamed = {k: dict(v) for k, v in databases.items()}
    unnamed["supabase-db"].pop("plane", None)
    assert "supabase-db" in [i["key"] for i in platform.plane_databases(unnamed, "app_plane", services)]
