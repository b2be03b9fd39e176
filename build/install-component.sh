#!/usr/bin/env bash
# Install one image component (api, mage, mlflow) into a fresh virtual environment, using ONLY
# its hashed lock: every third-party distribution is verified with --require-hashes, and the
# local workspace packages the lock names (aircast-core, aircast-api) are built from source here
# (build backend pinned by hash through build/build-tools-linux-<arch>.lock) and installed with
# --no-deps. The images run this script in their builder stage; tests/build runs it too.
#
# usage: build/install-component.sh COMPONENT VENV_DIR
# env:   PYTHON (default python3.11), UV (default uv)
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 COMPONENT VENV_DIR (COMPONENT is one of: api mage mlflow)" >&2
  exit 2
fi
component=$1
venv=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uv=${UV:-uv}
python=${PYTHON:-python3.11}

arch=$(uname -m)
case "$arch" in
  x86_64 | aarch64) ;;
  arm64) arch=aarch64 ;;
  *) echo "no lock for CPU architecture $arch: locks exist for x86_64 and aarch64" >&2; exit 2 ;;
esac
lock="$root/components/$component/requirements-linux-$arch.lock"
tools_lock="$root/build/build-tools-linux-$arch.lock"
if [ ! -f "$lock" ]; then
  echo "no lock $lock: run \`hatch run lock\` (component must be one of: api mage mlflow)" >&2
  exit 2
fi

# Never fetch an interpreter: the venv uses the base image's (or the machine's) CPython 3.11.
export UV_PYTHON_DOWNLOADS=never

# --compile-bytecode: the images run with PYTHONDONTWRITEBYTECODE=1 and a venv their user
# cannot write, so without .pyc files every process start would compile its imports again
# (seconds of CPU per start: most of the API's time to ready on a 2-core machine).
"$uv" venv --quiet --python "$python" "$venv"
"$uv" pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps \
  --compile-bytecode -r "$lock"

mapfile -t local_packages < <(sed -n 's/^# local-package: //p' "$lock")
if [ "${#local_packages[@]}" -gt 0 ]; then
  wheels=$(mktemp -d)
  trap 'rm -rf "$wheels"' EXIT
  for package in "${local_packages[@]}"; do
    "$uv" build --quiet --wheel --out-dir "$wheels" \
      --build-constraints "$tools_lock" --require-hashes "$root/$package"
  done
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps --compile-bytecode \
    "$wheels"/*.whl
fi

# The lock must be complete: --no-deps above installs exactly its pins, this proves they agree.
"$uv" pip check --quiet --python "$venv/bin/python"
