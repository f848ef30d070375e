"""The rendered variables of the collection's inventories, and a playbook run's recap, for tests and benchmarks."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def inventory_vars(inventory="lab", host="localhost", extra=None):
    """The rendered variables (``ananta_*``) of a host of one of the collection's inventories,
    the definition's steps (``ananta_platform_steps``) among them, as start_platform hands them
    to the start."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()  # lookups (env) in the inventories

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


def recap(proc):
    """host -> {ok, changed, failed...} from an ansible-playbook run's PLAY RECAP. A run without
    a recap, or a recap without a host, fails the test: a check of its counts must have counts
    to check."""
    if "PLAY RECAP" not in proc.stdout:
        raise AssertionError("the run printed no PLAY RECAP; its output ends:\n%s" % proc.stdout[-2000:])
    hosts = {}
    for line in proc.stdout.split("PLAY RECAP")[-1].splitlines():
        if ":" in line and "ok=" in line:
            host, counts = line.split(":", 1)
            hosts[host.strip()] = {k: int(v) for k, v in (item.split("=") for item in counts.split())}
    if not hosts:
        raise AssertionError("the PLAY RECAP names no host:\n%s" % proc.stdout.split("PLAY RECAP")[-1][:2000])
    return hosts
