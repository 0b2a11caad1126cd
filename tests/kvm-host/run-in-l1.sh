#!/usr/bin/env bash
# Runs a command where KVM can run unmodified Linux guests: inside the KVM test host (an L1 VM
# under QEMU TCG with emulated SVM and the project's l1-host kernel), or directly when this
# host's own KVM can already do it (`rkt-vmm --probe` says usable).
#
#   run-in-l1.sh [--mem MiB] [--cpus N] [--timeout S] [--share DIR]... [--env NAME[=VALUE]]...
#                [--force-l1] [--console] [--timings] -- CMD ARGS...
#
# Inside the L1, CMD runs as root in the host's root (read-only over virtio-9p, made writable
# by a tmpfs overlay whose writes are lost at the end), in the current directory, with fresh
# tmpfs on /tmp, /var/tmp and /run. --share DIR mounts a host directory writable at the same
# path (writes reach the host); the current directory is shared this way when it lies under
# /tmp, /var/tmp or /run. Environment carried over: PATH HOME USER LOGNAME LANG LANGUAGE TZ TERM
# CI, LC_*, RKT_*, CTEST_*, GTEST_*, PYTEST_*, PYTHON*, ASAN_/UBSAN_/LSAN_OPTIONS, plus each
# --env; RKT_IN_L1=1 is set. CMD's stdout and stderr are streamed to ours (as pipes).
#
# Exit status: CMD's own (128+N when a signal N killed it), or
#   124  the watchdog stopped the L1 after --timeout seconds (default 600)
#   125  the L1 itself failed: it could not be built or booted, or it ended without a result
# each with one line on stderr starting "run-in-l1: " that says what happened.
# --console streams the L1 kernel's console to stderr; --timings prints where the time went.
# --force-l1 uses the L1 even when this host's KVM is usable.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mem=2048
cpus=2
timeout_s=600
force_l1=0
show_console=0
show_timings=0
shares=()
extra_env=()

say() { echo "run-in-l1: $*" >&2; }
usage() {
  sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 125
}
need_value() { [[ $# -ge 2 && -n "$2" ]] || { say "$1 needs a value"; exit 125; }; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --mem) need_value "$@"; mem="$2"; shift 2 ;;
    --cpus) need_value "$@"; cpus="$2"; shift 2 ;;
    --timeout) need_value "$@"; timeout_s="$2"; shift 2 ;;
    --share) need_value "$@"; shares+=("$2"); shift 2 ;;
    --env) need_value "$@"; extra_env+=("$2"); shift 2 ;;
    --force-l1) force_l1=1; shift ;;
    --console) show_console=1; shift ;;
    --timings) show_timings=1; shift ;;
    -h | --help) usage ;;
    --) shift; break ;;
    *) say "unknown option '$1' (the command comes after --)"; exit 125 ;;
  esac
done
[[ $# -gt 0 ]] || { say "no command given (run-in-l1.sh [options] -- CMD ARGS...)"; exit 125; }
for n in "$mem" "$cpus" "$timeout_s"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { say "'$n' is not a positive whole number"; exit 125; }
done
((mem >= 256)) || { say "--mem $mem is too small for the L1 (at least 256 MiB)"; exit 125; }

# This host's KVM may already run Linux guests (bare metal, a cloud VM with nested VMX/SVM, or
# inside the L1 itself): then there is nothing to emulate.
build_dir="${RKT_BUILD_DIR:-$repo/build}"
if ((!force_l1)) && [[ -x "$build_dir/bin/rkt-vmm" ]] &&
  "$build_dir/bin/rkt-vmm" --probe >/dev/null 2>&1; then
  timeout --kill-after=10 "$timeout_s" "$@"
  rc=$?
  if ((rc == 124)); then say "timed out after $timeout_s s (ran directly: this host's KVM is usable)"; fi
  exit "$rc"
fi

qemu="$(command -v qemu-system-x86_64)" ||
  { say "L1 failed: qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"; exit 125; }

# The L1's kernel and initramfs, each cached by a hash of its inputs (a hit costs nothing; a
# miss builds: minutes for the kernel, a second for the initramfs).
if [[ -n "${RKT_L1_KERNEL:-}" ]]; then
  l1_kernel="$RKT_L1_KERNEL"
else
  kernel_dir="$("$repo/kernel-config/build-kernel.sh" --profile=l1-host | tail -n1)" ||
    { say "L1 failed: the l1-host kernel could not be built (kernel-config/build-kernel.sh --profile=l1-host)"; exit 125; }
  l1_kernel="$kernel_dir/bzImage"
fi
[[ -f "$l1_kernel" ]] || { say "L1 failed: no L1 kernel at $l1_kernel"; exit 125; }
initramfs="$("$here/build-l1-initramfs.sh" | tail -n1)" ||
  { say "L1 failed: the L1 initramfs could not be built (tests/kvm-host/build-l1-initramfs.sh)"; exit 125; }

tmp="$(mktemp -d /tmp/rkt-l1.XXXXXX)" || { say "L1 failed: mktemp"; exit 125; }
qemu_pid=""
readers=()
cleanup() {
  # timeout(1) leads its own process group (it and QEMU): end both.
  [[ -n "$qemu_pid" ]] && { kill -KILL -- "-$qemu_pid" 2>/dev/null || kill -KILL "$qemu_pid" 2>/dev/null; }
  for fifo in "$tmp"/*.fifo; do [[ -p "$fifo" ]] && : 2>/dev/null <>"$fifo"; done
  for r in "${readers[@]}"; do wait "$r" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'say "interrupted; stopping the L1"; exit 130' INT TERM HUP

# The job: argv and env NUL-separated, the working directory, the writable shares.
job="$tmp/job"
mkdir "$job"
printf '%s\0' "$@" >"$job/argv"
cwd="$(pwd -P)"
printf '%s\n' "$cwd" >"$job/cwd"
{
  while IFS= read -r name; do
    case "$name" in
      PATH | HOME | USER | LOGNAME | LANG | LANGUAGE | TZ | TERM | CI | LC_* | RKT_* | CTEST_* | \
        GTEST_* | PYTEST_* | PYTHON* | ASAN_OPTIONS | UBSAN_OPTIONS | LSAN_OPTIONS)
        printf '%s=%s\0' "$name" "${!name}" ;;
    esac
  done < <(compgen -e)
  for e in "${extra_env[@]}"; do
    if [[ "$e" == *=* ]]; then printf '%s\0' "$e"
    elif [[ -v "$e" ]]; then printf '%s=%s\0' "$e" "${!e}"
    fi
  done
  printf 'PWD=%s\0RKT_IN_L1=1\0' "$cwd"
} >"$job/env"

# Writable shares: the --share directories, and the working directory when the L1 would hide it
# under one of its own tmpfs mounts.
case "$cwd/" in
  /tmp/* | /var/tmp/* | /run/*) shares+=("$cwd") ;;
esac
resolved=()
for s in "${shares[@]}"; do
  d="$(cd "$s" 2>/dev/null && pwd -P)" || { say "L1 failed: --share $s is not a directory"; exit 125; }
  resolved+=("$d")
done
share_args=()
: >"$job/shares"
index=0
# Sorted, so a directory is mounted before the directories inside it.
while IFS= read -r dir; do
  [[ -z "$dir" ]] && continue
  if ((index >= 8)); then say "L1 failed: at most 8 --share directories"; exit 125; fi
  share_args+=(-fsdev "local,id=share$index,path=$dir,security_model=none,multidevs=remap"
    -device "virtio-9p-device,fsdev=share$index,mount_tag=rktshare$index")
  printf 'rktshare%d %s\n' "$index" "$dir" >>"$job/shares"
  index=$((index + 1))
done < <(printf '%s\n' "${resolved[@]}" | LC_ALL=C sort -u)

# The job's output: QEMU writes each virtio console into a FIFO that a reader copies to our
# stdout or stderr (works whatever our stdout is: a terminal, a pipe, a file, a socket).
mkfifo "$tmp/out.fifo" "$tmp/err.fifo"
cat "$tmp/out.fifo" &
readers+=($!)
cat "$tmp/err.fifo" >&2 &
readers+=($!)
console_path="$tmp/console.log"
if ((show_console)); then
  mkfifo "$tmp/console.fifo"
  tee "$tmp/console.log" <"$tmp/console.fifo" | sed -u 's/\r$//; s/^/L1 console: /' >&2 &
  readers+=($!)
  console_path="$tmp/console.fifo"
fi

# The L1's TSC runs at this host's rate under TCG; telling its kernel so keeps its clock right
# (and without tsc_early_khz its TSC calibration can fail, and then its KVM never enters a guest).
mhz="$(awk -F: '/^cpu MHz/ { print int($2); exit }' /proc/cpuinfo)"
tsc_khz=$(( ${mhz:-2000} * 1000 ))

start_ns=$(date +%s%N)
# acpi=off: QEMU then declares the virtio-mmio devices on the command line (the kernel has no
# ACPI), and the L1 does not stall at timer setup. reboot=t + -no-reboot: the init's reboot
# ends QEMU.
timeout --kill-after=5 "$timeout_s" "$qemu" \
  -M microvm,acpi=off -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
  -nodefaults -no-user-config -no-reboot -display none \
  -kernel "$l1_kernel" -initrd "$initramfs" \
  -append "console=ttyS0 panic=-1 reboot=t quiet tsc_early_khz=$tsc_khz tsc=reliable" \
  -chardev "file,id=console,path=$console_path" -serial chardev:console \
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device "virtio-9p-device,fsdev=hostroot,mount_tag=hostroot" \
  -fsdev "local,id=job,path=$job,security_model=none" \
  -device "virtio-9p-device,fsdev=job,mount_tag=rktjob" \
  "${share_args[@]}" \
  -device virtio-serial-device \
  -chardev "file,id=out,path=$tmp/out.fifo" -device virtconsole,chardev=out \
  -chardev "file,id=err,path=$tmp/err.fifo" -device virtconsole,chardev=err \
  </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
wait "$qemu_pid"
qemu_rc=$?
qemu_pid=""
end_ns=$(date +%s%N)
# Unblock a reader whose FIFO QEMU never opened, then let each drain.
for fifo in "$tmp"/*.fifo; do : 2>/dev/null <>"$fifo"; done
for r in "${readers[@]}"; do wait "$r" 2>/dev/null; done
readers=()

console_tail() {
  if [[ -s "$tmp/console.log" ]]; then
    say "last lines of the L1 console:"
    tail -n 15 "$tmp/console.log" | tr -d '\r' | sed 's/^/  /' >&2
  fi
  if [[ -s "$tmp/qemu.log" ]]; then
    say "QEMU said:"
    tail -n 5 "$tmp/qemu.log" | sed 's/^/  /' >&2
  fi
}

if ((show_timings)) && [[ -f "$job/timings" ]]; then
  # shellcheck disable=SC2046
  read -r init_s job_start_s job_end_s < <(awk '{ v[$1] = $2 } END { print v["init_start_s"], v["job_start_s"], v["job_end_s"] }' "$job/timings")
  say "$(awk -v i="$init_s" -v s="$job_start_s" -v e="$job_end_s" -v w=$(( (end_ns - start_ns) / 1000000 )) \
    'BEGIN { printf "timings: L1 init at %.2f s (L1 clock), job started at %.2f s, ran %.2f s; %.2f s wall from QEMU start to its exit", i, s, e - s, w / 1000 }')"
fi

if ((qemu_rc == 124 || qemu_rc == 137)); then
  say "timed out after $timeout_s s: the watchdog stopped the L1 (raise --timeout if the command needs longer)"
  console_tail
  exit 124
fi
status="$(cat "$job/status" 2>/dev/null)"
case "$status" in
  "exit "*) exit "${status#exit }" ;;
  "signal "*) say "the command was killed by signal ${status#signal }"; exit $((128 + ${status#signal })) ;;
  "error: "*) say "L1 failed: ${status#error: }"; console_tail; exit 125 ;;
  *)
    say "L1 failed: it ended without a result (QEMU exit status $qemu_rc)"
    console_tail
    exit 125
    ;;
esac
