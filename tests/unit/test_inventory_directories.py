"""The README runs the playbooks with an inventory directory (``-i inventories/lab_kubernetes``):
Ansible then reads every file in it as an inventory source. The directory's migration files and
its vault password example are not inventories, and were a parse warning each (ansible.cfg's
``[inventory] ignore_patterns``)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("inventory", sorted(os.listdir(os.path.join(ROOT, "inventories"))))
def test_an_inventory_directory_parses_without_a_warning(inventory):
    folder = os.path.join(ROOT, "inventories", inventory)
    assert os.path.isdir(os.path.join(folder, "migrations")) or inventory.startswith("."), inventory
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_DEPRECATION_WARNINGS="false")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", folder, "--graph"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr[-2000:]
    assert "@platform" in proc.stdout, proc.stdout
