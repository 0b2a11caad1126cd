// The guest's CPUID table: KVM_GET_SUPPORTED_CPUID with the fixes a direct-boot guest needs
// (Firecracker's cpuid-normalization and kvmtool's cpuid.c describe the same set): per-vCPU
// APIC ids, the hypervisor bit, the TSC-deadline timer, no PMU (leaf 0xA), a flat topology of
// one thread per core and all cores in one package, no turbo/EPB or WAITPKG.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace rkt::vmm::x86 {

enum class CpuVendor { kIntel, kAmd, kOther };

CpuVendor cpu_vendor(const std::vector<kvm_cpuid_entry2>& entries);

struct CpuidOptions {
    uint32_t vcpu_index = 0;
    uint32_t vcpu_count = 1;
    bool tsc_deadline_timer = true;  // KVM_CAP_TSC_DEADLINE_TIMER
};

// Returns the table for one vCPU; `supported` is left untouched.
std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          const CpuidOptions& options);

}  // namespace rkt::vmm::x86
