#!/usr/bin/env bash
# setup.sh -- install the Debian packages librnn needs (build, tests, PyTorch golden data, demo).
#
#   ./scripts/setup.sh
#
# Quick and idempotent: when every package is already installed (checked with dpkg-query) it
# does nothing and exits 0 without touching apt. Run as root it installs what is missing
# (apt-get update once, then apt-get install -y --no-install-recommends). Run as another user it
# prints the exact apt-get line to run and exits 1 if anything is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Required: compiler and make, pkg-config, OpenBLAS and the reference CBLAS (make BLAS=ref),
# Check (unit tests), PyTorch + NumPy (golden data for tests/torch_golden.py), bible-kjv (the
# demo corpus, scripts/make_corpus.sh), clang (CI builds once with clang -Werror), and what
# tests/python_package.sh needs to pip-install bindings/python into a virtual environment without a
# package index: venv and pip, and setuptools + wheel as the build backend; Open MPI (libopenmpi-dev,
# openmpi-bin) for `mpirun -np K bin/rnnlm train` (the Makefile builds it in when mpicc is found).
required=(
    build-essential
    pkg-config
    libopenblas-dev
    libblas-dev
    check
    python3-torch
    python3-numpy
    bible-kjv
    clang
    libclang-rt-dev
    python3-setuptools
    python3-wheel
    python3-venv
    python3-pip
    libopenmpi-dev
    openmpi-bin
)
# Optional: installed along with the required ones when apt-get runs anyway, but never a reason
# on its own to run apt-get.
optional=(
    valgrind
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup.sh: dpkg-query not found; this script supports Debian (12+) and derivatives." >&2
    echo "setup.sh: install the equivalents of: ${required[*]}" >&2
    exit 1
fi

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${required[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup.sh: all required packages are installed."
    exit 0
fi

for p in "${optional[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages: ${missing[*]}" >&2
    echo "setup.sh: run as root (or rerun this script with sudo):" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
fi

echo "setup.sh: installing: ${missing[*]}"
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Verify: apt-get can succeed while a package is left unconfigured.
still=()
for p in "${required[@]}"; do
    installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
    echo "setup.sh: still not installed after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "setup.sh: done."
