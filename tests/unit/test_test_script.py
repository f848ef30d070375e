"""scripts/test.sh reports a stage that did not run as skipped, never among the stages passed
(issue 29: without a cluster, its last line listed `cluster` as passed)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_cluster_stage_without_a_cluster_is_reported_skipped_not_passed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["ANANTA_K8S_KIT"] = str(tmp_path / "no-kit")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "test.sh"), "cluster"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600, check=False)
    out = proc.stdout
    assert "cluster tests SKIPPED: no Kubernetes cluster" in out, out[-2000:]
    assert "===== stages passed: none" in out and "===== stages SKIPPED (not run): cluster" in out, out[-2000:]
    assert proc.returncode == 0, out[-2000:]
