# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline checks of the AWX configuration (awx/controller.yml and playbooks/awx_configure.yml).

    .venv/bin/python tools/awx_check.py [--root DIR]

No AWX controller is needed. Every problem is printed with what it concerns; exit 1 if any:
- every job template names a playbook that exists;
- every survey variable is read by the template's playbook or by a role it runs (its tasks,
  defaults or argument specs);
- every tag a template offers is a tag of its playbook or of the roles it runs;
- every question, template and workflow node a definition names exists;
- every parameter playbooks/awx_configure.yml gives an awx.awx module is one that the module's
  documentation declares (the installed awx.awx collection's own DOCUMENTATION).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE_RE = re.compile(r"ananta\.platform\.([a-z_]+)")


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe and !vault tags read as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506  # a SafeLoader with two scalar tags


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def playbook_texts(root, playbook):
    """The playbook's text and those of the roles it runs (tasks, defaults, vars, argument specs)."""
    texts = {playbook: _read(os.path.join(root, playbook))}
    pending = set(ROLE_RE.findall(texts[playbook]))
    seen = set()
    while pending:
        role = pending.pop()
        seen.add(role)
        for path in sorted(glob.glob(os.path.join(root, "roles", role, "**", "*.yml"), recursive=True)):
            texts[os.path.relpath(path, root)] = text = _read(path)
            pending |= set(ROLE_RE.findall(text)) - seen
    return texts


def tags_of(texts):
    """Tags declared on plays, blocks and tasks; and, for a playbook that selects by
    ``ansible_run_tags`` (start_platform chooses its planes and steps so), the words it compares."""
    found = set()
    for text in texts.values():
        if "ansible_run_tags" in text:
            found |= set(re.findall(r"[a-z][a-z_]+", text))
        for match in re.finditer(r"tags:\s*\[([^\]]*)\]", text):
            found |= {t.strip().strip("'\"") for t in match.group(1).split(",") if t.strip()}
        for match in re.finditer(r"tags:\s*\n((?:\s+- .*\n)+)", text):
            found |= {line.strip()[2:].strip().strip("'\"") for line in match.group(1).splitlines()}
    return found


def awx_module_options(module):
    """The options an awx.awx module declares (its own and the auth fragment's)."""
    import ansible_collections.awx.awx.plugins.modules as modules_package  # the pinned bundle
    base = os.path.dirname(modules_package.__file__)
    source = _read(os.path.join(base, "%s.py" % module))
    doc = yaml.safe_load(re.search(r"DOCUMENTATION = (?:r)?'''(.*?)'''", source, re.S).group(1))
    options = set(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        name = fragment.split(".")[-1]
        path = os.path.join(os.path.dirname(base), "doc_fragments", "%s.py" % name)
        if os.path.exists(path):
            text = _read(path)
            frag = yaml.safe_load(re.search(r"DOCUMENTATION = (?:r)?'''(.*?)'''", text, re.S).group(1))
            options |= set(frag.get("options") or {})
    return options


def check(root=ROOT, definitions=None, configure=None):
    """Every problem of the AWX configuration, as readable lines (empty: all is well)."""
    problems = []
    data = definitions if definitions is not None else load(os.path.join(root, "awx", "controller.yml"))
    questions = data.get("awx_questions") or {}
    templates = {t["name"]: t for t in data.get("awx_job_templates") or []}
    for template in templates.values():
        where = "job template %r" % template["name"]
        playbook = template.get("playbook", "")
        if not os.path.isfile(os.path.join(root, playbook)):
            problems.append("%s: playbook %r does not exist" % (where, playbook))
            continue
        texts = playbook_texts(root, playbook)
        everything = "\n".join(texts.values())
        for key in template.get("questions") or []:
            if key not in questions:
                problems.append("%s: question %r is not defined in awx_questions" % (where, key))
                continue
            variable = questions[key]["variable"]
            if not re.search(r"\b%s\b" % re.escape(variable), everything):
                problems.append("%s: survey variable %r is read neither by %s nor by the roles it runs" % (
                    where, variable, playbook))
        offered = set(template.get("tags") or [])
        unknown = sorted(offered - tags_of(texts))
        if unknown:
            problems.append("%s: tag(s) %s are not tags of %s or its roles" % (where, ", ".join(unknown), playbook))
    for workflow in data.get("awx_workflows") or []:
        where = "workflow %r" % workflow["name"]
        identifiers = {n["identifier"] for n in workflow.get("nodes") or []}
        for key in workflow.get("questions") or []:
            if key not in questions:
                problems.append("%s: question %r is not defined in awx_questions" % (where, key))
        for node in workflow.get("nodes") or []:
            if node["template"] not in templates:
                problems.append("%s: node %r runs %r, which is not a job template" % (where, node["identifier"], node["template"]))
            for follow in (node.get("success") or []) + (node.get("failure") or []):
                if follow not in identifiers:
                    problems.append("%s: node %r leads to %r, which is not a node" % (where, node["identifier"], follow))
    problems.extend(check_planes(root, questions))
    problems.extend(check_module_parameters(configure if configure is not None
                                            else load(os.path.join(root, "playbooks", "awx_configure.yml"))))
    return problems


def definition_planes(root=ROOT):
    """The planes of the platform's definition (platform/definition.yml), in their start order
    (the collection's own rule, ``_catalog.plane_order``; the checkout's .collections link, made
    by scripts/setup.sh, puts the collection on the path)."""
    sys.path.insert(0, os.path.join(root, ".collections"))
    from ansible_collections.ananta.platform.plugins.module_utils._catalog import plane_order  # pylint: disable=import-outside-toplevel

    with open(os.path.join(root, "platform", "definition.yml"), encoding="utf-8") as handle:
        return plane_order(yaml.safe_load(handle)["ananta_platform_services"])


def check_planes(root, questions):
    """The survey offers the definition's planes, all chosen by default: a plane added to the
    definition (or renamed) shows here until the survey follows."""
    question = questions.get("planes")
    if not question:
        return []
    planes = definition_planes(root)
    problems = []
    if list(question.get("choices") or []) != planes:
        problems.append("survey question 'planes': choices %s are not the planes of the platform's definition %s" % (
            question.get("choices"), planes))
    if str(question.get("default") or "").split("\n") != planes:
        problems.append("survey question 'planes': the default does not choose every plane of the definition (%s)"
                        % ", ".join(planes))
    return problems


def check_module_parameters(plays):
    problems = []
    for play in plays or []:
        for task in play.get("tasks") or []:
            for key, args in task.items():
                if not key.startswith("awx.awx."):
                    continue
                module = key.split(".")[-1]
                try:
                    declared = awx_module_options(module)
                except (OSError, AttributeError, ImportError) as exc:
                    problems.append("task %r: module %s cannot be read: %s" % (task.get("name"), key, exc))
                    continue
                for parameter in sorted(set(args or {}) - declared):
                    problems.append("task %r: %s has no parameter %r" % (task.get("name"), key, parameter))
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description="Offline checks of ananta.platform's AWX configuration")
    parser.add_argument("--root", default=ROOT)
    options = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(options.root, ".collections"))
    problems = check(options.root)
    for line in problems:
        print("awx_check: %s" % line)
    print("awx_check: %s" % ("%d problem(s)" % len(problems) if problems else "the AWX configuration is consistent"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
