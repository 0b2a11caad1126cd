#!/usr/bin/env bash
# Boots the project's guest kernel with rkt-vmm on real KVM (linux-boot.sh's five variants)
# inside the KVM test host: an L1 VM under QEMU TCG with emulated SVM and the project's l1-host
# kernel (docs/kvm-test-host.md). About half a minute once the L1 kernel is cached.
#   tests/kvm/linux/linux-boot-in-l1.sh [BUILD_DIR]
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../kvm-host/run-in-l1.sh" --timeout 900 -- "$here/linux-boot.sh" "$@"
