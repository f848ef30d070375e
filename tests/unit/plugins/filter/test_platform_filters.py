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


# ------------------------------------------------------------------ a plane made by a typo (issue 29)
import pytest  # noqa: E402

from ansible.errors import AnsibleError  # noqa: E402
from inventory_helpers import inventory_vars  # noqa: E402


@pytest.mark.parametrize("typo, near", [("data_plane", "app_plane"), ("app_plan", "app_plane")])
def test_a_service_of_an_undeclared_plane_is_refused_naming_it_and_the_nearest(lab_vars, typo, near):
    """Before the fix, the lab rendered with cns-service in a fourth plane: plan.yml printed it,
    --tags app_plane no longer started it and a cluster would have given it a namespace of its own."""
    overrides = dict(lab_vars["ananta_service_overrides"])
    overrides["cns-service"] = dict(overrides["cns-service"], plane=typo)
    with pytest.raises(AnsibleError) as caught:
        inventory_vars("lab", extra={"ananta_service_overrides": overrides})
    text = str(caught.value)
    assert "service 'cns-service', field 'plane': %r is not a declared plane" % typo in text, text
    assert "(ananta_platform_planes: shared_temporal, control_plane, app_plane); did you mean %s?" % near in text, text


def test_a_network_that_is_not_declared_is_refused_naming_the_nearest():
    definition = [{"name": "web", "plane": "edge", "level": 0, "image": "x", "networks": ["frontnet"]}]
    with pytest.raises(Exception, match=r"service 'web', field 'networks': 'frontnet' is not a declared network "
                                        r"\(ananta_networks: front-net\); did you mean front-net\?"):
        platform.platform_services(definition, {}, [{"name": "edge"}], [{"name": "front-net", "plane": "edge"}])
    with pytest.raises(Exception, match=r"'edge' is not a declared plane \(ananta_platform_planes: core\)"):
        platform.platform_services(definition, {}, [{"name": "core"}], None)
    assert platform.platform_services(definition, {}, [{"name": "edge"}], [{"name": "frontnet"}]) == definition
