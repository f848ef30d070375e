"""ananta.platform.wait_healthy against the real Docker engine and lab images."""

import os
import threading
import time

import psycopg2
import pytest

from integration_helpers import CountingProxy, free_port, healthcheck, run_module, wait_for

PG_ENV = {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "itest-pw", "POSTGRES_DB": "app"}


def svc(lab, name, readiness, level=3):
    return {"name": name, "container_name": "%s-%s" % (lab.prefix, name), "plane": "app_plane", "level": level,
            "image": "lab", "readiness": readiness}


def test_healthy_set_returns_ready(lab):
    pg_port, redis_port, http_port = free_port(), free_port(), free_port()
    lab("db", "lab-postgres", env=PG_ENV, ports={"5432/tcp": pg_port})
    lab("cache", "lab-redis", ports={"6379/tcp": redis_port})
    lab("api", "standin", env={"STANDIN_NAME": "api", "STANDIN_PORTS": "8080", "STANDIN_HEALTH": "/health",
                               "STANDIN_DELAY": "2", "STANDIN_CHECKS": "tcp://db:5432"},
        # a start period, as every service of the catalog has (the lab's 60 s): while db boots (long on a
        # busy machine), api's failing checks do not count, so Docker does not call it unhealthy
        ports={"8080/tcp": http_port}, healthcheck=healthcheck(["CMD", "curl", "-fsS", "http://localhost:8080/health"],
                                                               start_period=60))
    services = [
        svc(lab, "db", {"probe": "postgres", "port": pg_port, "user": "postgres", "password": "itest-pw", "dbname": "app"}),
        svc(lab, "cache", {"probe": "redis", "port": redis_port}),
        svc(lab, "api", {"probe": "docker_health", "timeout": 60}),
    ]
    result = run_module("wait_healthy", {"services": services, "poll_interval": 0.5})
    assert not result.get("failed"), result["msg"]
    assert result["ready_services"] == ["db", "cache", "api"]
    by_name = {r["name"]: r for r in result["services"]}
    assert all(r["verdict"] == "ready" for r in by_name.values())
    assert "itest-pw" not in str(result)  # the password is masked
    assert result["elapsed"] < 30


def test_never_healthy_fails_at_its_budget_and_is_named(lab):
    port = free_port()
    lab("stuck", "standin", env={"STANDIN_NAME": "stuck", "STANDIN_PORTS": "8080", "STANDIN_HEALTH": "/health",
                                 "STANDIN_CHECKS": "tcp://nowhere.invalid:5432"}, ports={"8080/tcp": port})
    services = [svc(lab, "stuck", {"probe": "http", "port": port, "path": "/health", "timeout": 6}, level=4)]
    started = time.monotonic()
    result = run_module("wait_healthy", {"services": services, "poll_interval": 0.5})
    assert result["failed"]
    assert result["services"][0]["verdict"] == "timed_out"
    assert "service stuck (level 4, probe http) timed out" in result["msg"]
    assert "503" in result["msg"]  # the last probe output
    assert 6 <= result["elapsed"] < 10
    assert time.monotonic() - started < 20


def test_crash_loop_fails_within_its_second_restart(lab):
    lab("worker", ["standin", "temporal-worker"], restart="unless-stopped",
        env={"STANDIN_NAME": "worker", "STANDIN_MODE": "worker",
             "STANDIN_REQUIRES": "temporal://shared-temporal-missing:7233/arc-saas"})
    services = [svc(lab, "worker", {"probe": "process", "pattern": "temporal-worker", "stable": 3, "timeout": 120}, level=2)]
    result = run_module("wait_healthy", {"services": services, "poll_interval": 0.5})
    assert result["failed"]
    service = result["services"][0]
    assert service["verdict"] == "crashed"
    assert result["elapsed"] < 15, "crash detected long before the 120 s budget"
    assert service["restarts"] <= 2, "detected within the second restart after the wait began"
    assert "service worker (level 2, probe process) crashed" in result["msg"]
    assert any("FATAL" in line for line in service["logs"]), service["logs"]


def test_one_shot_exit_zero_is_done_and_exit_one_fails(lab):
    store = lab("store", "standin", env={"STANDIN_NAME": "store", "STANDIN_MODE": "minio", "STANDIN_PORTS": "9000",
                                         "STANDIN_HEALTH": "/minio/health/live"})
    # init-ok requires the store at its start: wait until the store says it listens
    wait_for(lambda: b"listening" in store.logs(), 60, interval=0.2)
    lab("init-ok", "standin", env={"STANDIN_NAME": "init-ok", "STANDIN_MODE": "oneshot", "STANDIN_TARGET": "http://store:9000",
                                   "STANDIN_REQUIRES": "http://store:9000/minio/health/live", "STANDIN_BUCKETS": "a b"})
    lab("init-bad", "standin", env={"STANDIN_NAME": "init-bad", "STANDIN_MODE": "oneshot",
                                    "STANDIN_REQUIRES": "http://nowhere.invalid:9000/", "STANDIN_TARGET": "http://x:1"})
    ok = run_module("wait_healthy", {"services": [svc(lab, "init-ok", {"probe": "exit_zero", "timeout": 30})]})
    assert not ok.get("failed"), ok.get("msg")
    assert ok["services"][0]["output"] == "finished with exit code 0"
    bad = run_module("wait_healthy", {"services": [svc(lab, "init-bad", {"probe": "exit_zero", "timeout": 30})]})
    assert bad["failed"]
    assert bad["services"][0]["verdict"] == "failed"
    assert "exit code 1" in bad["msg"]


def test_healthy_from_before_a_restart_is_not_trusted(lab, docker_client):
    # Healthy while /run/ok exists; /run is a tmpfs, so a restart empties it.
    container = lab("flaky", "standin", env={"STANDIN_NAME": "flaky", "STANDIN_PORTS": "8080"},
                    tmpfs={"/run": ""}, restart="unless-stopped",
                    healthcheck=healthcheck(["CMD", "test", "-f", "/run/ok"], interval=2, retries=5))
    container.exec_run(["touch", "/run/ok"])
    wait_for(lambda: docker_client.api.inspect_container(container.id)["State"]["Health"]["Status"] == "healthy", 20)
    container.restart(timeout=1)
    services = [svc(lab, "flaky", {"probe": "docker_health", "timeout": 5})]
    result = run_module("wait_healthy", {"services": services, "poll_interval": 0.5})
    assert result["failed"], "a healthy status from before the restart was trusted"
    assert result["services"][0]["verdict"] in ("timed_out", "unhealthy")


def test_http_probe_waits_for_the_real_condition(lab):
    port = free_port()
    # healthy only once its dependency `gate` answers; `gate` is started once the probe has been
    # answered (an event the proxy sees), not after a fixed time
    lab("slow", "standin", env={"STANDIN_NAME": "slow", "STANDIN_PORTS": "8080", "STANDIN_HEALTH": "/health/ready",
                                "STANDIN_CHECKS": "tcp://gate:7000"}, ports={"8080/tcp": port})
    proxy = CountingProxy(port)

    def open_the_gate():
        if proxy.closed_one.wait(120):
            lab("gate", "standin", env={"STANDIN_NAME": "gate", "STANDIN_MODE": "tcp", "STANDIN_PORTS": "7000"})

    thread = threading.Thread(target=open_the_gate)
    thread.start()
    spec = {"probe": "http", "port": proxy.port, "path": "/health/ready", "body": "UP", "timeout": 60}
    result = run_module("wait_healthy", {"services": [svc(lab, "slow", spec)], "poll_interval": 0.25})
    thread.join()
    proxy.close()
    assert not result.get("failed"), result.get("msg")
    # the first answers came before the gate was open: the probe waited for the real condition
    assert result["services"][0]["attempts"] > 1


def test_postgres_table_probe_waits_for_the_table(lab):
    port = free_port()
    lab("pg", "lab-postgres", env=PG_ENV, ports={"5432/tcp": port})
    conninfo = dict(host="127.0.0.1", port=port, user="postgres", password="itest-pw", dbname="app", connect_timeout=2)
    wait_for(lambda: psycopg2.connect(**conninfo).close() is None, 30)

    # the table is created once the probe has looked (a query of the probe's in database `app`
    # counted by the server), not after a fixed time: on a busy machine ansible-playbook may take
    # longer to start than any sleep
    watch = psycopg2.connect(**dict(conninfo, dbname="postgres"))
    watch.autocommit = True

    def queries_in_app():
        with watch.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'app'")
            return cur.fetchone()[0]

    def backends_in_app():
        with watch.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'app'")
            return cur.fetchone()[0]

    # the readiness check's own connection has ended (and its counts are in) before the baseline
    wait_for(lambda: backends_in_app() == 0, 30, interval=0.2)
    before = queries_in_app()

    def create_table_later():
        wait_for(lambda: queries_in_app() > before, 120, interval=0.2)
        conn = psycopg2.connect(**conninfo)
        conn.autocommit = True
        conn.cursor().execute("CREATE TABLE bom_processing_jobs (id serial primary key)")
        conn.close()

    thread = threading.Thread(target=create_table_later)
    thread.start()
    result = run_module("wait_healthy", {"services": [svc(lab, "pg", {
        "probe": "postgres", "port": port, "user": "postgres", "password": "itest-pw", "dbname": "app",
        "tables": ["bom_processing_jobs"], "timeout": 30})], "poll_interval": 0.5})
    thread.join()
    watch.close()
    assert not result.get("failed"), result.get("msg")
    # the table came after the probe's first look: it saw it missing first
    assert result["services"][0]["attempts"] > 1
    assert "tables present: bom_processing_jobs" in result["services"][0]["output"]


def test_missing_container_fails_at_once(lab):
    result = run_module("wait_healthy", {"services": [svc(lab, "ghost", {"probe": "running", "timeout": 60})]})
    assert result["failed"]
    assert result["services"][0]["verdict"] == "failed"
    assert "does not exist" in result["msg"]
    assert result["elapsed"] < 5


def test_check_mode_reports_without_waiting(lab):
    port = free_port()
    lab("later", "standin", env={"STANDIN_NAME": "later", "STANDIN_PORTS": "8080", "STANDIN_DELAY": "30"},
        ports={"8080/tcp": port})
    result = run_module("wait_healthy", {"services": [svc(lab, "later", {"probe": "http", "port": port, "timeout": 60})]},
                        check=True)
    assert not result.get("failed")
    assert result["services"][0]["verdict"] == "waiting"
    assert result["elapsed"] < 10


@pytest.mark.parametrize("bad, message", [
    ({"probe": "htp"}, "'htp' is not one of"),
    ({"probe": "http"}, "probe 'http' needs url or port"),
])
def test_bad_probe_spec_fails_before_waiting(lab, bad, message):
    result = run_module("wait_healthy", {"services": [svc(lab, "x", bad)]})
    assert result["failed"]
    assert message in result["msg"]


def test_a_process_probe_reads_this_machines_proc_and_agrees_with_pgrep(lab):
    """Issue 32: on a local engine the process probe reads the container's process tree from
    /proc (no exec, no engine call) and says what pgrep in the container says; a container whose
    first process is not found here falls back to pgrep in the container."""
    from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import DockerRuntime

    container = lab("proc-worker", ["/bin/sh", "-c", "exec sleep 4242"])
    runtime = DockerRuntime()
    wait_for(lambda: runtime.inspect(container.name).running, 30, interval=0.2)
    state = runtime.inspect(container.name)
    for pattern, expected in (("sleep 4242", True), ("no-such-worker", False)):
        fast = runtime.process_running(container.name, pattern, state)
        slow = runtime.process_running(container.name, pattern)
        assert fast[0] is slow[0] is expected, (pattern, fast, slow)
    assert runtime.process_running(container.name, "no-such-worker", state)[1].endswith("(of 1 in the container)")
    assert "pgrep" in runtime.process_running(container.name, "no-such-worker")[1]  # the container asked itself
    # a first process that is not this machine's (a PID namespace of its own, a remote engine): pgrep
    state.pid = 1
    assert "pgrep" in runtime.process_running(container.name, "no-such-worker", state)[1]


def test_a_running_containers_state_is_told_from_proc_until_its_process_ends(lab):
    """Issue 32: a container seen running (no healthcheck) is looked at again through this
    machine's /proc while its first process lives (no engine call: a start of 200 services made
    1,800 inspections polling them), up to an age; the moment that process ends (a crash, a
    restart by the policy) the engine is asked, and tells the restart. One with a healthcheck is
    always asked."""
    import signal

    from ansible_collections.ananta.platform.plugins.module_utils._docker.runtime import DockerRuntime

    runtime = DockerRuntime()
    calls = []
    inspect = runtime.api.inspect_container
    runtime.api.inspect_container = lambda name: calls.append(name) or inspect(name)
    worker = lab("proc-state", ["/bin/sh", "-c", "exec sleep 4343"], restart="always")
    wait_for(lambda: runtime.inspect(worker.name).running, 30, interval=0.2)
    state = runtime.inspect(worker.name)
    assert state.process_start is not None and state.restart_count == 0
    del calls[:]
    for _round in range(5):
        assert runtime.refresh(worker.name, state, max_age=600) is state
    assert calls == []  # the engine was not asked
    assert runtime.refresh(worker.name, state, max_age=0) is not state  # older than max_age: asked again
    assert calls == [worker.name]
    os.kill(state.pid, signal.SIGKILL)  # its own process, on this machine: the policy restarts it
    wait_for(lambda: runtime.refresh(worker.name, state, max_age=600) is not state, 30, interval=0.1)
    assert calls, "the ended process did not send the look to the engine"
    restarted = []

    def up_again():
        seen = runtime.refresh(worker.name)
        restarted.append(seen)
        return seen.restart_count == 1 and seen.running and not seen.restarting and seen.pid
    wait_for(up_again, 30, interval=0.2)
    assert restarted[-1].pid != state.pid and restarted[-1].process_start is not None

    checked = lab("proc-health", ["/bin/sh", "-c", "exec sleep 4444"],
                  healthcheck=healthcheck(["CMD", "true"], interval=1))
    wait_for(lambda: runtime.inspect(checked.name).running, 30, interval=0.2)
    health = runtime.inspect(checked.name)
    assert health.health_status is not None and health.process_start is None
    del calls[:]
    assert runtime.refresh(checked.name, health) is not health
    assert calls == [checked.name]
