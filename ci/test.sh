#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine (as root):
# dependencies, the Release build (with the cached guest kernel), unit tests, the unit tests
# again under ASan+UBSan, the KVM tests, the end-to-end tests against the real rkt binary, and
# the benchmarks in a quick mode. The style gate (ci/lint.sh) runs right after the build.
# The last lines printed are the counts of each part.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
summary=()
status=0

step() { echo; echo "==> $*"; }
record() {  # record NAME EXIT_CODE SUMMARY_LINE
  summary+=("$1: $3")
  [[ $2 -eq 0 ]] || status=1
}

step "installing dependencies"
./ci/install-deps.sh || exit 1

step "building (Release)"
./ci/build.sh || exit 1

step "style: clang-format and clang-tidy (ci/lint.sh)"
./ci/lint.sh build 2>&1 | tee /tmp/rkt-lint.log
rc=${PIPESTATUS[0]}
record "lint" "$rc" "$(grep -E '^(clang-format|clang-tidy):|^lint:' /tmp/rkt-lint.log | tr '\n' ' ')"

step "unit tests"
(cd build && ctest -L unit --output-on-failure -j2) 2>&1 | tee /tmp/rkt-ctest-unit.log
rc=${PIPESTATUS[0]}
record "unit tests" "$rc" "$(grep -E 'tests passed|tests failed' /tmp/rkt-ctest-unit.log | tail -1)"

step "building with AddressSanitizer + UndefinedBehaviorSanitizer"
if ./ci/build.sh --sanitize; then
  step "unit tests under ASan+UBSan"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest -L unit --output-on-failure -j2) 2>&1 | tee /tmp/rkt-ctest-asan.log
  rc=${PIPESTATUS[0]}
  record "unit tests (ASan+UBSan)" "$rc" "$(grep -E 'tests passed|tests failed' /tmp/rkt-ctest-asan.log | tail -1)"
else
  record "unit tests (ASan+UBSan)" 1 "sanitizer build failed"
fi

if [[ -x ci/kvm-tests.sh ]]; then
  step "KVM tests"
  ./ci/kvm-tests.sh 2>&1 | tee /tmp/rkt-ctest-kvm.log
  rc=${PIPESTATUS[0]}
  record "KVM tests" "$rc" "$(grep -E 'tests passed|tests failed|skipped:' /tmp/rkt-ctest-kvm.log | tail -1 | sed 's/^KVM tests: //')"
fi

step "benchmarks, quick mode (figures printed, not asserted)"
./ci/bench-quick.sh "$root/build" 2>&1 | tee /tmp/rkt-bench.log
rc=${PIPESTATUS[0]}
record "benchmarks" "$rc" "$(tail -1 /tmp/rkt-bench.log)"

step "end-to-end tests"
RKT_BUILD_DIR="$root/build" /usr/bin/python3 -m pytest tests/e2e -ra -q 2>&1 | tee /tmp/rkt-pytest.log
rc=${PIPESTATUS[0]}
record "end-to-end tests" "$rc" "$(tail -1 /tmp/rkt-pytest.log)"

echo
echo "==> summary"
for line in "${summary[@]}"; do echo "$line"; done
exit $status
