"""What the modules share instead of each writing its own (issue 18, "modules keep argument
handling and documentation"): the files they write, the networks' drivers, the cluster client of
the connection options, the status rows."""

import os
import stat

import pytest

from ansible_collections.ananta.platform.plugins.module_utils import _catalog, _files, _status

from ansible_collections.ananta.platform.plugins.module_utils._k8s import readiness as _k8s_readiness

from ansible_collections.ananta.platform.plugins.module_utils._k8s import render as _k8s_render
from ansible_collections.ananta.platform.plugins.module_utils._k8s.phases import write_phases


def test_a_file_is_written_once_owner_only_and_not_in_check_mode(tmp_path):
    path = str(tmp_path / "out" / "compose.yml")
    assert _files.write_if_changed(path, "a\n", check_mode=True) == (True, None)
    assert not os.path.exists(path)
    assert _files.write_if_changed(path, "a\n") == (True, None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _files.write_if_changed(path, "a\n") == (False, "a\n")
    os.chmod(path, 0o644)  # an older file readable by others is made owner-only when it changes
    assert _files.write_if_changed(path, "b\n") == (True, "a\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and open(path, encoding="utf-8").read() == "b\n"


def test_the_phases_are_written_in_order_and_only_when_they_change(tmp_path):
    services = [{"name": "db", "plane": "data", "level": 0, "image": "postgres:15", "ports": ["5432:5432"],
                 "readiness": {"probe": "tcp", "port": 5432}, "kubernetes": {"kind": "StatefulSet"}},
                {"name": "api", "plane": "logic_tier", "level": 1, "image": "api:1", "depends_on": ["db"],
                 "readiness": {"probe": "tcp", "port": 8000}, "kubernetes": {"kind": "Deployment"}}]
    phases = _k8s_render.Renderer(services, step_image="steps:1").render()
    dest = str(tmp_path)
    changed, files, diff = write_phases(phases, dest, check_mode=True)
    assert changed and files == diff and not os.listdir(dest)
    changed, files, diff = write_phases(phases, dest)
    assert changed and sorted(os.listdir(dest)) == [os.path.basename(f) for f in files]
    assert [os.path.basename(f)[:2] for f in files] == ["%02d" % n for n in range(1, len(phases) + 1)]
    assert any("-logic-tier-" in f for f in files)
    assert write_phases(phases, dest) == (False, files, [])


def test_the_networks_drivers_from_names_or_mappings():
    assert _catalog.network_drivers(["a", {"name": "b", "driver": "overlay"}, {"name": "c"}]) == \
        {"a": "bridge", "b": "overlay", "c": "bridge"}
    assert _catalog.network_drivers(None) == {}


@pytest.mark.skipif(not _k8s_readiness.HAS_KUBERNETES, reason="the kubernetes client")
def test_one_mapping_from_the_connection_options_to_the_client(tmp_path):
    """host, token, CA and certificate validation reach the client (three playbooks once dropped
    the CA)."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    params = {"kubeconfig": None, "context": None, "host": "https://10.0.0.1:6443", "api_key": "t0ken",
              "validate_certs": True, "ca_cert": str(ca), "plane_namespaces": None}
    config = _k8s_readiness.api_client_for(params).configuration
    assert config.host == "https://10.0.0.1:6443" and config.ssl_ca_cert == str(ca) and config.verify_ssl
    assert config.api_key == {"authorization": "Bearer t0ken"}
    config = _k8s_readiness.api_client_for(dict(params, validate_certs=False, ca_cert=None)).configuration
    assert not config.verify_ssl and not config.ssl_ca_cert


class _State:
    def __init__(self, status, health=None, exit_code=0, restarts=0):
        self.status, self.health_status, self.exit_code, self.restart_count = status, health, exit_code, restarts
        self.running, self.restarting = status == "running", False

    def published_ports(self):
        return []


def test_a_status_row_per_service_and_its_table():
    web = {"name": "web", "plane": "edge", "level": 2, "ports": ["8080:80"], "readiness": {"probe": "http", "path": "/health"}}
    job = {"name": "seed", "plane": "data", "level": 1, "readiness": {"probe": "exit_zero"}}
    rows = [_status.describe(web, _State("running", "healthy"), "host1"), _status.describe(job, _State("exited", exit_code=3), "h"),
            _status.describe(dict(web, name="gone"), None, "h")]
    assert [r["up"] for r in rows] == [True, False, False]
    assert rows[1]["state"] == "exited (exit 3)" and rows[2]["state"] == "missing"
    lines = _status.table(rows)
    assert lines[0].split() == ["LEVEL", "PLANE", "SERVICE", "STATE", "HEALTH", "RESTARTS", "URL"]
    assert lines[1].split()[-1] == "http://host1:8080/health" and lines[2].split()[-1] == "-"
    assert len({line.index(row["name"]) for line, row in zip(lines[1:], rows)}) == 1  # one column
