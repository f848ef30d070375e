"""Test set-up shared by unit, integration and end-to-end tests.

The collection is imported straight from this checkout through the link that
scripts/setup.sh makes: .collections/ansible_collections/ananta/platform -> the repository.
"""

import os
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def load_fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def inventory_vars(inventory="lab", host="localhost", extra=None):
    """The rendered variables of a host of one of the collection's inventories."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    vault_file = os.path.join(ROOT, "inventories", inventory, "vault-password.example")
    if os.path.exists(vault_file):
        from ansible.parsing.vault import VaultSecret
        with open(vault_file, "rb") as handle:
            loader.set_vault_secrets([("default", VaultSecret(handle.read().strip()))])
    path = os.path.join(ROOT, "inventories", inventory, "hosts.yml")
    manager = InventoryManager(loader=loader, sources=[path])
    variables = VariableManager(loader=loader, inventory=manager)
    if extra:
        variables._extra_vars = extra  # pylint: disable=protected-access
    hostvars = variables.get_vars(host=manager.get_host(host))
    hostvars.setdefault("ansible_playbook_python", sys.executable)
    templar = Templar(loader=loader, variables=hostvars)
    return {key: templar.template(hostvars[key]) for key in hostvars if key.startswith("ananta_")}


@pytest.fixture(scope="session")
def lab_vars():
    return inventory_vars("lab")
