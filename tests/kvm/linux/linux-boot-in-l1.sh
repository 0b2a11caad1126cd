#!/usr/bin/env bash
# Boots the project's guest kernel with rkt-vmm on real KVM: inside an L1 VM under QEMU TCG whose
# CPU has SVM, running Debian's cloud kernel with kvm-amd (shared/reference/platform.md). Each
# run variant (64-bit entry, PVH, bzImage, two vCPUs, serial console) must end with the guest's
# reset after its init found both disks and answered on the protocol port.
#   tests/kvm/linux/linux-boot-in-l1.sh [BUILD_DIR]
# Needs qemu-system-x86, busybox-static, cpio, and apt access to Debian's mirror (the cloud
# kernel package is downloaded once into $RKT_L1_CACHE). Takes a few minutes of TCG.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../../build}" && pwd)
kernel_cache=${RKT_KERNEL_CACHE:-/var/cache/rkt-build/kernel}
l1_cache=${RKT_L1_CACHE:-/var/cache/rkt-build/l1-cloud-kernel}
work=$(mktemp -d /tmp/rkt-l1.XXXXXX)
trap 'rm -rf "$work"' EXIT

guest_dir=$(grep -l "^profile: guest" "$kernel_cache"/*/build-info 2>/dev/null | xargs -r ls -t | head -1 | xargs -r dirname)
[[ -n "$guest_dir" && -f "$guest_dir/vmlinux" && -f "$guest_dir/bzImage" ]] \
  || { echo "no guest kernel in $kernel_cache (build kernel-config first)"; exit 2; }
[[ -x "$build/bin/rkt-vmm" ]] || { echo "no $build/bin/rkt-vmm (build it first)"; exit 2; }

if ! ls "$l1_cache"/boot/vmlinuz-* >/dev/null 2>&1; then
  mkdir -p "$l1_cache"
  (cd "$work" && apt-get download -q linux-image-cloud-amd64 >/dev/null 2>&1 &&
   dep=$(dpkg-deb -f linux-image-cloud-amd64_*.deb Depends | grep -o 'linux-image-[^ ,]*') &&
   apt-get download -q "$dep" >/dev/null 2>&1 && dpkg-deb -x "$dep"_*.deb "$l1_cache")
fi
l1_kernel=$(ls "$l1_cache"/boot/vmlinuz-* | head -1)
modules=$(dirname "$(find "$l1_cache"/lib/modules -name kvm.ko | head -1)")

# The L2 guest's initramfs: one static init.
mkdir -p "$work/l2/dev" "$work/l2/proc" "$work/l2/sys"
gcc -static -O2 -o "$work/l2/init" "$here/l2_init.c"
mknod "$work/l2/dev/console" c 5 1
(cd "$work/l2" && find . | cpio -o -H newc 2>/dev/null) > "$work/l2.cpio"

# The L1 initramfs: busybox, the KVM modules, rkt-vmm with its libraries, the guest.
root="$work/l1"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules,guest,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
cp "$modules"/kvm.ko "$modules"/kvm-amd.ko "$(find "$l1_cache"/lib/modules -name irqbypass.ko)" "$root/modules/"
cp "$build/bin/rkt-vmm" "$root/rkt-vmm"
for lib in $(ldd "$build/bin/rkt-vmm" | grep -o '/lib[^ ]*'); do
  cp -L "$lib" "$root$lib"
done
gcc -static -O2 -o "$root/port-peer" "$here/port_peer.c"
cp "$guest_dir/vmlinux" "$guest_dir/bzImage" "$work/l2.cpio" "$root/guest/"
mknod "$root/dev/console" c 5 1
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
insmod /modules/irqbypass.ko && insmod /modules/kvm.ko && insmod /modules/kvm-amd.ko
echo "L1: probe: $(/rkt-vmm --probe)"
run() {
  echo "L1: variant $*"
  printf 'disk-a-contents!' > /tmp/vda.img; truncate -s 1M /tmp/vda.img
  dd if=/dev/zero of=/tmp/vdb.img bs=1M count=1 2>/dev/null
  /port-peer /tmp/port.sock & peer=$!; sleep 0.2
  /rkt-vmm --initrd /guest/l2.cpio --mem 128 --disk /tmp/vda.img,ro --disk /tmp/vdb.img \
    --console-socket /tmp/port.sock --timeout-ms 120000 "$@"
  wait $peer
  echo "L1: vdb holds $(head -c 13 /tmp/vdb.img)"
}
run --kernel /guest/vmlinux --hvc
run --kernel /guest/vmlinux --hvc --boot pvh
run --kernel /guest/bzImage --hvc
run --kernel /guest/vmlinux --hvc --cpus 2
run --kernel /guest/vmlinux --serial --cmdline quiet
echo "L1: done"
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null) > "$work/l1.cpio"

# tsc_early_khz: under TCG the L1's TSC calibration can fail, and then its KVM never enters a
# guest. acpi=off: otherwise microvm's L1 stalls at timer setup.
timeout 900 qemu-system-x86_64 -M microvm,acpi=off -accel tcg -cpu max -m 1024 -nodefaults \
  -no-reboot -nographic -serial stdio -kernel "$l1_kernel" -initrd "$work/l1.cpio" \
  -append "console=ttyS0 panic=-1 reboot=t quiet tsc_early_khz=2000000" | tr -d '\r' | tee "$work/log" \
  | grep -E '^(L1|L2): |^vm exit: '

variants=5
ok=$(grep -c '^vm exit: guest-reset' "$work/log" || true)
answered=$(grep -c '^L2: port vport[0-9]*p[0-9]* answered pong' "$work/log" || true)
written=$(grep -c '^L1: vdb holds written-by-L2' "$work/log" || true)
echo "summary: $ok/$variants clean ends, $answered/$variants protocol round trips, $written/$variants disk writes"
[[ $ok -eq $variants && $answered -eq $variants && $written -eq $variants ]]
