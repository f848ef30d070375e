#!/usr/bin/env bash
# Bring the Ananta Platform up: install what is needed, build the lab images (lab inventory
# only), print the plan, then start the platform level by level.
#   scripts/up.sh [ansible-playbook options...]   e.g. -i inventories/docker_host_example --tags app_plane
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
lab=true
for arg in "$@"; do
  case "$arg" in -i|--inventory|--inventory=*|-i*) lab=false ;; esac
done
if $lab; then
  ansible-playbook playbooks/lab_images.yml
fi
ansible-playbook playbooks/plan.yml "$@"
if [ -f playbooks/start_platform.yml ]; then
  ansible-playbook playbooks/start_platform.yml "$@"
fi
