#!/usr/bin/env bash
# Run every test of ananta.platform. Installs what it needs first (scripts/setup.sh).
#   scripts/test.sh            everything: lint, unit, sanity, lab integration, end to end
#   scripts/test.sh unit lint  only the named stages
# Stages: lint unit sanity lab integration e2e awx molecule cluster.
# awx: every AWX job template and the Deploy workflow as AWX runs them (ansible-runner transmit,
# `ansible-runner worker` in the execution environment image on the local Docker engine, process).
# cluster: the platform on a real Kubernetes cluster (tests/cluster and molecule/kubernetes): the
# cluster KUBECONFIG names, else ../shared/k8s's single node, started and removed by the stage;
# SKIPPED, saying so, when there is neither (reported as skipped, never as passed; with CI=true
# and ../shared/k8s present it cannot skip).
# Exits non-zero when any stage fails.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh || exit 1
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg" PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

stages=("$@")
((${#stages[@]})) || stages=(lint unit sanity lab integration e2e awx molecule cluster)
failed=()
passed=()
skipped=()
SKIP=77  # a stage's way of saying it did not run
run_stage() {
  local name=$1; shift
  printf '\n===== %s: %s\n' "$name" "$*"
  local start=$SECONDS rc=0
  "$@" || rc=$?
  case $rc in
    0) passed+=("$name") ;;
    "$SKIP") skipped+=("$name") ;;
    *) failed+=("$name") ;;
  esac
  printf '===== %s took %ss\n' "$name" $((SECONDS - start))
}

sanity() {
  # ansible-test needs the tree at .../ansible_collections/ananta/platform: copy the tracked files.
  local tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/ansible_collections/ananta/platform"
  git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$tmp/ansible_collections/ananta/platform/" 2>/dev/null
  (cd "$tmp/ansible_collections/ananta/platform" && git init -q && git add -A >/dev/null 2>&1 \
    && ansible-test sanity --python 3.11 --color no)
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

KIT=${ANANTA_K8S_KIT:-$ROOT/../shared/k8s}  # the single-node cluster kit (scripts/k8s_lab.sh reads the same)
cluster() {
  local started=false rc=0 line
  if [[ -z "${KUBECONFIG:-}" ]]; then
    if [[ ! -f "$KIT/up.sh" ]]; then
      echo "cluster tests SKIPPED: no Kubernetes cluster (no $KIT, KUBECONFIG not set)"
      return $SKIP
    fi
    line=$(bash scripts/k8s_lab.sh up | tail -n 1) || return 1
    eval "$line"
    started=true
  else
    bash scripts/k8s_lab.sh load || return 1
  fi
  echo "cluster: KUBECONFIG=$KUBECONFIG"
  # the Docker lab is not needed here: its containers would take CPU from the cluster's pods
  ansible-playbook playbooks/stop_platform.yml -i inventories/lab >/dev/null 2>&1 || true
  python -m pytest -q -s -p no:cacheprovider tests/cluster || rc=1
  molecule test -s kubernetes || rc=1
  if $started; then
    bash scripts/k8s_lab.sh down || true
    unset KUBECONFIG
  fi
  return $rc
}

lint() {
  # ansible-lint installs this collection into ~/.ansible/collections once and then reuses it:
  # drop that copy so that it lints this checkout, not an older one.
  rm -rf "$HOME/.ansible/collections/ansible_collections/ananta/platform"
  yamllint -s . && antsibull-changelog lint && ansible-lint --offline -q
}

for stage in "${stages[@]}"; do
  case "$stage" in
    lint) run_stage lint lint ;;
    unit) run_stage unit python -m pytest -q tests/unit ;;
    sanity) run_stage sanity sanity ;;
    lab) run_stage lab ansible-playbook playbooks/lab_images.yml ;;
    integration) run_stage integration python -m pytest -q tests/integration ;;
    e2e) run_stage e2e python -m pytest -q -s tests/e2e ;;
    awx) run_stage awx python -m pytest -q -s tests/awx < /dev/null ;;
    molecule) run_stage molecule molecule test -s default ;;
    cluster) run_stage cluster cluster ;;
    *) echo "unknown stage: $stage"; failed+=("$stage") ;;
  esac
done
printf '\n===== stages passed: %s\n' "${passed[*]:-none}"
if ((${#skipped[@]})); then
  printf '===== stages SKIPPED (not run): %s\n' "${skipped[*]}"
fi
if ((${#failed[@]})); then
  printf '===== stages FAILED: %s\n' "${failed[*]}"
  exit 1
fi
