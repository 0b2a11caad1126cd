#!/usr/bin/env bash
# Every benchmark in bench/, in a quick mode (a few runs each, smaller inputs), so that none of
# them rots unseen. Their figures are printed, never asserted: a run on a loaded CI machine says
# nothing about speed. Fails only when a benchmark itself fails (or skips for want of a part that
# ci/install-deps.sh installs).
#   ci/bench-quick.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
export RKT_BUILD_DIR=${1:-${RKT_BUILD_DIR:-$(pwd)/build}}
status=0 ran=0 failed=0
figures=()

bench() {  # bench NAME ARGS...
  local name=$1; shift
  echo
  echo "==> bench/$name $*"
  local log
  log=$(mktemp)
  /usr/bin/python3 "bench/$name" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  ran=$((ran + 1))
  if ((rc == 0)) && grep -q '^skipped: ' "$log"; then
    rc=skipped  # everything a benchmark needs is installed by ci/install-deps.sh
  fi
  if [[ $rc != 0 ]]; then
    failed=$((failed + 1))
    status=1
    figures+=("$name: FAILED ($rc)")
  else
    while IFS= read -r line; do figures+=("$name: ${line#"${line%%[! ]*}"}"); done \
      < <(grep -E -- '-> ratio' "$log")
  fi
  rm -f "$log"
}

bench stage1_vs_runc.py --runs 3
bench stage1_phases.py --runs 3
bench fetch_vs_skopeo.py --runs 2 --mib 16 --layers 2
bench kvm_qemu_overhead.py --runs 2
bench vmm_vs_qemu.py --runs 1 --kernel vmlinux
bench network_throughput.py --runs 1 --mib 16 --pings 200
bench net_start_vs_podman.py --runs 3
bench tpm_overhead.py --runs 3

echo
echo "==> benchmark figures (quick mode, printed, not asserted)"
printf '%s\n' "${figures[@]}"
echo "benchmarks: $ran run, $failed failed"
exit $status
