#!/usr/bin/env bash
# Builds rkt (Release) into build/, and with --sanitize an ASan+UBSan build into build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
if [[ "${1:-}" == "--sanitize" ]]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRKT_SANITIZE=ON -DRKT_BUILD_BENCH=OFF
  cmake --build build-asan -j "$jobs"
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$jobs"
fi
