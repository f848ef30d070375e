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
    if case == "invalid step kind":  # refused by the table of step kinds, naming the step, before anything starts
        steps = [dict(STEPS[1], kind="topology")]
    proc = run(tmp_path, services, steps)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Traceback" not in output, output[-3000:]
    assert "Failed to start services" in output, output[-3000:]
    if case == "invalid step kind":
        assert "step streams: kind 'topology' is not one of the table of step kinds (namespaces, migrations, streams)" \
            in output, output[-3000:]
    for password in PASSWORDS:
        assert password not in output, "%s appears (%s)" % (password, case)


# --- every module at -vvv, in success and in failure, with distinctive passwords ----------------


def run_task(tmp_path, module, params, name="task"):
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": name, "ananta.platform.%s" % module: params}]}]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([PLAYBOOK, "-vvv", "--diff", "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _pg_user(database, password):
    import psycopg2
    settings, dbname = database
    user = "u_%s" % dbname
    conn = psycopg2.connect(dbname=dbname, **settings)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('CREATE ROLE "%s" LOGIN SUPERUSER PASSWORD %%s' % user, (password,))
    conn.close()
    return user


def test_pg_migrate_and_the_postgres_probe_at_vvv(database, tmp_path):
    settings, dbname = database
    secret = "Sekrit-Pg-%s" % dbname
    user = _pg_user(database, secret)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "001_a.sql").write_text("CREATE TABLE a (id int);")
    base = {"login_host": settings["host"], "port": settings["port"], "login_user": user, "db": dbname, "path": str(tmp_path / "m")}
    code, out = run_task(tmp_path, "pg_migrate", dict(base, login_password=secret), "migrate_ok")
    assert code == 0, out[-2000:]
    code, out2 = run_task(tmp_path, "pg_migrate", dict(base, login_password=secret + "-wrong"), "migrate_refused")
    assert code != 0 and "password authentication failed" in out2, out2[-2000:]
    (tmp_path / "m" / "002_b.sql").write_text("CREATE TABLE broken (;")
    code, out3 = run_task(tmp_path, "pg_migrate", dict(base, login_password=secret), "migrate_broken")
    assert code != 0 and "002_b.sql" in out3, out3[-2000:]
    probe = {"services": [{"name": "db", "container_name": "ananta-itest-none", "plane": "app_plane", "level": 1, "image": "x",
                           "readiness": {"probe": "postgres", "port": settings["port"], "user": user, "password": secret,
                                         "dbname": dbname, "timeout": 5}}], "probe_host": "127.0.0.1"}
    code, out4 = run_task(tmp_path, "wait_healthy", probe, "probe_fails")  # its container does not exist
    assert code != 0, out4[-2000:]
    for output in (out, out2, out3, out4):
        assert "Traceback" not in output
        assert secret not in output, output[-3000:]


def test_rabbitmq_topology_at_vvv(rabbitmq_server, vhost, tmp_path):
    secret = "Sekrit-Amqp-%s" % vhost
    container = rabbitmq_server["container"]
    user = "u_%s" % vhost
    for argv in (["rabbitmqctl", "-q", "add_user", user, secret],
                 ["rabbitmqctl", "-q", "set_user_tags", user, "administrator"],
                 ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"]):
        code, output = container.exec_run(argv)
        assert code == 0, output
    base = {"login_host": "127.0.0.1", "port": rabbitmq_server["port"], "login_user": user, "vhost": vhost,
            "management_url": rabbitmq_server["management_url"],
            "queues": [{"name": "s", "type": "stream", "max_age": "7D"}]}
    code, out = run_task(tmp_path, "rabbitmq_topology", dict(base, login_password=secret), "topology_ok")
    assert code == 0, out[-2000:]
    conflict = dict(base, login_password=secret, queues=[{"name": "s", "type": "stream", "max_age": "1D"}])
    code, out2 = run_task(tmp_path, "rabbitmq_topology", conflict, "topology_conflict")
    assert code != 0 and "conflict" in out2, out2[-2000:]
    code, out3 = run_task(tmp_path, "rabbitmq_topology", dict(base, login_password=secret + "-wrong"), "topology_refused")
    assert code != 0, out3[-2000:]
    for output in (out, out2, out3):
        assert "Traceback" not in output
        assert secret not in output and user + ":" + secret not in output, output[-3000:]


def test_temporal_and_kubernetes_tokens_at_vvv(temporal_server, tmp_path):
    secret = "Sekrit-Token-0042"
    ns = "vvv-%d" % os.getpid()
    namespaces = [{"name": ns, "retention": "3d"}]
    code, out = run_task(tmp_path, "temporal_namespace",
                         {"address": temporal_server, "api_key": secret, "connect_timeout": 20, "namespaces": namespaces},
                         "temporal_ok")
    # the run in success succeeded (issue 29: an unchecked failure would have passed for success)
    assert code == 0 and ns in out, out[-3000:]
    code2, out2 = run_task(tmp_path, "temporal_namespace",
                           {"address": "127.0.0.1:1", "api_key": secret, "connect_timeout": 2, "namespaces": namespaces},
                           "temporal_fails")
    code3, out3 = run_task(tmp_path, "k8s_pod_logs",
                           {"namespaces": ["a"], "project": "p", "dest": str(tmp_path / "k"), "host": "https://127.0.0.1:1",
                            "api_key": secret, "request_timeout": 3}, "k8s_fails")
    assert code2 != 0 and code3 != 0
    for output in (out, out2, out3):
        assert "Traceback" not in output
        assert secret not in output, output[-3000:]


@pytest.mark.parametrize("module, extra", [
    ("catalog_plan", {}), ("service_info", {}), ("wait_healthy", {}),
    ("start_report", {"start": {}, "started_at": 0.0, "path": "/tmp/x.json"}),
    ("compose_export", {"dest": "/tmp/x.yml"}),
])
def test_a_failed_validation_of_any_catalog_module_masks_the_catalog(tmp_path, module, extra):
    """An unknown option fails inside the module's own argument validation, whose invocation
    (printed at -vvv) would hold the raw catalog: its passwords are masked there too."""
    params = dict(extra, services=[dict(DB)], bogus_option=1)
    code, out = run_task(tmp_path, module, params, "invalid_%s" % module)
    assert code != 0 and "bogus_option" in out, out[-2000:]
    for password in PASSWORDS[2:]:
        assert password not in out, "%s appears (%s)" % (password, module)
