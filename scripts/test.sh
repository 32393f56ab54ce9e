#!/usr/bin/env bash
# test.sh -- install what the tests need and run the whole test suite (make check).
#
#   ./scripts/test.sh
#
# scripts/setup.sh installs the Debian packages (as a non-root user it only checks, and stops
# with the apt-get line to run if something is missing); then `make check` builds the library,
# bin/rnnlm and the Check suites, generates the PyTorch golden data and runs every suite.
# Tests that use WikiText-2 read it from ../shared/data/wikitext-2 (beside the repository).
# Extra arguments are passed to make, e.g. ./scripts/test.sh BLAS=ref
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
make -j"$(nproc 2>/dev/null || echo 2)" check "$@"
