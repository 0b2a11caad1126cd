// Ending the VM. Without ACPI a Linux guest cannot power itself off (RB_POWER_OFF only halts the
// CPUs), so guest-init reboots: with `reboot=t` the kernel triple-faults, which QEMU run with
// -no-reboot turns into its exit, and a KVM VMM sees as KVM_EXIT_SHUTDOWN; with `reboot=k` it
// writes 0xfe to the i8042, the built-in VMM's reset-means-exit. See docs/guest-protocol.md.
#pragma once

namespace rkt::guest_init {

[[noreturn]] void power_off();

}  // namespace rkt::guest_init
