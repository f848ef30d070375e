"""An operator's bad day against the real servers (issue 17): a server killed mid-way, an endpoint
that accepts TCP and never speaks its protocol, a connection cut in the middle of a run, a crash
loop caught while it is up. Each must end within its deadline with an error that names the server
and what was being done, lose nothing, and leave a state the next run continues from.

No outcome depends on a fixed sleep: the faults are injected on events (a query seen running, a
byte count through a proxy, a restart count) and every wait polls a condition with a deadline.
"""

import socket
import threading
import time

import psycopg2
import pytest

from integration_helpers import CountingProxy, free_port, healthcheck, run_module, start_postgres, wait_for


def named(result):
    """The module failed on purpose, with its own message (not Ansible's report of an exception
    that escaped it: "MODULE FAILURE" or "Module failed: ...")."""
    msg = result.get("msg", "")
    return not msg.startswith("Module failed") and "MODULE FAILURE" not in msg


class SilentListener:
    """Accepts TCP connections on loopback and never answers (a wrong port, a hung server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.closed = True
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class CuttingProxy:
    """Forwards a TCP connection to a server and cuts both sides once the client has sent
    ``cut_after`` bytes: the server dying in the middle of a run, as the client sees it."""

    def __init__(self, target_port, cut_after):
        self.target_port = target_port
        self.cut_after = cut_after
        self.sent = 0
        self.cut = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            client, _addr = self.sock.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)

        def pump(src, dst, count):
            try:
                while not self.cut.is_set():
                    data = src.recv(4096)
                    if not data:
                        break
                    if count:
                        self.sent += len(data)
                        if self.sent >= self.cut_after:
                            self.cut.set()
                            break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for end in (client, server):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    end.close()

        threading.Thread(target=pump, args=(server, client, False), daemon=True).start()
        pump(client, server, True)

    def close(self):
        self.sock.close()


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture()
def own_postgres(docker_client):
    """A PostgreSQL of this test alone: it gets killed."""
    container, settings, up = start_postgres(docker_client, "pgkill")
    yield container, dict(settings, dbname="postgres"), up
    container.remove(force=True, v=True)


def test_postgres_killed_during_a_migration_file(own_postgres, tmp_path):
    """Finding 1: the run ends with an error naming the database and the file, nothing is
    half-applied, and the next run applies the file once."""
    container, settings, up = own_postgres
    # the file waits (pg_sleep) until the table `go` exists: the first run blocks inside it
    tmp_path.joinpath("001_slow.sql").write_text(
        "CREATE TABLE first_half (id int);\n"
        "SELECT pg_sleep(CASE WHEN to_regclass('public.go') IS NULL THEN 300 ELSE 0 END);\n"
        "CREATE TABLE second_half (id int);\n")
    params = {"login_host": settings["host"], "port": settings["port"], "login_user": "postgres",
              "login_password": "itest-pw", "db": "postgres", "path": str(tmp_path), "connect_timeout": 5}
    finish = run_module("pg_migrate", params, background=True)

    def sleeping():
        conn = psycopg2.connect(connect_timeout=2, **settings)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ananta.platform.pg_migrate' "
                            "AND query LIKE '%pg_sleep%' AND state = 'active'")
                return cur.fetchone()[0] == 1
        finally:
            conn.close()

    wait_for(sleeping, 120)
    container.kill()  # SIGKILL: no shutdown message, the connection just breaks
    result = finish()
    assert result.get("failed"), result
    msg = result["msg"]
    assert "postgres" in msg and "001_slow.sql" in msg and "connection" in msg and "lost" in msg, msg
    assert "rolled back" in msg and "next run" in msg, msg
    assert named(result) and "itest-pw" not in str(result)

    container.start()
    wait_for(up, 120)
    conn = psycopg2.connect(**settings)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.first_half')")
        assert cur.fetchone()[0] is None, "half of the file stayed applied"
        cur.execute("CREATE TABLE go (id int)")
    conn.close()
    again = run_module("pg_migrate", params)
    assert not again.get("failed"), again.get("msg")
    assert [a["version"] for a in again["applied"]] == ["001"]
    conn = psycopg2.connect(**settings)
    with conn.cursor() as cur:
        cur.execute("SELECT version, success FROM ananta_migrations.schema_migrations")
        assert cur.fetchall() == [("001", True)]
        cur.execute("SELECT to_regclass('public.first_half') IS NOT NULL AND to_regclass('public.second_half') IS NOT NULL")
        assert cur.fetchone()[0] is True
    conn.close()


# --- RabbitMQ ------------------------------------------------------------------------------------


def test_rabbitmq_endpoint_that_never_speaks_amqp():
    """Finding 3: named within connect_timeout (was about 50 s and an unhandled handshake timeout)."""
    listener = SilentListener()
    try:
        started = time.monotonic()
        result = run_module("rabbitmq_topology", {"login_host": "127.0.0.1", "port": listener.port, "login_user": "u",
                                                  "login_password": "itest-pw", "connect_timeout": 5,
                                                  "exchanges": [{"name": "x", "type": "topic"}]})
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert result.get("failed"), result
    assert "127.0.0.1:%d" % listener.port in result["msg"] and "within 5" in result["msg"], result["msg"]
    assert named(result) and "itest-pw" not in str(result)
    # the module's own deadline, with room for ansible-playbook's start on a busy machine (was ~50 s)
    assert elapsed < 5 + 15, "took %.1fs" % elapsed


def test_rabbitmq_connection_cut_while_the_topology_is_declared(rabbitmq_server, vhost):
    """Finding 3: the broker gone in the middle of the declarations is named (was an unhandled
    'Transport indicated EOF'); what was declared stays, and the next run completes it."""
    queues = [{"name": "q%03d" % i, "durable": True} for i in range(150)]
    proxy = CuttingProxy(rabbitmq_server["port"], cut_after=4000)  # past the handshake, before the last queue
    try:
        params = {"login_host": "127.0.0.1", "port": proxy.port, "login_user": rabbitmq_server["user"],
                  "login_password": rabbitmq_server["password"], "vhost": vhost, "connect_timeout": 10, "queues": queues}
        result = run_module("rabbitmq_topology", params)
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    assert result.get("failed"), result
    msg = result["msg"]
    assert "127.0.0.1:%d" % proxy.port in msg and "was lost while the topology was declared" in msg, msg
    assert "next run continues" in msg and named(result), result
    params["port"] = rabbitmq_server["port"]
    again = run_module("rabbitmq_topology", params)
    assert not again.get("failed"), again.get("msg")
    assert len(again["created"]) + len(again["unchanged"]) == 150 and again["created"], again


# --- Temporal ------------------------------------------------------------------------------------


def test_temporal_endpoint_that_never_answers_grpc(prefix):
    """Finding 4: named within connect_timeout (was about 30 s whatever the timeout)."""
    listener = SilentListener()
    try:
        started = time.monotonic()
        result = run_module("temporal_namespace", {"address": "127.0.0.1:%d" % listener.port, "connect_timeout": 6,
                                                   "namespaces": [{"name": prefix, "retention": "3d"}]})
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert result.get("failed"), result
    assert "127.0.0.1:%d" % listener.port in result["msg"] and "within 6" in result["msg"], result["msg"]
    assert elapsed < 6 + 15, "took %.1fs" % elapsed


# --- a crash loop caught while it is up ---------------------------------------------------------


def test_running_probe_does_not_pass_a_crash_loop(lab, docker_client):
    """Finding 5: a container that exits after a second (restart always), caught while it is up
    between two restarts, is not ready: it is named as crashing."""
    container = lab("crashloop", ["sh", "-c", "sleep 1; exit 3"], restart="always")

    def restarted_and_up():
        container.reload()
        return container.attrs["RestartCount"] >= 1 and container.attrs["State"]["Running"]

    wait_for(restarted_and_up, 120, interval=0.1)
    result = run_module("wait_healthy", {"services": [{"name": "crashloop", "container_name": container.name, "level": 1,
                                                       "plane": "app_plane", "image": "lab", "readiness": {"probe": "running", "timeout": 60}}]})
    assert result.get("failed"), result
    assert result["services"][0]["verdict"] == "crashed", result["services"]
    assert "crashloop" in result["msg"]


def test_running_probe_passes_a_container_that_stays_up(lab):
    container = lab("steady", ["sleep", "300"], healthcheck=healthcheck(["CMD", "true"]))
    result = run_module("wait_healthy", {"services": [{"name": "steady", "container_name": container.name, "level": 1,
                                                       "plane": "app_plane", "image": "lab", "readiness": {"probe": "running", "timeout": 60}}]})
    assert not result.get("failed"), result.get("msg")
    assert result["services"][0]["verdict"] == "ready"


# --- every server each module drives: a closed port and a silent listener ------------------------
# Each module names the server and ends within its documented deadline (docs/guarantees.md),
# with SLACK seconds for ansible-playbook's own start on a busy machine.

SLACK = 15


def _endpoint(kind):
    if kind == "silent":
        listener = SilentListener()
        return listener.port, listener.close
    return free_port(), lambda: None  # nothing listens there


def _service():
    return {"name": "db", "container_name": "ananta-itest-none", "plane": "app_plane", "level": 1, "image": "lab",
            "readiness": {"probe": "running", "timeout": 10}}


def _cases(tmp_path, port):
    migrations = tmp_path / "migrations"
    migrations.mkdir(exist_ok=True)
    migrations.joinpath("001_a.sql").write_text("SELECT 1;")
    docker = "tcp://127.0.0.1:%d" % port
    k8s = {"host": "https://127.0.0.1:%d" % port, "api_key": "tok-Sekrit-4711", "validate_certs": False}
    return {
        # module, its arguments, its deadline in seconds, what the message must name
        "pg_migrate": ("pg_migrate", {"login_host": "127.0.0.1", "port": port, "login_user": "u", "login_password": "Sekrit-4711",
                                      "db": "x", "path": str(migrations), "connect_timeout": 5}, 5, "127.0.0.1:%d" % port),
        "rabbitmq_topology": ("rabbitmq_topology", {"login_host": "127.0.0.1", "port": port, "login_user": "u",
                                                    "login_password": "Sekrit-4711", "connect_timeout": 5,
                                                    "exchanges": [{"name": "x", "type": "topic"}]}, 5, "127.0.0.1:%d" % port),
        "temporal_namespace": ("temporal_namespace", {"address": "127.0.0.1:%d" % port, "connect_timeout": 5,
                                                      "namespaces": [{"name": "abc", "retention": "3d"}]}, 5, "127.0.0.1:%d" % port),
        "service_info docker": ("service_info", {"services": [_service()], "docker_host": docker}, 10, docker),
        "wait_healthy docker": ("wait_healthy", {"services": [_service()], "docker_host": docker}, 10, docker),
        "docker_services": ("docker_services", {"services": [_service()], "docker_host": docker}, 10, docker),
        "docker_logs": ("docker_logs", {"containers": ["x"], "dest": str(tmp_path / "logs"), "docker_host": docker, "timeout": 5},
                        5, docker),
        "service_info kubernetes": ("service_info", dict(k8s, services=[_service()], target="kubernetes"), 20,
                                    "127.0.0.1:%d" % port),
        "k8s_pod_logs": ("k8s_pod_logs", dict(k8s, namespaces=["a"], project="p", dest=str(tmp_path / "k8s"), request_timeout=5),
                         5, "port=%d" % port),
    }


CASES = ["pg_migrate", "rabbitmq_topology", "temporal_namespace", "service_info docker", "wait_healthy docker",
         "docker_services", "docker_logs", "service_info kubernetes", "k8s_pod_logs"]


@pytest.mark.parametrize("kind", ["closed", "silent"])
@pytest.mark.parametrize("case", CASES)
def test_unreachable_or_silent_server_is_named_within_its_deadline(tmp_path, kind, case):
    port, close = _endpoint(kind)
    try:
        module, params, deadline, names = _cases(tmp_path, port)[case]
        started = time.monotonic()
        result = run_module(module, params)
        elapsed = time.monotonic() - started
    finally:
        close()
    assert result.get("failed"), result
    assert named(result), result["msg"]
    assert names in result["msg"], result["msg"]
    assert "Sekrit-4711" not in str(result), "a password in the result"
    assert elapsed < deadline + SLACK, "%s on a %s port: %.1fs (deadline %ss)" % (case, kind, elapsed, deadline)


def test_rabbitmq_management_api_that_never_answers(rabbitmq_server, vhost):
    """The management API (read to compare) silent while AMQP answers: named within connect_timeout."""
    listener = SilentListener()
    try:
        started = time.monotonic()
        result = run_module("rabbitmq_topology", {
            "login_host": "127.0.0.1", "port": rabbitmq_server["port"], "login_user": rabbitmq_server["user"],
            "login_password": rabbitmq_server["password"], "vhost": vhost, "connect_timeout": 5,
            "management_url": "http://127.0.0.1:%d" % listener.port, "exchanges": [{"name": "x", "type": "topic"}]})
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert result.get("failed") and named(result), result
    assert "management API at http://127.0.0.1:%d" % listener.port in result["msg"], result["msg"]
    assert elapsed < 5 + SLACK, elapsed


# --- wrong credentials: named at once, not retried until the deadline ----------------------------


def test_postgres_wrong_password(database, tmp_path):
    settings, dbname = database
    tmp_path.joinpath("001_a.sql").write_text("CREATE TABLE never (id int);")
    started = time.monotonic()
    result = run_module("pg_migrate", {"login_host": settings["host"], "port": settings["port"], "login_user": settings["user"],
                                       "login_password": "Wrong-Sekrit-1", "db": dbname, "path": str(tmp_path),
                                       "connect_timeout": 30})
    elapsed = time.monotonic() - started
    assert result.get("failed") and named(result), result
    assert "password authentication failed" in result["msg"] and dbname in result["msg"], result["msg"]
    assert "Wrong-Sekrit-1" not in str(result)
    assert elapsed < SLACK, "a refused password is final: %.1fs" % elapsed


def test_rabbitmq_wrong_password(rabbitmq_server, vhost):
    started = time.monotonic()
    result = run_module("rabbitmq_topology", {
        "login_host": "127.0.0.1", "port": rabbitmq_server["port"], "login_user": rabbitmq_server["user"],
        "login_password": "Wrong-Sekrit-2", "vhost": vhost, "connect_timeout": 30, "exchanges": [{"name": "x", "type": "topic"}]})
    elapsed = time.monotonic() - started
    assert result.get("failed") and named(result), result
    # the server named, and why (issue 29: "ACCESS_REFUSED" alone passed without the server)
    assert "127.0.0.1:%d" % rabbitmq_server["port"] in result["msg"], result["msg"]
    assert "ProbableAuthenticationError" in result["msg"] or "ACCESS_REFUSED" in result["msg"], result["msg"]
    assert "Wrong-Sekrit-2" not in str(result)
    assert elapsed < SLACK, "a refused login is final: %.1fs" % elapsed


def test_temporal_connection_cut_while_namespaces_are_ensured(temporal_server, prefix):
    """The server gone in the middle of the namespaces: named with the namespace and what was done;
    the next run ensures every one of them."""
    server_port = int(temporal_server.rsplit(":", 1)[1])
    proxy = CuttingProxy(server_port, cut_after=6000)  # past the connect, in the middle of the namespaces
    namespaces = [{"name": "%s-%02d" % (prefix, i), "retention": "3d"} for i in range(30)]
    try:
        started = time.monotonic()
        result = run_module("temporal_namespace", {"address": "127.0.0.1:%d" % proxy.port, "connect_timeout": 10,
                                                   "ready_timeout": 10, "namespaces": namespaces})
        elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    assert result.get("failed") and named(result), result
    msg = result["msg"]
    assert "Temporal at 127.0.0.1:%d, namespace %s-" % (proxy.port, prefix) in msg and "next run" in msg, msg
    assert elapsed < 10 + 10 + SLACK, elapsed
    again = run_module("temporal_namespace", {"address": temporal_server, "connect_timeout": 20, "namespaces": namespaces})
    assert not again.get("failed"), again.get("msg")
    assert len(again["namespaces"]) == 30


# --- the Docker engine and the Kubernetes API: killed mid-operation, wrong credentials -------------

class UnixProxy(CountingProxy):
    """The Docker engine on a TCP port (``tcp://127.0.0.1:port``), forwarded to its socket;
    ``kill()``: the engine dying, as a client sees it."""

    def __init__(self, target="/var/run/docker.sock"):
        self.target = target
        super().__init__()
        self.url = "tcp://127.0.0.1:%d" % self.port

    def _connect(self):
        server = socket.socket(socket.AF_UNIX)
        try:
            server.connect(self.target)
        except OSError:
            server.close()
            raise
        return server


def _probe_service(prefix, name, level, depends_on=(), readiness=None):
    from integration_helpers import LAB_IMAGE, TEST_LABEL
    return {"name": name, "container_name": "%s-%s" % (prefix, name), "plane": "app_plane", "level": level,
            "image": LAB_IMAGE, "command": ["sleep", "infinity"], "depends_on": list(depends_on),
            "labels": {TEST_LABEL: prefix}, "readiness": readiness or {"probe": "running", "timeout": 30}}


@pytest.mark.parametrize("module", ["docker_services", "wait_healthy"])
def test_docker_engine_killed_mid_operation(docker_client, module):
    """The engine goes away while the module waits for a service: the run ends within the
    service's budget, naming the engine, and the containers it made stay for the next run."""
    import uuid
    prefix = "dk%s" % uuid.uuid4().hex[:6]
    budget = 20
    services = [_probe_service(prefix, "kept", 1),
                # never ready: its probe's port has no listener; the engine dies while it is awaited
                _probe_service(prefix, "waited", 2, ["kept"], {"probe": "tcp", "port": free_port(), "timeout": budget})]
    proxy = UnixProxy()
    try:
        if module == "wait_healthy":
            container = docker_client.containers.run(services[1]["image"], ["sleep", "infinity"], detach=True,
                                                     name=services[1]["container_name"], labels={"ananta.platform.test": prefix})
            args = {"services": services[1:], "docker_host": proxy.url, "poll_interval": 0.25}
        else:
            args = {"services": services, "project": prefix, "planes": ["app_plane"], "wait_all": True,
                    "docker_host": proxy.url, "poll_interval": 0.25}
        started = time.monotonic()
        finish = run_module(module, args, background=True)
        # the engine dies once the awaited service's container runs (seen on the engine directly)

        def awaited_runs():
            return docker_client.api.inspect_container(services[1]["container_name"])["State"]["Running"]

        wait_for(awaited_runs, 120, interval=0.2)
        seen = proxy.requests
        wait_for(lambda: proxy.requests >= seen + 2, 60, interval=0.1)  # and the module is looking at it
        proxy.kill()
        result = finish()
        elapsed = time.monotonic() - started
        assert result.get("failed"), result
        assert named(result), result["msg"]
        assert "Docker engine at %s" % proxy.url in result["msg"] and "waited" in result["msg"], result["msg"]
        assert "Traceback" not in str(result.get("msg")), result["msg"]
        assert elapsed < budget + SLACK, "%s after the engine died: %.1fs (budget %ss)" % (module, elapsed, budget)
        # nothing lost: the containers stay, the first one still running
        if module == "docker_services":
            assert docker_client.api.inspect_container(services[0]["container_name"])["State"]["Running"]
        print("\n%s, engine killed mid-wait: failed in %.1f s: %s" % (module, elapsed, result["msg"][:300]))
    finally:
        proxy.kill()
        for container in docker_client.containers.list(all=True, filters={"label": "ananta.platform.project=%s" % prefix}):
            container.remove(force=True)
        for container in docker_client.containers.list(all=True, filters={"label": "ananta.platform.test=%s" % prefix}):
            container.remove(force=True)
        if module == "wait_healthy":
            try:
                container.remove(force=True)
            except Exception:  # pylint: disable=broad-except
                pass


def _k8s_wait_args(cluster, token, timeout=20):
    """The lab's app-plane-rabbitmq as the Kubernetes renderer hands it to a phase's wait."""
    from inventory_helpers import inventory_vars
    import json
    svc = json.loads(json.dumps(next(s for s in inventory_vars("lab")["ananta_services"] if s["name"] == "app-plane-rabbitmq"),
                                default=str))
    entry = dict(svc, readiness=dict(svc.get("readiness") or {}, timeout=timeout),
                 kubernetes=dict(svc.get("kubernetes") or {}, namespace="app-plane"))
    return {"services": [entry],
            "target": "kubernetes", "host": cluster.url, "api_key": token, "poll_interval": 0.2, "timeout": timeout,
            "missing": "wait"}


def test_kubernetes_api_killed_mid_wait():
    """The API server dies while wait_healthy waits for an object: named, within its timeout."""
    from k8s_api import FakeCluster
    cluster = FakeCluster().start()
    port = cluster.server.server_address[1]
    try:
        args = _k8s_wait_args(cluster, "tok-Sekrit-4711")
        started = time.monotonic()
        finish = run_module("wait_healthy", args, background=True)
        assert cluster.wait_for_reads("served:/apis/apps/v1/namespaces/app-plane/statefulsets/rabbitmq", 2)
        cluster.kill()
        result = finish()
        elapsed = time.monotonic() - started
    finally:
        cluster.kill()
    assert result.get("failed") and named(result), result
    assert "rabbitmq" in result["msg"] and "127.0.0.1:%d" % port in result["msg"], result["msg"]
    assert "tok-Sekrit-4711" not in str(result)
    assert elapsed < 20 + SLACK, elapsed
    print("\nKubernetes API killed mid-wait: failed in %.1f s: %s" % (elapsed, result["msg"][:300]))


@pytest.mark.parametrize("module", ["wait_healthy", "service_info"])
def test_kubernetes_wrong_token_is_named_at_once(module):
    from k8s_api import FakeCluster
    cluster = FakeCluster(token="the-right-token").start()
    try:
        args = _k8s_wait_args(cluster, "tok-Sekrit-4711")
        if module == "service_info":
            args = {k: v for k, v in args.items() if k in ("services", "target", "host", "api_key")}
        started = time.monotonic()
        result = run_module(module, args)
        elapsed = time.monotonic() - started
    finally:
        cluster.kill()
    assert result.get("failed") and named(result), result
    assert "401" in result["msg"] and cluster.url in result["msg"], result["msg"]
    assert "tok-Sekrit-4711" not in str(result), "the token in the result"
    assert elapsed < SLACK, "a wrong token is not worth waiting out the timeout: %.1fs" % elapsed
    print("\n%s with a wrong token: %s" % (module, result["msg"][:300]))
