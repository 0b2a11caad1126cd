#!/usr/bin/env bash
# Boots the project's guest kernel with rkt-vmm on this host's KVM, in five variants (64-bit
# entry, PVH, bzImage, two vCPUs, serial console). Each must end with the guest's reset after its
# init (l2_init) found both disks, wrote to the writable one and answered on the protocol port,
# and the port's host end (port_peer) must have seen the guest's ping and answered it.
#   tests/kvm/linux/linux-boot.sh [BUILD_DIR]
# Needs KVM that runs unmodified Linux guests: exits 77 (skipped) when `rkt-vmm --probe` says
# unusable, as on the development machines (kvm_pvm). Run it in the KVM test host there:
#   tests/kvm-host/run-in-l1.sh -- tests/kvm/linux/linux-boot.sh      (ctest label kvm-linux)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-${RKT_BUILD_DIR:-$here/../../../build}}" && pwd)
vmm="$build/bin/rkt-vmm"
helpers="$build/tests/kvm"
guest="${RKT_GUEST_KERNEL_DIR:-$build/lib/rkt/stage1/kvm}"

[[ -x "$vmm" ]] || { echo "no $vmm (cmake --build build --target rkt-vmm)"; exit 1; }
for f in "$helpers/l2_init" "$helpers/port_peer"; do
  [[ -x "$f" ]] || { echo "no $f (cmake --build build --target linux_boot_helpers)"; exit 1; }
done
for f in vmlinux bzImage; do
  [[ -f "$guest/$f" ]] || { echo "skipped: no guest kernel $guest/$f (built by the guest-kernel target unless RKT_BUILD_KERNEL=OFF)"; exit 77; }
done
if ! probe=$("$vmm" --probe); then
  echo "skipped: this host's KVM cannot run Linux guests ($probe); run it in the KVM test host: tests/kvm-host/run-in-l1.sh -- $0"
  exit 77
fi
echo "probe: $probe"

work=$(mktemp -d /tmp/rkt-linux-boot.XXXXXX)
peer=""
trap '[[ -n "$peer" ]] && kill "$peer" 2>/dev/null; rm -rf "$work"' EXIT

# The guest's initramfs: l2_init as /init.
mkdir -p "$work/l2/dev" "$work/l2/proc" "$work/l2/sys"
cp "$helpers/l2_init" "$work/l2/init"
mknod "$work/l2/dev/console" c 5 1
(cd "$work/l2" && find . | cpio -o -H newc --quiet) >"$work/l2.cpio"

variants=0 resets=0 answered=0 written=0 peers=0
run() {
  variants=$((variants + 1))
  echo "== variant $variants: $*"
  printf 'disk-a-contents!' >"$work/vda.img"
  truncate -s 1M "$work/vda.img"
  dd if=/dev/zero of="$work/vdb.img" bs=1M count=1 status=none
  "$helpers/port_peer" "$work/port.sock" >"$work/peer.log" &
  peer=$!
  for _ in $(seq 100); do [[ -S "$work/port.sock" ]] && break; sleep 0.05; done
  if [[ ! -S "$work/port.sock" ]]; then
    echo "the port peer did not listen within 5 s"
    kill "$peer" 2>/dev/null || true
    wait "$peer" 2>/dev/null || true
    peer=""
    return 0
  fi
  "$vmm" --initrd "$work/l2.cpio" --mem 128 --disk "$work/vda.img,ro" --disk "$work/vdb.img" \
    --console-socket "$work/port.sock" --timeout-ms 120000 "$@" 2>&1 | tr -d '\r' | tee "$work/vm.log" |
    grep -E '^(L2: |vm exit: )' || true
  local peer_status=0
  wait "$peer" || peer_status=$?
  peer=""
  cat "$work/peer.log"
  if [[ $peer_status -eq 0 ]]; then peers=$((peers + 1)); else echo "port peer: exit $peer_status"; fi
  grep -q '^vm exit: guest-reset' "$work/vm.log" && resets=$((resets + 1))
  grep -q '^L2: port vport[0-9]*p[0-9]* answered pong' "$work/vm.log" && answered=$((answered + 1))
  [[ "$(head -c 13 "$work/vdb.img")" == written-by-L2 ]] && written=$((written + 1))
  return 0
}
run --kernel "$guest/vmlinux" --hvc
run --kernel "$guest/vmlinux" --hvc --boot pvh
run --kernel "$guest/bzImage" --hvc
run --kernel "$guest/vmlinux" --hvc --cpus 2
run --kernel "$guest/vmlinux" --serial --cmdline quiet

echo "summary: $resets/$variants clean ends, $answered/$variants protocol round trips, $written/$variants disk writes, $peers/$variants port peers satisfied"
[[ $resets -eq $variants && $answered -eq $variants && $written -eq $variants && $peers -eq $variants ]]
