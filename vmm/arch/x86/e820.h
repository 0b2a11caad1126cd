// The BIOS-style memory map (e820) the guest kernel reads: which guest-physical ranges are RAM.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

enum class E820Type : uint32_t { kRam = 1, kReserved = 2 };

struct E820Entry {
    uint64_t address;
    uint64_t size;
    E820Type type;
    bool operator==(const E820Entry&) const = default;
};

// RAM below the EBDA, the EBDA-to-1-MiB range reserved (MP table, legacy ROM area), then every
// byte of RAM from 1 MiB on, including RAM above the MMIO hole.
std::vector<E820Entry> build_e820(const std::vector<MemoryRange>& ram);

// The RAM layout for `bytes` of guest memory: one range below the MMIO hole, and the rest
// from 4 GiB.
std::vector<MemoryRange> ram_layout(uint64_t bytes);

}  // namespace rkt::vmm::x86
