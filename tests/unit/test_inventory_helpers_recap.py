"""A playbook run's recap, as the tests read it (issue 29): a run without one, or one that names
no host, fails the test, so that a `changed == 0` check over its hosts cannot pass on nothing."""

import subprocess

import pytest

from inventory_helpers import recap

RECAP = """PLAY RECAP *********************************************************************
localhost                  : ok=13   changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
"""


def run(stdout):
    return subprocess.CompletedProcess(["ansible-playbook"], 0, stdout=stdout, stderr="")


def test_a_recap_is_read_per_host():
    assert recap(run("TASK [x]\nok: [localhost]\n\n" + RECAP)) == {
        "localhost": {"ok": 13, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 2, "rescued": 0, "ignored": 0}}


@pytest.mark.parametrize("stdout", ["", "ERROR! the playbook could not be parsed\n", "PLAY RECAP ****\n\n"])
def test_a_run_without_a_recap_fails_instead_of_passing_every_check(stdout):
    with pytest.raises(AssertionError):
        recap(run(stdout))
