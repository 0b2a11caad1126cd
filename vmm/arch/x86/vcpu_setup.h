// Per-vCPU state for the first instruction: CPUID, boot MSRs, FPU, the LAPIC's LINT pins, and
// the registers of the entry mode (Linux 64-bit or PVH 32-bit).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

#include "vmm/arch/x86/gdt.h"
#include "vmm/kvm/guest_memory.h"
#include "vmm/kvm/vcpu.h"

namespace rkt::vmm::x86 {

enum class EntryMode {
    kLinux64,  // long mode, paging on, %rsi = zero page
    kPvh,      // 32-bit protected mode, paging off, %ebx = hvm_start_info
};

struct BootEntry {
    EntryMode mode = EntryMode::kLinux64;
    uint64_t rip = 0;
    uint64_t boot_info = 0;
};

// MSRs as firmware leaves them (kvmtool/Firecracker's set), with MTRRs on and write-back the
// default type so the guest does not map RAM uncached.
std::vector<kvm_msr_entry> boot_msrs();
// Sets what every vCPU needs, boot processor or not. `refused_msrs` gets the MSRs this host's
// KVM would not take (PVM refuses some); they are skipped, not fatal.
void setup_vcpu_common(const Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid,
                       std::vector<uint32_t>* refused_msrs = nullptr);
// LINT0 = ExtINT (the PIC), LINT1 = NMI: early-boot interrupts then reach the CPU.
kvm_lapic_state with_lint_pins(kvm_lapic_state state);

// Writes the GDT and an empty IDT at their layout addresses.
void write_gdt(const GuestMemory& memory, const BootGdt& gdt);
// Special registers for the entry: segments from `gdt`, control registers for the mode.
kvm_sregs entry_sregs(kvm_sregs base, EntryMode mode);
kvm_regs entry_regs(const BootEntry& entry);
// Writes the GDT/IDT and loads registers on the boot vCPU.
void setup_boot_vcpu(const Vcpu& vcpu, const GuestMemory& memory, const BootEntry& entry);

}  // namespace rkt::vmm::x86
