"""Every AWX job template and the Deploy workflow, run the way AWX runs them (issue 16).

AWX hands each job to ansible-runner inside the execution environment. Here, as there:
- the project is a copy of the repository's files (AWX's project update) in the job's private
  data directory, mounted at /runner;
- the inventory is imported from the project's inventory directory by `ansible-inventory --list
  --export` run in the EE (AWX's inventory update), and handed to the job as AWX writes it: a
  script `inventory/hosts` printing the imported JSON (its migrations are no longer beside it);
- extra variables are the survey's answers (each question's default, and a non-default answer
  per question across the jobs); job tags come from the plane choice;
- ansible-runner (PyPI) packs the job (`transmit`), the EE image runs it on the local Docker
  engine (`ansible-runner worker`, as receptor starts it: the stream on its standard input, no
  terminal, the image's own user), and `process` unpacks its events and artifacts.
The EE reaches the lab's Docker engine through its socket and the lab's published ports through
the host's network: the lab inventory's host is the EE's localhost.

Asserted per job: its status and return code, its events (no task failed, the expected plays
ran), the set_stats artifact in the final stats event (the start timeline, the logs archive's
place), and that no password of the inventory appears in its stdout or in any event.
"""

import datetime
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import ansible_runner
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import awx_check  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.ananta.platform.plugins.module_utils import _mask  # noqa: E402

EE_IMAGE = os.environ.get("ANANTA_EE_IMAGE", "ananta-lab/ee:0.1")
INVENTORY_SOURCE = "inventories/lab/hosts.yml"
CONTROLLER = awx_check.load(os.path.join(ROOT, "awx", "controller.yml"))
TEMPLATES = {t["name"]: t for t in CONTROLLER["awx_job_templates"]}
WORKFLOWS = {w["name"]: w for w in CONTROLLER["awx_workflows"]}
JOB_TIMEOUT = 900
# A host directory the EE mounts, as AWX's "Paths to expose to isolated jobs" (or a container
# group's volume) would: where the Collect logs job leaves its archive.
EXPOSED = "/var/lib/ananta/logs"
READY_LINE = re.compile(r"\[\s*([0-9.]+) s\] \S+ L\d +\S+ +ready in")


def _docker_ok():
    try:
        return subprocess.run(["docker", "image", "inspect", EE_IMAGE], capture_output=True, timeout=60,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not _docker_ok() and not os.environ.get("CI"),  # in CI: fail, never skip
                                reason=f"no Docker engine or no image {EE_IMAGE} (playbooks/lab_images.yml)")


def survey_answers(questions, answers=None):
    """The extra variables AWX builds from a survey: each answer given, else the default
    (a multiselect default is newline-separated in the spec and handed on as a list)."""
    answers = dict(answers or {})
    extra = {}
    for key in questions:
        question = CONTROLLER["awx_questions"][key]
        variable = question["variable"]
        if variable in answers:
            extra[variable] = answers.pop(variable)
            continue
        default = question.get("default")
        if question["type"] == "multiselect":
            default = [choice for choice in str(default or "").split("\n") if choice]
        if default in ("", None) and not question.get("required"):
            continue  # AWX leaves an unanswered optional question out
        if question["type"] == "integer":
            default = int(default)
        extra[variable] = default
    assert not answers, f"answers to no question of this survey: {sorted(answers)}"
    return extra


def _copy_project(dest):
    """AWX's project update: the repository's files (tracked and new, not ignored)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, files):
        src = os.path.join(ROOT, name)
        if not os.path.lexists(src):
            continue  # deleted in the work tree
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def _import_inventory(project):
    """AWX's inventory update from a project source: ansible-inventory in the EE."""
    result = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{project}:/runner/project:ro", "-w", "/runner/project", EE_IMAGE,
         "ansible-inventory", "-i", INVENTORY_SOURCE, "--list", "--export"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def awx_dir(tmp_path_factory):
    """The private data directory of every job (one per job in AWX; the same project here)."""
    base = tmp_path_factory.mktemp("awx")
    root = base / "private"  # what a job carries: project, inventory (and its env, its artifacts)
    _copy_project(str(root / "project"))
    imported = _import_inventory(str(root / "project"))
    os.makedirs(root / "inventory")
    script = root / "inventory" / "hosts"
    # as AWX's build_inventory writes it
    script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(imported))
    script.chmod(0o755)
    exposed = base / "exposed"
    exposed.mkdir()
    exposed.chmod(0o777)  # the EE's user writes there
    return {"dir": str(root), "base": str(base), "inventory": imported, "exposed": str(exposed)}


@pytest.fixture(scope="module")
def passwords(awx_dir):
    found = {value for value in _mask.secret_values(awx_dir["inventory"]) if "{{" not in value}
    assert "rabbitmq-lab" in found, "the lab inventory's passwords were not found"
    return found


class Job:
    """A finished job as `ansible-runner process` left it: its artifacts directory."""

    def __init__(self, processor, ident, private_data_dir, worker_stderr):
        self.ident = ident
        self.status = processor.status
        self.rc = processor.rc
        self.worker_stderr = worker_stderr
        self.artifacts = os.path.join(private_data_dir, "artifacts", ident)
        self.events = []
        for path in glob.glob(os.path.join(self.artifacts, "job_events", "*.json")):
            with open(path, encoding="utf-8") as handle:
                self.events.append(json.load(handle))
        self.events.sort(key=lambda event: event.get("counter", 0))
        for name in ("status", "rc"):  # what the worker reported, as the processor wrote it
            path = os.path.join(self.artifacts, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    value = handle.read().strip()
                setattr(self, name, int(value) if name == "rc" else value)
        stdout = os.path.join(self.artifacts, "stdout")
        self.stdout = open(stdout, encoding="utf-8").read() if os.path.exists(stdout) else ""  # noqa: SIM115

    def plays(self):
        return [e["event_data"].get("play") for e in self.events if e["event"] == "playbook_on_play_start"]

    def failed_tasks(self):
        return [(e["event_data"].get("task"), e["event_data"].get("res", {}).get("msg"))
                for e in self.events if e["event"] in ("runner_on_failed", "runner_on_unreachable")
                and not e["event_data"].get("ignore_errors")]

    def stats_artifacts(self):
        stats = [e for e in self.events if e["event"] == "playbook_on_stats"]
        assert stats, "no final stats event"
        return stats[-1]["event_data"].get("artifact_data") or {}

    def describe(self):
        return (f"job {self.ident}: status {self.status}, rc {self.rc}\n{self.stdout[-4000:]}"
                f"\nworker: {self.worker_stderr[-2000:]}")


def run_job(awx_dir, ident, playbook, extra_vars, tags=None):
    """One job as AWX runs it through receptor: `ansible-runner transmit` packs the job (the
    project, the inventory, the extra variables, the tags) on the controller's side; the EE
    container runs `ansible-runner worker` on that stream (its standard input, no terminal) as
    the image's user; `ansible-runner process` unpacks the events and artifacts it streams back."""
    job_dir = os.path.join(awx_dir["base"], "jobs", ident)
    stream = os.path.join(awx_dir["base"], f"{ident}.transmit")
    with open(stream, "wb") as out:
        ansible_runner.run(
            private_data_dir=awx_dir["dir"],
            ident=ident,
            playbook=playbook,
            extravars=extra_vars,
            tags=",".join(tags) if tags else None,
            streamer="transmit",
            _output=out,
            envvars={"ANSIBLE_FORCE_COLOR": "0"},
        )
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    worker = ["docker", "run", "--rm", "-i", "--network=host", "--group-add", str(socket_gid),
              "-v", "/var/run/docker.sock:/var/run/docker.sock",
              "-v", f"{awx_dir['exposed']}:{EXPOSED}",
              "--name", f"awx-job-{ident}", EE_IMAGE,
              "ansible-runner", "worker", "--private-data-dir", f"/runner/{ident}"]
    with open(stream, "rb") as inp:
        result = subprocess.run(worker, stdin=inp, capture_output=True, timeout=JOB_TIMEOUT, check=False)
    os.remove(stream)
    # the worker's exit code follows the playbook's; the job's outcome is in the stream, which must be whole
    assert result.stdout.rstrip().endswith(b'{"eof": true}'), (
        f"ansible-runner worker in the EE did not finish its stream (exit {result.returncode}): {result.stderr.decode()[-3000:]}")
    os.makedirs(job_dir, exist_ok=True)
    processor = ansible_runner.run(private_data_dir=job_dir, ident=ident, streamer="process",
                                   _input=io.BytesIO(result.stdout), quiet=True)
    return Job(processor, ident, job_dir, result.stderr.decode())


def run_template(awx_dir, name, ident, answers=None, tags=None):
    template = TEMPLATES[name]
    return run_job(awx_dir, ident, template["playbook"], survey_answers(template["questions"], answers), tags)


def assert_ok(job, passwords, plays=()):
    assert job.status == "successful" and job.rc == 0, job.describe()
    assert not job.failed_tasks(), job.describe()
    ran = job.plays()
    for play in plays:
        assert play in ran, f"play {play!r} did not run: {ran}"
    assert_no_secret(job, passwords)


def assert_no_secret(job, passwords):
    texts = {"stdout": job.stdout}
    for path in glob.glob(os.path.join(job.artifacts, "job_events", "*.json")):
        with open(path, encoding="utf-8") as handle:
            texts[os.path.basename(path)] = handle.read()
    for where, text in texts.items():
        for secret in passwords:
            assert secret not in text, f"a password of the inventory appears in the job's {where}"


def assert_timeline(job, started_planes=None):
    """The start timeline in the final stats event (set_stats): every service of the catalog with
    its plane, start and ready offsets; ``started_planes``: the planes this run started services of."""
    timeline = job.stats_artifacts().get("ananta_timeline")
    assert isinstance(timeline, dict) and timeline.get("services"), f"no start timeline in the artifacts: {job.stats_artifacts()}"
    assert isinstance(timeline["wall_seconds"], (int, float)) and "critical_path" in timeline
    planes = {entry["plane"] for entry in timeline["services"]}
    if started_planes is None:  # every plane was asked for
        assert planes == {"shared_temporal", "control_plane", "app_plane"}, planes
    else:  # the planes asked for, and only those
        assert planes == set(started_planes), planes
        started = {entry["plane"] for entry in timeline["services"] if entry.get("started") is not None}
        assert started == set(started_planes), f"services of {started} started, asked {started_planes}"
        for entry in timeline["services"]:
            if entry.get("started") is not None:
                assert entry.get("ready") is not None and entry["ready"] >= entry["started"], entry


# ---------------------------------------------------------------------------------------------


def test_deploy_workflow_plan_start_verify(awx_dir, passwords):
    """Ananta - Deploy: plan, then start, then verify, each node a job of its own with the
    workflow survey's answers (defaults: every plane); the logs node runs on a failure only."""
    workflow = WORKFLOWS["Ananta - Deploy"]
    answers = survey_answers(workflow["questions"])
    nodes = {node["identifier"]: node for node in workflow["nodes"]}
    node, ran = nodes["plan"], []
    while node:
        template = TEMPLATES[node["template"]]
        own = {k: v for k, v in answers.items()
               if k in {CONTROLLER["awx_questions"][q]["variable"] for q in template["questions"]}}
        job = run_job(awx_dir, f"deploy-{node['identifier']}", template["playbook"],
                      {**survey_answers(template["questions"]), **own})
        ran.append(node["identifier"])
        ok = job.status == "successful"
        if node["identifier"] != "logs":
            assert_ok(job, passwords)
        nxt = node.get("success" if ok else "failure") or []
        node = nodes[nxt[0]] if nxt else None
    assert ran == ["plan", "start", "verify"]


def test_start_with_a_plane_chosen_in_the_survey(awx_dir, passwords):
    """Start platform with the survey's non-default answers: only the app plane, a clean start,
    shared Temporal skipped; the tags of the job from the plane choice, as AWX sends them."""
    job = run_template(awx_dir, "Ananta - Start platform", "start-app-plane",
                       answers={"ananta_planes": ["app_plane"], "ananta_clean": "true", "ananta_skip_temporal": "true"},
                       tags=["app_plane"])
    assert_ok(job, passwords)
    assert_timeline(job, ["app_plane"])
    # the start's live progress reaches the job's output as it happens: one event per line,
    # each stamped when the worker emitted it, spread over the start as the readiness was
    ready = [(datetime.datetime.fromisoformat(e["created"]).timestamp(), float(m.group(1)))
             for e in job.events for m in [READY_LINE.search(e.get("stdout") or "")] if m]
    assert len(ready) >= 10, job.describe()
    reported = ready[-1][1] - ready[0][1]
    assert reported > 3 and ready[-1][0] - ready[0][0] >= 0.5 * reported, ready


def test_start_defaults_holds_the_timeline(awx_dir, passwords):
    job = run_template(awx_dir, "Ananta - Start platform", "start-defaults")
    assert_ok(job, passwords)
    assert_timeline(job)


@pytest.mark.parametrize("planes", [None, ["control_plane"]])
def test_status(awx_dir, passwords, planes):
    answers = {"ananta_planes": planes} if planes else None
    job = run_template(awx_dir, "Ananta - Status", f"status-{'-'.join(planes or ['all'])}", answers=answers)
    assert_ok(job, passwords)
    if planes:
        assert "arc-saas-postgres" in job.stdout and "app-plane-rabbitmq " not in job.stdout


@pytest.mark.parametrize("timeout", [None, 30])
def test_verify(awx_dir, passwords, timeout):
    answers = {"ananta_verify_timeout": timeout} if timeout else None
    job = run_template(awx_dir, "Ananta - Verify", f"verify-{timeout or 'default'}", answers=answers)
    assert_ok(job, passwords)


def test_collect_logs_leaves_the_archive(awx_dir, passwords):
    job = run_template(awx_dir, "Ananta - Collect logs", "collect-logs", answers={"ananta_logs_dir": EXPOSED})
    assert_ok(job, passwords)
    archive = job.stats_artifacts().get("ananta_logs_archive")
    assert archive and archive.startswith(EXPOSED + "/"), job.stats_artifacts()
    on_host = os.path.join(awx_dir["exposed"], os.path.relpath(os.path.normpath(archive), EXPOSED))
    with tarfile.open(on_host) as archive:
        texts = {m.name: archive.extractfile(m).read().decode("utf-8", "replace") for m in archive.getmembers() if m.isfile()}
    names = " ".join(texts)
    assert "arc-saas-postgres.log" in names and "app-plane-rabbitmq.inspect.json" in names, names
    assert len(texts) >= 60, len(texts)
    # issue 29: the file an operator attaches to a ticket holds no password of the inventory, in any
    # file (environment, healthcheck commands, probe URLs, logs)...
    leaked = sorted({(name, "%s...(%d)" % (password[:3], len(password))) for name, text in texts.items()
                     for password in passwords if password in text})
    assert not leaked, leaked
    # ...and is still useful: names, states, restart counts, images, log lines
    inspect = json.loads(next(t for n, t in texts.items() if n.endswith("arc-saas-postgres.inspect.json")))
    assert inspect["Name"] == "/arc-saas-postgres" and inspect["State"]["Status"] == "running", inspect["State"]
    assert isinstance(inspect["RestartCount"], int) and inspect["Config"]["Image"]
    assert "POSTGRES_PASSWORD=********" in inspect["Config"]["Env"], inspect["Config"]["Env"]
    keycloak = json.loads(next(t for n, t in texts.items() if n.endswith("arc-saas-keycloak.inspect.json")))
    assert any(e.startswith("STANDIN_REQUIRES=postgres://postgres:********@arc-saas-postgres:5432/") for e in keycloak["Config"]["Env"])
    log = next(t for n, t in texts.items() if n.endswith("arc-saas-postgres.log"))
    assert "database system is ready to accept connections" in log, log[-500:]


def test_plan_and_export_manifests(awx_dir, passwords):
    assert_ok(run_template(awx_dir, "Ananta - Plan", "plan-app", answers={"ananta_planes": ["app_plane"]}), passwords)
    assert_ok(run_template(awx_dir, "Ananta - Export manifests", "export-manifests"), passwords)


def test_a_release_with_nothing_to_do_and_a_restore_without_its_confirmation(awx_dir, passwords):
    """The release template on the lab as it is: planned, nothing to do, nothing backed up, the
    release in the job's statistics; the restore template refuses an unconfirmed restore."""
    job = run_template(awx_dir, "Ananta - Release", "release-nothing")
    assert_ok(job, passwords)
    release = job.stats_artifacts().get("ananta_release")
    assert isinstance(release, dict) and release.get("plan"), job.stats_artifacts()
    assert release["name"] and release["plan"]["nothing"] is True and release["backups"] == [], release
    nothing = "nothing to do (every service runs its wanted configuration, no migration is pending)"
    assert release["plan"]["lines"][0].endswith(nothing), release["plan"]["lines"]
    job = run_template(awx_dir, "Ananta - Restore a database", "restore-unconfirmed",
                       answers={"ananta_restore_database": "components-db", "ananta_restore_file": "/nowhere.dump",
                                "ananta_restore_confirm": "yes"})
    assert job.status == "failed" and job.rc != 0, job.describe()
    assert "give -e ananta_restore_confirm=components-db to confirm it" in " ".join(job.stdout.split()), job.stdout[-2000:]
    assert_no_secret(job, passwords)


def test_stop_refuses_volume_removal_without_the_confirmation(awx_dir, passwords):
    job = run_template(awx_dir, "Ananta - Stop platform", "stop-unconfirmed",
                       answers={"ananta_remove_volumes": "true", "ananta_remove_volumes_confirm": "yes"})
    assert job.status == "failed" and job.rc != 0, job.describe()
    assert "DELETE THE DATA" in job.stdout and "nothing was stopped" in job.stdout
    assert_no_secret(job, passwords)
    running = subprocess.run(["docker", "ps", "-q", "--filter", "name=^arc-saas-postgres$"], capture_output=True,
                             text=True, check=True, timeout=60).stdout.strip()
    assert running, "the refused stop stopped a service"


def test_stop_one_plane_then_everything_with_the_volumes(awx_dir, passwords):
    job = run_template(awx_dir, "Ananta - Stop platform", "stop-app-plane", answers={"ananta_planes": ["app_plane"]},
                       tags=["app_plane"])
    assert_ok(job, passwords)
    assert not _running("app-plane-rabbitmq") and _running("arc-saas-postgres")
    assert "arc-saas-postgres-data" in _labelled_volumes()  # there, with the label the check below reads
    job = run_template(awx_dir, "Ananta - Stop platform", "stop-all-volumes",
                       answers={"ananta_remove_volumes": "true", "ananta_remove_volumes_confirm": "DELETE THE DATA"})
    assert_ok(job, passwords)
    assert not _running("arc-saas-postgres") and not _running("shared-temporal")
    # the collection's own label (issue 29: a label it never set made this check pass on anything)
    volumes = _labelled_volumes()
    assert "arc-saas-postgres-data" not in volumes and "app-plane-supabase-db-data" not in volumes, volumes


def _labelled_volumes():
    return subprocess.run(["docker", "volume", "ls", "-q", "--filter", "label=ananta.platform.project"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.split()


def _running(name):
    return bool(subprocess.run(["docker", "ps", "-q", "--filter", f"name=^{name}$"], capture_output=True, text=True,
                               check=True, timeout=60).stdout.strip())
