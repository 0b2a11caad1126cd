// Identity page tables for the 64-bit entry: PML4 -> PDPT -> one PD of 2 MiB pages covering the
// first 1 GiB, which holds the kernel, the zero page and the command line.
#pragma once

#include <array>
#include <cstdint>

#include "vmm/kvm/guest_memory.h"

namespace rkt::vmm::x86 {

inline constexpr uint64_t kPtePresent = 1, kPteWritable = 2, kPteHugePage = 0x80;

struct IdentityPageTables {
    std::array<uint64_t, 512> pml4{};
    std::array<uint64_t, 512> pdpt{};
    std::array<uint64_t, 512> pd{};
};

IdentityPageTables build_identity_page_tables();
// Writes the tables at their layout addresses; throws when guest RAM does not hold them.
void write_identity_page_tables(const GuestMemory& memory);

}  // namespace rkt::vmm::x86
