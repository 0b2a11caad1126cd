#!/usr/bin/env bash
# The KVM tests of a built tree (ci/build.sh first):
#   1. ctest label `kvm`: small freestanding guests on this host's own /dev/kvm (kvm_pvm runs them);
#   2. ctest label `kvm-linux`: real Linux guests, inside the KVM test host
#      (tests/kvm-host/run-in-l1.sh: an L1 VM under QEMU TCG with real KVM), or directly when
#      this host's KVM can run Linux guests.
# Prints each part's ctest summary and a total line at the end; fails when either part fails.
#   ci/kvm-tests.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=$(cd "${1:-${RKT_BUILD_DIR:-$root/build}}" 2>/dev/null && pwd) ||
  { echo "kvm-tests: no build directory (run ci/build.sh first)"; exit 1; }
logs=$(mktemp -d /tmp/rkt-kvm-tests.XXXXXX)
trap 'rm -rf "$logs"' EXIT
status=0

summary_of() { grep -E '^[0-9]+% tests passed' "$1" | tail -n1; }

echo "==> KVM tests on this host (ctest -L kvm)"
(cd "$build" && ctest -L '^kvm$' --output-on-failure) 2>&1 | tee "$logs/host.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
host_line=$(summary_of "$logs/host.log")

echo
echo "==> KVM tests with Linux guests, in the KVM test host (ctest -L kvm-linux)"
tests/kvm-host/run-in-l1.sh --timeout 1800 --timings -- \
  ctest --test-dir "$build" -L '^kvm-linux$' --output-on-failure 2>&1 | tee "$logs/l1.log"
l1_rc=${PIPESTATUS[0]}
[[ $l1_rc -eq 0 ]] || status=1
l1_line=$(summary_of "$logs/l1.log")
if [[ -z "$l1_line" ]]; then
  l1_line="did not run: $(grep -m1 '^run-in-l1: ' "$logs/l1.log" || echo "exit status $l1_rc")"
fi

# Skipped tests count as passed in ctest's line; list them so a skip cannot pass unseen.
skipped=$(cat "$logs/host.log" "$logs/l1.log" | grep -cE '\*\*\*Skipped|Not Run.*Disabled' || true)
passed=0 failed=0 total=0
for line in "$host_line" "$l1_line"; do
  if [[ "$line" =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    total=$((total + BASH_REMATCH[2]))
  else
    failed=$((failed + 1))
    total=$((total + 1))
  fi
done
passed=$((total - failed))

echo
echo "==> KVM tests summary"
echo "on this host:        ${host_line:-no ctest summary}"
echo "in the KVM test host: $l1_line"
echo "KVM tests: $((total ? passed * 100 / total : 0))% tests passed, $failed tests failed out of $total ($skipped skipped)"
exit $status
