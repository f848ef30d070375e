# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prepare the build context of the execution environment (images/ananta-ee/Containerfile).

    .venv/bin/python scripts/ee_context.py [--no-wheels]

Writes, under images/ananta-ee/ (none of it tracked):
- collections/ananta-platform-<version>.tar.gz: this collection as `ansible-galaxy collection build`
  makes it (the image installs that tarball, as AWX would from Galaxy or Automation Hub);
- collections/<namespace>-<name>-<version>.tar.gz: the collections it depends on (galaxy.yml),
  packed as Galaxy artifacts from the controller's pinned `ansible` bundle (Galaxy cannot be
  reached; the versions are the controller's own);
- wheels/: every wheel of requirements.txt there and pip's own wheel, pinned by the controller's
  requirements.txt, for an image built without a package index (the lab's). Skipped when the
  requirements did not change since the last download (wheels/.requirements.sha256).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EE_DIR = os.path.join(ROOT, "images", "ananta-ee")
PIP_PIN = "pip==24.2"


def _installed_collection(fqcn):
    """The directory of an installed collection (the controller's ansible bundle first)."""
    namespace, name = fqcn.split(".")
    spec = importlib.util.find_spec(f"ansible_collections.{namespace}.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"ee_context: the collection {fqcn} (a dependency in galaxy.yml) is not installed")
    return list(spec.submodule_search_locations)[0]


def _add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _pack_installed(path, dest_dir):
    """An installed collection as a Galaxy artifact: its files at the tar's root.

    The `ansible` bundle leaves out files that FILES.json lists (tests, CI definitions):
    FILES.json is written again for the files present, and MANIFEST.json's checksum of it,
    so that `ansible-galaxy collection install` verifies every file it unpacks.
    """
    with open(os.path.join(path, "MANIFEST.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    info = manifest["collection_info"]
    out = os.path.join(dest_dir, f"{info['namespace']}-{info['name']}-{info['version']}.tar.gz")
    if os.path.exists(out):
        return out
    with open(os.path.join(path, "FILES.json"), encoding="utf-8") as handle:
        files = json.load(handle)
    present = [e for e in files["files"] if e["name"] == "." or os.path.lexists(os.path.join(path, e["name"]))]
    files["files"] = present
    files_json = json.dumps(files, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    tmp = out + ".part"
    with tarfile.open(tmp, "w:gz") as tar:
        _add_bytes(tar, "MANIFEST.json", json.dumps(manifest, indent=4).encode())
        _add_bytes(tar, "FILES.json", files_json)
        for entry in present:
            if entry["name"] != ".":
                tar.add(os.path.join(path, entry["name"]), arcname=entry["name"], recursive=False)
    os.replace(tmp, out)
    return out


def collections(dest_dir):
    os.makedirs(dest_dir, exist_ok=True)
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    for old in glob.glob(os.path.join(dest_dir, f"{galaxy['namespace']}-{galaxy['name']}-*.tar.gz")):
        os.remove(old)
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "build",
         "--force", "--output-path", dest_dir, ROOT],
        check=True, stdout=subprocess.DEVNULL,
    )
    made = [os.path.join(dest_dir, f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz")]
    pending, seen = sorted(galaxy.get("dependencies") or {}), set()
    while pending:  # and what those depend on (community.docker needs library_inventory_filtering_v1)
        fqcn = pending.pop(0)
        if fqcn in seen:
            continue
        seen.add(fqcn)
        path = _installed_collection(fqcn)
        made.append(_pack_installed(path, dest_dir))
        with open(os.path.join(path, "MANIFEST.json"), encoding="utf-8") as handle:
            pending += sorted(json.load(handle)["collection_info"].get("dependencies") or {})
    return made


def wheels(dest_dir):
    requirements = os.path.join(EE_DIR, "requirements.txt")
    constraints = os.path.join(ROOT, "requirements.txt")
    digest = hashlib.sha256()
    for path in (requirements, constraints):
        with open(path, "rb") as handle:
            digest.update(handle.read())
    digest.update(PIP_PIN.encode())
    stamp = os.path.join(dest_dir, ".requirements.sha256")
    if os.path.exists(stamp) and io.open(stamp, encoding="utf-8").read().strip() == digest.hexdigest():
        return False
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--only-binary=:all:", "--dest", dest_dir, "-r", requirements, "-c", constraints, PIP_PIN],
        check=True,
    )
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(digest.hexdigest() + "\n")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-wheels", action="store_true", help="only the collection tarballs")
    args = parser.parse_args(argv)
    for path in collections(os.path.join(EE_DIR, "collections")):
        print(f"ee_context: {os.path.relpath(path, ROOT)}")
    if not args.no_wheels:
        changed = wheels(os.path.join(EE_DIR, "wheels"))
        print(f"ee_context: images/ananta-ee/wheels/ {'downloaded' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
