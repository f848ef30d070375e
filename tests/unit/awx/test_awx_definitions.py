"""The AWX configuration as code (awx/controller.yml, playbooks/awx_configure.yml), checked offline
by tools/awx_check.py: consistent as it is, and each planted mistake named."""

import copy
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import awx_check  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="module")
def definitions():
    return awx_check.load(os.path.join(ROOT, "awx", "controller.yml"))


@pytest.fixture(scope="module")
def configure():
    return awx_check.load(os.path.join(ROOT, "playbooks", "awx_configure.yml"))


def template(data, name):
    return [t for t in data["awx_job_templates"] if t["name"] == name][0]


def test_the_configuration_is_consistent(definitions, configure):
    assert awx_check.check(ROOT, definitions, configure) == []


def test_every_template_the_issue_names_is_there(definitions):
    names = {t["name"] for t in definitions["awx_job_templates"]}
    for wanted in ("Start platform", "Stop platform", "Status", "Verify", "Collect logs", "Plan", "Export manifests"):
        assert "Ananta - %s" % wanted in names
    deploy = definitions["awx_workflows"][0]
    assert [n["identifier"] for n in deploy["nodes"]] == ["plan", "start", "verify", "logs"]
    # removing the data is off by default and asks for a confirmation
    question = definitions["awx_questions"]["remove_volumes"]
    assert question["default"] == "false"
    assert "remove_volumes_confirm" in template(definitions, "Ananta - Stop platform")["questions"]


def test_a_wrong_playbook_is_named(definitions, configure):
    data = copy.deepcopy(definitions)
    template(data, "Ananta - Status")["playbook"] = "playbooks/statuss.yml"
    assert awx_check.check(ROOT, data, configure) == [
        "job template 'Ananta - Status': playbook 'playbooks/statuss.yml' does not exist"]


def test_an_unknown_survey_variable_is_named(definitions, configure):
    data = copy.deepcopy(definitions)
    data["awx_questions"]["clean"]["variable"] = "ananta_clean_start"
    problems = awx_check.check(ROOT, data, configure)
    assert problems == ["job template 'Ananta - Start platform': survey variable 'ananta_clean_start' is read neither by "
                        "playbooks/start_platform.yml nor by the roles it runs"]


def test_an_unknown_tag_and_a_dangling_node_are_named(definitions, configure):
    data = copy.deepcopy(definitions)
    template(data, "Ananta - Stop platform")["tags"].append("app_plan")
    data["awx_workflows"][0]["nodes"][0]["success"] = ["strat"]
    problems = awx_check.check(ROOT, data, configure)
    assert "job template 'Ananta - Stop platform': tag(s) app_plan are not tags of playbooks/stop_platform.yml or its roles" in problems
    assert "workflow 'Ananta - Deploy': node 'plan' leads to 'strat', which is not a node" in problems
    assert len(problems) == 2


def test_an_undeclared_module_parameter_is_named(definitions, configure):
    plays = copy.deepcopy(configure)
    task = [t for t in plays[0]["tasks"] if "awx.awx.job_template" in t][0]
    task["awx.awx.job_template"]["survey"] = True  # the module's parameter is survey_enabled
    problems = awx_check.check(ROOT, definitions, plays)
    assert problems == ["task 'The job templates with their surveys': awx.awx.job_template has no parameter 'survey'"]


def test_ansible_builder_accepts_the_execution_environment(tmp_path):
    """`ansible-builder create` on images/ananta-ee/execution-environment.yml with the collection's
    tarball built as Galaxy builds it; the tarball named there is the one of galaxy.yml's version."""
    import shutil
    import subprocess

    import yaml

    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    tarball = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    ee_dir = os.path.join(ROOT, "images", "ananta-ee")
    for name in ("execution-environment.yml", "requirements.txt"):
        shutil.copy(os.path.join(ee_dir, name), tmp_path / name)
    with open(tmp_path / "execution-environment.yml", encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    assert "collections/" + tarball in [c["name"] for c in definition["dependencies"]["galaxy"]["collections"]]
    assert definition["additional_build_files"][0]["src"] == "collections/" + tarball
    bindir = os.path.dirname(sys.executable)
    subprocess.run([os.path.join(bindir, "ansible-galaxy"), "collection", "build", "--output-path",
                    str(tmp_path / "collections"), ROOT], check=True, capture_output=True, timeout=300)
    result = subprocess.run([os.path.join(bindir, "ansible-builder"), "create", "-f", str(tmp_path / "execution-environment.yml"),
                             "-c", str(tmp_path / "context")], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "context" / "_build" / "collections" / tarball).is_file()
    containerfile = (tmp_path / "context" / "Dockerfile").read_text()  # the docker runtime, the default
    assert "ansible-galaxy collection install" in containerfile and "ansible-core==2.19.14" in containerfile
    requirements = (tmp_path / "context" / "_build" / "requirements.txt").read_text()
    assert "temporalio==1.35.0" in requirements


def test_the_survey_offers_the_planes_of_the_definition(definitions, configure):
    """The planes question follows the platform's definition: a plane the definition does not have,
    or one it has and the survey lacks, is named."""
    planes = awx_check.definition_planes(ROOT)
    assert planes == definitions["awx_questions"]["planes"]["choices"]
    changed = copy.deepcopy(definitions)
    changed["awx_questions"]["planes"]["choices"] = planes[:-1] + ["billing_plane"]
    problems = awx_check.check(ROOT, changed, configure)
    assert any("choices" in p and "billing_plane" in p for p in problems), problems
    changed["awx_questions"]["planes"]["choices"] = planes
    changed["awx_questions"]["planes"]["default"] = "\n".join(planes[:-1])
    assert any("the default does not choose every plane" in p for p in awx_check.check(ROOT, changed, configure))
