#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine (as root):
# dependencies, the Release build (with the cached guest kernel), unit tests, the unit tests
# again under ASan+UBSan, the fuzz targets (clang), the KVM tests, the end-to-end tests against
# the real rkt binary, and the benchmarks in a quick mode. The style gate (ci/lint.sh) starts
# right after the build, at the lowest priority beside the rest: clang-tidy is the longest part
# and the VM tests leave a core idle. Its report is printed before the summary.
# The last lines printed are the time of each part and the counts of each part.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
summary=()
status=0

times=()
part_start=$SECONDS
minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
step() { echo; echo "==> $* (at $(minutes "$SECONDS"))"; }
timed() {  # timed NAME: the part that ended now took the time since the last one ended
  times+=("$1: $(minutes $((SECONDS - part_start)))")
  part_start=$SECONDS
}
record() {  # record NAME EXIT_CODE SUMMARY_LINE: the part that ended now, and its counts
  summary+=("$1: $3")
  timed "$1"
  [[ $2 -eq 0 ]] || status=1
}

step "installing dependencies"
./ci/install-deps.sh || exit 1
timed "dependencies"

step "building (Release)"
./ci/build.sh || exit 1
timed "build (Release)"

step "style: clang-format and clang-tidy (ci/lint.sh), in the background"
lint_start=$SECONDS
{
  nice -n 19 ./ci/lint.sh build
  rc=$?
  echo "$(minutes $((SECONDS - lint_start)))" >/tmp/rkt-lint.time
  exit $rc
} >/tmp/rkt-lint.log 2>&1 &
lint_pid=$!

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

step "fuzz targets (clang: libFuzzer, ASan, UBSan; docs/fuzzing.md)"
# Each target replays its checked-in corpus, then fuzzes for a short while from it; new inputs
# go to a scratch directory, so the checked-in corpus is never changed. A crash, a leak, a
# sanitizer report or a hang (-timeout) fails the step and leaves the input in the log.
fuzz_seconds=${RKT_FUZZ_SECONDS:-20}
fuzz_log=/tmp/rkt-fuzz.log
fuzz_work=$(mktemp -d)
fuzz_targets=0
fuzz_crashes=0
if { CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DRKT_FUZZ=ON -DRKT_BUILD_BENCH=OFF -DRKT_BUILD_KERNEL=OFF &&
     cmake --build build-fuzz -j "$(nproc)" --target fuzz-targets; } >"$fuzz_log" 2>&1; then
  for corpus in tests/fuzz/corpus/*/; do
    name=$(basename "$corpus")
    target=build-fuzz/bin/${name}_fuzz
    fuzz_targets=$((fuzz_targets + 1))
    mkdir -p "$fuzz_work/$name"
    echo "fuzz: $name (replay, then ${fuzz_seconds} s)"
    if ! "$target" -runs=0 "$corpus" >>"$fuzz_log" 2>&1 ||
       ! "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
           -print_final_stats=1 -artifact_prefix="$fuzz_work/$name-" \
           "$fuzz_work/$name" "$corpus" >>"$fuzz_log" 2>&1; then
      fuzz_crashes=$((fuzz_crashes + 1))
      echo "fuzz: $name FAILED; the input is in $fuzz_work, the report in $fuzz_log"
      tail -40 "$fuzz_log"
    fi
  done
  record "fuzz" "$fuzz_crashes" \
    "fuzz: $fuzz_targets targets, ${fuzz_seconds} s each, $fuzz_crashes crashes"
  ((fuzz_crashes)) || rm -rf "$fuzz_work"
else
  tail -40 "$fuzz_log"
  record "fuzz" 1 "fuzz: the clang build failed (see $fuzz_log)"
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

step "style: the report of ci/lint.sh"
wait "$lint_pid"
rc=$?
cat /tmp/rkt-lint.log
summary=("lint: $(grep -E '^(clang-format|clang-tidy):|^lint:' /tmp/rkt-lint.log | tr '\n' ' ')" "${summary[@]}")
lint_time="lint (beside the rest): $(cat /tmp/rkt-lint.time 2>/dev/null)"
((rc == 0)) || status=1

echo
echo "==> time of each part"
for line in "${times[@]}" "$lint_time"; do echo "$line"; done
echo "total $(minutes "$SECONDS")"
echo
echo "==> summary"
for line in "${summary[@]}"; do echo "$line"; done
exit $status
