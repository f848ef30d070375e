"""No secret in the output, even at -vvv and when the input is invalid (issue 17, finding 7):
docker_services fails on an invalid step option or an invalid catalog before it touches the
engine, and neither its message nor its invocation may show a step's or the catalog's password."""

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
PASSWORDS = ("Sekrit-Migrations-4711", "Sekrit-Topology-0815", "Sekrit-Env-2342", "Sekrit-Probe-1234", "Sekrit-Uri-9876")
DB = {"name": "db", "plane": "app_plane", "level": 3, "depends_on": [], "image": "ananta-lab/platform:0.1",
      "env": {"POSTGRES_PASSWORD": PASSWORDS[2], "DATABASE_URL": "postgres://app:%s@db:5432/app" % PASSWORDS[4]},
      "readiness": {"probe": "postgres", "port": 59999, "user": "postgres", "password": PASSWORDS[3], "dbname": "x"}}
STEPS = [
    {"name": "migrations", "kind": "migrations", "plane": "app_plane", "after": ["db"],
     "options": {"databases": [{"login_host": "127.0.0.1", "login_password": PASSWORDS[0], "db": "x", "bogus": 1}]}},
    {"name": "streams", "kind": "streams", "plane": "app_plane", "after": ["db"],
     "options": {"login_host": "127.0.0.1", "login_password": PASSWORDS[1], "queues": [{"name": "q", "max_age": "bad"}]}},
]


def run(tmp_path, services, steps):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "start with invalid input", "ananta.platform.docker_services": {"services": services, "steps": steps}}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([PLAYBOOK, "-vvv", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           str(path)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)


@pytest.mark.parametrize("case", ["invalid step option", "invalid topology option", "invalid catalog", "invalid step kind"])
def test_no_password_at_vvv_on_invalid_input(tmp_path, case):
    services, steps = [dict(DB)], [dict(STEPS[0])]
    if case == "invalid topology option":
        steps = [dict(STEPS[1])]
    if case == "invalid catalog":
        services = [dict(DB, depends_on=["nowhere"])]
        steps = [dict(STEPS[0], options={"databases": [{"login_host": "127.0.0.1", "login_password": PASSWORDS[0], "db": "x"}]})]
    if case == "invalid step kind":  # refused by the module's own argument validation
        steps = [dict(STEPS[1], kind="topology")]
    proc = run(tmp_path, services, steps)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in output, output[-3000:]
    expected = "value of kind must be one of" if case == "invalid step kind" else "Failed to start services"
    assert expected in output, output[-3000:]
    for password in PASSWORDS:
        assert password not in output, "%s appears (%s)" % (password, case)
