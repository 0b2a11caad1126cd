// C-layout headers for KVM's variable-length ioctl arguments. Linux's uapi headers declare their
// trailing arrays with __DECLARE_FLEX_ARRAY, whose empty struct takes a byte in C++: the array
// moves (to offset 12 for kvm_cpuid2, 16 for kvm_msrs) and the ioctl numbers, which encode the
// struct size, change. The VMM builds these arguments with the headers below instead.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace rkt::vmm::abi {

struct Cpuid2Header {  // entries (kvm_cpuid_entry2) follow at offset 8
    uint32_t nent;
    uint32_t padding;
};
struct MsrsHeader {  // entries (kvm_msr_entry) follow at offset 8
    uint32_t nmsrs;
    uint32_t pad;
};
static_assert(sizeof(Cpuid2Header) == 8 && sizeof(MsrsHeader) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

}  // namespace rkt::vmm::abi
