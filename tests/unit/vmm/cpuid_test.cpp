#include "vmm/arch/x86/cpuid.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace rkt::vmm::x86;

namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                      uint32_t edx) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = ecx;
    e.edx = edx;
    return e;
}

kvm_cpuid_entry2 vendor_leaf(const char* vendor, uint32_t max_leaf) {
    kvm_cpuid_entry2 e = leaf(0, 0, max_leaf, 0, 0, 0);
    std::memcpy(&e.ebx, vendor, 4);
    std::memcpy(&e.edx, vendor + 4, 4);
    std::memcpy(&e.ecx, vendor + 8, 4);
    return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& t, uint32_t f, uint32_t i = 0) {
    for (const auto& e : t)
        if (e.function == f && e.index == i) return &e;
    return nullptr;
}

std::vector<kvm_cpuid_entry2> intel_table() {
    return {
        vendor_leaf("GenuineIntel", 0xb),
        leaf(1, 0, 0x806c1, 0x12345678, 0x00008000, 0x10000000),  // PDCM set, HTT set
        leaf(4, 0, (1 << 5) | 0x1, 0, 0, 0),                      // L1
        leaf(4, 3, (3 << 5) | 0x3, 0, 0, 0),                      // L3
        leaf(6, 0, 0x2, 0, 0x8, 0),                               // turbo, EPB
        leaf(7, 0, 0, 0, 1 << 5, 0),                              // WAITPKG
        leaf(0xa, 0, 0x07300805, 0x1, 0x2, 0x3),                  // PMU
        leaf(0xb, 0, 1, 2, 0x100, 7),
    };
}

}  // namespace

TEST(Cpuid, VendorDetection) {
    EXPECT_EQ(cpu_vendor(intel_table()), CpuVendor::kIntel);
    EXPECT_EQ(cpu_vendor({vendor_leaf("AuthenticAMD", 0x10)}), CpuVendor::kAmd);
    EXPECT_EQ(cpu_vendor({vendor_leaf("SomethingElse", 0x10)}), CpuVendor::kOther);
}

TEST(Cpuid, FeatureLeafPerVcpu) {
    auto t = guest_cpuid(intel_table(), {3, 4, true});
    const auto* l1 = find(t, 1);
    ASSERT_NE(l1, nullptr);
    EXPECT_EQ(l1->ebx >> 24, 3u);           // APIC id
    EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);  // logical processors
    EXPECT_EQ(l1->ebx & 0xffff, 0x5678u);   // CLFLUSH size etc. kept
    EXPECT_TRUE(l1->ecx & (1u << 31));      // hypervisor
    EXPECT_TRUE(l1->ecx & (1u << 24));      // TSC deadline
    EXPECT_FALSE(l1->ecx & (1u << 15));     // no PDCM
    EXPECT_TRUE(l1->edx & (1u << 28));      // HTT with several vCPUs

    auto single = guest_cpuid(intel_table(), {0, 1, false});
    EXPECT_FALSE(find(single, 1)->edx & (1u << 28));
    EXPECT_FALSE(find(single, 1)->ecx & (1u << 24));
}

TEST(Cpuid, PmuTurboAndWaitpkgHidden) {
    auto t = guest_cpuid(intel_table(), {0, 2, true});
    const auto* pmu = find(t, 0xa);
    ASSERT_NE(pmu, nullptr);
    EXPECT_EQ(pmu->eax | pmu->ebx | pmu->ecx | pmu->edx, 0u);
    EXPECT_EQ(find(t, 6)->eax & 2, 0u);
    EXPECT_EQ(find(t, 6)->ecx & 8, 0u);
    EXPECT_EQ(find(t, 7)->ecx & (1u << 5), 0u);
}

TEST(Cpuid, TopologyDescribesOneThreadPerCore) {
    auto t = guest_cpuid(intel_table(), {2, 4, true});
    const auto* smt = find(t, 0xb, 0);
    const auto* core = find(t, 0xb, 1);
    const auto* end = find(t, 0xb, 2);
    ASSERT_TRUE(smt && core && end);
    EXPECT_EQ(smt->ebx, 1u);
    EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
    EXPECT_EQ(core->eax, 2u);  // 4 vCPUs need 2 id bits
    EXPECT_EQ(core->ebx, 4u);
    EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
    EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
    EXPECT_EQ(smt->edx, 2u);
    EXPECT_EQ(core->edx, 2u);
    EXPECT_TRUE(smt->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    // Intel leaf 4: cores per package - 1 in EAX[31:26]; L3 shared by all.
    EXPECT_EQ(find(t, 4, 0)->eax >> 26, 3u);
    EXPECT_EQ((find(t, 4, 0)->eax >> 14) & 0xfff, 0u);
    EXPECT_EQ((find(t, 4, 3)->eax >> 14) & 0xfff, 3u);
}

TEST(Cpuid, AmdTopologyLeaves) {
    std::vector<kvm_cpuid_entry2> amd = {
        vendor_leaf("AuthenticAMD", 0x10),
        leaf(1, 0, 0, 0, 0, 0),
        leaf(0x80000008, 0, 0x3030, 0, 0x7007, 0),
        leaf(0x8000001e, 0, 5, 0x105, 3, 0),
    };
    auto t = guest_cpuid(amd, {1, 2, true});
    EXPECT_EQ(find(t, 0x80000008)->ecx & 0xff, 1u);
    EXPECT_EQ((find(t, 0x80000008)->ecx >> 12) & 0xf, 1u);
    EXPECT_EQ(find(t, 0x8000001e)->eax, 1u);
    EXPECT_EQ(find(t, 0x8000001e)->ebx, 1u);
    // The max basic leaf covers 0xB, so the topology leaf is described even if the host omitted it.
    ASSERT_NE(find(t, 0xb, 1), nullptr);
    EXPECT_EQ(find(t, 0xb, 1)->ebx, 2u);
}
