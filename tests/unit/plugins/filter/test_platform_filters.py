"""The filter the playbooks take the planes from (plugins/filter/platform.py): the same rule as
the modules (the catalog's planes by their lowest level), on the lab's catalog."""

from ansible_collections.ananta.platform.plugins.filter import platform
from ansible_collections.ananta.platform.plugins.module_utils._catalog import plane_order


def test_the_planes_are_the_catalogs_in_start_order(lab_vars):
    services = lab_vars["ananta_services"]
    assert platform.catalog_planes(services) == plane_order(services) == ["shared_temporal", "control_plane", "app_plane"]
    # a catalog of one's own: its planes, by their lowest level
    assert platform.catalog_planes([{"name": "a", "plane": "edge", "level": 2},
                                    {"name": "b", "plane": "data", "level": 0}]) == ["data", "edge"]
