#include "vmm/arch/x86/cpuid.h"

#include <algorithm>
#include <cstring>

namespace rkt::vmm::x86 {
namespace {

constexpr uint32_t kLeafFeatures = 0x1, kLeafCacheParams = 0x4, kLeafPower = 0x6,
                   kLeafExtendedFeatures = 0x7, kLeafPmu = 0xa, kLeafTopology = 0xb,
                   kLeafTopologyV2 = 0x1f, kLeafAmdAddressSizes = 0x80000008,
                   kLeafAmdExtendedApic = 0x8000001e;

constexpr uint32_t kEcxTscDeadline = 1u << 24, kEcxHypervisor = 1u << 31, kEcxPdcm = 1u << 15;
constexpr uint32_t kEdxHtt = 1u << 28;
constexpr uint32_t kPowerEaxTurbo = 1u << 1, kPowerEcxEpb = 1u << 3;
constexpr uint32_t kExtEcxWaitpkg = 1u << 5;

// The number of bits needed to hold ids 0..count-1.
uint32_t id_bits(uint32_t count) {
    uint32_t bits = 0;
    while ((1u << bits) < count) ++bits;
    return bits;
}

void set_topology_leaf(std::vector<kvm_cpuid_entry2>& out, uint32_t leaf, const CpuidOptions& o) {
    // Drop what the host said and describe: level 0 SMT (1 thread), level 1 core (all vCPUs).
    std::erase_if(out, [&](const kvm_cpuid_entry2& e) { return e.function == leaf; });
    auto entry = [&](uint32_t index, uint32_t eax, uint32_t ebx, uint32_t level_type) {
        kvm_cpuid_entry2 e{};
        e.function = leaf;
        e.index = index;
        e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
        e.eax = eax;
        e.ebx = ebx;
        e.ecx = (level_type << 8) | index;
        e.edx = o.vcpu_index;
        out.push_back(e);
    };
    entry(0, 0, 1, 1);
    entry(1, id_bits(o.vcpu_count), o.vcpu_count, 2);
    entry(2, 0, 0, 0);  // end of levels
}

}  // namespace

CpuVendor cpu_vendor(const std::vector<kvm_cpuid_entry2>& entries) {
    for (const auto& e : entries) {
        if (e.function != 0) continue;
        char v[13] = {};
        std::memcpy(v, &e.ebx, 4);
        std::memcpy(v + 4, &e.edx, 4);
        std::memcpy(v + 8, &e.ecx, 4);
        if (std::strcmp(v, "GenuineIntel") == 0) return CpuVendor::kIntel;
        if (std::strcmp(v, "AuthenticAMD") == 0 || std::strcmp(v, "HygonGenuine") == 0)
            return CpuVendor::kAmd;
    }
    return CpuVendor::kOther;
}

std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                          const CpuidOptions& o) {
    std::vector<kvm_cpuid_entry2> out = supported;
    CpuVendor vendor = cpu_vendor(supported);
    uint32_t max_basic = 0;
    bool has_topology = false, has_topology_v2 = false;
    for (const auto& e : supported) {
        if (e.function == 0) max_basic = e.eax;
        if (e.function == kLeafTopology) has_topology = true;
        if (e.function == kLeafTopologyV2) has_topology_v2 = true;
    }

    for (auto& e : out) {
        switch (e.function) {
            case kLeafFeatures:
                e.ebx = (e.ebx & 0x0000ffffu) | (o.vcpu_index << 24) |
                        (std::min<uint32_t>(o.vcpu_count, 255) << 16);
                e.ecx |= kEcxHypervisor;
                e.ecx &= ~kEcxPdcm;
                if (o.tsc_deadline_timer) e.ecx |= kEcxTscDeadline;
                if (o.vcpu_count > 1)
                    e.edx |= kEdxHtt;
                else
                    e.edx &= ~kEdxHtt;
                break;
            case kLeafCacheParams:
                if (vendor == CpuVendor::kIntel) {
                    // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this
                    // cache - 1 (private L1/L2, the last level shared by all).
                    uint32_t level = (e.eax >> 5) & 0x7;
                    uint32_t sharing = level >= 3 ? o.vcpu_count - 1 : 0;
                    e.eax = (e.eax & 0x3fffu) | (std::min<uint32_t>(sharing, 0xfff) << 14) |
                            (std::min<uint32_t>(o.vcpu_count - 1, 63) << 26);
                }
                break;
            case kLeafPower:
                e.eax &= ~kPowerEaxTurbo;
                e.ecx &= ~kPowerEcxEpb;
                break;
            case kLeafExtendedFeatures:
                if (e.index == 0) e.ecx &= ~kExtEcxWaitpkg;
                break;
            case kLeafPmu:
                // No performance counters: guests probing them trip on unhandled MSRs.
                e.eax = e.ebx = e.ecx = e.edx = 0;
                break;
            case kLeafAmdAddressSizes:
                if (vendor == CpuVendor::kAmd) {
                    // ECX[7:0]: cores - 1; ECX[15:12]: APIC id bits for them.
                    e.ecx = (e.ecx & ~0xf0ffu) | (id_bits(o.vcpu_count) << 12) |
                            std::min<uint32_t>(o.vcpu_count - 1, 255);
                }
                break;
            case kLeafAmdExtendedApic:
                // Extended APIC id, compute unit = this core with one thread, node 0.
                e.eax = o.vcpu_index;
                e.ebx = o.vcpu_index & 0xff;
                e.ecx = 0;
                e.edx = 0;
                break;
            default:
                break;
        }
    }
    if (has_topology || max_basic >= kLeafTopology) set_topology_leaf(out, kLeafTopology, o);
    if (has_topology_v2) set_topology_leaf(out, kLeafTopologyV2, o);
    return out;
}

}  // namespace rkt::vmm::x86
