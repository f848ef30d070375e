#!/usr/bin/env bash
# Run every test of ananta.platform. Installs what it needs first (scripts/setup.sh).
#   scripts/test.sh            everything: lint, unit, sanity, lab integration, end to end
#   scripts/test.sh unit lint  only the named stages
# Stages: lint unit sanity lab integration e2e molecule (molecule/kubernetes only with KUBECONFIG).
# Exits non-zero when any stage fails.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh || exit 1
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg" PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

stages=("$@")
((${#stages[@]})) || stages=(lint unit sanity lab integration e2e molecule)
failed=()
passed=()
run_stage() {
  local name=$1; shift
  printf '\n===== %s: %s\n' "$name" "$*"
  local start=$SECONDS
  if "$@"; then passed+=("$name"); else failed+=("$name"); fi
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

molecule_kubernetes() {
  # The cluster scenario runs only where a cluster is given.
  if [[ -z "${KUBECONFIG:-}" ]]; then
    echo "molecule/kubernetes SKIPPED: no Kubernetes cluster given (set KUBECONFIG to run it against one)"
    return 0
  fi
  molecule test -s kubernetes
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
    molecule) run_stage molecule molecule test -s default; run_stage molecule-kubernetes molecule_kubernetes ;;
    *) echo "unknown stage: $stage"; failed+=("$stage") ;;
  esac
done
printf '\n===== stages passed: %s\n' "${passed[*]:-none}"
if ((${#failed[@]})); then
  printf '===== stages FAILED: %s\n' "${failed[*]}"
  exit 1
fi
