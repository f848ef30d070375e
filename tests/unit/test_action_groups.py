"""The action groups of meta/runtime.yml pinned to the modules that use them (issue 30): every
module is in the group ``platform``; the group ``cluster`` (the cluster connection, set once as
module_defaults) holds exactly the modules that take the cluster's options (the doc fragment
ananta.platform.kubernetes), so that no module that talks to a cluster misses the connection and
no other module is handed options it refuses."""

import glob
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def documentation(path):
    text = open(path, encoding="utf-8").read()
    return yaml.safe_load(text.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])


def test_the_action_groups_name_the_modules_that_use_them():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        groups = yaml.safe_load(handle)["action_groups"]
    modules = {os.path.basename(p)[:-3]: documentation(p) for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))}
    assert len(modules) >= 12
    assert sorted(groups["platform"]) == sorted(modules)
    takes_the_cluster = sorted(name for name, doc in modules.items()
                               if "ananta.platform.kubernetes" in (doc.get("extends_documentation_fragment") or []))
    assert "k8s_services" in takes_the_cluster and "k8s_pod_logs" in takes_the_cluster
    assert sorted(groups["cluster"]) == takes_the_cluster
