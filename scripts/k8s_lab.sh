#!/usr/bin/env bash
# The lab on a Kubernetes cluster: ../shared/k8s's single node (or the cluster KUBECONFIG names)
# with the lab's images loaded, ready for inventories/lab_kubernetes.
#   scripts/k8s_lab.sh up     start the kit's cluster (if KUBECONFIG is not set), build and load
#                             the lab images; the last line is the `export KUBECONFIG=...` to use
#   scripts/k8s_lab.sh load   build and load the lab images into the cluster (the kit's loader;
#                             for another cluster, push or import ananta-lab/platform:0.1 and
#                             ananta-lab/ee:0.1 as that cluster wants: kind load, k3d image import)
#   scripts/k8s_lab.sh down   remove the kit's cluster and its state (down.sh --wipe)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT=${ANANTA_K8S_KIT:-$ROOT/../shared/k8s}
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"
IMAGES=(ananta-lab/platform:0.1 ananta-lab/ee:0.1)
say() { printf '[k8s-lab] %s\n' "$*" >&2; }

images() {
  local start=$SECONDS
  ansible-playbook playbooks/lab_images.yml >/tmp/ananta-k8s-lab-images.log 2>&1 \
    || { tail -n 40 /tmp/ananta-k8s-lab-images.log >&2; say "building the lab images failed"; exit 1; }
  say "lab images built in $((SECONDS - start)) s"
  start=$SECONDS
  [ -f "$KIT/load-image.sh" ] || { say "no $KIT/load-image.sh: load ${IMAGES[*]} into your cluster yourself"; return 0; }
  bash "$KIT/load-image.sh" "${IMAGES[@]}" >&2
  say "images loaded in $((SECONDS - start)) s"
}

case "${1:-}" in
  up)
    if [ -z "${KUBECONFIG:-}" ]; then
      [ -f "$KIT/up.sh" ] || { say "no cluster: $KIT/up.sh is missing and KUBECONFIG is not set"; exit 2; }
      start=$SECONDS
      line=$(bash "$KIT/up.sh" | tee /tmp/ananta-k8s-up.log | tail -n 1)
      say "cluster up in $((SECONDS - start)) s"
      eval "$line"
    fi
    images
    echo "export KUBECONFIG=$KUBECONFIG"
    ;;
  load) images ;;
  down) [ -f "$KIT/down.sh" ] && bash "$KIT/down.sh" --wipe >&2 ;;
  *) echo "usage: $0 up|load|down" >&2; exit 2 ;;
esac
