"""The cluster connection set once (ananta_cluster_connection of the platform definition, module_defaults of the action group
ananta.platform.cluster): a cluster reached by host, token and a private CA, through the
playbooks that read it (status, verify, collect_logs), against the stand-in API server over
HTTPS with its own CA, requiring the token. The controls: without the CA the certificate is
refused, with another token the API answers 401; so a run that passes used all three."""

import os
import re
import subprocess

import pytest

from integration_helpers import ROOT
from k8s_api import FakeCluster

PLAYBOOK = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
TOKEN = "tok-Sekrit-cluster-4711"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("pki")

    def ssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=folder, check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=ananta-test-ca", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
        "-days", "2", "-extfile", "san.cnf")
    return folder


@pytest.fixture()
def cluster(pki):
    fake = FakeCluster(token=TOKEN, tls=(str(pki / "server.pem"), str(pki / "server.key"))).start()
    yield fake
    fake.kill()


def run(playbook, cluster, ca_cert, token=TOKEN, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    args = [PLAYBOOK, os.path.join(ROOT, "playbooks", playbook), "-i", os.path.join(ROOT, "inventories", "lab_kubernetes"),
            "-e", "ananta_kubeconfig=", "-e", "ananta_k8s_host=%s" % cluster.url, "-e", "ananta_k8s_api_key=%s" % token,
            "-e", "ananta_k8s_validate_certs=true", "-e", "ananta_verify_timeout=3"]
    if ca_cert:
        args += ["-e", "ananta_k8s_ca_cert=%s" % ca_cert]
    proc = subprocess.run(args + list(extra), capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    return proc.stdout + proc.stderr, proc.returncode


def served(cluster):
    return [p for p in cluster.requests if p.startswith("served:")]


@pytest.mark.parametrize("playbook", ["status.yml", "verify.yml"])
def test_host_token_and_ca_reach_the_cluster(cluster, pki, playbook):
    output, rc = run(playbook, cluster, str(pki / "ca.pem"))
    # the stand-in holds no workload: every service is reported missing, which needs the API's answers
    assert rc != 0 and "does not exist" in output, output[-3000:]
    # an API refusal names its status (401, Unauthorized); a timing such as 0:00:01.401 in the task
    # recap is no refusal
    refused = re.search(r"\b401\b(?![.:]?\d)|Unauthorized", re.sub(r"\d+:\d\d:\d\d\.\d+|\d+\.\d+s", "", output))
    assert not refused and "CERTIFICATE_VERIFY_FAILED" not in output, output[-3000:]
    assert len(served(cluster)) >= 30, "the API was read for every service"
    assert TOKEN not in output


def test_collect_logs_over_host_token_and_ca(cluster, pki, tmp_path):
    output, rc = run("collect_logs.yml", cluster, str(pki / "ca.pem"), TOKEN, "-e", "ananta_logs_dir=%s" % tmp_path)
    assert rc == 0, output[-3000:]
    assert any("/pods" in p for p in cluster.requests), cluster.requests
    assert list(tmp_path.glob("ananta-logs-*.tar.gz")), output[-2000:]
    assert TOKEN not in output


def test_without_the_ca_or_with_another_token_the_cluster_refuses(cluster, pki):
    output, rc = run("status.yml", cluster, "")
    assert rc != 0 and "CERTIFICATE_VERIFY_FAILED" in output, output[-3000:]
    output, rc = run("status.yml", cluster, str(pki / "ca.pem"), "tok-another")
    assert rc != 0 and "401" in output, output[-3000:]
    assert "tok-another" not in output
